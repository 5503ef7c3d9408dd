package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gannet-net/gannet/ctl/api"
	"github.com/gannet-net/gannet/internal/netnstest"
)

// TestFastPath: with dataplane.fastPath on, a UDP flow between two workloads is
// forwarded by the XDP program after its first packet (fast-hit counts it), gannet trace
// says it is offloaded, and a policy change takes effect for the offloaded flow at its
// next packet after the publish. The workloads' ends have GRO on: a veth receives frames
// redirected into it only with NAPI (docs/FASTPATH.md).
func TestFastPath(t *testing.T) {
	require(t)
	host := netnstest.NewNS(t, "gh")
	a := addWorkload(t, host, "fa", "02:00:00:00:19:0a", "198.18.19.10", "")
	b := addWorkload(t, host, "fb", "02:00:00:00:19:0b", "198.18.19.11", "")
	for _, w := range []*workload{a, b} {
		w.ns.Run("ethtool", "-K", w.dev, "gro", "on")
	}
	policy := func(ports string) string {
		return `
policy:
  profiles:
    - name: open
      ingress: [{action: Allow}]
      egress: [{action: Allow}]
  policies:
    - name: fb-ingress
      selector: app == 'fb'
      types: [Ingress]
      ingress:
        - action: Allow
          protocol: UDP
          destination: {ports: [` + ports + `]}
`
	}
	conf := func(ports string) string {
		return fmt.Sprintf(oneHostConfig, "  fastPath: on",
			a.endpoint(0, "app: fa", "open")+b.endpoint(0, "app: fb", "open"), policy(ports))
	}
	d := startGannet(t, host, conf(`"9000", "9001"`))

	// fb counts what arrives on 198.18.19.11:9000.
	var pc net.PacketConn
	if err := b.ns.Do(func() (err error) { pc, err = net.ListenPacket("udp4", "198.18.19.11:9000"); return err }); err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	got := make(chan string, 1024)
	go func() {
		buf := make([]byte, 2048)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			got <- string(buf[:n])
		}
	}()
	var conn net.Conn
	if err := a.ns.Do(func() (err error) {
		conn, err = net.DialUDP("udp4", &net.UDPAddr{IP: net.ParseIP("198.18.19.10"), Port: 4000}, &net.UDPAddr{IP: net.ParseIP("198.18.19.11"), Port: 9000})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The first datagrams wait for the neighbours (ARP for the gateway).
	arrived := func(msg string, within time.Duration) bool {
		deadline := time.After(within)
		for {
			select {
			case m := <-got:
				if m == msg {
					return true
				}
			case <-deadline:
				return false
			}
		}
	}
	ok := false
	for i := 0; i < 50 && !ok; i++ {
		msg := fmt.Sprintf("hello %d", i)
		conn.Write([]byte(msg))
		ok = arrived(msg, 100*time.Millisecond)
	}
	if !ok {
		t.Fatalf("fa -> fb:9000 never arrived\n%s", d.output())
	}
	// Later datagrams: forwarded in the kernel once the offer is installed.
	for i := range 50 {
		msg := fmt.Sprintf("flow %d", i)
		conn.Write([]byte(msg))
		if !arrived(msg, 2*time.Second) {
			t.Fatalf("datagram %d of the established flow lost", i)
		}
		time.Sleep(5 * time.Millisecond)
	}
	hits := fastHits(t, d, a.hostIf)
	if hits == 0 {
		out, _ := d.cli("counters")
		t.Fatalf("no fast-path hits on %s after 50 datagrams\n%s", a.hostIf, out)
	}
	tr, err := d.client().Trace(context.Background(), api.TraceRequest{In: a.hostIf, Src: "198.18.19.10", Dst: "198.18.19.11", Proto: "udp", SrcPort: 4000, DstPort: 9000})
	if err != nil {
		t.Fatalf("trace: %v", err)
	}
	if !tr.Offloaded {
		t.Errorf("trace of the flow: not offloaded: %+v", tr)
	}

	// The policy now allows 9001 only; the next datagram after the reload is refused.
	running, err := os.ReadFile(d.config) // as the harness wrote it (its API socket)
	if err != nil {
		t.Fatal(err)
	}
	st := d.reloadWith(t, strings.Replace(string(running), `"9000", "9001"`, `"9001"`, 1))
	if st.LastApply == nil || !st.LastApply.OK {
		t.Fatalf("reload: last apply %+v", st.LastApply)
	}
	for i := range 5 {
		msg := fmt.Sprintf("after %d", i)
		conn.Write([]byte(msg))
		if arrived(msg, 300*time.Millisecond) {
			t.Fatalf("datagram %d after the policy change arrived: the offloaded flow kept the old decision", i)
		}
	}
	if after := fastHits(t, d, a.hostIf); after != hits {
		t.Errorf("fast-path hits went from %d to %d after the policy change", hits, after)
	}
	out, _ := d.cli("counters")
	if !strings.Contains(out, "policy-ingress") {
		t.Errorf("no policy drop counted after the change:\n%s", out)
	}
}

// fastHits returns the fast-hit count of the XDP program on interface ifc.
func fastHits(t *testing.T, d *daemon, ifc string) uint64 {
	t.Helper()
	cs, err := d.client().Counters(context.Background())
	if err != nil {
		t.Fatalf("counters: %v", err)
	}
	for _, x := range cs.XDP {
		if x.Interface == ifc {
			return x.Decisions["fast-hit"]
		}
	}
	return 0
}

// TestFastPathTranslated: with dataplane.fastPath on, a UDP flow from a workload of a
// translated space (tenant 7) to its peer on another host across the IPv6-only core is
// forwarded by the XDP program after its first packets: the kernel swaps the IPv4
// header for the IPv6 one (fast-hit counts it on the workload's port), gannet trace
// says the flow is offloaded, the answers come back (6->4 into the space is the
// pipeline's), and a policy change takes effect for the offloaded flow at its next
// packet after the publish. The fabric's far end runs gannet, whose XDP program makes
// the veth take redirected frames.
func TestFastPathTranslated(t *testing.T) {
	require(t)
	x, y := netnstest.NewNS(t, "gx"), netnstest.NewNS(t, "gy")
	t7x := addWorkload(t, x, "t7-x", "02:00:00:07:46:0a", "100.64.0.10", "")
	t7y := addWorkload(t, y, "t7-y", "02:00:00:07:46:0b", "100.64.0.20", "")
	xif, yif := fabric(t, x, y, false) // IPv6 only
	cfg := func(name, router6, uplink, fast, eps, policy, via6 string) string {
		return fmt.Sprintf(`
node: {name: %s, routerIPv4: 198.18.0.1, routerIPv6: %s}
dataplane: {cores: [0], frames: 4096%s}
ports: [{interface: %s}]
addressSpaces: [{id: 7, translated: true}]
workloadEndpoints:
%s
%s
routes:
  - {prefix: "64:ff9b:1::/48", via: "%s", interface: %s}
translation:
  addressSpaces: {7: }
`, name, router6, fast, uplink, eps, policy, via6, uplink)
	}
	// x's workload may send UDP to the given ports only (policy is stateless
	// without conntrack: every packet of the flow is decided alike).
	policy := func(ports string) string {
		return `policy:
  profiles:
    - name: open
      ingress: [{action: Allow}]
      egress: [{action: Allow}]
  policies:
    - name: t7x-egress
      selector: app == 't7x'
      types: [Egress]
      egress:
        - action: Allow
          protocol: UDP
          destination: {ports: [` + ports + `]}`
	}
	dx := startGannet(t, x, cfg("x", "2001:db8:100::1", xif, ", fastPath: on", t7x.endpoint(7, "app: t7x", "open"), policy(`"9000", "9001"`), "2001:db8:100::2"))
	startGannet(t, y, cfg("y", "2001:db8:100::2", yif, "", t7y.endpoint(7, "", ""), "", "2001:db8:100::1"))

	// t7-y echoes what arrives on 100.64.0.20:9000.
	var pc net.PacketConn
	if err := t7y.ns.Do(func() (err error) { pc, err = net.ListenPacket("udp4", "100.64.0.20:9000"); return err }); err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
	var conn *net.UDPConn
	if err := t7x.ns.Do(func() (err error) {
		conn, err = net.DialUDP("udp4", &net.UDPAddr{IP: net.ParseIP("100.64.0.10"), Port: 4000}, &net.UDPAddr{IP: net.ParseIP("100.64.0.20"), Port: 9000})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// echoed sends msg and reports whether it came back within d.
	echoed := func(msg string, d time.Duration) bool {
		conn.Write([]byte(msg))
		buf := make([]byte, 2048)
		deadline := time.Now().Add(d)
		for {
			conn.SetReadDeadline(deadline)
			n, err := conn.Read(buf)
			if err != nil {
				return false
			}
			if string(buf[:n]) == msg {
				return true
			}
		}
	}
	// The first datagrams wait for the neighbours (ARP for the gateway, ND on the core).
	ok := false
	for i := 0; i < 50 && !ok; i++ {
		ok = echoed(fmt.Sprintf("hello %d", i), 200*time.Millisecond)
	}
	if !ok {
		t.Fatalf("t7-x -> 100.64.0.20:9000 and back never worked\n%s", dx.output())
	}
	for i := range 50 {
		if !echoed(fmt.Sprintf("flow %d", i), 2*time.Second) {
			t.Fatalf("datagram %d of the established flow (or its echo) lost", i)
		}
		time.Sleep(5 * time.Millisecond)
	}
	hits := fastHits(t, dx, t7x.hostIf)
	if hits == 0 {
		out, _ := dx.cli("counters")
		t.Fatalf("no fast-path hits on %s after 50 datagrams\n%s", t7x.hostIf, out)
	}
	tr, err := dx.client().Trace(context.Background(), api.TraceRequest{In: t7x.hostIf, Src: "100.64.0.10", Dst: "100.64.0.20", Proto: "udp", SrcPort: 4000, DstPort: 9000})
	if err != nil {
		t.Fatalf("trace: %v", err)
	}
	if !tr.Offloaded {
		t.Errorf("trace of the translated flow: not offloaded: %+v", tr)
	}
	if out, _ := dx.cli("trace", "--in", t7x.hostIf, "--src", "100.64.0.10", "--dst", "100.64.0.20", "--proto", "udp", "--sport", "4000", "--dport", "9000"); !strings.Contains(out, "offloaded") {
		t.Errorf("gannet trace does not say offloaded:\n%s", out)
	}

	// The policy now allows 9001 only; the next datagram after the reload is refused.
	running, err := os.ReadFile(dx.config)
	if err != nil {
		t.Fatal(err)
	}
	st := dx.reloadWith(t, strings.Replace(string(running), `"9000", "9001"`, `"9001"`, 1))
	if st.LastApply == nil || !st.LastApply.OK {
		t.Fatalf("reload: last apply %+v", st.LastApply)
	}
	for i := range 5 {
		if echoed(fmt.Sprintf("after %d", i), 300*time.Millisecond) {
			t.Fatalf("datagram %d after the policy change went through: the offloaded flow kept the old decision", i)
		}
	}
	if after := fastHits(t, dx, t7x.hostIf); after != hits {
		t.Errorf("fast-path hits went from %d to %d after the policy change", hits, after)
	}
	out, _ := dx.cli("counters")
	if !strings.Contains(out, "policy-egress") {
		t.Errorf("no policy drop counted after the change:\n%s", out)
	}
}
