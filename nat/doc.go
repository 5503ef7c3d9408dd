// Package nat owns connection tracking and network address translation for
// gannet's data path: the fixed-capacity connection table shared by all
// workers, TCP/UDP/ICMP-query state and idle timers on an injectable clock,
// border source NAT (Calico natOutgoing) onto external address pools with
// endpoint-independent mapping, 1:1 floating IPs, the RFC 5508 rewriting of
// ICMP errors about tracked flows, the translation of later fragments the
// way their first fragment was translated, the ICMP "administratively
// prohibited" answer when a new flow cannot be given state, and the TCP
// RST answering a mid-stream segment of a translated flow whose state is
// gone (a restart, an expiry), so that its sender fails fast instead of
// retransmitting into silence.
//
// It never routes, never applies policy (it reports New, Established,
// Related or Invalid so that the data path can), never reassembles
// fragments (it only holds, in a fixed per-worker buffer, those that
// overtake their first fragment), and never touches rings, ports or the
// kernel.
//
// # Sharing between workers
//
// One Table is shared by every worker; there is no per-worker shard and no
// flow steering, because after source NAT the two directions of a flow hash
// differently and no NIC could steer them to one queue. Packets of an
// established flow take no lock: the index is an open-addressing array of
// atomic words, and each session is guarded by a sequence number (a
// seqlock) so a reader never acts on a session being rewritten. Creating
// and removing sessions and mappings takes one mutex. What a new flow's
// translation depends on that is not table state (pools, floating IPs,
// the paired external address, hashes) is decided before it is taken,
// and so is its external port: ports are claimed from the bitmaps by
// compare-and-swap, without the lock, and given back if the flow is
// refused; the mapping index is read atomically to see whether a
// mapping may already exist (then no port is claimed).
// A lookup miss that overlapped a concurrent index change is retried, so
// a packet of an existing flow is never reported as New because another
// worker was inserting next to it.
//
// # Per-packet interface
//
// Each worker owns a Worker. Once per batch it calls BeginBatch, which
// reads the clock and the current Policy snapshot and expires a few idle
// sessions (expiry is amortized, never a sweep of the whole table). For
// each packet it calls Track with the frame and its pkt.Summary: a packet
// of a known flow (or an ICMP error about one) is translated in place with
// incremental checksum updates and reported Established or Related (a
// TCP or UDP packet of a known flow that changes nothing but the flow's
// timer takes one straight-line path, hitFast; everything else the
// general one, which tests hold it to). A
// packet of no known flow is reported New and left untouched; if policy
// admits it, the worker calls Commit, which creates the session (and the
// NAT mapping) and translates the packet. TrackBatch does what Track does
// for a whole batch, overlapping the table's memory accesses across its
// packets, which matters once the table is larger than the caches.
// Destination tells, before Commit, where Commit would deliver a new flow
// (a floating IP's workload, or an internal endpoint through a mapping),
// so that the ingress policy of the real destination can run first.
//
// # Held fragments
//
// A later fragment that arrives before its datagram's first fragment
// cannot be translated yet. By default Track drops it
// (fragment-no-state). A data path that calls HoldFragments(slots,
// frameLen) on a worker gets, instead, Action Held: nat has copied the
// frame (up to the summary's End) into one of its slots, and the caller
// frees its own frame without counting a drop. Per batch:
//
//	w.BeginBatch()            // frees the slots released last batch, drops
//	                          // held fragments that timed out, releases
//	                          // those another worker's first fragment freed
//	w.SetHoldTag(port)        // optional: returned with each held fragment
//	for each packet: w.Track / w.Commit ...
//	for _, h := range w.Released() {
//		// h.Frame is translated, h.Summary matches it, h.Result is
//		// Forward/Established with Dir and Space (the space it is now
//		// in), h.Space is the space it came in on and h.Tag the tag.
//		// Copy h.Frame into a frame of your own and send it as a packet
//		// of h.Result, after the batch's own packets.
//	}
//
// Released's slice and frames belong to the worker and stay valid until
// the next BeginBatch; nothing in this cycle allocates. A fragment whose
// first fragment does not come within Policy.Timeouts.Fragment is dropped
// and counted (fragment-hold-timeout); with every slot in use, or a frame
// longer than frameLen, the new fragment is dropped (fragment-hold-full).
// When the data path refuses a first fragment that Track reported New
// (policy, no route), it calls DropHeld, and the fragments waiting for it
// are dropped at once (fragment-no-state) instead of holding their slots
// until the timeout; Commit does the same for the first fragments it
// refuses.
//
// # State files
//
// Open makes a table like New whose fixed arrays live in a file mapped
// shared (on tmpfs), so that they outlive the process: the next process
// to Open the file adopts the table — every session that passes its
// checks keeps its translation, its mapping, its external port and its
// remaining idle time — and rebuilds what is derived (indexes, mapping
// lists, free lists, port bitmaps) from the sessions it keeps. A file
// of another layout, capacity, seed or boot is cleared and the table
// starts empty; Restore says which and why (state.go).
//
// # Configuration
//
// Pools, external addresses, floating IPs, filtering and timeouts form an
// immutable Policy compiled into a snapshot and published with one atomic
// store (SetPolicy). Sessions, mappings and port reservations are table
// state: they survive a policy change and keep their translation until
// they expire.
package nat
