package e2e

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gannet-net/gannet/ctl/api"
	"github.com/gannet-net/gannet/internal/netnstest"
)

// TestFastPathTranslated: with dataplane.fastPath on, a UDP flow from a workload of a
// translated space (tenant 7) to its peer on another host across the IPv6-only core is
// forwarded by the XDP program after its first packets: the kernel swaps the IPv4
// header for the IPv6 one (fast-hit counts it on the workload's port), gannet trace
// says the flow is offloaded; its answers, from the core into the space, are
// offloaded too on their way in (the kernel swaps the IPv6 header for the IPv4 one:
// fast-hit counts them on the uplink, gannet trace of an answer says offloaded), and
// every echo comes back intact; a policy change takes effect for the offloaded flow at
// its next packet after the publish, in either direction. The fabric's far end runs gannet, whose XDP
// program makes the veth take redirected frames; the workload's end has GRO on (a
// veth needs NAPI to take them). A TCP bulk transfer out of the space is offloaded
// too, with path MTU discovery through the translator answered by the pipeline, and
// its ACKs into the space are translated in the kernel.
func TestFastPathTranslated(t *testing.T) {
	require(t)
	x, y := netnstest.NewNS(t, "gx"), netnstest.NewNS(t, "gy")
	t7x := addWorkload(t, x, "t7-x", "02:00:00:07:46:0a", "100.64.0.10", "")
	t7y := addWorkload(t, y, "t7-y", "02:00:00:07:46:0b", "100.64.0.20", "")
	xif, yif := fabric(t, x, y, false)                // IPv6 only
	t7x.ns.Run("ethtool", "-K", t7x.dev, "gro", "on") // the answers are redirected into its veth
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
	// x's workload may send UDP to the given ports only, and take packets from t7-y
	// only (policy is stateless without conntrack: every packet of the flow is decided
	// alike).
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
          destination: {ports: [` + ports + `]}
        - action: Allow
          protocol: TCP
          destination: {ports: [7000]}
    - name: t7x-ingress
      selector: app == 't7x'
      types: [Ingress]
      ingress:
        - action: Allow
          source: {nets: [100.64.0.20/32]}`
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
	req := api.TraceRequest{In: t7x.hostIf, Src: "100.64.0.10", Dst: "100.64.0.20", Proto: "udp", SrcPort: 4000, DstPort: 9000}
	hits := fastFlowOffloaded(t, dx, t7x.hostIf, req, echoed)
	if out, _ := dx.cli("trace", "--in", t7x.hostIf, "--src", "100.64.0.10", "--dst", "100.64.0.20", "--proto", "udp", "--sport", "4000", "--dport", "9000"); !strings.Contains(out, "offloaded") {
		t.Errorf("gannet trace does not say offloaded:\n%s", out)
	}
	// The echoes arrive on the uplink as IPv6 from 64:ff9b:1:7::100.64.0.20 (RFC 6052,
	// space 7) and are translated 6->4 into the space in the kernel.
	src6, dst6 := "64:ff9b:1:7::100.64.0.20", "64:ff9b:1:7::100.64.0.10"
	reply := api.TraceRequest{In: xif, Src: src6, Dst: dst6, Proto: "udp", SrcPort: 9000, DstPort: 4000}
	upHits := fastFlowOffloaded(t, dx, xif, reply, echoed)
	if out, _ := dx.cli("trace", "--in", xif, "--src", src6, "--dst", dst6, "--proto", "udp", "--sport", "9000", "--dport", "4000"); !strings.Contains(out, "offloaded") {
		t.Errorf("gannet trace of an answer does not say offloaded:\n%s", out)
	}
	t.Logf("UDP answers: %d fast-path hits on the uplink %s", upHits, xif)
	// A TCP bulk transfer the same way: its first full-size segments (1500 bytes
	// with DF, 1520 as IPv6) are too big for the core, which the pipeline answers
	// (path MTU discovery through the translator); the rest, installed once the
	// connection is past its SYN, the kernel translates, and the receiving kernel
	// checks every checksum.
	const size = 2 << 20
	before := fastHits(t, dx, t7x.hostIf)
	transfer(t, t7x, t7y, "100.64.0.20:7000", size)
	if got := fastHits(t, dx, t7x.hostIf) - before; got < size/1440/2 {
		out, _ := dx.cli("counters")
		t.Errorf("TCP transfer of %d bytes: %d fast-path hits, want most of its segments\n%s", size, got, out)
	}
	hits = fastHits(t, dx, t7x.hostIf)
	acks := fastHits(t, dx, xif) - upHits
	t.Logf("TCP transfer: %d fast-path hits on %s, %d (its ACKs) on %s", hits-before, t7x.hostIf, acks, xif)
	if acks == 0 {
		out, _ := dx.cli("counters")
		t.Errorf("TCP transfer: none of its ACKs into the space translated in the kernel\n%s", out)
	}

	// The policy now refuses the answers (t7-x takes packets from another address
	// only): the next answer after the reload is refused, the answers offloaded on the
	// uplink no more. Then it allows 9001 only; the next datagram after the reload is
	// refused.
	policyChangeRefuses(t, dx, `100.64.0.20/32]`, `100.64.0.99/32]`, xif, fastHits(t, dx, xif), echoed)
	policyChangeRefuses(t, dx, `"9000", "9001"`, `"9001"`, t7x.hostIf, fastHits(t, dx, t7x.hostIf), echoed)
	out, _ := dx.cli("counters")
	if !strings.Contains(out, "policy-egress") {
		t.Errorf("no policy drop counted after the change:\n%s", out)
	}
}
