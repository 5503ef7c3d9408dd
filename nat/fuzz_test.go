package nat

// FuzzTrack feeds arbitrary frames to a table that already holds flows
// of every kind, through Track and Commit, with and without a hold
// buffer for fragments. Invariants: no panic; a dropped or held frame is
// untouched; a translated frame (or released fragment) still parses, its
// summary matches a fresh parse, and every checksum that verified before
// verifies after; a RST answering a segment of lost state is a bare RST
// with valid checksums, addressed back to the segment's sender, no larger
// than the segment; the table and the hold buffer stay consistent.

import (
	"bytes"
	"testing"
	"time"

	"github.com/gannet-net/gannet/pkt"
)

// fuzzSeeds are frames the fuzzer starts from: packets of the preloaded
// flows in both directions, new flows, and ICMP errors about them.
func fuzzSeeds(t testing.TB) [][]byte {
	h := newHarness(t, Config{Capacity: 64}, testPolicy())
	var seeds [][]byte
	for _, f := range fuzzFlows() {
		fr := f.frame(t)
		seeds = append(seeds, append([]byte(nil), fr...))
		h.send(fr, 0)
		var s pkt.Summary
		pkt.Parse(fr, &s)
		rep := f.reply("SA")
		rep.dst = s.SrcAddr().String()
		if f.proto == "ping" {
			rep.sp = s.ICMPID
		} else {
			rep.dp = s.SrcPort
		}
		seeds = append(seeds, rep.frame(t))
		typ, code := unreach("4")
		if s.Family == pkt.FamilyIPv6 {
			typ, code = unreach("6")
		}
		router := "198.51.100.254"
		if s.Family == pkt.FamilyIPv6 {
			router = "2001:db8:2::fe"
		}
		seeds = append(seeds, icmpError(t, router, s.SrcAddr().String(), typ, code, ipOf(fr)))
	}
	// Mid-stream segments of translated flows with no session, both
	// ways (answered with a RST), and a RST (never answered).
	for _, f := range []flow{
		{proto: "tcp", src: "198.18.1.9", dst: "198.51.100.1", sp: 6000, dp: 80, flags: "A"},
		{proto: "tcp", src: "198.18.1.9", dst: "198.51.100.1", sp: 6000, dp: 80, flags: "F"},
		{proto: "tcp", src: "198.18.1.9", dst: "198.51.100.1", sp: 6000, dp: 80, flags: "R"},
		{proto: "tcp", src: "198.51.100.1", dst: "203.0.113.1", sp: 80, dp: 6000, flags: "A"},
		{proto: "tcp", src: "2001:db8:2::1", dst: floatPub6, sp: 80, dp: 6000, flags: "FA"},
	} {
		seeds = append(seeds, f.frame(t))
	}
	// Later fragments of the preloaded fragmented datagrams, and of one
	// the table never saw.
	for _, f := range fragFlows() {
		frags := fragment(t, f.ip(t), fragSize, 3)
		seeds = append(seeds, frags[1], frags[3])
		seeds = append(seeds, fragment(t, f.ip(t), fragSize, 4)[2])
	}
	return seeds
}

// fragFlows are flows whose first fragment (datagram ID 3) is preloaded.
func fragFlows() []flow {
	f4 := out("udp", "198.18.1.2", 5353, "198.51.100.1", 53)
	f6 := out("ping", "2001:db8:1::2", 78, "2001:db8:2::1", 0)
	f4.payload, f6.payload = fragPayload, fragPayload
	return []flow{f4, f6}
}

func fuzzFlows() []flow {
	return []flow{
		out("tcp", "198.18.1.1", 5000, "198.51.100.1", 80),
		out("udp", "198.18.1.2", 5353, "198.51.100.1", 53),
		out("ping", "198.18.1.3", 77, "198.51.100.1", 0),
		out("udp", floatWl4, 4000, "198.51.100.9", 53),
		out("tcp", "2001:db8:1::1", 5000, "2001:db8:2::1", 80),
		out("ping", "2001:db8:1::2", 78, "2001:db8:2::1", 0),
	}
}

// transportOK reports whether the packet's transport checksum verifies
// (false when there is none to check).
func transportOK(frame []byte, s *pkt.Summary) bool {
	if s.Verdict != pkt.OK || s.Flags&pkt.FlagFragment != 0 || s.End() > len(frame) {
		return false
	}
	seg := frame[s.L4Off:s.End()]
	var pseudo uint16
	switch {
	case s.Proto == pkt.ProtoICMP && s.Family == pkt.FamilyIPv4:
	case s.Proto == pkt.ProtoUDP && s.Flags&pkt.FlagUDPZeroChecksum != 0:
		return false
	case s.Proto == pkt.ProtoTCP, s.Proto == pkt.ProtoUDP, s.Proto == pkt.ProtoICMPv6:
		if s.Family == pkt.FamilyIPv4 {
			pseudo = pkt.PseudoHeaderSum4(s.Src[:4], s.Dst[:4], s.Proto, uint16(len(seg)))
		} else {
			pseudo = pkt.PseudoHeaderSum6(s.Src[:], s.Dst[:], s.Proto, uint32(len(seg)))
		}
	default:
		return false
	}
	return pkt.VerifyTransport(pseudo, seg)
}

