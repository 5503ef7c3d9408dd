package fwd

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"

	"github.com/gannet-net/gannet/pkt"
	"github.com/gannet-net/gannet/xlat"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// tcpSYN is an Ethernet frame holding a TCP SYN (with ack, a SYN-ACK)
// from src to dst whose options are opts.
// A SYN goes from port 4000 to 80, a SYN-ACK back.
func tcpSYN(t testing.TB, srcMAC, dstMAC net.HardwareAddr, src, dst netip.Addr, ack bool, opts []layers.TCPOption) []byte {
	t.Helper()
	c := &layers.TCP{SrcPort: 4000, DstPort: 80, Seq: 7, SYN: true, ACK: ack, Window: 1000, Options: opts}
	if ack {
		c.SrcPort, c.DstPort = 80, 4000
	}
	eth := &layers.Ethernet{SrcMAC: srcMAC, DstMAC: dstMAC}
	if src.Is4() {
		eth.EthernetType = layers.EthernetTypeIPv4
		ip := &layers.IPv4{Version: 4, TTL: 64, Flags: layers.IPv4DontFragment, Protocol: layers.IPProtocolTCP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		c.SetNetworkLayerForChecksum(ip)
		return serialize(t, eth, ip, c)
	}
	eth.EthernetType = layers.EthernetTypeIPv6
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	c.SetNetworkLayerForChecksum(ip)
	return serialize(t, eth, ip, c)
}

func mssOpt(v uint16) layers.TCPOption {
	return layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: binary.BigEndian.AppendUint16(nil, v)}
}

var (
	nop    = layers.TCPOption{OptionType: layers.TCPOptionKindNop, OptionLength: 1}
	wscale = layers.TCPOption{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}}
)

// synMSS returns the MSS option of the TCP segment in frame f and
// whether the segment's checksum verifies.
func synMSS(t *testing.T, f []byte) (mss uint16, ok bool) {
	t.Helper()
	var s pkt.Summary
	if pkt.Parse(f, &s); s.Verdict != pkt.OK || s.Proto != pkt.ProtoTCP {
		t.Fatalf("not a TCP packet:\n%s", dump(f))
	}
	seg := f[s.L4Off:s.End()]
	var pseudo uint16
	if s.Family == pkt.FamilyIPv6 {
		pseudo = pkt.PseudoHeaderSum6(s.Src[:], s.Dst[:], pkt.ProtoTCP, uint32(len(seg)))
	} else {
		pseudo = pkt.PseudoHeaderSum4(s.Src[:4], s.Dst[:4], pkt.ProtoTCP, uint16(len(seg)))
	}
	p := gopacket.NewPacket(seg, layers.LayerTypeTCP, gopacket.Default)
	c, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if c == nil {
		t.Fatalf("gopacket cannot decode the TCP header:\n%s", dump(f))
	}
	for _, o := range c.Options {
		if o.OptionType == layers.TCPOptionKindMSS {
			mss = binary.BigEndian.Uint16(o.OptionData)
		}
	}
	return mss, pkt.VerifyTransport(pseudo, seg)
}

// clampedTenant is tenantConfig with translation.clampMSS set and the
// fabric port's MTU at 1400.
func clampedTenant(t *testing.T, setting string) Config {
	t.Helper()
	c := withMTU(tenantConfig(t), 2, 1400)
	tr, err := xlat.New(xlat.Config{AddressSpaces: map[int]string{int(tenantA): "", int(tenantB): ""}, ClampMSS: setting})
	if err != nil {
		t.Fatal(err)
	}
	c.Xlat = tr
	return c
}

