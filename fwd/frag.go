// Fragmentation: one frame in, several out. An IPv4 packet with DF clear
// that is larger than its egress port's MTU is cut by the router (RFC 791,
// RFC 1812 section 5.2.6), and a packet the translator splits (RFC 7915)
// comes back as several; the extra fragments flow into frames taken from
// the worker's free stack, which the worker owns, so nothing is allocated.
// A packet that cannot have every frame it needs is dropped whole: no
// partial set of fragments ever leaves.

package fwd

import (
	"github.com/gannet-net/gannet/pkt"
	"github.com/gannet-net/gannet/xlat"
)

// maxFragments bounds the frames one packet may leave as beyond its own:
// a 4 KiB frame cut for the smallest MTU (68: 48 bytes of data each) needs
// 85, but nothing real comes near; a packet that would need more is
// dropped as fragment-no-frames.
const maxFragments = 63

// fragHeadroom is where a fragment's IP header starts in a frame the
// worker took from its free stack: room for the Ethernet header.
const fragHeadroom = 64

// noFrame marks a fragment frame that is no longer the packet's (it was
// dropped on its own).
const noFrame = ^uint64(0)

// fragFrame is one extra frame of the packet in flight: its chunk, where
// its IP packet starts and how long it is.
type fragFrame struct {
	chunk, l3 uint64
	n         uint32
}

// releaseFrags returns the frames of fragments that did not leave (the
// packet was dropped or answered after it was split) to the free stack.
// The packet's outcome was counted once, on its first frame.
func (w *Worker) releaseFrags() {
	for _, f := range w.frags[:w.nfrags] {
		if f.chunk != noFrame {
			w.free.Push(f.chunk)
		}
	}
	w.nfrags = 0
}

// fragment4 cuts the IPv4 packet of v (DF clear, TTL not yet decremented)
// into fragments of at most mtu bytes: v keeps the first in its own frame,
// the others go to w.frags in frames from the free stack. Options with the
// copied flag are repeated in every later fragment, the others only in
// the first. It returns false, having dropped and counted the packet, when
// the options cannot be walked or the free stack cannot supply every
// frame.
func (w *Worker) fragment4(v *view, mtu int) bool {
	s := v.s
	l3 := v.l3()
	ip := w.mem[l3 : l3+uint64(s.L3Len)]
	h := pkt.IPv4(ip)
	hl := h.HeaderLen()
	n, ok := copiedOptions(w.fragHdr[pkt.IPv4MinLen:], ip[pkt.IPv4MinLen:hl])
	if !ok {
		w.drop(v.chunk, ReasonFragOptions)
		return false
	}
	hl2 := pkt.IPv4MinLen + (n+3)&^3
	clear(w.fragHdr[pkt.IPv4MinLen+n : hl2]) // end-of-list padding
	copy(w.fragHdr[:pkt.IPv4MinLen], ip)

	// MTU >= 68 (NewTables) and a header <= 60 leave at least 8 bytes
	// of data per fragment.
	first, later := (mtu-hl)&^7, (mtu-hl2)&^7
	payload := int(s.L3Len) - hl
	need := (payload - first + later - 1) / later
	if need > maxFragments || need > w.free.Len() {
		w.drop(v.chunk, ReasonFragFrames)
		return false
	}
	base, mf := h.FragOffset(), h.MF()
	body := ip[hl:]
	for off := first; off < payload; off += later {
		piece := body[off:min(off+later, payload)]
		chunk, _ := w.free.Pop()
		at := chunk + fragHeadroom
		f := w.mem[at : at+uint64(hl2+len(piece))]
		copy(f, w.fragHdr[:hl2])
		copy(f[hl2:], piece)
		fh := pkt.IPv4(f)
		fh.SetVersionIHL(hl2)
		fh.SetTotalLen(uint16(len(f)))
		fh.SetFragment(false, mf || off+len(piece) < payload, base+uint16(off))
		fh.SetChecksum(fh.ComputeChecksum())
		w.frags[w.nfrags] = fragFrame{chunk: chunk, l3: at, n: uint32(len(f))}
		w.nfrags++
	}
	h.SetTotalLen(uint16(hl + first))
	h.SetFragment(false, true, base)
	h.SetChecksum(h.ComputeChecksum())
	s.L3Len = uint16(hl + first)
	return true
}

