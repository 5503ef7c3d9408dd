package pktgen

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/gannet-net/gannet/pkt"
)

var (
	srcMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	dstMAC = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
)

func specs() []Spec {
	var out []Spec
	for _, fam := range []struct{ src, dst string }{
		{"198.18.0.2", "198.19.0.2"},
		{"2001:db8:1::2", "2001:db8:2::2"},
	} {
		for _, p := range []Proto{UDP, TCPSYN, ICMPEcho} {
			v6 := strings.Contains(fam.src, ":")
			for _, size := range []int{MinFrameSize(v6, p), 64, 127, 512, 1514} {
				if size < MinFrameSize(v6, p) {
					continue
				}
				out = append(out, Spec{Proto: p, Src: netip.MustParseAddr(fam.src), Dst: netip.MustParseAddr(fam.dst),
					SrcAddrs: 3, SrcPort: 40000, DstPort: 7, Flows: 7, FrameSize: size,
					SrcMAC: srcMAC, DstMAC: dstMAC, TTL: 33})
			}
		}
	}
	return out
}

func specName(s Spec) string {
	return fmt.Sprintf("%s/%s/%d", family(s.Src), s.Proto, s.FrameSize)
}

// reserialize decodes frame with gopacket and serializes its layers again
// with checksums computed by gopacket, so comparing with frame checks every
// checksum independently of pkt.
func reserialize(t *testing.T, frame []byte) []byte {
	t.Helper()
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("gopacket decode %x: %v", frame, el.Error())
	}
	var ls []gopacket.SerializableLayer
	var nl gopacket.NetworkLayer
	for _, l := range p.Layers() {
		switch l := l.(type) {
		case *layers.IPv4:
			nl = l
		case *layers.IPv6:
			nl = l
		case *layers.UDP:
			l.SetNetworkLayerForChecksum(nl)
		case *layers.TCP:
			l.SetNetworkLayerForChecksum(nl)
		case *layers.ICMPv6:
			l.SetNetworkLayerForChecksum(nl)
		}
		sl, ok := l.(gopacket.SerializableLayer)
		if !ok {
			t.Fatalf("layer %v is not serializable", l.LayerType())
		}
		ls = append(ls, sl)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return buf.Bytes()
}

// wantFields is what gopacket should read back from a flow's frame.
type wantFields struct {
	Src, Dst         string
	SrcPort, DstPort uint16
	TTL              uint8
	Proto            string
	SrcMAC, DstMAC   string
	Len              int
}

func gotFields(t *testing.T, frame []byte) wantFields {
	t.Helper()
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	var f wantFields
	f.Len = len(frame)
	if e, ok := p.LinkLayer().(*layers.Ethernet); ok {
		f.SrcMAC, f.DstMAC = e.SrcMAC.String(), e.DstMAC.String()
	}
	switch ip := p.NetworkLayer().(type) {
	case *layers.IPv4:
		f.Src, f.Dst, f.TTL = ip.SrcIP.String(), ip.DstIP.String(), ip.TTL
		if int(ip.Length) != len(frame)-14 {
			t.Errorf("IPv4 total length %d, want %d", ip.Length, len(frame)-14)
		}
	case *layers.IPv6:
		f.Src, f.Dst, f.TTL = ip.SrcIP.String(), ip.DstIP.String(), ip.HopLimit
		if int(ip.Length) != len(frame)-54 {
			t.Errorf("IPv6 payload length %d, want %d", ip.Length, len(frame)-54)
		}
	}
	switch l := p.TransportLayer().(type) {
	case *layers.UDP:
		f.Proto, f.SrcPort, f.DstPort = "udp", uint16(l.SrcPort), uint16(l.DstPort)
	case *layers.TCP:
		f.Proto, f.SrcPort, f.DstPort = "tcp-syn", uint16(l.SrcPort), uint16(l.DstPort)
		if !l.SYN || l.ACK || l.RST || l.FIN || l.PSH {
			t.Errorf("TCP flags not SYN only: %+v", l)
		}
	}
	if l, ok := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok {
		f.Proto, f.SrcPort = "icmp-echo", l.Id
		if l.TypeCode.Type() != layers.ICMPv4TypeEchoRequest {
			t.Errorf("ICMP type %v, want echo request", l.TypeCode)
		}
	}
	if l, ok := p.Layer(layers.LayerTypeICMPv6Echo).(*layers.ICMPv6Echo); ok {
		f.Proto, f.SrcPort = "icmp-echo", l.Identifier
	}
	return f
}

