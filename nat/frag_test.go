package nat

// Fragments (RFC 4787 REQ-14): datagrams split by gopacket-built
// fragment headers, sent in and out of order through a flow in both
// directions. Every translated fragment is compared byte for byte with
// the fragment of the datagram gopacket builds for the translated tuple,
// which proves each IPv4 header checksum and the transport checksum of
// the first fragment (it covers the whole datagram).

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/gannet-net/gannet/pkt"
	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// fragment splits the bare IP datagram ip (as flow.ip builds it, no
// extension headers) into Ethernet frames of fragments with
// identification id, each carrying at most size bytes (a multiple of 8)
// of the datagram's payload.
func fragment(t testing.TB, ip []byte, size int, id uint32) [][]byte {
	t.Helper()
	var out [][]byte
	if ip[0]>>4 == 4 {
		h := gopacket.NewPacket(ip, layers.LayerTypeIPv4, gopacket.Default).Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		data := ip[int(h.IHL)*4:]
		for off := 0; off < len(data); off += size {
			end := min(off+size, len(data))
			f := &layers.IPv4{Version: 4, TTL: h.TTL, Id: uint16(id), FragOffset: uint16(off / 8),
				Protocol: h.Protocol, SrcIP: h.SrcIP, DstIP: h.DstIP}
			if end < len(data) {
				f.Flags = layers.IPv4MoreFragments
			}
			out = append(out, serialize(t, ethernet(layers.EthernetTypeIPv4), f, gopacket.Payload(data[off:end])))
		}
		return out
	}
	h := gopacket.NewPacket(ip, layers.LayerTypeIPv6, gopacket.Default).Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	data := ip[40:]
	for off := 0; off < len(data); off += size {
		end := min(off+size, len(data))
		f := &layers.IPv6{Version: 6, HopLimit: h.HopLimit, NextHeader: layers.IPProtocolIPv6Fragment,
			SrcIP: h.SrcIP, DstIP: h.DstIP}
		fh := &layers.IPv6Fragment{NextHeader: h.NextHeader, FragmentOffset: uint16(off / 8),
			MoreFragments: end < len(data), Identification: id}
		out = append(out, serialize(t, ethernet(layers.EthernetTypeIPv6), f, fh, gopacket.Payload(data[off:end])))
	}
	return out
}

// fragPayload makes a datagram of four 32-byte fragments.
var fragPayload = bytes.Repeat([]byte("0123456789abcdef"), 6)

const fragSize = 32

// sendFragments sends the fragments of frags in the given order and
// expects each to become the fragment of want with the same index, except
// the first drops steps, which must be dropped for reason
// fragment-no-state with the frame untouched.
func (h *harness) sendFragments(frags, want [][]byte, order []int, drops int, dir Dir) {
	h.t.Helper()
	for step, i := range order {
		fr := append([]byte(nil), frags[i]...)
		if step < drops {
			h.expectDrop(fr, ReasonFragment)
			continue
		}
		r := h.send(fr, 0)
		if r.Action != Forward || r.Dir != dir || (r.State != StateEstablished && r.State != StateNew) {
			h.t.Fatalf("fragment %d: %+v, want Forward dir %v", i, r, dir)
		}
		if diff := cmp.Diff(want[i], fr); diff != "" {
			h.t.Fatalf("fragment %d translated wrong (-want +got):\n%s", i, diff)
		}
	}
}

