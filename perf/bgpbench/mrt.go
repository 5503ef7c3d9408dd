// The feed: a routing table as an MRT TABLE_DUMP_V2 file (RFC 6396), the
// form gobgpd loads fastest (`gobgp mrt inject global FILE`): one peer in
// the PEER_INDEX_TABLE (the feeder itself) and one RIB entry per prefix
// with ORIGIN, AS_PATH and an unspecified next hop, which GoBGP replaces
// with each session's own address when it sends the route to an eBGP
// peer. Written by hand (a few fixed layouts): IPv6 routes carry their
// MP_REACH_NLRI in the full form of RFC 4760 (AFI, SAFI, next hop,
// reserved octet, the prefix), which is what gobgp 3's MRT reader
// decodes — it does not take RFC 6396's abbreviated form (next hop
// only), and GoBGP 4's mrt package writes an AFI/SAFI into IPv6 RIB
// records that neither reader expects.

package bgpbench

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// MRT constants (RFC 6396 section 4.3) and the path attributes used
// (RFC 4271, RFC 4760).
const (
	mrtTableDumpV2    = 13
	mrtPeerIndexTable = 1
	mrtRIBIPv4Unicast = 2
	mrtRIBIPv6Unicast = 4

	attrFlagTransitive = 0x40
	attrFlagOptional   = 0x80
	attrOrigin         = 1
	attrASPath         = 2
	attrNextHop        = 3
	attrMPReach        = 14
	originIGP          = 0
	asSequence         = 2
	peerTypeAS4        = 0x02
)

// Feed describes who feeds the table: the feeder's AS and router ID, and
// the AS path's origin AS (the routes look learned from a neighbour AS).
type Feed struct {
	AS       uint32
	RouterID netip.Addr // IPv4
	OriginAS uint32
	Time     time.Time
}

// WriteMRT writes prefixes as a TABLE_DUMP_V2 file: a PEER_INDEX_TABLE
// with the feeder, then one RIB_IPV4_UNICAST or RIB_IPV6_UNICAST record
// per prefix, in the given order, each with one entry.
func WriteMRT(w io.Writer, f Feed, prefixes []netip.Prefix) error {
	if !f.RouterID.Is4() {
		return fmt.Errorf("mrt: router ID %v is not IPv4", f.RouterID)
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	ts := uint32(f.Time.Unix())
	var rec []byte
	header := func(subtype uint16, body []byte) []byte {
		h := binary.BigEndian.AppendUint32(nil, ts)
		h = binary.BigEndian.AppendUint16(h, mrtTableDumpV2)
		h = binary.BigEndian.AppendUint16(h, subtype)
		return binary.BigEndian.AppendUint32(h, uint32(len(body)))
	}
	// PEER_INDEX_TABLE: collector ID, empty view name, one peer (AS4,
	// IPv4 address).
	id := f.RouterID.As4()
	rec = append(rec[:0], id[:]...)
	rec = binary.BigEndian.AppendUint16(rec, 0) // view name length
	rec = binary.BigEndian.AppendUint16(rec, 1) // peer count
	rec = append(rec, peerTypeAS4)
	rec = append(rec, id[:]...) // peer BGP ID
	rec = append(rec, id[:]...) // peer address
	rec = binary.BigEndian.AppendUint32(rec, f.AS)
	bw.Write(header(mrtPeerIndexTable, rec))
	bw.Write(rec)

	// The attributes are the same for every route of a family.
	common := []byte{attrFlagTransitive, attrOrigin, 1, originIGP,
		attrFlagTransitive, attrASPath, 2 + 8, asSequence, 2}
	common = binary.BigEndian.AppendUint32(common, f.AS)
	common = binary.BigEndian.AppendUint32(common, f.OriginAS)
	attrs4 := append(append([]byte(nil), common...), attrFlagTransitive, attrNextHop, 4, 0, 0, 0, 0)
	var attrs6 []byte

	for seq, p := range prefixes {
		if !p.IsValid() || p.Masked() != p {
			return fmt.Errorf("mrt: %v is not a masked prefix", p)
		}
		nlri := append([]byte{byte(p.Bits())}, p.Addr().AsSlice()[:(p.Bits()+7)/8]...)
		subtype, attrs := uint16(mrtRIBIPv4Unicast), attrs4
		if p.Addr().Is6() {
			// MP_REACH_NLRI: AFI 2 (IPv6), SAFI 1 (unicast), a 16-octet
			// unspecified next hop, the reserved octet, the prefix.
			attrs6 = append(attrs6[:0], common...)
			attrs6 = append(attrs6, attrFlagOptional, attrMPReach, byte(2+1+1+16+1+len(nlri)), 0, 2, 1, 16)
			attrs6 = append(attrs6, make([]byte, 16)...)
			attrs6 = append(attrs6, 0)
			attrs6 = append(attrs6, nlri...)
			subtype, attrs = mrtRIBIPv6Unicast, attrs6
		}
		rec = binary.BigEndian.AppendUint32(rec[:0], uint32(seq))
		rec = append(rec, nlri...)
		rec = binary.BigEndian.AppendUint16(rec, 1) // entry count
		rec = binary.BigEndian.AppendUint16(rec, 0) // peer index
		rec = binary.BigEndian.AppendUint32(rec, ts)
		rec = binary.BigEndian.AppendUint16(rec, uint16(len(attrs)))
		rec = append(rec, attrs...)
		bw.Write(header(subtype, rec))
		if _, err := bw.Write(rec); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// Sample returns n prefixes of ps picked evenly across the list (every
// len(ps)/n-th), so a short run keeps the table's mix of families and
// lengths.
func Sample(ps []netip.Prefix, n int) []netip.Prefix {
	if n >= len(ps) || n <= 0 {
		return ps
	}
	out := make([]netip.Prefix, 0, n)
	for i := range n {
		out = append(out, ps[i*len(ps)/n])
	}
	return out
}
