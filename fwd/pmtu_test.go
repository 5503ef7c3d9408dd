package fwd

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/gannet-net/gannet/fwd/neigh"
	"github.com/gannet-net/gannet/nat"
	"github.com/gannet-net/gannet/pkt"
	"github.com/gannet-net/gannet/xlat"
	"github.com/gopacket/gopacket/layers"
)

// withMTU returns c with port i's MTU set, as the control plane publishes
// it when netlink reports the interface's new MTU.
func withMTU(c Config, i, mtu int) Config {
	c.Ports = slices.Clone(c.Ports)
	c.Ports[i].MTU = mtu
	return c
}

// republish builds c and publishes it to h's worker, as the daemon does
// after a change.
func (h *host) republish(c Config) {
	h.t.Helper()
	tab, err := NewTables(c)
	if err != nil {
		h.t.Fatalf("NewTables: %v", err)
	}
	h.tables.Store(tab)
}

// TestXlatFragmentationNeeded: RFC 7915 section 6 and RFC 1191 — an IPv4
// packet with DF from a workload of a translated space that will not fit
// the core once translated (20 bytes longer) is answered with
// Fragmentation Needed carrying the egress port's MTU less 20, from the
// router's address on the workload's link (the gateway, RFC 1812
// 4.3.2.4), with no RFC 6791 pool configured; the MTU follows the port's
// when it changes; what fits leaves, exactly as big as the port takes.
func TestXlatFragmentationNeeded(t *testing.T) {
	c := tenantConfig(t) // no rfc6791v4: the router answers anyway
	h := newHost(t, c, tenantNeigh)
	gw := DefaultGateway4
	udp := func(n int, df bool) spec { // an IPv4 packet of n bytes
		return spec{srcMAC: macTA, dstMAC: gwMAC, src: addrHere, dst: addrThere, proto: "udp", sport: 5, dport: 6,
			df: df, ipid: 9, payload: make([]byte, n-28)}
	}
	sent := 0
	for _, tc := range []struct {
		name      string
		portMTU   int // the fabric port's MTU (0: 1500)
		size      int
		tooBigMTU int // 0: forwarded
	}{
		{"1500 into a 1500 core", 0, 1500, 1480},
		{"1480 fits a 1500 core", 0, 1480, 0},
		{"1400 after the port's MTU went to 1400", 1400, 1400, 1380},
		{"1381 into a 1400 core", 1400, 1381, 1380},
		{"1380 fits a 1400 core", 1400, 1380, 0},
		{"back to 9000", 9000, 1500, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.republish(withMTU(c, 2, tc.portMTU))
			p := udp(tc.size, true)
			h.send(0, p.frame(t))
			if tc.tooBigMTU == 0 {
				got := h.out(2)
				if len(got) != 1 || len(got[0]) != pkt.EthernetLen+tc.size+20 {
					t.Fatalf("fabric got %d frames (%v), want one of %d bytes; drops %v", len(got), lens(got), pkt.EthernetLen+tc.size+20, nonZero(h.stats()))
				}
				expectFrames(t, "workload", h.out(0))
				return
			}
			sent++
			want := icmpErr(t, macTA, gw, addrHere, layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodeFragmentationNeeded,
				uint32(tc.tooBigMTU), p.packet(t))
			expectFrames(t, "workload", h.out(0), want)
			expectFrames(t, "fabric", h.out(2))
			st := h.stats()
			if st.Drops[ReasonTooBig] != uint64(sent) || st.ICMP[ICMPSent] != uint64(sent) || st.Xlat[xlat.ReasonTooBig] != uint64(sent) {
				t.Errorf("drops %v, ICMP %v, xlat too-big %d; want %d too-big, sent and xlat too-big", nonZero(st), st.ICMP, st.Xlat[xlat.ReasonTooBig], sent)
			}
		})
	}
	t.Run("DF clear is fragmented to fit", func(t *testing.T) {
		// RFC 7915 section 4: the translator fragments (to the lowest
		// IPv6 MTU, 1280, which is below the port's 1400).
		h.republish(withMTU(c, 2, 1400))
		h.send(0, udp(1500, false).frame(t))
		got := h.out(2)
		if len(got) != 2 {
			t.Fatalf("fabric got %d frames (%v), want 2 fragments; drops %v", len(got), lens(got), nonZero(h.stats()))
		}
		for _, f := range got {
			if len(f)-pkt.EthernetLen > 1280 {
				t.Errorf("fragment of %d bytes, over 1280", len(f)-pkt.EthernetLen)
			}
		}
	})
}

func lens(fs [][]byte) []int {
	var l []int
	for _, f := range fs {
		l = append(l, len(f))
	}
	return l
}

