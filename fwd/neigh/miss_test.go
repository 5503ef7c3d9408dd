package neigh

import (
	"net"
	"net/netip"
	"sort"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

type miss struct {
	ifindex int
	addr    netip.Addr
}

func drainAll(r *missRing) []miss {
	var out []miss
	r.drain(func(ifindex int, addr netip.Addr) { out = append(out, miss{ifindex, addr}) })
	sort.Slice(out, func(i, j int) bool {
		if out[i].ifindex != out[j].ifindex {
			return out[i].ifindex < out[j].ifindex
		}
		return out[i].addr.Less(out[j].addr)
	})
	return out
}

var missCmp = cmp.Comparer(func(a, b miss) bool { return a == b })

func TestMissRing(t *testing.T) {
	var r missRing
	a4, a6, mapped := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("::ffff:198.18.0.1")
	r.put(2, a4)
	r.put(2, a4) // the same key takes the same slot: reported once
	r.put(3, a4)
	r.put(2, a6)
	r.put(2, mapped) // distinct from a4
	r.put(2, netip.MustParseAddr("fe80::1%eth0"))
	r.put(0, a4)           // ignored: no such link
	r.put(-5, a4)          // ignored
	r.put(2, netip.Addr{}) // ignored
	r.put(2+1<<32, a4)     // ignored: not an ifindex
	want := []miss{{2, a4}, {2, mapped}, {2, a6}, {2, netip.MustParseAddr("fe80::1")}, {3, a4}}
	sort.Slice(want, func(i, j int) bool {
		if want[i].ifindex != want[j].ifindex {
			return want[i].ifindex < want[j].ifindex
		}
		return want[i].addr.Less(want[j].addr)
	})
	if diff := cmp.Diff(want, drainAll(&r), missCmp); diff != "" {
		t.Errorf("drain (-want +got):\n%s", diff)
	}
	if got := drainAll(&r); len(got) != 0 {
		t.Errorf("second drain = %v, want nothing", got)
	}
	r.put(2, a4) // slots are reusable after a drain
	if diff := cmp.Diff([]miss{{2, a4}}, drainAll(&r), missCmp); diff != "" {
		t.Errorf("drain after reuse (-want +got):\n%s", diff)
	}
}

// More keys than slots: some are lost, none is invented, none appears twice.
func TestMissRingLossy(t *testing.T) {
	var r missRing
	reported := map[miss]bool{}
	for i := range 4 * missSlots {
		m := miss{2, netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})}
		reported[m] = true
		r.put(m.ifindex, m.addr)
	}
	got := drainAll(&r)
	if len(got) == 0 || len(got) > missSlots {
		t.Fatalf("drained %d misses, want 1..%d", len(got), missSlots)
	}
	seen := map[miss]bool{}
	for _, m := range got {
		if !reported[m] || seen[m] {
			t.Errorf("drained %v: reported %v, seen before %v", m, reported[m], seen[m])
		}
		seen[m] = true
	}
}

// Writers on several goroutines and one reader: under -race this checks the slot protocol;
// every drained miss must be one that was reported (no torn keys).
func TestMissRingConcurrent(t *testing.T) {
	var r missRing
	const writers, perWriter = 4, 5000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var got []miss
	var readerDone sync.WaitGroup
	readerDone.Add(1)
	go func() {
		defer readerDone.Done()
		for {
			r.drain(func(ifindex int, addr netip.Addr) { got = append(got, miss{ifindex, addr}) })
			select {
			case <-stop:
				r.drain(func(ifindex int, addr netip.Addr) { got = append(got, miss{ifindex, addr}) })
				return
			default:
			}
		}
	}()
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				if w%2 == 0 {
					r.put(10+w, netip.AddrFrom4([4]byte{198, 18, byte(w), byte(i % 200)}))
				} else {
					r.put(10+w, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 4: byte(w), 15: byte(i % 200)}))
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	readerDone.Wait()
	if len(got) == 0 {
		t.Fatal("drained nothing")
	}
	for _, m := range got {
		w := m.ifindex - 10
		var ok bool
		if w >= 0 && w < writers && w%2 == 0 {
			b := m.addr.As4()
			ok = m.addr.Is4() && b[0] == 198 && b[1] == 18 && int(b[2]) == w && b[3] < 200
		} else if w >= 0 && w < writers {
			b := m.addr.As16()
			ok = m.addr.Is6() && b[0] == 0x20 && b[4] == byte(w) && b[15] < 200 && [8]byte(b[5:13]) == [8]byte{}
		}
		if !ok {
			t.Fatalf("drained %v, which no writer reported", m)
		}
	}
}

func TestMissZeroAlloc(t *testing.T) {
	c := &Cache{}
	a4, a6 := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("2001:db8::1")
	allocs := testing.AllocsPerRun(1000, func() {
		c.Miss(2, a4)
		c.Miss(2, a6)
	})
	if allocs != 0 {
		t.Errorf("Miss allocates %v times per run, want 0", allocs)
	}
}

func BenchmarkMiss(b *testing.B) {
	c := &Cache{}
	addrs := make([]netip.Addr, 64)
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{198, 18, 0, byte(i)})
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.Miss(2, addrs[i&63]) // after the first round every slot is full: the flood case
	}
}

