package bgpbench

import (
	"bytes"
	"encoding/binary"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/packet/mrt"
)

// TestWriteMRT reads the file back: the PEER_INDEX_TABLE with GoBGP's MRT
// parser, every RIB record by its RFC 6396 layout with its attributes
// decoded by GoBGP's BGP parser as gobgp 3's MRT reader decodes them
// (MP_REACH_NLRI in its full RFC 4760 form): every prefix in order, in a
// record of its family, with ORIGIN, AS_PATH and an unspecified next hop.
func TestWriteMRT(t *testing.T) {
	prefixes := []netip.Prefix{
		netip.MustParsePrefix("1.0.0.0/24"),
		netip.MustParsePrefix("2001:db8::/32"),
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("203.0.113.128/25"),
		netip.MustParsePrefix("2001:db8:8000::/33"),
		netip.MustParsePrefix("0.0.0.0/0"),
		netip.MustParsePrefix("2001:db8::1/128"),
	}
	f := Feed{AS: 64500, RouterID: netip.MustParseAddr("198.18.10.1"), OriginAS: 64501, Time: time.Unix(1700000000, 0)}
	var buf bytes.Buffer
	if err := WriteMRT(&buf, f, prefixes); err != nil {
		t.Fatal(err)
	}
	r := bytes.NewReader(buf.Bytes())
	var got []netip.Prefix
	var peers []*mrt.Peer
	for seq := -1; ; seq++ {
		hb := make([]byte, mrt.MRT_COMMON_HEADER_LEN)
		if _, err := io.ReadFull(r, hb); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		h, err := mrt.ParseHeader(hb)
		if err != nil {
			t.Fatal(err)
		}
		body := make([]byte, h.Len)
		if _, err := io.ReadFull(r, body); err != nil {
			t.Fatal(err)
		}
		if h.Type != mrt.TABLE_DUMPv2 {
			t.Fatalf("record type %d, want TABLE_DUMP_V2", h.Type)
		}
		sub := mrt.MRTSubTypeTableDumpv2(h.SubType)
		if seq < 0 {
			if sub != mrt.PEER_INDEX_TABLE {
				t.Fatalf("first record of subtype %d, want PEER_INDEX_TABLE", sub)
			}
			msg, err := mrt.ParseBody(body, h)
			if err != nil {
				t.Fatal(err)
			}
			peers = msg.Body.(*mrt.PeerIndexTable).Peers
			continue
		}
		p, attrs := ribRecord(t, body, sub == mrt.RIB_IPV6_UNICAST, seq)
		got = append(got, p)
		if (sub == mrt.RIB_IPV4_UNICAST) != p.Addr().Is4() {
			t.Errorf("%v in a record of subtype %d", p, sub)
		}
		var origin, path, nh bool
		for _, a := range attrs {
			switch a := a.(type) {
			case *bgp.PathAttributeOrigin:
				origin = a.Value == bgp.BGP_ORIGIN_ATTR_TYPE_IGP
			case *bgp.PathAttributeAsPath:
				path = cmp.Equal(a.Value[0].GetAS(), []uint32{64500, 64501})
			case *bgp.PathAttributeNextHop:
				nh = p.Addr().Is4() && a.Value.IsUnspecified()
			case *bgp.PathAttributeMpReachNLRI:
				nh = p.Addr().Is6() && a.Nexthop.IsUnspecified() && len(a.Value) == 1 &&
					a.Value[0].NLRI.(*bgp.IPAddrPrefix).Prefix == p
			}
		}
		if !origin || !path || !nh {
			t.Errorf("%v: attributes %v: origin %v, AS path %v, next hop %v; want all", p, attrs, origin, path, nh)
		}
	}
	if len(peers) != 1 || peers[0].AS != 64500 || peers[0].BgpId != f.RouterID {
		t.Errorf("peers = %v, want the feeder AS 64500 %v", peers, f.RouterID)
	}
	if diff := cmp.Diff(prefixes, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("prefixes read back (-want +got):\n%s", diff)
	}
}

// ribRecord decodes a RIB_IPV4_UNICAST or RIB_IPV6_UNICAST body with one
// entry (RFC 6396 4.3.2): its prefix and the entry's attributes.
func ribRecord(t *testing.T, b []byte, v6 bool, seq int) (netip.Prefix, []bgp.PathAttributeInterface) {
	t.Helper()
	if got := binary.BigEndian.Uint32(b); got != uint32(seq) {
		t.Errorf("sequence number %d, want %d", got, seq)
	}
	bits := int(b[4])
	n := (bits + 7) / 8
	var a16 [16]byte
	copy(a16[:], b[5:5+n])
	addr := netip.AddrFrom16(a16)
	if !v6 {
		addr = netip.AddrFrom4([4]byte(a16[:4]))
	}
	p := netip.PrefixFrom(addr, bits)
	b = b[5+n:]
	if count := binary.BigEndian.Uint16(b); count != 1 {
		t.Fatalf("%v: %d entries, want 1", p, count)
	}
	if peer := binary.BigEndian.Uint16(b[2:]); peer != 0 {
		t.Errorf("%v: peer index %d, want 0", p, peer)
	}
	alen := int(binary.BigEndian.Uint16(b[8:]))
	b = b[10:]
	if len(b) != alen {
		t.Fatalf("%v: %d octets of attributes, record has %d", p, alen, len(b))
	}
	var attrs []bgp.PathAttributeInterface
	for len(b) > 0 {
		a, err := bgp.GetPathAttribute(b)
		if err != nil {
			t.Fatalf("%v: %v", p, err)
		}
		if err := a.DecodeFromBytes(b); err != nil {
			t.Fatalf("%v: attribute %x: %v", p, b, err)
		}
		attrs = append(attrs, a)
		b = b[a.Len():]
	}
	return p, attrs
}
