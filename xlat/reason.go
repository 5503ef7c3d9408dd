package xlat

import "github.com/gannet-net/gannet/pkt"

// Verdicts, drop reasons and their counters: what a translation call
// reports per packet instead of an error value.

// Verdict says what became of a packet given to To6 or To4.
type Verdict uint8

const (
	// Drop: nothing to send. Packet.Reason says why.
	Drop Verdict = iota
	// Forward: the translated packet is at Buf[Off:Off+Len].
	Forward
	// Fragments: the translation did not fit the next hop and was split;
	// the fragments are Frags[:NFrags], each resliced to its length.
	Fragments
	// Reply: the packet cannot be forwarded and an ICMP error for its
	// source, in the packet's own family, is at Buf[Off:Off+Len].
	// Packet.Reason says why.
	Reply
	// TooBig: with Packet.RouterAnswers, the translation does not fit
	// the next hop (Packet.MTU) and may not be fragmented; nothing was
	// written. The caller sends the sender Fragmentation Needed (To6) or
	// Packet Too Big (To4) with Packet.TooBigMTU from an address of its
	// own (RFC 7915 section 6: the translator acts as a router here).
	// Packet.Reason is ReasonTooBig.
	TooBig
	numVerdicts
)

var verdictNames = [numVerdicts]string{"drop", "forward", "fragments", "reply", "too-big"}

func (v Verdict) String() string {
	if v < numVerdicts {
		return verdictNames[v]
	}
	return "verdict?"
}

// Reason names why a packet was dropped or answered. Its String is the
// metric label.
type Reason uint8

const (
	ReasonNone Reason = iota

	ReasonMalformed   // pkt.ParseIP said Malformed; Packet.ParseReason has the detail
	ReasonUnsupported // pkt.ParseIP said Unsupported (e.g. an IPv6 jumbogram)
	ReasonFamily      // To6 given IPv6 or To4 given IPv4
	ReasonNoHeadroom  // not enough room before the packet to grow its headers
	ReasonNoSpace     // To6: Packet.Space is not a configured address space

	ReasonSrcUntranslatable // source maps to nothing (no EAM, outside the space's prefix)
	ReasonDstUntranslatable // destination maps to nothing
	ReasonNonGlobalWKP      // non-global IPv4 under 64:ff9b::/96 (RFC 6052 section 3.1)

	ReasonSourceRoute  // IPv4 unexpired source route option (RFC 7915 4.1)
	ReasonSegmentsLeft // IPv6 routing header with segments left (RFC 7915 5.1)
	ReasonIGMP         // IGMP is single-hop (RFC 7915 4.2)
	ReasonIPv6Proto    // IPv4 protocol number of an IPv6 extension header or ICMPv6: it would be read as that header
	ReasonFragmentExt  // extension header in the fragmentable part of an IPv6 fragment
	ReasonTooBig       // DF=1 (or IPv6 without fragment header) bigger than the next hop: verdict TooBig

	ReasonICMPType        // ICMP type with no counterpart (RFC 7915 4.2/5.2: silently drop)
	ReasonICMPCode        // ICMP code with no counterpart
	ReasonICMPPointer     // Parameter Problem pointer with no counterpart
	ReasonICMPFragmented  // fragmented ICMP: the ICMPv6 pseudo-header length is unknown
	ReasonICMPNestedError // ICMP error quoting an ICMP error (RFC 7915 4.3/5.3)
	ReasonICMPInner       // the quoted packet is malformed or untranslatable
	ReasonICMPChecksum    // an ICMP error whose checksum is wrong: translating would hide it
	ReasonNoRFC6791       // untranslatable ICMP error source and no RFC 6791 pool

	ReasonUDPZeroChecksum     // IPv4 UDP checksum 0 and amendUDPZeroChecksum off
	ReasonUDPZeroChecksumFrag // IPv4 UDP checksum 0 in a fragment: cannot be computed (RFC 7915 4.5)

	ReasonFragBuffers  // fewer or smaller caller fragment buffers than the split needs
	ReasonReplyRefused // an ICMP error was due but pkt refused to build it (RFC 1812/4443 rules)

	reasonCount
)

var reasonNames = [reasonCount]string{
	ReasonNone:                "none",
	ReasonMalformed:           "malformed",
	ReasonUnsupported:         "unsupported",
	ReasonFamily:              "wrong-family",
	ReasonNoHeadroom:          "no-headroom",
	ReasonNoSpace:             "no-address-space",
	ReasonSrcUntranslatable:   "src-untranslatable",
	ReasonDstUntranslatable:   "dst-untranslatable",
	ReasonNonGlobalWKP:        "non-global-wkp",
	ReasonSourceRoute:         "source-route",
	ReasonSegmentsLeft:        "segments-left",
	ReasonIGMP:                "igmp",
	ReasonIPv6Proto:           "ipv6-header-protocol",
	ReasonFragmentExt:         "fragment-ext-header",
	ReasonTooBig:              "too-big",
	ReasonICMPType:            "icmp-type",
	ReasonICMPCode:            "icmp-code",
	ReasonICMPPointer:         "icmp-pointer",
	ReasonICMPFragmented:      "icmp-fragmented",
	ReasonICMPNestedError:     "icmp-nested-error",
	ReasonICMPInner:           "icmp-inner",
	ReasonICMPChecksum:        "icmp-checksum",
	ReasonNoRFC6791:           "no-rfc6791-pool",
	ReasonUDPZeroChecksum:     "udp-zero-checksum",
	ReasonUDPZeroChecksumFrag: "udp-zero-checksum-fragment",
	ReasonFragBuffers:         "fragment-buffers",
	ReasonReplyRefused:        "reply-refused",
}

func (r Reason) String() string {
	if r < reasonCount {
		return reasonNames[r]
	}
	return "reason?"
}

// NumReasons sizes counter arrays indexed by Reason.
const NumReasons = int(reasonCount)

// Stats counts outcomes. Each worker owns one and the metrics collector
// sums them; nothing in it is atomic.
type Stats struct {
	Verdicts [numVerdicts]uint64
	Reasons  [NumReasons]uint64     // drops and replies by reason
	Parse    [pkt.NumReasons]uint64 // ReasonMalformed/ReasonUnsupported by pkt reason
}

func (s *Stats) count(p *Packet, v Verdict) Verdict {
	if s == nil {
		return v
	}
	s.Verdicts[v]++
	if v == Drop || v == Reply || v == TooBig {
		s.Reasons[p.Reason]++
		if p.Reason == ReasonMalformed || p.Reason == ReasonUnsupported {
			s.Parse[p.ParseReason]++
		}
	}
	return v
}

// Verdict returns the count of v.
func (s *Stats) Verdict(v Verdict) uint64 { return s.Verdicts[v] }