// copiedOptions copies the options of opts whose copied flag is set (RFC
// 791: they go into every fragment) to dst and returns their length; ok
// is false when the list cannot be walked.
func copiedOptions(dst, opts []byte) (n int, ok bool) {
	for i := 0; i < len(opts); {
		switch opts[i] {
		case pkt.IPv4OptEnd:
			return n, true
		case pkt.IPv4OptNOP:
			i++
			continue
		}
		if i+1 >= len(opts) {
			return 0, false
		}
		l := int(opts[i+1])
		if l < 2 || i+l > len(opts) {
			return 0, false
		}
		if opts[i]&0x80 != 0 {
			n += copy(dst[n:], opts[i:i+l])
		}
		i += l
	}
	return n, true
}

// xlatDir is which way the translator takes a packet.
type xlatDir uint8

const (
	xlatTo4 xlatDir = iota // IPv6 from the core into a translated space (To4)
	xlatTo6                // IPv4 out of a translated space into the core (To6)
	// xlatHairpin takes back to IPv6 the IPv4 packet To4 made and marked
	// Packet.Hairpin: its destination is an IPv6 host by an EAM
	// (RFC 7757 4.2.2, Translator.Hairpin).
	xlatHairpin
)

// translate runs the translator over p in direction dir. It first
// offers no fragment buffers; when the translation must split the packet
// (xlat checks this before writing a byte, so the packet is untouched) it
// offers up to maxFragments free frames and translates again, without
// counting the first attempt. On Fragments the frames the pieces are in
// stay lent until takeFragments.
func (w *Worker) translate(t *Tables, p *xlat.Packet, dir xlatDir) xlat.Verdict {
	st := &w.c.xlat
	p.Frags = nil
	vd := w.runXlat(t, p, dir)
	if vd != xlat.Drop || p.Reason != xlat.ReasonFragBuffers {
		return vd
	}
	st.Verdicts[xlat.Drop]--
	st.Reasons[xlat.ReasonFragBuffers]--
	k := w.free.PopBatch(w.lent[:])
	for i, a := range w.lent[:k] {
		at := a + fragHeadroom
		w.fragBufs[i] = w.mem[at : at : a+uint64(w.frameSize)]
	}
	w.nlent = k
	p.Frags = w.fragBufs[:k]
	vd = w.runXlat(t, p, dir)
	if vd != xlat.Fragments {
		w.free.PushBatch(w.lent[:k])
		w.nlent = 0
	}
	return vd
}

func (w *Worker) runXlat(t *Tables, p *xlat.Packet, dir xlatDir) xlat.Verdict {
	switch dir {
	case xlatTo6:
		return t.xlat.To6(p, &w.c.xlat)
	case xlatHairpin:
		return t.xlat.Hairpin(p, &w.c.xlat)
	}
	return t.xlat.To4(p, &w.c.xlat)
}

// takeFragments makes the translator's fragments the packet of v: the
// first becomes v's frame (p.Buf, p.Off and p.Len describe it) and the
// others w.frags; the original frame and the lent frames not used go back
// to the free stack.
func (w *Worker) takeFragments(v *view, p *xlat.Packet) {
	w.free.Push(v.chunk)
	first := w.lent[0]
	v.chunk = first
	p.Buf = w.mem[first : first+uint64(w.frameSize)]
	p.Off, p.Len = fragHeadroom, len(p.Frags[0])
	for i := 1; i < p.NFrags; i++ {
		w.frags[w.nfrags] = fragFrame{chunk: w.lent[i], l3: w.lent[i] + fragHeadroom, n: uint32(len(p.Frags[i]))}
		w.nfrags++
	}
	w.free.PushBatch(w.lent[p.NFrags:w.nlent])
	w.nlent = 0
}