func FuzzTrack(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s, uint16(0), uint8(0))
		f.Add(s, uint16(1), uint8(1))
		f.Add(s, uint16(0), uint8(4))
	}
	var preload [][]byte
	for _, fl := range fuzzFlows() {
		preload = append(preload, fl.frame(f))
	}
	for _, fl := range fragFlows() {
		preload = append(preload, fragment(f, fl.ip(f), fragSize, 3)[0])
	}
	// With a hold buffer, later fragments of datagram 5 wait for their
	// first, which releases them.
	var holdPreload [][]byte
	for _, fl := range fragFlows() {
		fr := fragment(f, fl.ip(f), fragSize, 5)
		holdPreload = append(holdPreload, fr[2], fr[1], fr[0])
	}
	f.Fuzz(func(t *testing.T, frame []byte, space uint16, mode uint8) {
		p := testPolicy()
		p.Filtering = Filtering(mode & 1)
		h := newHarness(t, Config{Capacity: 16, MaxMappings: 8}, p)
		hold := mode&4 != 0
		if hold {
			if err := h.w.HoldFragments(4, 256); err != nil {
				t.Fatal(err)
			}
		}
		for _, fr := range preload {
			h.send(append([]byte(nil), fr...), 0)
		}
		if hold {
			for _, fr := range holdPreload {
				h.send(append([]byte(nil), fr...), 0)
			}
			checkReleased(t, h.w)
		}
		var s pkt.Summary
		if pkt.Parse(frame, &s) != pkt.OK {
			// Track must refuse a summary that is not OK.
			orig := append([]byte(nil), frame...)
			if r := h.w.Track(frame, &s, space); r.Action != Drop {
				t.Fatalf("Track(malformed) = %+v", r)
			}
			if !bytes.Equal(orig, frame) {
				t.Fatalf("malformed frame modified")
			}
			return
		}
		orig := append([]byte(nil), frame...)
		csumOK := transportOK(frame, &s)
		var r Result
		if mode&2 == 0 {
			r = h.w.Process(frame, &s, space)
		} else {
			r = h.w.Track(frame, &s, space)
		}
		switch {
		case r.Action == Held && !hold:
			t.Fatalf("Held without a hold buffer")
		case r.Action == Drop || r.Action == DropAndReply || r.Action == Decide || r.Action == Held:
			if !bytes.Equal(orig, frame) {
				t.Fatalf("%+v but the frame changed", r)
			}
			if r.Action == DropAndReply && len(h.w.Reply()) == 0 {
				t.Fatalf("DropAndReply without a reply")
			}
			if r.Action == DropAndReply && r.Reason == ReasonTCPNoStateReset {
				// A bare RST, checksums valid, back between the
				// segment's endpoints, never larger than it.
				checkReset(t, frame, h.w.Reply())
			}
		case r.Translated:
			var s2 pkt.Summary
			if v := pkt.Parse(frame, &s2); v != pkt.OK {
				t.Fatalf("translated frame no longer parses: %v %v", v, s2.Reason)
			}
			if s2 != s {
				t.Fatalf("summary after translation %+v, fresh parse %+v", s, s2)
			}
			if csumOK && !transportOK(frame, &s2) {
				t.Fatalf("transport checksum broken by translation (%+v)", r)
			}
		}
		if err := h.tab.checkInvariants(); err != nil {
			t.Fatal(err)
		}
		if hold {
			checkReleased(t, h.w)
			h.advance(0)
			if err := h.w.checkHold(); err != nil {
				t.Fatal(err)
			}
			h.advance(time.Minute)
			if err := h.w.checkHold(); err != nil || h.w.Holding() != 0 {
				t.Fatalf("after the fragment timeout: holding %d, %v", h.w.Holding(), err)
			}
		}
	})
}

// checkReleased checks that every released fragment parses to the
// summary that comes with it.
func checkReleased(t *testing.T, w *Worker) {
	t.Helper()
	for i, r := range w.Released() {
		var s pkt.Summary
		if v := pkt.Parse(r.Frame, &s); v != pkt.OK || s != *r.Summary || r.Result.Action != Forward {
			t.Fatalf("released fragment %d: parse %v, summary %+v, fresh %+v, result %+v", i, v, *r.Summary, s, r.Result)
		}
	}
}