func TestApplyTo(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 7}
	mac2 := net.HardwareAddr{2, 0, 0, 0, 0, 8}
	links := map[int]bool{2: true}
	ip4, ip6 := net.ParseIP("198.18.0.7").To4(), net.ParseIP("2001:db8::7")
	k4, k6 := makeKey(2, netip.MustParseAddr("198.18.0.7")), makeKey(2, netip.MustParseAddr("2001:db8::7"))
	n := func(family, state int, ip net.IP, hw net.HardwareAddr) *netlink.Neigh {
		return &netlink.Neigh{LinkIndex: 2, Family: family, State: state, IP: ip, HardwareAddr: hw}
	}
	tests := []struct {
		name        string
		start       map[key][6]byte
		typ         uint16
		neigh       *netlink.Neigh
		want        map[key][6]byte
		wantChanged bool
	}{
		{"reachable v4", nil, unix.RTM_NEWNEIGH, n(unix.AF_INET, netlink.NUD_REACHABLE, ip4, mac), map[key][6]byte{k4: [6]byte(mac)}, true},
		{"v4 as 16 bytes", nil, unix.RTM_NEWNEIGH, n(unix.AF_INET, netlink.NUD_REACHABLE, ip4.To16(), mac), map[key][6]byte{k4: [6]byte(mac)}, true},
		{"stale v6", nil, unix.RTM_NEWNEIGH, n(unix.AF_INET6, netlink.NUD_STALE, ip6, mac), map[key][6]byte{k6: [6]byte(mac)}, true},
		{"delay", nil, unix.RTM_NEWNEIGH, n(unix.AF_INET6, netlink.NUD_DELAY, ip6, mac), map[key][6]byte{k6: [6]byte(mac)}, true},
		{"probe", nil, unix.RTM_NEWNEIGH, n(unix.AF_INET6, netlink.NUD_PROBE, ip6, mac), map[key][6]byte{k6: [6]byte(mac)}, true},
		{"permanent", nil, unix.RTM_NEWNEIGH, n(unix.AF_INET, netlink.NUD_PERMANENT, ip4, mac), map[key][6]byte{k4: [6]byte(mac)}, true},
		{"same again", map[key][6]byte{k4: [6]byte(mac)}, unix.RTM_NEWNEIGH, n(unix.AF_INET, netlink.NUD_REACHABLE, ip4, mac), map[key][6]byte{k4: [6]byte(mac)}, false},
		{"mac changes", map[key][6]byte{k4: [6]byte(mac)}, unix.RTM_NEWNEIGH, n(unix.AF_INET, netlink.NUD_REACHABLE, ip4, mac2), map[key][6]byte{k4: [6]byte(mac2)}, true},
		{"incomplete", nil, unix.RTM_NEWNEIGH, n(unix.AF_INET, netlink.NUD_INCOMPLETE, ip4, nil), map[key][6]byte{}, false},
		{"failed removes", map[key][6]byte{k4: [6]byte(mac)}, unix.RTM_NEWNEIGH, n(unix.AF_INET, netlink.NUD_FAILED, ip4, mac), map[key][6]byte{}, true},
		{"noarp", nil, unix.RTM_NEWNEIGH, n(unix.AF_INET, netlink.NUD_NOARP, ip4, mac), map[key][6]byte{}, false},
		{"no mac", nil, unix.RTM_NEWNEIGH, n(unix.AF_INET, netlink.NUD_REACHABLE, ip4, nil), map[key][6]byte{}, false},
		{"delete", map[key][6]byte{k6: [6]byte(mac)}, unix.RTM_DELNEIGH, n(unix.AF_INET6, netlink.NUD_STALE, ip6, mac), map[key][6]byte{}, true},
		{"other link", nil, unix.RTM_NEWNEIGH, &netlink.Neigh{LinkIndex: 3, Family: unix.AF_INET, State: netlink.NUD_REACHABLE, IP: ip4, HardwareAddr: mac}, map[key][6]byte{}, false},
		{"bridge fdb", nil, unix.RTM_NEWNEIGH, n(unix.AF_BRIDGE, netlink.NUD_REACHABLE, nil, mac), map[key][6]byte{}, false},
		{"proxy", nil, unix.RTM_NEWNEIGH, &netlink.Neigh{LinkIndex: 2, Family: unix.AF_INET6, State: netlink.NUD_PERMANENT, Flags: netlink.NTF_PROXY, IP: ip6, HardwareAddr: mac}, map[key][6]byte{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			table := map[key][6]byte{}
			for k, v := range tc.start {
				table[k] = v
			}
			changed := applyTo(table, links, tc.typ, tc.neigh)
			if changed != tc.wantChanged {
				t.Errorf("applyTo(%d, %+v) changed = %v, want %v", tc.typ, tc.neigh, changed, tc.wantChanged)
			}
			if diff := cmp.Diff(tc.want, table, cmp.AllowUnexported(key{})); diff != "" {
				t.Errorf("applyTo(%d, %+v) table (-want +got):\n%s", tc.typ, tc.neigh, diff)
			}
		})
	}
}