func TestFragments(t *testing.T) {
	ends := map[string][2]string{
		"4": {"198.18.3.1", "198.51.100.7"},
		"6": {"2001:db8:1::31", "2001:db8:2::7"},
	}
	for _, fam := range []string{"4", "6"} {
		for _, proto := range protos {
			t.Run(fam+"/"+proto, func(t *testing.T) {
				h := newHarness(t, Config{}, testPolicy())
				f := out(proto, ends[fam][0], 4000, ends[fam][1], 53)
				f.payload = fragPayload
				wantFirst := StateNew
				if proto == "tcp" {
					h.sendOut(out(proto, ends[fam][0], 4000, ends[fam][1], 53))
					f.flags = "A"
					wantFirst = StateEstablished
				}
				// The first fragment of datagram 1 opens (or finds) the
				// flow; what it became gives the external endpoint.
				frags := fragment(t, f.ip(t), fragSize, 1)
				if len(frags) != 4 {
					t.Fatalf("%d fragments, want 4", len(frags))
				}
				first := append([]byte(nil), frags[0]...)
				if r := h.send(first, 0); r.Action != Forward || r.State != wantFirst {
					t.Fatalf("first fragment: %+v, want Forward %v", r, wantFirst)
				}
				var s pkt.Summary
				pkt.Parse(first, &s)
				x, xp := s.SrcAddr().String(), s.SrcPort
				if proto == "ping" {
					xp = s.ICMPID
				}
				if x == ends[fam][0] {
					t.Fatalf("first fragment not source-NATed: %v", x)
				}
				natOf := func(id uint32) [][]byte { return fragment(t, natted(f, x, xp).ip(t), fragSize, id) }
				if diff := cmp.Diff(natOf(1)[0], first); diff != "" {
					t.Fatalf("first fragment translated wrong (-want +got):\n%s", diff)
				}
				h.sendFragments(frags, natOf(1), []int{1, 2, 3}, 0, Original)

				// Later datagrams of the same flow, in other orders.
				h.sendFragments(fragment(t, f.ip(t), fragSize, 2), natOf(2), []int{0, 3, 2, 1}, 0, Original)
				h.sendFragments(fragment(t, f.ip(t), fragSize, 3), natOf(3), []int{2, 0, 3, 1, 2}, 1, Original)
				// Only the first fragment's datagram ID is remembered: a
				// later fragment of another datagram has no state.
				h.sendFragments(fragment(t, f.ip(t), fragSize, 4), natOf(4), []int{3}, 1, Original)

				// The answer, fragmented, comes back to the external
				// endpoint and is delivered to the internal one.
				rep := f.reply("A")
				rep.dst = x
				if proto == "ping" {
					rep.sp = xp
				} else {
					rep.dp = xp
				}
				back := f.reply("A")
				h.sendFragments(fragment(t, rep.ip(t), fragSize, 7), fragment(t, back.ip(t), fragSize, 7),
					[]int{0, 2, 3, 1}, 0, Reply)
			})
		}
	}
}

// A fragment of an untranslated flow (routed pool, no NAT) is tracked
// too, so stateful policy sees it as established, and left unchanged.
func TestFragmentsUntranslated(t *testing.T) {
	h := newHarness(t, Config{}, testPolicy())
	f := out("udp", "198.19.0.9", 4000, "198.51.100.7", 53)
	f.payload = fragPayload
	frags := fragment(t, f.ip(t), fragSize, 9)
	for i, fr := range frags {
		orig := append([]byte(nil), fr...)
		r := h.send(fr, 0)
		if r.Action != Forward || r.Translated || (i > 0 && r.State != StateEstablished) {
			t.Fatalf("fragment %d: %+v, want untranslated Forward", i, r)
		}
		if diff := cmp.Diff(orig, fr); diff != "" {
			t.Fatalf("fragment %d changed (-want +got):\n%s", i, diff)
		}
	}
}