func TestBuildFrames(t *testing.T) {
	for _, s := range specs() {
		t.Run(specName(s), func(t *testing.T) {
			f, err := Build(s)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			r := rand.New(rand.NewPCG(1, uint64(s.FrameSize)))
			var sum pkt.Summary
			buf := make([]byte, f.Size())
			for flow := range s.Flows {
				src, port := s.Src, s.SrcPort+uint16(flow/3)
				for range flow % 3 {
					src = src.Next()
				}
				want := wantFields{Src: src.String(), Dst: s.Dst.String(), SrcPort: port, DstPort: s.DstPort,
					TTL: 33, Proto: s.Proto.String(), SrcMAC: srcMAC.String(), DstMAC: dstMAC.String(), Len: s.FrameSize}
				if s.Proto == ICMPEcho {
					want.DstPort = 0
				}
				tmpl := f.Template(flow)
				if diff := cmp.Diff(want, gotFields(t, tmpl)); diff != "" {
					t.Errorf("flow %d fields (-want +got):\n%s", flow, diff)
				}
				if got := reserialize(t, tmpl); !bytes.Equal(got, tmpl) {
					t.Errorf("flow %d template checksums wrong:\n got %x\nwant %x", flow, tmpl, got)
				}
				// Stamp sequence numbers and times whose words carry into
				// every part of the incremental sum.
				for _, v := range []struct {
					seq uint32
					ts  int64
				}{{0, 0}, {1, 1}, {0xffffffff, -1}, {0xffff0000, 0x0000ffff0000ffff}, {r.Uint32(), r.Int64()}, {r.Uint32(), r.Int64()}} {
					n := f.Write(buf, flow, v.seq, v.ts)
					frame := buf[:n]
					if got := reserialize(t, frame); !bytes.Equal(got, frame) {
						t.Errorf("Write(flow %d, seq %#x, ts %#x) checksums wrong:\n got %x\nwant %x", flow, v.seq, v.ts, frame, got)
					}
					h, ok := ParseFrame(frame, &sum)
					if want := (Header{Flow: uint16(flow), Seq: v.seq, TxNs: v.ts}); !ok || h != want {
						t.Errorf("ParseFrame(%x) = %+v, %v, want %+v, true", frame, h, ok, want)
					}
				}
			}
		})
	}
}

// TestStampZeroUDPChecksum finds a sequence number for which the
// incremental update yields zero and checks it is sent as 0xffff.
func TestStampZeroUDPChecksum(t *testing.T) {
	f, err := Build(Spec{Src: netip.MustParseAddr("198.18.0.2"), Dst: netip.MustParseAddr("198.19.0.2")})
	if err != nil {
		t.Fatal(err)
	}
	cs := binary.BigEndian.Uint16(f.Template(0)[14+20+6:])
	// Adding cs to ^cs gives 0xffff, whose complement is zero.
	seq := uint32(cs)
	buf := make([]byte, f.Size())
	f.Write(buf, 0, seq, 0)
	if got := binary.BigEndian.Uint16(buf[14+20+6:]); got != 0xffff {
		t.Fatalf("UDP checksum after Stamp(seq %#x) = %#x, want 0xffff", seq, got)
	}
	if got := reserialize(t, buf); !bytes.Equal(got, buf) {
		t.Fatalf("checksum 0xffff not accepted by gopacket: got %x want %x", buf, got)
	}
}

func TestSpecValidate(t *testing.T) {
	v4, v6 := netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("2001:db8::2")
	ok := Spec{Src: v4, Dst: netip.MustParseAddr("198.19.0.2")}
	tests := []struct {
		name string
		mod  func(*Spec)
		want string // substring of the error; "" = valid
	}{
		{"defaults", func(*Spec) {}, ""},
		{"no src", func(s *Spec) { s.Src = netip.Addr{} }, "src:"},
		{"no dst", func(s *Spec) { s.Dst = netip.Addr{} }, "dst:"},
		{"mixed family", func(s *Spec) { s.Dst = v6 }, "dst:"},
		{"mapped", func(s *Spec) { s.Src = netip.AddrFrom16(v4.As16()) }, "dst:"},
		{"bad proto", func(s *Spec) { s.Proto = 9 }, "proto:"},
		{"too many flows", func(s *Spec) { s.Flows = MaxFlows + 1 }, "flows:"},
		{"negative flows", func(s *Spec) { s.Flows = -1 }, "flows:"},
		{"addrs above flows", func(s *Spec) { s.Flows, s.SrcAddrs = 2, 3 }, "srcAddrs:"},
		{"port overflow", func(s *Spec) { s.Flows, s.SrcPort = 10, 65530 }, "srcPort:"},
		{"addr overflow", func(s *Spec) {
			s.Src, s.Dst = netip.MustParseAddr("255.255.255.254"), v4
			s.Flows, s.SrcAddrs = 4, 4
		}, "srcAddrs:"},
		{"frame too small v6", func(s *Spec) { s.Src, s.Dst, s.FrameSize = v6, v6, 64 }, "frameSize:"},
		{"frame too big", func(s *Spec) { s.FrameSize = MaxFrameSize + 1 }, "frameSize:"},
		{"templates too big", func(s *Spec) { s.Flows, s.FrameSize, s.SrcAddrs = MaxFlows, 9000, 256 }, "flows:"},
		{"bad mac", func(s *Spec) { s.SrcMAC = net.HardwareAddr{1, 2} }, "srcMAC:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := ok
			tc.mod(&s)
			err := s.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
				t.Fatalf("Validate() = %v, want error starting %q", err, tc.want)
			}
			if _, berr := Build(s); (berr == nil) != (err == nil) {
				t.Fatalf("Build error %v disagrees with Validate error %v", berr, err)
			}
		})
	}
}

