package e2e

// ECMP: a gannet host learns one prefix from two routers (two gobgpd
// processes, each in its own namespace behind its own uplink) and hashes
// its workload's flows over both paths, each flow on one of them.

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gannet-net/gannet/internal/netnstest"
)

// ecmpService is the anycast address both routers announce and answer.
const ecmpService = "198.18.50.10"

// ecmpRouter is a router namespace behind one of x's uplinks: it runs
// gobgpd (AS as), announces ecmpService, holds it on its loopback and
// routes the workload prefix back to x.
func ecmpRouter(t *testing.T, x *netnstest.NS, n, as int) (r *netnstest.NS, xif string) {
	t.Helper()
	r = netnstest.NewNS(t, fmt.Sprintf("r%d", n))
	xif, rif := netnstest.Name("up"), netnstest.Name("dn")
	netnstest.Veth(t, xif, x, rif, r)
	xa, ra := fmt.Sprintf("198.18.10%d.1", n), fmt.Sprintf("198.18.10%d.2", n)
	x.Run("ip", "addr", "add", xa+"/30", "dev", xif)
	r.Run("ip", "addr", "add", ra+"/30", "dev", rif)
	// Frames gannet forwards must leave the router with their checksums
	// finished (as the workloads' do).
	r.Run("ethtool", "-K", rif, "tx", "off")
	r.Run("ip", "addr", "add", ecmpService+"/32", "dev", "lo")
	r.Run("ip", "route", "add", "198.18.21.0/24", "via", xa)

	conf := filepath.Join(t.TempDir(), "gobgpd.toml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`
[global.config]
  as = %d
  router-id = "%s"
[[neighbors]]
  [neighbors.config]
    neighbor-address = "%s"
    peer-as = 64512
  [neighbors.timers.config]
    connect-retry = 2
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
`, as, ra, xa)), 0o600); err != nil {
		t.Fatal(err)
	}
	background(t, r.Command("gobgpd", "-f", conf, "--api-hosts", "127.0.0.1:50051", "--pprof-disable", "-p"), fmt.Sprintf("gobgpd-r%d", n))
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := r.Try("gobgp", "global", "rib", "add", ecmpService+"/32", "-a", "ipv4"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("r%d: gobgpd's API does not answer", n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return r, xif
}

// TestECMPTwoRouters: host x peers with two routers that both announce
// ecmpService; x's workload sends many UDP flows to it and they arrive
// at both routers, every packet of a flow at the same one; a TCP
// transfer (which the other router would reset) completes on one path.
func TestECMPTwoRouters(t *testing.T) {
	require(t, "gobgpd", "gobgp")
	x := netnstest.NewNS(t, "gx")
	a := addWorkload(t, x, "wl-a", "02:00:00:00:21:0a", "198.18.21.10", "")
	r1, xif1 := ecmpRouter(t, x, 1, 64601)
	r2, xif2 := ecmpRouter(t, x, 2, 64602)
	dx := startGannet(t, x, fmt.Sprintf(`
node: {name: x, routerIPv4: 198.18.101.1, routerIPv6: "2001:db8:101::1"}
dataplane: {cores: [0], frames: 4096}
ports: [{interface: %s}, {interface: %s}]
workloadEndpoints:
%s
bgp:
  asNumber: 64512
  peers:
    - {peerIP: 198.18.101.2, asNumber: 64601, holdTime: 9s, filters: [fabric]}
    - {peerIP: 198.18.102.2, asNumber: 64602, holdTime: 9s, filters: [fabric]}
  filters:
    - name: fabric
      importV4: [{cidr: 198.18.0.0/16, matchOperator: In, action: Accept}]
`, xif1, xif2, a.endpoint(0, "", "")))

	// Both paths learned; both routers' MACs in x's neighbour cache.
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, _ := dx.cli("bgp", "routes")
		if strings.Count(out, ecmpService+"/32") >= 2 && a.waitPing(t, ecmpService, time.Second) {
			t.Logf("gannet bgp routes on x:\n%s", out)
			break
		}
		if time.Now().After(deadline) {
			peers, _ := dx.cli("bgp", "peers")
			t.Fatalf("x has not learned %s from both routers:\n%s\n%s\n%s", ecmpService, peers, out, dx.output())
		}
	}
	x.Run("ping", "-c", "1", "-W", "1", "198.18.101.2")
	x.Run("ping", "-c", "1", "-W", "1", "198.18.102.2")

	// UDP: every flow (its own source port) sends three datagrams; each
	// router counts what it got per flow.
	type rx struct {
		mu    sync.Mutex
		flows map[string]int
	}
	const port = 9000
	recv := []*rx{{flows: map[string]int{}}, {flows: map[string]int{}}}
	for i, r := range []*netnstest.NS{r1, r2} {
		var pc net.PacketConn
		if err := r.Do(func() (err error) {
			pc, err = net.ListenPacket("udp4", net.JoinHostPort(ecmpService, fmt.Sprint(port)))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		go func(c *rx) {
			buf := make([]byte, 64)
			for {
				n, _, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				c.mu.Lock()
				c.flows[string(buf[:n])]++
				c.mu.Unlock()
			}
		}(recv[i])
	}
	const flows = 200
	if err := a.ns.Do(func() error {
		for f := range flows {
			c, err := net.Dial("udp4", net.JoinHostPort(ecmpService, fmt.Sprint(port)))
			if err != nil {
				return err
			}
			for range 3 {
				fmt.Fprintf(c, "flow %d", f)
				time.Sleep(time.Millisecond)
			}
			c.Close()
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	got := [2]int{}
	for f := range flows {
		key := fmt.Sprintf("flow %d", f)
		recv[0].mu.Lock()
		n1 := recv[0].flows[key]
		recv[0].mu.Unlock()
		recv[1].mu.Lock()
		n2 := recv[1].flows[key]
		recv[1].mu.Unlock()
		switch {
		case n1 > 0 && n2 > 0:
			t.Errorf("%s split over both paths: %d datagrams at r1, %d at r2", key, n1, n2)
		case n1 > 0:
			got[0]++
		case n2 > 0:
			got[1]++
		}
	}
	t.Logf("%d UDP flows: %d arrived at r1, %d at r2", flows, got[0], got[1])
	if got[0]+got[1] < flows*9/10 || got[0] < flows/4 || got[1] < flows/4 {
		t.Errorf("%d flows: %d at r1 and %d at r2, want most of them, spread over both\n%s", flows, got[0], got[1], dx.output())
	}

	// TCP: each transfer is served whole by one router (a segment that
	// strayed to the other would be answered with a reset).
	const size = 4 << 20
	served := [2]int{}
	for i, r := range []*netnstest.NS{r1, r2} {
		var ln net.Listener
		if err := r.Do(func() (err error) {
			ln, err = net.Listen("tcp4", ecmpService+":7000")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func(i int) {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					n, _ := io.Copy(io.Discard, c)
					fmt.Fprintf(c, "r%d %d", i+1, n)
				}()
			}
		}(i)
	}
	for k := range 6 {
		var c net.Conn
		if err := a.ns.Do(func() (err error) {
			c, err = net.DialTimeout("tcp4", ecmpService+":7000", 5*time.Second)
			return err
		}); err != nil {
			t.Fatalf("transfer %d: dial: %v", k, err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		start := time.Now()
		if _, err := c.Write(make([]byte, size)); err != nil {
			t.Fatalf("transfer %d: write: %v (a reset: the flow changed paths?)", k, err)
		}
		c.(*net.TCPConn).CloseWrite()
		reply, err := io.ReadAll(c)
		c.Close()
		var who, n int
		if _, perr := fmt.Sscanf(string(reply), "r%d %d", &who, &n); err != nil || perr != nil || n != size {
			t.Fatalf("transfer %d: reply %q (%v): want the whole %d bytes at one router", k, reply, err, size)
		}
		served[who-1]++
		t.Logf("transfer %d from port %s: %d bytes, all at r%d, in %v", k, c.LocalAddr(), n, who, time.Since(start).Round(time.Millisecond))
	}
	t.Logf("TCP transfers: %d served by r1, %d by r2", served[0], served[1])
	if out, err := dx.cli("status"); err == nil {
		t.Logf("gannet status:\n%s", out)
	}
}
