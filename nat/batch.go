package nat

// Batches: TrackBatch runs Track over a ring's batch of packets in passes
// so that their memory accesses overlap instead of queuing one behind
// another. The first pass computes every key and hash and then touches
// each key's index slot; the second touches the session that slot points
// at; the third does the per-packet work of Track, which by then finds its
// cache lines present. With a table far larger than the caches that
// turns one or two memory round trips per packet into about as many per
// batch.

import "github.com/gannet-net/gannet/pkt"

// batchMax is the number of packets TrackBatch works on at once; longer
// batches are taken in pieces.
const batchMax = 64

// batchScratch is a worker's per-batch state for TrackBatch.
type batchScratch struct {
	k    [batchMax]key
	h    [batchMax]uint64
	fast [batchMax]bool // has a key: not malformed, not a fragment or ICMP error
	// sink keeps the touching loads from being optimized away.
	sink uint64
}

// TrackBatch is Track over a batch: for each i, res[i] is what
// Track(frames[i], sums[i], spaces[i]) returns, with the same effects.
// sums, spaces and res must be at least as long as frames.
func (w *Worker) TrackBatch(frames [][]byte, sums []*pkt.Summary, spaces []uint16, res []Result) {
	for len(frames) > 0 {
		n := min(len(frames), batchMax)
		w.trackChunk(frames[:n], sums[:n], spaces[:n], res[:n])
		frames, sums, spaces, res = frames[n:], sums[n:], spaces[n:], res[n:]
	}
}

func (w *Worker) trackChunk(frames [][]byte, sums []*pkt.Summary, spaces []uint16, res []Result) {
	t, b := w.t, &w.batch
	n := len(frames)
	sums, spaces, res = sums[:n], spaces[:n], res[:n]
	for i, s := range sums {
		b.fast[i] = false
		if check(frames[i], s) != ReasonNone {
			continue
		}
		if plainPorts(s) {
			portKey(s, spaces[i], &b.k[i])
		} else if s.Flags&(pkt.FlagFragment|pkt.FlagICMPError) != 0 || keyOf(s, spaces[i], &b.k[i]) != ReasonNone {
			continue
		}
		b.fast[i] = true
		b.h[i] = b.k[i].hash(t.s0, t.s1)
	}
	index, sess, mask := t.index, t.sess, t.mask
	sink := b.sink
	for i := range n {
		if b.fast[i] {
			sink += index[uint64(uint32(b.h[i]))&mask].Load()
		}
	}
	for i := range n {
		if !b.fast[i] {
			continue
		}
		// The first entry of the chain with the key's tag is almost
		// always the key's (the chain is in the line just touched).
		tag := uint32(b.h[i])
		for j := uint64(tag) & mask; ; j = (j + 1) & mask {
			v := index[j].Load()
			if v == 0 {
				break
			}
			if uint32(v>>32) == tag {
				s := &sess[(uint32(v)-1)>>1]
				sink += s.ctl.Load() + s.key[1][4].Load()
				break
			}
		}
	}
	b.sink = sink
	for i, s := range sums {
		if b.fast[i] {
			p, ok := packed(0), false
			if plainPorts(s) && !w.general {
				p, ok = w.hitFast(frames[i], s, &b.k[i], b.h[i])
			}
			if !ok {
				p = w.trackKey(frames[i], s, &b.k[i], b.h[i], spaces[i])
			}
			p.storeTo(&res[i])
		} else {
			res[i] = w.Track(frames[i], s, spaces[i])
		}
	}
}
