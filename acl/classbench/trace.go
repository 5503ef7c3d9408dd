// Headers flow between trace files, the generator and the classifier here:
// read a trace, or make one from a rule set's corners and random interior
// points, and convert headers to the keys acl matches.

package classbench

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"

	"github.com/gannet-net/gannet/acl"
	"github.com/gannet-net/gannet/pkt"
)

// Header is one IPv4 5-tuple of a trace.
type Header struct {
	Src, Dst         uint32
	SrcPort, DstPort uint16
	Proto            uint8
}

// Key returns h as an acl.Key.
func (h Header) Key() acl.Key {
	var s, d [4]byte
	binary.BigEndian.PutUint32(s[:], h.Src)
	binary.BigEndian.PutUint32(d[:], h.Dst)
	return acl.Key{Src: netip.AddrFrom4(s), Dst: netip.AddrFrom4(d), SrcPort: h.SrcPort, DstPort: h.DstPort, Proto: h.Proto}
}

// PacketKey returns h as the data path's key.
func (h Header) PacketKey() acl.PacketKey {
	k := acl.PacketKey{SrcPort: h.SrcPort, DstPort: h.DstPort, Proto: h.Proto, Family: pkt.FamilyIPv4}
	binary.BigEndian.PutUint32(k.Src[:4], h.Src)
	binary.BigEndian.PutUint32(k.Dst[:4], h.Dst)
	return k
}

// ParseTrace reads a trace: lines of `src dst sport dport proto ...`
// in decimal. An error names the line and the column.
func ParseTrace(r io.Reader) ([]Header, error) {
	var hs []Header
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	names := [5]string{"src", "dst", "sport", "dport", "proto"}
	bits := [5]int{32, 32, 16, 16, 8}
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if len(f) < 5 {
			return nil, fmt.Errorf("classbench: trace line %d: want at least 5 columns, got %d", line, len(f))
		}
		var v [5]uint64
		for i := range v {
			var err error
			if v[i], err = strconv.ParseUint(f[i], 10, bits[i]); err != nil {
				return nil, fmt.Errorf("classbench: trace line %d: %s: %w", line, names[i], err)
			}
		}
		hs = append(hs, Header{uint32(v[0]), uint32(v[1]), uint16(v[2]), uint16(v[3]), uint8(v[4])})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("classbench: trace line %d: %w", line+1, err)
	}
	return hs, nil
}

// WriteTrace writes headers in the trace format ParseTrace reads.
func WriteTrace(w io.Writer, hs []Header) error {
	bw := bufio.NewWriter(w)
	for _, h := range hs {
		fmt.Fprintf(bw, "%d\t%d\t%d\t%d\t%d\n", h.Src, h.Dst, h.SrcPort, h.DstPort, h.Proto)
	}
	return bw.Flush()
}

// Generate makes perRule headers for each IPv4 rule (at least 2): the low
// and high corners of the rule's box, then points that mix corners and
// random values per field, so both edges and interiors of every rule are
// hit. The headers are shuffled so consecutive lookups do not walk the
// same path.
func Generate(rules []acl.Rule, perRule int, rnd *rand.Rand) []Header {
	perRule = max(perRule, 2)
	hs := make([]Header, 0, len(rules)*perRule)
	for _, r := range rules {
		if r.Src.IsValid() && !r.Src.Addr().Is4() || r.Dst.IsValid() && !r.Dst.Addr().Is4() {
			continue
		}
		s, d := span4(r.Src), span4(r.Dst)
		sp := [2]uint32{uint32(r.SrcPorts.Lo), uint32(r.SrcPorts.Hi)}
		dp := [2]uint32{uint32(r.DstPorts.Lo), uint32(r.DstPorts.Hi)}
		pl, ph := protoSpan(r.Proto, r.ProtoMask)
		pr := [2]uint32{pl, ph}
		for j := range perRule {
			// pick: 0 low corner, 1 high corner, 2 random inside.
			pick := func(lohi [2]uint32) uint32 {
				switch {
				case j == 0:
					return lohi[0]
				case j == 1:
					return lohi[1]
				}
				switch rnd.IntN(3) {
				case 0:
					return lohi[0]
				case 1:
					return lohi[1]
				}
				return lohi[0] + uint32(rnd.Uint64N(uint64(lohi[1]-lohi[0])+1))
			}
			h := Header{Src: pick(s), Dst: pick(d), SrcPort: uint16(pick(sp)), DstPort: uint16(pick(dp))}
			h.Proto = uint8(pick(pr))
			if r.ProtoMask != 0 {
				// Keep the protocol inside the rule for any mask.
				h.Proto = h.Proto&^r.ProtoMask | r.Proto&r.ProtoMask
			}
			hs = append(hs, h)
		}
	}
	rnd.Shuffle(len(hs), func(i, j int) { hs[i], hs[j] = hs[j], hs[i] })
	return hs
}

func span4(p netip.Prefix) [2]uint32 {
	if !p.IsValid() {
		return [2]uint32{0, ^uint32(0)}
	}
	a := p.Masked().Addr().As4()
	lo := binary.BigEndian.Uint32(a[:])
	var host uint32
	if p.Bits() < 32 {
		host = ^uint32(0) >> p.Bits()
	}
	return [2]uint32{lo, lo | host}
}

func protoSpan(proto, mask uint8) (uint32, uint32) {
	return uint32(proto & mask), uint32(proto&mask | ^mask)
}