// fromUplink is icmpErr as the router sends it out of an uplink (the
// port's MAC, not the gateway's).
func fromUplink(f []byte, portMAC [6]byte) []byte {
	copy(f[6:12], portMAC[:])
	return f
}

// TestXlatPacketTooBig: RFC 7915 5.1 and 6 — an IPv6 packet from the core
// for a workload of a translated space that will not fit the workload's
// port once translated, and has no Fragment Header (DF=1 after
// translation), is answered with Packet Too Big carrying the port's MTU
// plus 20, from the router's IPv6 address, back out of the uplink.
func TestXlatPacketTooBig(t *testing.T) {
	c := withMTU(tenantConfig(t), 0, 1280)
	h := newHost(t, c, tenantNeigh)
	udp := func(n int) spec { // an IPv6 packet of n bytes
		return spec{srcMAC: macUpB, dstMAC: macUpA, src: core6(tenantA, addrThere), dst: core6(tenantA, addrHere), proto: "udp",
			sport: 5, dport: 6, payload: make([]byte, n-48)}
	}
	big := udp(1301)
	h.send(2, big.frame(t))
	want := fromUplink(icmpErr(t, macUpB, rtr6, big.src, layers.ICMPv6TypePacketTooBig, 0, 1300, big.packet(t)), c.Ports[2].MAC)
	expectFrames(t, "fabric", h.out(2), want)
	expectFrames(t, "workload", h.out(0))
	if st := h.stats(); st.Drops[ReasonTooBig] != 1 || st.ICMP[ICMPSent] != 1 {
		t.Errorf("drops %v, ICMP %v; want one too-big answered", nonZero(st), st.ICMP)
	}
	// 1300 bytes of IPv6 are 1280 of IPv4: delivered.
	h.send(2, udp(1300).frame(t))
	if got := h.out(0); len(got) != 1 || len(got[0]) != pkt.EthernetLen+1280 {
		t.Errorf("workload got %v, want one 1280-byte packet; drops %v", lens(got), nonZero(h.stats()))
	}
}