// A first fragment that policy refused (Track said New, no Commit)
// leaves nothing for the later fragments.
func TestFragmentsOfRefusedFlow(t *testing.T) {
	h := newHarness(t, Config{}, testPolicy())
	f := out("udp", "198.18.3.3", 4000, "198.51.100.7", 53)
	f.payload = fragPayload
	frags := fragment(t, f.ip(t), fragSize, 5)
	var s pkt.Summary
	pkt.Parse(frags[0], &s)
	if r := h.w.Track(frags[0], &s, 0); r.Action != Decide {
		t.Fatalf("Track(first fragment) = %+v, want Decide", r)
	}
	for i := 1; i < len(frags); i++ {
		h.expectDrop(frags[i], ReasonFragment)
	}
	pkt.Parse(frags[1], &s)
	if r := h.w.Commit(frags[1], &s, 0); r.Action != Drop || r.Reason != ReasonFragment {
		t.Errorf("Commit(later fragment) = %+v, want Drop %v", r, ReasonFragment)
	}
	if n := h.tab.Len(); n != 0 {
		t.Errorf("%d sessions, want 0", n)
	}
}

func TestFragmentTimeout(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration
		wait    time.Duration
		kept    bool
	}{
		{"default, within", 0, 1 * time.Second, true},
		{"default, after", 0, 3 * time.Second, false},
		{"configured, within", 10 * time.Second, 9 * time.Second, true},
		{"configured, after", 10 * time.Second, 11 * time.Second, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := testPolicy()
			p.Timeouts.Fragment = tc.timeout
			h := newHarness(t, Config{}, p)
			f := out("udp", "198.18.3.4", 4000, "198.51.100.7", 53)
			f.payload = fragPayload
			frags := fragment(t, f.ip(t), fragSize, 11)
			h.send(frags[0], 0)
			h.advance(tc.wait)
			r := h.send(frags[1], 0)
			if got := r.Action == Forward; got != tc.kept {
				t.Errorf("later fragment after %v: %+v, want forwarded %v", tc.wait, r, tc.kept)
			}
			if !tc.kept && r.Reason != ReasonFragment {
				t.Errorf("reason %v, want %v", r.Reason, ReasonFragment)
			}
		})
	}
}

// A remembered first fragment is only as good as its session: once the
// session is removed and its slot reused, later fragments are dropped
// rather than given another flow's translation.
func TestFragmentSessionGone(t *testing.T) {
	h := newHarness(t, Config{}, testPolicy())
	f := out("udp", "198.18.3.5", 4000, "198.51.100.7", 53)
	f.payload = fragPayload
	frags := fragment(t, f.ip(t), fragSize, 12)
	h.send(frags[0], 0)
	var s pkt.Summary
	pkt.Parse(frags[1], &s)
	k := fragKey(&s, 0)
	ref, ok := h.tab.frags.lookup(&k, k.hash(h.tab.s0, h.tab.s1), h.w.now)
	if !ok {
		t.Fatal("first fragment not remembered")
	}
	h.tab.mu.Lock()
	h.tab.removeSession(int32(uint32(ref) >> 1))
	h.tab.mu.Unlock()
	h.sendOut(out("udp", "198.18.3.6", 4000, "198.51.100.8", 53)) // takes the freed slot
	h.expectDrop(frags[1], ReasonFragment)
	if err := h.tab.checkInvariants(); err != nil {
		t.Error(err)
	}
}

// The fragment table is fixed: more datagrams than slots evict older
// entries, never grow it, and never hand a fragment another datagram's
// translation.
func TestFragmentTableBounded(t *testing.T) {
	h := newHarness(t, Config{Fragments: 8}, testPolicy())
	if n := len(h.tab.frags.e); n != 8 {
		t.Fatalf("%d fragment slots, want 8", n)
	}
	f := out("udp", "198.18.3.7", 4000, "198.51.100.7", 53)
	f.payload = fragPayload
	x, xp := h.sendOut(f)
	const datagrams = 64
	var later, want [][]byte
	for id := range uint32(datagrams) {
		frags := fragment(t, f.ip(t), fragSize, id)
		h.send(frags[0], 0)
		later = append(later, frags[1])
		want = append(want, fragment(t, natted(f, x, xp).ip(t), fragSize, id)[1])
	}
	forwarded := 0
	for i := range later {
		fr := append([]byte(nil), later[i]...)
		r := h.send(fr, 0)
		switch {
		case r.Action == Forward:
			forwarded++
			if diff := cmp.Diff(want[i], fr); diff != "" {
				t.Fatalf("datagram %d translated wrong (-want +got):\n%s", i, diff)
			}
		case r.Reason != ReasonFragment:
			t.Fatalf("datagram %d: %+v", i, r)
		}
	}
	if forwarded == 0 || forwarded > 8 {
		t.Errorf("%d of %d datagrams still remembered, want 1..8", forwarded, datagrams)
	}
	if r := h.send(append([]byte(nil), later[datagrams-1]...), 0); r.Action != Forward {
		t.Errorf("the newest datagram was evicted: %+v", r)
	}
}