// TestClampMSS: with translation.clampMSS, a SYN leaving a translated
// space for the core (4->6) and a SYN-ACK coming from the core into one
// (6->4) carry at most the core link's MTU less 60 (an IPv6 and a TCP
// header), or the configured ceiling when lower; the checksum stays
// right; a lower MSS, other segments and clampMSS off are left alone.
func TestClampMSS(t *testing.T) {
	out := func(t *testing.T, h *host, opts []layers.TCPOption, ack bool) []byte {
		if ack { // the SYN it answers, from the core, no MSS option
			h.send(2, tcpSYN(t, macUpB, macUpA, core6(tenantA, addrThere), core6(tenantA, addrHere), false, nil))
			h.out(0)
		}
		h.send(0, tcpSYN(t, macTA, gwMAC, addrHere, addrThere, ack, opts))
		got := h.out(2)
		if len(got) != 1 {
			t.Fatalf("fabric got %d frames; drops %v", len(got), nonZero(h.stats()))
		}
		return got[0]
	}
	in := func(t *testing.T, h *host, opts []layers.TCPOption, ack bool) []byte {
		if ack { // the SYN it answers, from the workload, no MSS option
			h.send(0, tcpSYN(t, macTA, gwMAC, addrHere, addrThere, false, nil))
			h.out(2)
		}
		h.send(2, tcpSYN(t, macUpB, macUpA, core6(tenantA, addrThere), core6(tenantA, addrHere), ack, opts))
		got := h.out(0)
		if len(got) != 1 {
			t.Fatalf("workload got %d frames; drops %v", len(got), nonZero(h.stats()))
		}
		return got[0]
	}
	for _, tc := range []struct {
		name    string
		setting string
		dir     func(*testing.T, *host, []layers.TCPOption, bool) []byte
		opts    []layers.TCPOption
		ack     bool
		want    uint16
	}{
		{"4->6 SYN auto", "auto", out, []layers.TCPOption{mssOpt(1460)}, false, 1340},
		{"4->6 SYN-ACK auto, MSS at an odd offset", "auto", out, []layers.TCPOption{nop, mssOpt(1460), wscale}, true, 1340},
		{"4->6 ceiling below the link", "1200", out, []layers.TCPOption{mssOpt(1460)}, false, 1200},
		{"4->6 ceiling above the link", "1380", out, []layers.TCPOption{mssOpt(1460)}, false, 1340},
		{"4->6 lower MSS kept", "auto", out, []layers.TCPOption{mssOpt(1000)}, false, 1000},
		{"4->6 off", "off", out, []layers.TCPOption{mssOpt(1460)}, false, 1460},
		{"6->4 SYN-ACK auto", "auto", in, []layers.TCPOption{mssOpt(1440)}, true, 1340},
		{"6->4 SYN auto, after a window scale", "auto", in, []layers.TCPOption{wscale, mssOpt(8940)}, false, 1340},
		{"6->4 ceiling", "1300", in, []layers.TCPOption{mssOpt(1440)}, true, 1300},
		{"6->4 off", "", in, []layers.TCPOption{mssOpt(1440)}, true, 1440},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t, clampedTenant(t, tc.setting), tenantNeigh)
			got, ok := synMSS(t, tc.dir(t, h, tc.opts, tc.ack))
			if got != tc.want || !ok {
				t.Errorf("MSS %d (checksum ok %v), want %d with a good checksum", got, ok, tc.want)
			}
			clamped := uint64(0)
			if tc.want != mssIn(tc.opts) {
				clamped = 1
			}
			if st := h.stats(); st.MSSClamped != clamped {
				t.Errorf("MSSClamped = %d, want %d", st.MSSClamped, clamped)
			}
		})
	}
	t.Run("not a SYN", func(t *testing.T) {
		h := newHost(t, clampedTenant(t, "auto"), tenantNeigh)
		c := &layers.TCP{SrcPort: 4000, DstPort: 80, ACK: true, Window: 1000, Options: []layers.TCPOption{mssOpt(1460)}}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: addrHere.AsSlice(), DstIP: addrThere.AsSlice()}
		c.SetNetworkLayerForChecksum(ip)
		h.send(0, serialize(t, &layers.Ethernet{SrcMAC: macTA, DstMAC: gwMAC, EthernetType: layers.EthernetTypeIPv4}, ip, c))
		if got := h.out(2); len(got) != 1 {
			t.Fatalf("fabric got %d frames", len(got))
		} else if mss, ok := synMSS(t, got[0]); mss != 1460 || !ok {
			t.Errorf("an ACK's MSS option became %d (checksum ok %v), want it untouched", mss, ok)
		}
	})
}