// natBorder is TestXlatTooBigThroughNAT's border, with the connection
// open: it returns the host and the Internet host's 1400-byte segment
// with DF.
func natBorder(t *testing.T, icmpRate int) (*host, spec, Config) {
	t.Helper()
	tr, err := xlat.New(xlat.Config{AddressSpaces: map[int]string{int(tenantA): ""}})
	if err != nil {
		t.Fatal(err)
	}
	ct, err := nat.New(nat.Config{Capacity: 256, Clock: &nat.ManualClock{}, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	public := netip.MustParseAddr("203.0.113.100")
	inetHost := netip.MustParseAddr("203.0.113.2")
	if err := ct.SetPolicy(&nat.Policy{
		Pools:    []nat.Pool{{Space: tenantA, Prefix: netip.MustParsePrefix("100.64.0.0/24"), NATOutgoing: true}},
		External: []nat.ExternalPool{{Prefix: netip.PrefixFrom(public, 32)}},
	}); err != nil {
		t.Fatal(err)
	}
	macInet := mac(0x02, 0x99)
	c := Config{
		Ports: []PortConfig{
			{Name: "inet", Ifindex: 3, Role: RoleUplink, MAC: mac6(macUp), HostAddrs: []netip.Addr{netip.MustParseAddr("203.0.113.1")}},
			{Name: "fabric", Ifindex: 2, Role: RoleUplink, MAC: mac6(macUpB), MTU: 1400},
		},
		Spaces: []SpaceConfig{{ID: tenantA, Translated: true}},
		Routes: []RouteConfig{
			{Prefix: netip.MustParsePrefix("0.0.0.0/0"), Port: 0, Gateway: inetHost},
			{Prefix: netip.PrefixFrom(core6(tenantA, netip.MustParseAddr("0.0.0.0")), 96), Translate: true, TranslateSpace: tenantA},
			{Prefix: netip.PrefixFrom(core6(tenantA, addrHere), 128), Port: 1, Gateway: llA},
		},
		RouterAddrs: []netip.Addr{rtr4, rtr6},
		ICMPRate:    icmpRate,
		NAT:         ct,
		Xlat:        tr,
	}
	h := newHost(t, c, []neigh.Entry{{Ifindex: 3, Addr: inetHost, MAC: mac6(macInet)}, {Ifindex: 2, Addr: llA, MAC: mac6(macUpA)}})

	syn := spec{srcMAC: macUpA, dstMAC: macUpB, src: core6(tenantA, addrHere), dst: core6(tenantA, inetHost), proto: "syn", sport: 4000, dport: 80}
	h.send(1, syn.frame(t))
	out := h.out(0)
	if len(out) != 1 {
		t.Fatalf("the SYN did not leave for the Internet: %v; drops %v", lens(out), nonZero(h.stats()))
	}
	var s pkt.Summary
	pkt.Parse(out[0], &s)
	if s.SrcAddr() != public {
		t.Fatalf("the SYN left from %v, want %v", s.SrcAddr(), public)
	}
	port := s.SrcPort
	synack := spec{srcMAC: macInet, dstMAC: macUp, src: inetHost, dst: public, proto: "synack", sport: 80, dport: port}
	h.send(0, synack.frame(t))
	if got := h.out(1); len(got) != 1 {
		t.Fatalf("the SYN-ACK did not reach the core: %v; drops %v", lens(got), nonZero(h.stats()))
	}

	return h, spec{srcMAC: macInet, dstMAC: macUp, src: inetHost, dst: public, proto: "ack", sport: 80, dport: port, df: true,
		payload: make([]byte, 1400-40)}, c
}

// TestXlatTooBigThroughNAT: a border. A tenant workload across the core
// (space 7) opens a TCP connection to an Internet host through the
// border's translation route and source NAT. The Internet host's
// segments with DF, back through NAT and then 4->6 into the core, are too
// big for the core port: the border answers Fragmentation Needed (MTU
// 1380 for a 1400 core) that the Internet host can use — from the
// address it is talking to, quoting its own packet byte for byte (nat
// turns the error back, RFC 5508 REQ-4/REQ-5) — out of the port the
// packet came in on.
func TestXlatTooBigThroughNAT(t *testing.T) {
	h, data, _ := natBorder(t, 0)
	public, inetHost, macInet := data.dst, data.src, data.srcMAC
	h.send(0, data.frame(t))
	expectFrames(t, "fabric", h.out(1))
	got := h.out(0)
	if len(got) != 1 {
		t.Fatalf("inet got %d frames, want the Fragmentation Needed; drops %v", len(got), nonZero(h.stats()))
	}
	e := got[0]
	if !bytes.Equal(e[0:6], macInet) || !bytes.Equal(e[6:12], macUp) {
		t.Errorf("error frame %x -> %x, want %v -> %v", e[6:12], e[0:6], macUp, macInet)
	}
	var es pkt.Summary
	if pkt.ParseIP(e[pkt.EthernetLen:], &es) != pkt.OK || !pkt.VerifyTransport(0, e[pkt.EthernetLen+int(es.L4Off):pkt.EthernetLen+int(es.L3Len)]) {
		t.Fatalf("the error does not parse or its checksum is wrong:\n%s", dump(e))
	}
	ic := pkt.ICMP(e[pkt.EthernetLen+int(es.L4Off) : pkt.EthernetLen+int(es.L3Len)])
	if es.SrcAddr() != public || es.DstAddr() != inetHost || ic.Type() != pkt.ICMPv4DestUnreach || ic.Code() != pkt.ICMPv4FragNeeded ||
		binary.BigEndian.Uint16(ic[6:]) != 1380 {
		t.Errorf("error %v -> %v type %d code %d mtu %d, want %v -> %v 3/4 mtu 1380", es.SrcAddr(), es.DstAddr(), ic.Type(), ic.Code(),
			binary.BigEndian.Uint16(ic[6:]), public, inetHost)
	}
	if q, orig := ic.Body(), data.packet(t); !bytes.Equal(q, orig[:len(q)]) {
		t.Errorf("quote is not the Internet host's packet:\nquote %x\nsent  %x", q, orig[:len(q)])
	}
	st := h.stats()
	if st.Drops[ReasonTooBig] != 1 || st.ICMP[ICMPSent] != 1 || st.Drops[ReasonTooBigRewritten] != 0 {
		t.Errorf("drops %v, ICMP %v; want one too-big answered", nonZero(st), st.ICMP)
	}
}

// TestXlatTooBigZeroAlloc: rounds of the three answers above — Fragmentation
// Needed to a tenant, Packet Too Big to the core, and Fragmentation Needed
// through nat at a border — allocate nothing.
func TestXlatTooBigZeroAlloc(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	c := tenantConfig(t)
	c.ICMPRate = 1 << 20
	c = withMTU(c, 0, 1280)
	h := newHost(t, c, tenantNeigh)
	out4 := spec{srcMAC: macTA, dstMAC: gwMAC, src: addrHere, dst: addrThere, proto: "udp", sport: 5, dport: 6, df: true, payload: make([]byte, 1472)}
	in6 := spec{srcMAC: macUpB, dstMAC: macUpA, src: core6(tenantA, addrThere), dst: core6(tenantA, addrHere), proto: "udp", sport: 5, dport: 6, payload: make([]byte, 1400)}
	b, data, _ := natBorder(t, 1<<20)
	for _, tc := range []struct {
		name string
		h    *host
		port int
		f    []byte
	}{{"frag-needed", h, 0, out4.frame(t)}, {"packet-too-big", h, 2, in6.frame(t)}, {"through-nat", b, 0, data.frame(t)}} {
		tc.h.round(tc.port, tc.f)
		sent := tc.h.stats().ICMP[ICMPSent]
		if a := testing.AllocsPerRun(50, func() { tc.h.round(tc.port, tc.f) }); a != 0 {
			t.Errorf("%s: a round allocates %v times, want 0", tc.name, a)
		}
		if n := tc.h.stats().ICMP[ICMPSent] - sent; n < 50 {
			t.Errorf("%s: %d errors sent in 51 rounds: the test did not take the path it means to", tc.name, n)
		}
	}
}

// TestTraceXlatPMTU: the trace tells what the pipeline does with a packet
// too big once translated (the answer, its MTU, from where) and with a
// SYN whose MSS is clamped, and agrees with the worker on the outcome.
func TestTraceXlatPMTU(t *testing.T) {
	c := withMTU(tenantConfig(t), 2, 1400)
	tab, err := NewTables(c)
	if err != nil {
		t.Fatal(err)
	}
	nb := neigh.NewSnapshot(tenantNeigh)
	big := spec{srcMAC: macTA, dstMAC: gwMAC, src: addrHere, dst: addrThere, proto: "udp", sport: 5, dport: 6, df: true, payload: make([]byte, 1472)}
	res := tab.Trace(0, big.frame(t), nb)
	if res.Verdict != "answer" || res.Reason != ReasonTooBig.String() || !strings.Contains(res.String(), "mtu 1380") || !strings.Contains(res.String(), "169.254.1.1") {
		t.Errorf("trace of a 1500-byte DF packet into a 1400 core:\n%s\nwant an answer (too-big, mtu 1380, from 169.254.1.1)", res)
	}

	c = clampedTenant(t, "auto")
	tab, err = NewTables(c)
	if err != nil {
		t.Fatal(err)
	}
	res = tab.Trace(0, tcpSYN(t, macTA, gwMAC, addrHere, addrThere, false, []layers.TCPOption{mssOpt(1460)}), nb)
	if res.Verdict != "forward" || !strings.Contains(res.String(), "MSS 1460 clamped to 1340") {
		t.Errorf("trace of a SYN under clampMSS auto:\n%s\nwant it forwarded with its MSS clamped to 1340", res)
	}
}

// TestXlatBorderUplinkMTU: at a border, a tenant's IPv6 packet from the
// core whose translation route leads to the Internet is translated for
// the lowest MTU of the live uplinks (NAT picks the way out only after
// translation): with the Internet link at 1300, a 1400-byte packet
// without a Fragment Header (DF once translated) is answered Packet Too
// Big 1320 (RFC 7915 5.1) from the router's IPv6 address, back into the
// core, instead of being dropped after NAT as too-big-rewritten.
func TestXlatBorderUplinkMTU(t *testing.T) {
	h, _, c := natBorder(t, 0)
	h.republish(withMTU(c, 0, 1300))
	seg := spec{srcMAC: macUpA, dstMAC: macUpB, src: core6(tenantA, addrHere), dst: core6(tenantA, netip.MustParseAddr("203.0.113.2")),
		proto: "ack", sport: 4000, dport: 80, payload: make([]byte, 1400-60)}
	h.send(1, seg.frame(t))
	want := fromUplink(icmpErr(t, macUpA, rtr6, seg.src, layers.ICMPv6TypePacketTooBig, 0, 1320, seg.packet(t)), c.Ports[1].MAC)
	expectFrames(t, "fabric", h.out(1), want)
	expectFrames(t, "inet", h.out(0))
	if st := h.stats(); st.Drops[ReasonTooBig] != 1 || st.Drops[ReasonTooBigRewritten] != 0 {
		t.Errorf("drops %v, want one too-big answered", nonZero(st))
	}
	// 1320 bytes of IPv6 are 1300 of IPv4: through NAT to the Internet.
	seg.payload = make([]byte, 1320-60)
	h.send(1, seg.frame(t))
	if got := h.out(0); len(got) != 1 || len(got[0]) != pkt.EthernetLen+1300 {
		t.Errorf("inet got %v, want one 1300-byte packet; drops %v", lens(got), nonZero(h.stats()))
	}
}
