package e2e

// Path MTU across translation: bulk TCP between tenant workloads of
// translated spaces on two gannet hosts over an IPv6-only core, and
// between a tenant workload and an "Internet" host through the second
// host acting as border (translation route, source NAT), first with the
// defaults — every link 1500, no RFC 6791 pool, no MSS clamp — and then
// with the core link lowered to 1400 while the daemons run. The 20 bytes
// translation adds must be learned by path MTU discovery: the router
// answers Fragmentation Needed itself, with the MTU of the port the
// packet would leave by.

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gannet-net/gannet/internal/netnstest"
)

func TestTranslatedBulkPMTU(t *testing.T) {
	require(t)
	x, y := netnstest.NewNS(t, "gx"), netnstest.NewNS(t, "gy")
	// Tenants 7 and 8 with the same addresses on both hosts.
	t7x := addWorkload(t, x, "t7-x", "02:00:00:07:31:0a", "100.64.0.10", "")
	t8x := addWorkload(t, x, "t8-x", "02:00:00:08:31:0a", "100.64.0.10", "")
	t7y := addWorkload(t, y, "t7-y", "02:00:00:07:32:0b", "100.64.0.20", "")
	t8y := addWorkload(t, y, "t8-y", "02:00:00:08:32:0b", "100.64.0.20", "")
	xif, yif := fabric(t, x, y, false) // the IPv6 core
	up, inet := addInternet(t, y, "203.0.113.64/28")
	internet := &workload{name: "internet", ns: inet}

	dx := startGannet(t, x, fmt.Sprintf(`
node: {name: x, routerIPv4: 198.18.0.1, routerIPv6: "2001:db8:100::1"}
dataplane: {cores: [0], frames: 4096}
ports: [{interface: %s}]
addressSpaces: [{id: 7, translated: true}, {id: 8, translated: true}]
workloadEndpoints:
%s
routes:
  - {prefix: "64:ff9b:1::/48", via: "2001:db8:100::2", interface: %s}
translation:
  addressSpaces: {7: , 8: }
`, xif, t7x.endpoint(7, "", "")+t8x.endpoint(8, "", ""), xif))
	// y is also the border: tenant 7's core prefix translates into space
	// 7 (x's tenant-7 workload keeps its /128 to x), and space 7 leaves
	// for the Internet source-NATed to 203.0.113.64/28.
	dy := startGannet(t, y, fmt.Sprintf(`
node: {name: y, routerIPv4: 203.0.113.1, routerIPv6: "2001:db8:100::2"}
dataplane: {cores: [0], frames: 4096, conntrack: {capacity: 4096}}
ports: [{interface: %[1]s}, {interface: %[2]s}]
addressSpaces: [{id: 7, translated: true}, {id: 8, translated: true}]
workloadEndpoints:
%[3]s
routes:
  - {prefix: "64:ff9b:1::/48", via: "2001:db8:100::1", interface: %[1]s}
  - {prefix: "64:ff9b:1:7::6440:a/128", via: "2001:db8:100::1", interface: %[1]s}
  - {prefix: "64:ff9b:1:7::/96", translateToSpace: 7}
  - {prefix: 0.0.0.0/0, via: 203.0.113.2, interface: %[2]s}
translation:
  addressSpaces: {7: , 8: }
nat:
  ipPools: [{cidr: 100.64.0.0/16, space: 7, natOutgoing: true}]
  external: [{cidr: 203.0.113.64/28, ports: 20000-29999}]
`, yif, up, t7y.endpoint(7, "", "")+t8y.endpoint(8, "", "")))

	for _, tc := range []struct {
		from *workload
		dst  string
	}{{t7x, "100.64.0.20"}, {t8y, "100.64.0.10"}, {t7x, "203.0.113.2"}} {
		if !tc.from.waitPing(t, tc.dst, 10*time.Second) {
			t.Fatalf("%s cannot reach %s", tc.from.name, tc.dst)
		}
	}

	const size = 24 << 20
	bulk := func(t *testing.T, port int) {
		// Between tenants, both ways (tenant 7 x->y, tenant 8 y->x).
		transfer(t, t7x, t7y, fmt.Sprintf("100.64.0.20:%d", port), size)
		transfer(t, t8y, t8x, fmt.Sprintf("100.64.0.10:%d", port+1), size)
		// To the Internet and back through the border.
		transfer(t, t7x, internet, fmt.Sprintf("203.0.113.2:%d", port+2), size)
		download(t, t7x, internet, fmt.Sprintf("203.0.113.2:%d", port+3), size)
	}
	t.Run("defaults", func(t *testing.T) { bulk(t, 6000) })

	// coreMTU sets the core link's MTU under the running daemons and
	// waits until both follow it.
	coreMTU := func(t *testing.T, mtu int) {
		t.Helper()
		x.Run("ip", "link", "set", "dev", xif, "mtu", fmt.Sprint(mtu))
		y.Run("ip", "link", "set", "dev", yif, "mtu", fmt.Sprint(mtu))
		for _, d := range []struct {
			d   *daemon
			if_ string
		}{{dx, xif}, {dy, yif}} {
			waitFor(t, 10*time.Second, fmt.Sprintf("the daemon follows %s's MTU %d", d.if_, mtu), func() string {
				for _, l := range strings.Split(d.d.output(), "\n") {
					if strings.Contains(l, "link changed") && strings.Contains(l, d.if_) && strings.Contains(l, fmt.Sprintf("mtu=%d", mtu)) {
						return ""
					}
				}
				return "no link change logged"
			})
		}
	}
	// The core link drops to 1400: the next Fragmentation Needed says 1380.
	coreMTU(t, 1400)
	t.Run("core mtu 1400", func(t *testing.T) { bulk(t, 6100) })

	// A workload whose path MTU discovery is broken (its firewall drops
	// Fragmentation Needed) black-holes big segments once the core drops
	// to 1300 (its peer's SYN-ACK advertises 1340, what the peer learned
	// fits the 1400 core); translation.clampMSS on its host lowers that
	// to what fits, and the transfer goes through.
	t.Run("clampMSS with PMTUD blocked", func(t *testing.T) {
		netnstest.Require(t, "iptables")
		coreMTU(t, 1300)
		t8x.ns.Run("iptables", "-A", "INPUT", "-p", "icmp", "--icmp-type", "fragmentation-needed", "-j", "DROP")
		if err := stalls(t8x, t8y, "100.64.0.20:6200"); err != nil {
			t.Fatalf("without clampMSS: %v", err)
		}
		cfg, err := os.ReadFile(dx.config)
		if err != nil {
			t.Fatal(err)
		}
		clamped := strings.Replace(string(cfg), "translation:\n", "translation:\n  clampMSS: auto\n", 1)
		if err := os.WriteFile(dx.config, []byte(clamped), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := dx.cli("reload"); err != nil {
			t.Fatalf("gannet reload with clampMSS: auto: %v\n%s", err, out)
		}
		transfer(t, t8x, t8y, "100.64.0.20:6201", size)
	})

	outs := []string{dx.stop(), dy.stop()}
	for i, out := range outs {
		if n := counter(out, "drop/forward/too-big-rewritten"); n > 0 {
			t.Errorf("host %d: drop/forward/too-big-rewritten = %d: packets too big after translation were dropped unanswered:\n%s", i, n, out)
		}
		t.Logf("host %d: drop/forward/too-big = %d", i, counter(out, "drop/forward/too-big"))
	}
	if n := counter(outs[0], "clamped/xlat/mss"); n < 1 {
		t.Errorf("host x clamped %d SYNs, want at least the SYN-ACK of the clamped transfer", n)
	}
	if n := counter(outs[0], "drop/forward/too-big"); n < 2 {
		t.Errorf("host x answered %d packets too big for the core, want at least 2 (one per core MTU)", n)
	}
	if n := counter(outs[1], "drop/forward/too-big"); n < 2 {
		t.Errorf("host y answered %d packets too big for the core, want at least 2 (one per core MTU)", n)
	}
}

// stalls checks that 1 MB from client to server at addr does not get
// through within 5 s: a black hole for big segments.
func stalls(client, server *workload, addr string) error {
	var ln net.Listener
	if err := server.ns.Do(func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		return err
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	c, err := client.dial(addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(make([]byte, 1<<20)); err == nil {
		return fmt.Errorf("%s -> %s: 1 MB went through: no black hole to clamp away", client.name, addr)
	}
	return nil
}

// download has client connect to server at addr and read size bytes
// the server sends, checked by their SHA-256.
func download(t *testing.T, client, server *workload, addr string, size int) {
	t.Helper()
	payload := make([]byte, size)
	rand.Read(payload)
	want := sha256.Sum256(payload)
	ln := server.listen(t, addr)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(c, bytes.NewReader(payload))
		c.Close()
	}()
	c, err := client.dial(addr, 5*time.Second)
	if err != nil {
		t.Fatalf("%s: dial %s: %v", client.name, addr, err)
	}
	defer c.Close()
	start := time.Now()
	c.SetReadDeadline(start.Add(60 * time.Second))
	h := sha256.New()
	n, err := io.Copy(h, c)
	if err != nil {
		t.Fatalf("%s <- %s: %d of %d bytes, then %v", client.name, addr, n, size, err)
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	if sum != want {
		t.Fatalf("%s <- %s: %d bytes hash to %x, sent %d hashing to %x", client.name, addr, n, sum, size, want)
	}
	t.Logf("%s <- %s: %d bytes intact in %v", client.name, addr, size, time.Since(start))
}
