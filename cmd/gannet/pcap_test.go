package main

import (
	"bytes"
	"flag"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// capturePackets are the frames of testdata/sample.pcap: the shapes an
// operator meets, good and bad.
func capturePackets(t *testing.T) [][]byte {
	ser := func(ls ...gopacket.SerializableLayer) []byte {
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	mac1, mac2 := net.HardwareAddr{2, 0, 0, 0, 0, 1}, net.HardwareAddr{2, 0, 0, 0, 0, 2}
	e := func(et layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: mac1, DstMAC: mac2, EthernetType: et}
	}
	v4 := func(p layers.IPProtocol) *layers.IPv4 {
		return &layers.IPv4{Version: 4, TTL: 64, Protocol: p, Flags: layers.IPv4DontFragment,
			SrcIP: net.IP{198, 18, 0, 1}, DstIP: net.IP{203, 0, 113, 7}}
	}
	v6 := func(p layers.IPProtocol) *layers.IPv6 {
		return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: p,
			SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8:1::2")}
	}
	tcpIP := v4(layers.IPProtocolTCP)
	tcp := &layers.TCP{SrcPort: 40000, DstPort: 443, SYN: true, ACK: true, Window: 1000}
	tcp.SetNetworkLayerForChecksum(tcpIP)
	udpIP := v6(layers.IPProtocolUDP)
	udp := &layers.UDP{SrcPort: 5353, DstPort: 53}
	udp.SetNetworkLayerForChecksum(udpIP)
	frag := v4(layers.IPProtocolUDP)
	frag.Flags, frag.FragOffset, frag.Id = layers.IPv4MoreFragments, 185, 4242
	badIHL := ser(e(layers.EthernetTypeIPv4), v4(layers.IPProtocolUDP))
	badIHL[14] = 0x43
	return [][]byte{
		ser(e(layers.EthernetTypeIPv4), tcpIP, tcp, gopacket.Payload("hi")),
		ser(e(layers.EthernetTypeIPv6), udpIP, udp),
		ser(e(layers.EthernetTypeIPv4), v4(layers.IPProtocolICMPv4),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 7, Seq: 1}),
		ser(e(layers.EthernetTypeIPv4), frag, gopacket.Payload(make([]byte, 24))),
		ser(e(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
			HwAddressSize: 6, ProtAddressSize: 4, Operation: layers.ARPRequest, SourceHwAddress: mac1,
			SourceProtAddress: net.IP{198, 18, 0, 1}, DstHwAddress: make([]byte, 6), DstProtAddress: net.IP{169, 254, 1, 1}}),
		ser(e(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 42, Type: layers.EthernetTypeIPv6}, v6(layers.IPProtocolNoNextHeader)),
		badIHL,
		ser(e(layers.EthernetTypeIPv6))[:20],
	}
}

func writePcap(t *testing.T, path string, frames [][]byte) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1700000000, 0)
	for i, fr := range frames {
		ci := gopacket.CaptureInfo{Timestamp: t0.Add(time.Duration(i) * 1500 * time.Microsecond), CaptureLength: len(fr), Length: len(fr)}
		if err := w.WritePacket(ci, fr); err != nil {
			t.Fatal(err)
		}
	}
}

func runGannet(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRootCmd()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestPcapGolden(t *testing.T) {
	capture := filepath.Join("testdata", "sample.pcap")
	if *update {
		writePcap(t, capture, capturePackets(t))
	}
	got, err := runGannet(t, "pcap", capture)
	if err != nil {
		t.Fatalf("gannet pcap: %v", err)
	}
	golden := filepath.Join("testdata", "sample.pcap.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("gannet pcap %s (-want +got):\n%s", capture, diff)
	}
}

func TestPcapNgAndRawIP(t *testing.T) {
	frames := capturePackets(t)
	path := filepath.Join(t.TempDir(), "raw.pcapng")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := pcapgo.NewNgWriter(f, layers.LinkTypeRaw)
	if err != nil {
		t.Fatal(err)
	}
	ip := frames[0][14:]
	if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(1, 0), CaptureLength: len(ip), Length: len(ip)}, ip); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	f.Close()
	got, err := runGannet(t, "pcap", path)
	if err != nil {
		t.Fatal(err)
	}
	want := "1 0.000000 46 ipv4 198.18.0.1:40000 > 203.0.113.7:443 tcp [S.] ttl 64 len 42 df ok\n1 packets: 1 ok\n"
	if got != want {
		t.Errorf("gannet pcap (pcapng, raw IP) = %q, want %q", got, want)
	}
}

func TestPcapErrors(t *testing.T) {
	if _, err := runGannet(t, "pcap", filepath.Join(t.TempDir(), "missing.pcap")); err == nil {
		t.Error("missing file: no error")
	}
	junk := filepath.Join(t.TempDir(), "junk.pcap")
	os.WriteFile(junk, []byte("this is not a capture"), 0o644)
	if _, err := runGannet(t, "pcap", junk); err == nil {
		t.Error("junk file: no error")
	}
}
