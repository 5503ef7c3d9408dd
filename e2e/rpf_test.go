package e2e

// A host of the IPv6 core that is not a tenant's: it sources from inside
// tenant 7's translated prefix, toward a tenant-7 workload, through an
// uplink by which the core has no route back to that source.

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gannet-net/gannet/internal/netnstest"
)

// TestCoreSpoofIntoTenant: host x has tenant 7's workload t7-x
// (100.64.0.10) and two uplinks: one to host y, through which the core
// routes every tenant's prefix (64:ff9b:1::/48; y has t7-y, 100.64.0.20),
// and one to z, a core host with a prefix of its own (2001:db8:200::/64).
// z sends UDP to t7-x's core address from t7-y's (64:ff9b:1:7::6440:14).
// With dataplane.rpf off (gannet before the check) t7-x receives it as
// IPv4 from 100.64.0.20: any core host speaks as any tenant workload.
// With the default (feasible) t7-x receives nothing, t7-y still reaches
// t7-x, and the final counters show the drops under anti-spoof/rpf.
func TestCoreSpoofIntoTenant(t *testing.T) {
	require(t)
	x, y, z := netnstest.NewNS(t, "gx"), netnstest.NewNS(t, "gy"), netnstest.NewNS(t, "gz")
	t7x := addWorkload(t, x, "t7-x", "02:00:00:07:00:1a", "100.64.0.10", "")
	t7y := addWorkload(t, y, "t7-y", "02:00:00:07:00:1b", "100.64.0.20", "")
	xif, yif := fabric(t, x, y, false)
	xz, zx := netnstest.Name("fab"), netnstest.Name("fab")
	netnstest.Veth(t, xz, x, zx, z)
	x.Run("ip", "-6", "addr", "add", "2001:db8:200::1/64", "dev", xz, "nodad")
	z.Run("ip", "-6", "addr", "add", "2001:db8:200::2/64", "dev", zx, "nodad")
	// Whole checksums: gannet, not a kernel, forwards what z sends.
	z.Run("ethtool", "-K", zx, "tx", "off")
	// z claims t7-y's core address and routes the tenants' prefix to x.
	spoofed := netip.MustParseAddr("64:ff9b:1:7::100.64.0.20")
	victim := netip.MustParseAddr("64:ff9b:1:7::100.64.0.10")
	z.Run("ip", "-6", "addr", "add", spoofed.String()+"/128", "dev", zx, "nodad")
	z.Run("ip", "-6", "route", "add", "64:ff9b:1::/48", "via", "2001:db8:200::1", "dev", zx)

	cfg := func(name, router6, uplinks, eps, routes, dataplane string) string {
		return fmt.Sprintf(`
node: {name: %s, routerIPv4: 198.18.0.1, routerIPv6: %s}
dataplane: {cores: [0], frames: 4096%s}
ports: [%s]
addressSpaces: [{id: 7, translated: true}]
workloadEndpoints:
%s
routes:
%s
translation:
  addressSpaces: {7: }
`, name, router6, dataplane, uplinks, eps, routes)
	}
	xcfg := func(dataplane string) string {
		return cfg("x", "2001:db8:100::1", fmt.Sprintf("{interface: %s}, {interface: %s}", xif, xz), t7x.endpoint(7, "", ""),
			fmt.Sprintf("  - {prefix: \"64:ff9b:1::/48\", via: \"2001:db8:100::2\", interface: %s}\n  - {prefix: \"2001:db8:200::/64\", interface: %s}", xif, xz),
			dataplane)
	}
	dx := startGannet(t, x, xcfg(", rpf: off"))
	startGannet(t, y, cfg("y", "2001:db8:100::2", fmt.Sprintf("{interface: %s}", yif), t7y.endpoint(7, "", ""),
		fmt.Sprintf("  - {prefix: \"64:ff9b:1::/48\", via: \"2001:db8:100::1\", interface: %s}", yif), ""))

	// t7-x listens; z sends datagrams from the spoofed source.
	var ln net.PacketConn
	if err := t7x.ns.Do(func() (err error) {
		ln, err = net.ListenPacket("udp4", "100.64.0.10:7777")
		return err
	}); err != nil {
		t.Fatalf("t7-x: listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	var spoof *net.UDPConn
	if err := z.Do(func() (err error) {
		spoof, err = net.DialUDP("udp6", net.UDPAddrFromAddrPort(netip.AddrPortFrom(spoofed, 5555)), net.UDPAddrFromAddrPort(netip.AddrPortFrom(victim, 7777)))
		return err
	}); err != nil {
		t.Fatalf("z: %v", err)
	}
	t.Cleanup(func() { spoof.Close() })
	// received sends count datagrams from z, one every 20 ms, and returns
	// those t7-x read (and from whom) until quiet for a second.
	received := func(tag string, count int) (got int, from []string) {
		t.Helper()
		for i := range count {
			if _, err := spoof.Write([]byte(fmt.Sprintf("%s %d", tag, i))); err != nil {
				t.Fatalf("z: send: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		buf := make([]byte, 512)
		for {
			ln.SetReadDeadline(time.Now().Add(time.Second))
			n, addr, err := ln.ReadFrom(buf)
			if err != nil {
				return got, from
			}
			if strings.HasPrefix(string(buf[:n]), tag+" ") {
				got++
				from = append(from, addr.String())
			}
		}
	}

	// Before: the core is trusted. (Neighbours resolve on the first
	// datagrams: some are late or lost, not all.)
	got, from := received("trusted", 20)
	if got == 0 {
		t.Fatalf("rpf off: t7-x received none of z's datagrams: the test's lab does not carry them\n%s", dx.output())
	}
	t.Logf("rpf off: t7-x received %d of 20 spoofed datagrams, as if from %s", got, from[0])
	if from[0] != "100.64.0.20:5555" {
		t.Errorf("rpf off: t7-x received z's datagram from %s, want it to look like t7-y's (100.64.0.20:5555)", from[0])
	}
	out := dx.stop()
	if n := counter(out, "drop/anti-spoof/rpf"); n > 0 {
		t.Errorf("rpf off: drop/anti-spoof/rpf = %d, want none", n)
	}

	// After: the default feasible-path check.
	if err := os.WriteFile(dx.config, []byte(xcfg("")+fmt.Sprintf("\napi:\n  socket: %s\n", dx.socket)), 0o644); err != nil {
		t.Fatal(err)
	}
	dx.start()
	// The legitimate tenant-7 peer, whose route back is the uplink it
	// comes in on, still reaches t7-x.
	if !t7y.waitPing(t, t7x.v4, 10*time.Second) {
		t.Fatalf("rpf feasible: t7-y cannot reach t7-x across the fabric\n%s", dx.output())
	}
	const attacks = 20
	if got, from := received("checked", attacks); got != 0 {
		t.Errorf("rpf feasible: t7-x received %d of %d spoofed datagrams (as if from %s), want none", got, attacks, from[0])
	}
	out = dx.stop()
	if n := counter(out, "drop/anti-spoof/rpf"); n < attacks {
		t.Errorf("drop/anti-spoof/rpf = %d, want at least %d\n%s", n, attacks, out)
	} else {
		t.Logf("rpf feasible: drop/anti-spoof/rpf = %d", n)
	}
}