func TestParseProto(t *testing.T) {
	for _, p := range []Proto{UDP, TCPSYN, ICMPEcho} {
		got, err := ParseProto(p.String())
		if err != nil || got != p {
			t.Errorf("ParseProto(%q) = %v, %v, want %v", p.String(), got, err, p)
		}
	}
	if _, err := ParseProto("sctp"); err == nil {
		t.Errorf("ParseProto(sctp) = nil error, want an error")
	}
}

func TestParseFrameRejects(t *testing.T) {
	f, err := Build(Spec{Src: netip.MustParseAddr("198.18.0.2"), Dst: netip.MustParseAddr("198.19.0.2"), FrameSize: 80})
	if err != nil {
		t.Fatal(err)
	}
	good := bytes.Clone(f.Template(0))
	tests := []struct {
		name  string
		frame func() []byte
	}{
		{"empty", func() []byte { return nil }},
		{"truncated", func() []byte { return good[:50] }},
		{"bad magic", func() []byte { b := bytes.Clone(good); b[42] ^= 1; return b }},
		{"arp", func() []byte { b := bytes.Clone(good); b[12], b[13] = 0x08, 0x06; return b }},
		{"ip length too short for header", func() []byte {
			b := bytes.Clone(good)
			binary.BigEndian.PutUint16(b[16:], 20+8+4)
			b[24], b[25] = 0, 0
			binary.BigEndian.PutUint16(b[24:], ^pkt.Checksum(b[14:34], 0))
			return b
		}},
	}
	var s pkt.Summary
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.frame()
			if h, ok := ParseFrame(b, &s); ok {
				t.Fatalf("ParseFrame(%x) = %+v, true, want false", b, h)
			}
		})
	}
}

func TestHotPathsDoNotAllocate(t *testing.T) {
	f, err := Build(Spec{Src: netip.MustParseAddr("2001:db8::2"), Dst: netip.MustParseAddr("2001:db8::3"), Flows: 16, FrameSize: 128})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, f.Size())
	var s pkt.Summary
	tr := NewTracker(16)
	var h Histogram
	var seq uint32
	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"Write", func() { seq++; f.Write(buf, int(seq%16), seq, int64(seq)) }},
		{"ParseFrame", func() { ParseFrame(buf, &s) }},
		{"Tracker.Add", func() { seq++; tr.Add(uint16(seq%16), seq/16) }},
		{"Histogram.Record", func() { seq++; h.Record(int64(seq) * 977) }},
	} {
		if n := testing.AllocsPerRun(1000, tc.fn); n != 0 {
			t.Errorf("%s allocates %v times per call, want 0", tc.name, n)
		}
	}
}

func BenchmarkWrite(b *testing.B) {
	f, err := Build(Spec{Src: netip.MustParseAddr("198.18.0.2"), Dst: netip.MustParseAddr("198.19.0.2"), Flows: 256, SrcAddrs: 16})
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, f.Size())
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		f.Write(buf, i&255, uint32(i), int64(i))
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkt/s")
}

func BenchmarkParseAndTrack(b *testing.B) {
	f, err := Build(Spec{Src: netip.MustParseAddr("198.18.0.2"), Dst: netip.MustParseAddr("198.19.0.2"), Flows: 256, SrcAddrs: 16})
	if err != nil {
		b.Fatal(err)
	}
	frames := make([][]byte, 256)
	for i := range frames {
		frames[i] = make([]byte, f.Size())
		f.Write(frames[i], i, 0, 1000)
	}
	var s pkt.Summary
	tr := NewTracker(256)
	var h Histogram
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		hd, ok := ParseFrame(frames[i&255], &s)
		if ok {
			tr.Add(hd.Flow, uint32(i>>8))
			h.Record(2000 - hd.TxNs)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkt/s")
}
