package neigh

import (
	"context"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/gannet-net/gannet/internal/netnstest"
)

// addAddr adds p to l through h without duplicate address detection, so IPv6 is usable at
// once.
func addAddr(t *testing.T, h *netlink.Handle, l netlink.Link, p netip.Prefix) {
	t.Helper()
	a := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}, Flags: unix.IFA_F_NODAD}
	if err := h.AddrAdd(l, a); err != nil {
		t.Fatalf("AddrAdd(%s, %v): %v", l.Attrs().Name, p, err)
	}
}

// waitFor polls cond until it holds or 3 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestCacheNetns: a veth pair between two fresh namespaces, the Cache on side a. It learns
// b's MAC for IPv4 and IPv6 from a Miss alone (nothing else sends to b), follows entries
// written, changed and deleted in the kernel, and ignores other links.
func TestCacheNetns(t *testing.T) {
	netnstest.Require(t)
	nsA, nsB := netnstest.NewNS(t, "gneigha"), netnstest.NewNS(t, "gneighb")
	ha, hb := nsA.Netlink(), nsB.Netlink()

	// No duplicate address detection on the new links: their IPv6 addresses are usable at
	// once, so the test measures the Cache and not the kernel's start-up.
	for _, ns := range []*netnstest.NS{nsA, nsB} {
		if err := ns.Do(func() error {
			for _, f := range []string{"/proc/sys/net/ipv6/conf/default/accept_dad", "/proc/sys/net/ipv6/conf/default/dad_transmits"} {
				if err := os.WriteFile(f, []byte("0"), 0); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatalf("turning DAD off in %s: %v", ns.Name, err)
		}
	}

	suffix := netnstest.Name("")
	nameA, nameB, nameC, nameD := "gna"+suffix, "gnb"+suffix, "gnc"+suffix, "gnd"+suffix
	netnstest.Veth(t, nameA, nsA, nameB, nsB)
	netnstest.Veth(t, nameC, nsA, nameD, nsA)
	a, err := ha.LinkByName(nameA)
	if err != nil {
		t.Fatalf("LinkByName(%s): %v", nameA, err)
	}
	c, err := ha.LinkByName(nameC)
	if err != nil {
		t.Fatalf("LinkByName(%s): %v", nameC, err)
	}
	b, err := hb.LinkByName(nameB)
	if err != nil {
		t.Fatalf("LinkByName(%s): %v", nameB, err)
	}
	addAddr(t, ha, a, netip.MustParsePrefix("198.18.0.1/24"))
	addAddr(t, ha, a, netip.MustParsePrefix("2001:db8::1/64"))
	addAddr(t, hb, b, netip.MustParsePrefix("198.18.0.2/24"))
	addAddr(t, hb, b, netip.MustParsePrefix("2001:db8::2/64"))
	macB := [6]byte(b.Attrs().HardwareAddr)

	// A permanent entry that exists before Start: the dump must bring it.
	pre := netip.MustParseAddr("198.18.0.50")
	preMAC := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x50}
	if err := ha.NeighAdd(&netlink.Neigh{LinkIndex: a.Attrs().Index, IP: pre.AsSlice(), HardwareAddr: preMAC, State: netlink.NUD_PERMANENT}); err != nil {
		t.Fatalf("NeighAdd(%v): %v", pre, err)
	}

	// New binds the Cache to the namespace of the thread that calls it.
	var cache *Cache
	if err := nsA.Do(func() (err error) {
		cache, err = New([]int{a.Attrs().Index})
		return err
	}); err != nil {
		t.Fatalf("New in %s: %v", nsA.Name, err)
	}
	defer cache.Close()
	// The test's own thread never entered namespace a: the Cache must keep using it by
	// itself.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := cache.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if err := cache.Start(ctx); err == nil {
		t.Errorf("second Start = nil, want an error")
	}
	ai := a.Attrs().Index
	if mac, ok := cache.Snapshot().Lookup(ai, pre); !ok || mac != [6]byte(preMAC) {
		t.Errorf("after Start: Lookup(%v) = %x, %v, want %x from the dump", pre, mac, ok, preMAC)
	}

	// Solicitations sent before the pair is up are lost and retried by the kernel only a
	// second later.
	waitFor(t, "link up", func() bool {
		la, err1 := ha.LinkByIndex(a.Attrs().Index)
		lb, err2 := hb.LinkByIndex(b.Attrs().Index)
		return err1 == nil && err2 == nil && la.Attrs().OperState == netlink.OperUp && lb.Attrs().OperState == netlink.OperUp
	})
	// Learning from a Miss: nothing else in namespace a sends to b.
	peer4, peer6 := netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("2001:db8::2")
	for _, peer := range []netip.Addr{peer4, peer6} {
		if _, ok := cache.Snapshot().Lookup(ai, peer); ok {
			t.Fatalf("Lookup(%v) found before any Miss", peer)
		}
		cache.Miss(ai, peer)
	}
	waitFor(t, "b's MAC for IPv4 from a miss", func() bool {
		m, ok := cache.Snapshot().Lookup(ai, peer4)
		return ok && m == macB
	})
	waitFor(t, "b's MAC for IPv6 from a miss", func() bool {
		m, ok := cache.Snapshot().Lookup(ai, peer6)
		return ok && m == macB
	})

	// Updates: an entry written in the kernel appears, changes, and goes.
	x := netip.MustParseAddr("2001:db8::77")
	mac1, mac2 := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x77}, net.HardwareAddr{0x02, 0, 0, 0, 0, 0x78}
	lookupIs := func(addr netip.Addr, want net.HardwareAddr) func() bool {
		return func() bool {
			mac, ok := cache.Snapshot().Lookup(ai, addr)
			if want == nil {
				return !ok
			}
			return ok && mac == [6]byte(want)
		}
	}
	for _, step := range []struct {
		what string
		do   func() error
		want net.HardwareAddr
	}{
		{"added entry", func() error {
			return ha.NeighAdd(&netlink.Neigh{LinkIndex: ai, IP: x.AsSlice(), HardwareAddr: mac1, State: netlink.NUD_REACHABLE})
		}, mac1},
		{"changed MAC", func() error {
			return ha.NeighSet(&netlink.Neigh{LinkIndex: ai, IP: x.AsSlice(), HardwareAddr: mac2, State: netlink.NUD_STALE})
		}, mac2},
		{"deleted entry", func() error { return ha.NeighDel(&netlink.Neigh{LinkIndex: ai, IP: x.AsSlice()}) }, nil},
		{"deleted pre-existing entry", func() error { return ha.NeighDel(&netlink.Neigh{LinkIndex: ai, IP: pre.AsSlice()}) }, nil},
	} {
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.what, err)
		}
		addr := x
		if step.what == "deleted pre-existing entry" {
			addr = pre
		}
		waitFor(t, step.what, lookupIs(addr, step.want))
	}

	// A miss for an address nobody answers: the kernel is asked (its entry appears,
	// INCOMPLETE and later FAILED) but the Snapshot never holds it.
	silent := netip.MustParseAddr("198.18.0.200")
	cache.Miss(ai, silent)
	waitFor(t, "the kernel resolving a silent address", func() bool {
		list, err := ha.NeighList(ai, unix.AF_INET)
		if err != nil {
			t.Fatalf("NeighList(%s): %v", nameA, err)
		}
		for _, n := range list {
			if n.IP.Equal(silent.AsSlice()) {
				return n.State&(netlink.NUD_INCOMPLETE|netlink.NUD_FAILED) != 0
			}
		}
		return false
	})
	if mac, ok := cache.Snapshot().Lookup(ai, silent); ok {
		t.Errorf("Lookup(%v) = %x, true for an unresolved address, want false", silent, mac)
	}

	// Other links are not mirrored, and misses on them are not resolved.
	ci := c.Attrs().Index
	other := netip.MustParseAddr("198.18.1.9")
	if err := ha.NeighAdd(&netlink.Neigh{LinkIndex: ci, IP: other.AsSlice(), HardwareAddr: mac1, State: netlink.NUD_PERMANENT}); err != nil {
		t.Fatalf("NeighAdd on %s: %v", nameC, err)
	}
	cache.Miss(ci, netip.MustParseAddr("198.18.1.10"))
	// A marker on the mirrored link, written after: once it shows, the earlier
	// notification and the miss have been processed.
	marker := netip.MustParseAddr("198.18.0.99")
	if err := ha.NeighAdd(&netlink.Neigh{LinkIndex: ai, IP: marker.AsSlice(), HardwareAddr: mac1, State: netlink.NUD_PERMANENT}); err != nil {
		t.Fatalf("NeighAdd(marker): %v", err)
	}
	waitFor(t, "the marker entry", lookupIs(marker, mac1))
	time.Sleep(3 * missPoll)
	if mac, ok := cache.Snapshot().Lookup(ci, other); ok {
		t.Errorf("Lookup on an unmirrored link = %x, true, want false", mac)
	}
	list, err := ha.NeighList(ci, unix.AF_INET)
	if err != nil {
		t.Fatalf("NeighList(%s): %v", nameC, err)
	}
	for _, n := range list {
		if n.IP.Equal(net.ParseIP("198.18.1.10")) {
			t.Errorf("a miss on an unmirrored link made the kernel resolve: %v state %#x", n.IP, n.State)
		}
	}

	// Close stops following; the last Snapshot stays readable.
	if err := cache.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := cache.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if _, ok := cache.Snapshot().Lookup(ai, marker); !ok {
		t.Errorf("after Close the last Snapshot lost the marker")
	}
}

func TestNewRejects(t *testing.T) {
	if _, err := New(nil); err == nil {
		t.Errorf("New(nil) = nil error, want an error")
	}
	if os.Geteuid() != 0 {
		return // the lookup below needs no privilege, but netlink handles may be denied
	}
	if c, err := New([]int{1, 1 << 30}); err == nil {
		c.Close()
		t.Errorf("New with a missing link = nil error, want an error naming it")
	} else if want := "ifindexes[1]"; !contains(err.Error(), want) {
		t.Errorf("New with a missing link = %v, want an error naming %s", err, want)
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}
