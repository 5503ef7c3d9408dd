package nat

// Flow keys: what a packet's tuple becomes before it is hashed into the
// table. A key is five 64-bit words so that comparing two is five integer
// compares and storing one in a session is five atomic stores.

import (
	"encoding/binary"
	"math/bits"

	"github.com/gannet-net/gannet/pkt"
)

// key is one direction of a flow: address space, family, protocol,
// source and destination address, source and destination port.
//
// Addresses are the 16 address bytes of pkt.Summary loaded as two
// little-endian words (IPv4 in the low half of a[0], the rest zero), so
// writing a key's address back into a frame is one store and no byte
// swapping. m packs the small fields:
//
//	space<<48 | family<<40 | proto<<32 | sport<<16 | dport
//
// For ICMP queries the identifier takes the place of a port: a request
// puts it in sport with dport zero, a reply in dport with sport zero, so
// the reverse of a request's key is the key of its reply.
type key struct {
	src [2]uint64
	dst [2]uint64
	m   uint64
}

func packM(space uint16, fam pkt.Family, proto uint8, sport, dport uint16) uint64 {
	return uint64(space)<<48 | uint64(fam)<<40 | uint64(proto)<<32 | uint64(sport)<<16 | uint64(dport)
}

func (k *key) space() uint16 { return uint16(k.m >> 48) }
func (k *key) sport() uint16 { return uint16(k.m >> 16) }
func (k *key) dport() uint16 { return uint16(k.m) }

// equal reports whether k and o are the same key: word by word, where
// == on the struct calls the runtime's memequal.
func (k *key) equal(o *key) bool {
	return (k.src[0]^o.src[0])|(k.src[1]^o.src[1])|(k.dst[0]^o.dst[0])|(k.dst[1]^o.dst[1])|(k.m^o.m) == 0
}

// reverse returns the key of the opposite direction.
func (k *key) reverse() key {
	return key{src: k.dst, dst: k.src,
		m: k.m&^0xffffffff | uint64(k.dport())<<16 | uint64(k.sport())}
}

func addrWords(a *[16]byte) [2]uint64 {
	return [2]uint64{binary.LittleEndian.Uint64(a[:8]), binary.LittleEndian.Uint64(a[8:])}
}

func wordsAddr(w [2]uint64) (a [16]byte) {
	binary.LittleEndian.PutUint64(a[:8], w[0])
	binary.LittleEndian.PutUint64(a[8:], w[1])
	return a
}

// icmpQueryKind says where an ICMP query type keeps its identifier in a
// key: 1 for requests (sport), 2 for replies (dport), 0 for other types.
func icmpQueryKind(fam pkt.Family, typ uint8) uint8 {
	if fam == pkt.FamilyIPv4 {
		switch typ {
		case pkt.ICMPv4EchoRequest, pkt.ICMPv4Timestamp, pkt.ICMPv4InfoRequest:
			return 1
		case pkt.ICMPv4EchoReply, pkt.ICMPv4TimestampReply, pkt.ICMPv4InfoReply:
			return 2
		}
		return 0
	}
	switch typ {
	case pkt.ICMPv6EchoRequest:
		return 1
	case pkt.ICMPv6EchoReply:
		return 2
	}
	return 0
}

func isICMP(proto uint8) bool { return proto == pkt.ProtoICMP || proto == pkt.ProtoICMPv6 }

// keyOf fills k from the summary of a packet that is not an ICMP error or
// a non-first fragment. It returns ReasonNone, or why the packet has no
// key (an ICMP type that is not a query).
func keyOf(s *pkt.Summary, space uint16, k *key) Reason {
	var sp, dp uint16
	switch {
	case s.Flags&pkt.FlagPorts != 0:
		sp, dp = s.SrcPort, s.DstPort
	case isICMP(s.Proto):
		switch icmpQueryKind(s.Family, s.ICMPType) {
		case 1:
			sp = s.ICMPID
		case 2:
			dp = s.ICMPID
		default:
			return ReasonICMPUntracked
		}
	}
	loadAddrs(s, k)
	k.m = packM(space, s.Family, s.Proto, sp, dp)
	return ReasonNone
}

// loadAddrs sets k's addresses from the summary. An IPv4 address is read
// as the 4 bytes the parser wrote: an 8-byte load over a 4-byte store
// would stall store-to-load forwarding on every packet.
func loadAddrs(s *pkt.Summary, k *key) {
	if s.Family == pkt.FamilyIPv4 {
		k.src = [2]uint64{uint64(binary.LittleEndian.Uint32(s.Src[:4])), 0}
		k.dst = [2]uint64{uint64(binary.LittleEndian.Uint32(s.Dst[:4])), 0}
		return
	}
	k.src = addrWords(&s.Src)
	k.dst = addrWords(&s.Dst)
}

// hash mixes a key with the table's seeds (128-bit multiply folds in the
// style of wyhash). A per-table random seed keeps crafted tuples from
// piling onto one probe chain. Keys whose addresses fit in 32 bits (all
// of IPv4) pack both addresses into one word and take one multiply.
func (k *key) hash(s0, s1 uint64) uint64 {
	if k.src[1]|k.dst[1]|(k.src[0]|k.dst[0])>>32 == 0 {
		return mum(k.src[0]|k.dst[0]<<32^s0, k.m^s1)
	}
	h := mum(k.src[0]^s0, k.src[1]^s1)
	h ^= mum(k.dst[0]^s1, k.dst[1]^s0)
	return mum(h^k.m, s0^0x9e3779b97f4a7c15)
}

func mum(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}
