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
	send := func(msg string, within time.Duration) bool {
		conn.Write([]byte(msg))
		return arrived(msg, within)
	}
	hits := fastFlowOffloaded(t, d, a.hostIf, api.TraceRequest{In: a.hostIf, Src: "198.18.19.10", Dst: "198.18.19.11", Proto: "udp", SrcPort: 4000, DstPort: 9000}, send)
	// The policy now allows 9001 only; the next datagram after the reload is refused.
	policyChangeRefuses(t, d, `"9000", "9001"`, `"9001"`, a.hostIf, hits, send)
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

// fastFlowOffloaded sends 50 datagrams of an established flow with send (which reports
// whether one got through within the time given), then requires fast-path hits on the
// interface ifc and gannet trace (req) to say the flow is offloaded. It returns the hits.
func fastFlowOffloaded(t *testing.T, d *daemon, ifc string, req api.TraceRequest, send func(msg string, within time.Duration) bool) uint64 {
	t.Helper()
	for i := range 50 {
		if !send(fmt.Sprintf("flow %d", i), 2*time.Second) {
			t.Fatalf("datagram %d of the established flow lost", i)
		}
		time.Sleep(5 * time.Millisecond)
	}
	hits := fastHits(t, d, ifc)
	if hits == 0 {
		out, _ := d.cli("counters")
		t.Fatalf("no fast-path hits on %s after 50 datagrams\n%s", ifc, out)
	}
	tr, err := d.client().Trace(context.Background(), req)
	if err != nil {
		t.Fatalf("trace: %v", err)
	}
	if !tr.Offloaded {
		t.Errorf("trace of the flow: not offloaded: %+v", tr)
	}
	return hits
}

// policyChangeRefuses reloads d with old replaced by new in its configuration (a
// policy that refuses the flow send sends) and requires the next datagrams refused,
// the fast-path hits on ifc unchanged: the offloaded flow does not keep the old
// decision.
func policyChangeRefuses(t *testing.T, d *daemon, old, new, ifc string, hits uint64, send func(msg string, within time.Duration) bool) {
	t.Helper()
	running, err := os.ReadFile(d.config) // as the harness wrote it (its API socket)
	if err != nil {
		t.Fatal(err)
	}
	st := d.reloadWith(t, strings.Replace(string(running), old, new, 1))
	if st.LastApply == nil || !st.LastApply.OK {
		t.Fatalf("reload: last apply %+v", st.LastApply)
	}
	for i := range 5 {
		if send(fmt.Sprintf("after %d", i), 300*time.Millisecond) {
			t.Fatalf("datagram %d after the policy change went through: the offloaded flow kept the old decision", i)
		}
	}
	if after := fastHits(t, d, ifc); after != hits {
		t.Errorf("fast-path hits went from %d to %d after the policy change", hits, after)
	}
}