// mssIn is the MSS option value of opts, 0 without one.
func mssIn(opts []layers.TCPOption) uint16 {
	for _, o := range opts {
		if o.OptionType == layers.TCPOptionKindMSS {
			return binary.BigEndian.Uint16(o.OptionData)
		}
	}
	return 0
}

// refClampSegment is clampSegment's slow twin: it decodes the options
// with gopacket, and recomputes the whole checksum.
func refClampSegment(t *testing.T, seg []byte, limit uint16, pseudo uint16) ([]byte, bool) {
	t.Helper()
	out := append([]byte(nil), seg...)
	p := gopacket.NewPacket(out, layers.LayerTypeTCP, gopacket.NoCopy)
	c, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
	if c == nil || p.ErrorLayer() != nil {
		return out, false
	}
	// Find the first MSS option in the header bytes, as a walk would.
	hl := int(out[12]>>4) * 4
	for i := 20; i < hl; {
		switch out[i] {
		case 0:
			return out, false
		case 1:
			i++
			continue
		}
		if i+1 >= hl || out[i+1] < 2 || i+int(out[i+1]) > hl {
			return out, false
		}
		if out[i] == 2 && out[i+1] == 4 {
			if binary.BigEndian.Uint16(out[i+2:]) <= limit {
				return out, false
			}
			binary.BigEndian.PutUint16(out[i+2:], limit)
			binary.BigEndian.PutUint16(out[16:], 0)
			binary.BigEndian.PutUint16(out[16:], pkt.TransportChecksum(pseudo, out))
			return out, true
		}
		i += int(out[i+1])
	}
	return out, false
}

// TestClampSegmentDifferential: random option layouts (MSS at even and
// odd offsets, after NOPs, window scale, SACK-permitted, timestamps;
// truncated and malformed lists) clamped by clampSegment and by its slow
// twin give the same bytes.
func TestClampSegmentDifferential(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	src, dst := []byte{100, 64, 0, 1}, []byte{100, 64, 0, 2}
	for i := range 5000 {
		var opts []byte
		for n := rng.IntN(6); n > 0; n-- {
			switch rng.IntN(6) {
			case 0:
				opts = append(opts, 1)
			case 1:
				opts = append(opts, 2, 4, byte(rng.IntN(256)), byte(rng.IntN(256)))
			case 2:
				opts = append(opts, 3, 3, 7)
			case 3:
				opts = append(opts, 4, 2)
			case 4:
				opts = append(opts, 8, 10, 1, 2, 3, 4, 5, 6, 7, 8)
			default:
				opts = append(opts, byte(rng.IntN(256)), byte(rng.IntN(12))) // anything
			}
		}
		for len(opts)%4 != 0 {
			opts = append(opts, 0)
		}
		if len(opts) > 40 {
			opts = opts[:40]
		}
		seg := make([]byte, 20+len(opts)+rng.IntN(16))
		binary.BigEndian.PutUint16(seg[0:], 4000)
		binary.BigEndian.PutUint16(seg[2:], 80)
		seg[12] = byte((20+len(opts))/4) << 4
		seg[13] = 0x02
		copy(seg[20:], opts)
		for j := 20 + len(opts); j < len(seg); j++ {
			seg[j] = byte(rng.IntN(256))
		}
		pseudo := pkt.PseudoHeaderSum4(src, dst, pkt.ProtoTCP, uint16(len(seg)))
		binary.BigEndian.PutUint16(seg[16:], pkt.TransportChecksum(pseudo, seg))
		limit := uint16(536 + rng.IntN(2000))
		want, wantOK := refClampSegment(t, seg, limit, pseudo)
		got := append([]byte(nil), seg...)
		ok := clampSegment(got, limit)
		if ok != wantOK || string(got) != string(want) {
			t.Fatalf("case %d: clampSegment(%x, %d) = %v\n%x, want %v\n%x", i, seg, limit, ok, got, wantOK, want)
		}
		if !pkt.VerifyTransport(pseudo, got) {
			t.Fatalf("case %d: checksum broken after clamping %x", i, seg)
		}
	}
}