// The fragment table against a map: a lookup either misses or returns
// exactly what was last recorded for that datagram, unexpired; right
// after a record the entry is found.
func TestFragTableDifferential(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
		var ft fragTable
		ft.init(32)
		type val struct {
			ref uint64
			exp uint32
		}
		twin := map[key]val{}
		keys := make([]key, 200)
		for i := range keys {
			keys[i] = key{src: [2]uint64{uint64(rng.IntN(5)), 0}, dst: [2]uint64{uint64(rng.IntN(5)), 0},
				m: uint64(4)<<40 | uint64(17)<<32 | uint64(rng.IntN(8))}
		}
		now := uint32(1)
		for op := range 20000 {
			k := &keys[rng.IntN(len(keys))]
			h := k.hash(7, 9)
			switch x := rng.IntN(10); {
			case x == 0:
				now += uint32(rng.IntN(3))
			case x < 5:
				ref := rng.Uint64()
				ft.record(k, h, ref, now, 2)
				twin[*k] = val{ref, now + 2}
				if got, ok := ft.lookup(k, h, now); !ok || got != ref {
					t.Fatalf("seed %d op %d: lookup right after record = %#x %v, want %#x", seed, op, got, ok, ref)
				}
			default:
				got, ok := ft.lookup(k, h, now)
				want, in := twin[*k]
				if ok && (!in || want.ref != got || want.exp < now) {
					t.Fatalf("seed %d op %d: lookup = %#x, twin has %+v (present %v) at %d", seed, op, got, want, in, now)
				}
			}
		}
	}
}

// Fragments of many datagrams from two workers at once: one sends first
// fragments, the other the later ones. Each later fragment is either
// dropped for want of state or translated exactly. Run with -race.
func TestConcurrentFragments(t *testing.T) {
	h := newHarness(t, Config{Fragments: 64}, testPolicy())
	f := out("udp", "198.18.3.8", 4000, "198.51.100.7", 53)
	f.payload = fragPayload
	x, xp := h.sendOut(f)
	const datagrams = 2000
	var firsts, laters, wants [][]byte
	for id := range uint32(datagrams) {
		fr := fragment(t, f.ip(t), fragSize, id)
		firsts = append(firsts, fr[0])
		laters = append(laters, fr[2])
		wants = append(wants, fragment(t, natted(f, x, xp).ip(t), fragSize, id)[2])
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for role := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := h.tab.NewWorker()
			var s pkt.Summary
			buf := make([]byte, 256)
			for i := range datagrams {
				if i%32 == 0 {
					w.BeginBatch()
				}
				src := firsts[i]
				if role == 1 {
					src = laters[i]
				}
				fr := buf[:len(src)]
				copy(fr, src)
				pkt.Parse(fr, &s)
				r := w.Track(fr, &s, 0)
				switch {
				case r.Action == Forward && role == 1 && !bytes.Equal(fr, wants[i]):
					errs <- fmt.Errorf("datagram %d: later fragment translated to %x, want %x", i, fr, wants[i])
					return
				case r.Action != Forward && (role == 0 || r.Reason != ReasonFragment):
					errs <- fmt.Errorf("role %d datagram %d: %+v", role, i, r)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