// FuzzClampSegment: any header, any limit: no panic, the checksum that
// held still holds, and only an MSS option's value changes.
func FuzzClampSegment(f *testing.F) {
	f.Add([]byte{0x0f, 0xa0, 0, 80, 0, 0, 0, 7, 0, 0, 0, 0, 0x60, 0x02, 0x03, 0xe8, 0, 0, 0, 0, 2, 4, 5, 0xb4}, uint16(1340))
	f.Add([]byte{0x0f, 0xa0, 0, 80, 0, 0, 0, 7, 0, 0, 0, 0, 0x70, 0x12, 0x03, 0xe8, 0, 0, 0, 0, 1, 2, 4, 5, 0xb4, 3, 3, 7}, uint16(536))
	f.Add([]byte{0x0f, 0xa0, 0, 80, 0, 0, 0, 7, 0, 0, 0, 0, 0x60, 0x02, 0x03, 0xe8, 0, 0, 0, 0, 2, 1, 5, 0xb4}, uint16(1000))
	f.Add([]byte{0x0f, 0xa0, 0, 80, 0, 0, 0, 7, 0, 0, 0, 0, 0xf0, 0x02}, uint16(1000))
	f.Fuzz(func(t *testing.T, seg []byte, limit uint16) {
		pseudo := pkt.PseudoHeaderSum4([]byte{100, 64, 0, 1}, []byte{100, 64, 0, 2}, pkt.ProtoTCP, uint16(len(seg)))
		if len(seg) >= 18 {
			binary.BigEndian.PutUint16(seg[16:], 0)
			binary.BigEndian.PutUint16(seg[16:], pkt.TransportChecksum(pseudo, seg))
		}
		before := append([]byte(nil), seg...)
		changed := clampSegment(seg, limit)
		if len(seg) >= 18 && !pkt.VerifyTransport(pseudo, seg) {
			t.Fatalf("checksum broken: %x -> %x", before, seg)
		}
		diff := 0
		for i := range seg {
			if seg[i] != before[i] && i != 16 && i != 17 {
				diff++
			}
		}
		if !changed && diff != 0 || diff > 2 {
			t.Fatalf("changed %v, %d bytes differ beyond the checksum: %x -> %x", changed, diff, before, seg)
		}
	})
}

// TestClampMSSZeroAlloc: clamping SYNs both ways allocates nothing.
func TestClampMSSZeroAlloc(t *testing.T) {
	h := newHost(t, clampedTenant(t, "auto"), tenantNeigh)
	out := tcpSYN(t, macTA, gwMAC, addrHere, addrThere, false, []layers.TCPOption{mssOpt(1460)})
	in := tcpSYN(t, macUpB, macUpA, core6(tenantA, addrThere), core6(tenantA, addrHere), true, []layers.TCPOption{mssOpt(1440)})
	round := func() {
		h.round(0, out)
		h.round(2, in)
	}
	round()
	before := h.stats().MSSClamped
	if a := testing.AllocsPerRun(50, round); a != 0 {
		t.Errorf("a round allocates %v times, want 0", a)
	}
	if n := h.stats().MSSClamped - before; n < 100 {
		t.Errorf("%d SYNs clamped in 51 rounds of 2, want 102: the test did not take the path", n)
	}
}
