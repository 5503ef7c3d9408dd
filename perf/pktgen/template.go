// Templates: a Spec says which packets to send; Build turns it into one
// ready frame per flow (headers, payload header with sequence 0 and
// timestamp 0, valid checksums). The send loop copies a flow's frame and
// calls Stamp.

package pktgen

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Proto is the kind of packet a template carries.
type Proto uint8

const (
	UDP      Proto = iota + 1 // UDP datagram
	TCPSYN                    // TCP segment with only SYN set (the payload header rides as SYN data)
	ICMPEcho                  // ICMP / ICMPv6 echo request
)

func (p Proto) String() string {
	switch p {
	case UDP:
		return "udp"
	case TCPSYN:
		return "tcp-syn"
	case ICMPEcho:
		return "icmp-echo"
	}
	return fmt.Sprintf("proto(%d)", uint8(p))
}

// ParseProto maps the names String gives back to a Proto.
func ParseProto(s string) (Proto, error) {
	for _, p := range []Proto{UDP, TCPSYN, ICMPEcho} {
		if p.String() == s {
			return p, nil
		}
	}
	return 0, fmt.Errorf("unknown protocol %q (want udp, tcp-syn or icmp-echo)", s)
}

// MaxFlows bounds Spec.Flows: the flow number travels in 16 bits.
const MaxFlows = 1 << 16

// MaxFrameSize bounds Spec.FrameSize (a jumbo frame).
const MaxFrameSize = 9018

// maxTemplateBytes bounds the memory of all flows' frames together.
const maxTemplateBytes = 64 << 20

// Spec describes the packets of one generator.
type Spec struct {
	Proto    Proto
	Src, Dst netip.Addr // both IPv4 or both IPv6
	// SrcAddrs is how many consecutive source addresses, starting at Src,
	// the flows use (default 1). Flow i uses address Src+i%SrcAddrs and
	// source port (or ICMP echo identifier) SrcPort+i/SrcAddrs.
	SrcAddrs         int
	SrcPort, DstPort uint16
	Flows            int // default 1, at most MaxFlows
	// FrameSize is the length of the frame handed to the device, Ethernet
	// header included, FCS excluded (default 64). It must hold the headers
	// and the 16-byte payload header.
	FrameSize      int
	SrcMAC, DstMAC net.HardwareAddr
	TTL            uint8 // TTL or hop limit; default 64
}

// withDefaults returns s with zero fields set to their defaults.
func (s Spec) withDefaults() Spec {
	if s.Proto == 0 {
		s.Proto = UDP
	}
	if s.SrcAddrs == 0 {
		s.SrcAddrs = 1
	}
	if s.Flows == 0 {
		s.Flows = 1
	}
	if s.FrameSize == 0 {
		s.FrameSize = 64
	}
	if s.TTL == 0 {
		s.TTL = 64
	}
	if s.SrcPort == 0 {
		s.SrcPort = 1024
	}
	if s.DstPort == 0 {
		s.DstPort = 9
	}
	return s
}

// HeaderLen returns the bytes in front of the payload header for the
// family and protocol: Ethernet, IP, and the transport header.
func HeaderLen(ipv6 bool, p Proto) int {
	n := 14 + 20
	if ipv6 {
		n = 14 + 40
	}
	switch p {
	case TCPSYN:
		return n + 20
	default: // UDP and ICMP echo both have an 8-byte header
		return n + 8
	}
}

// MinFrameSize is the smallest FrameSize a Spec may ask for: the headers
// and the payload header, and at least Ethernet's minimum of 60 bytes.
func MinFrameSize(ipv6 bool, p Proto) int { return max(HeaderLen(ipv6, p)+PayloadHeaderLen, 60) }

// Validate reports the first problem with s (after defaults), naming the field.
func (s Spec) Validate() error {
	s = s.withDefaults()
	switch s.Proto {
	case UDP, TCPSYN, ICMPEcho:
	default:
		return fmt.Errorf("proto: unknown protocol %d", s.Proto)
	}
	if !s.Src.IsValid() {
		return errors.New("src: missing source address")
	}
	if !s.Dst.IsValid() {
		return errors.New("dst: missing destination address")
	}
	if s.Src.Is4() != s.Dst.Is4() || s.Src.Is4In6() || s.Dst.Is4In6() {
		return fmt.Errorf("dst: %v is not of the same family as src %v", s.Dst, s.Src)
	}
	if s.Flows < 1 || s.Flows > MaxFlows {
		return fmt.Errorf("flows: %d outside 1..%d", s.Flows, MaxFlows)
	}
	if s.SrcAddrs < 1 || s.SrcAddrs > s.Flows {
		return fmt.Errorf("srcAddrs: %d outside 1..flows (%d)", s.SrcAddrs, s.Flows)
	}
	ports := (s.Flows + s.SrcAddrs - 1) / s.SrcAddrs
	if int(s.SrcPort)+ports-1 > 0xffff {
		return fmt.Errorf("srcPort: %d + %d ports per address passes 65535", s.SrcPort, ports)
	}
	last := s.Src
	for range s.SrcAddrs - 1 {
		last = last.Next()
		if !last.IsValid() {
			return fmt.Errorf("srcAddrs: %d addresses from %v run past the end of the address space", s.SrcAddrs, s.Src)
		}
	}
	if min := MinFrameSize(s.Src.Is6(), s.Proto); s.FrameSize < min || s.FrameSize > MaxFrameSize {
		return fmt.Errorf("frameSize: %d outside %d..%d for %s over %s", s.FrameSize, min, MaxFrameSize, s.Proto, family(s.Src))
	}
	if s.Flows*s.FrameSize > maxTemplateBytes {
		return fmt.Errorf("flows: %d flows of %d bytes need more than %d MiB of templates", s.Flows, s.FrameSize, maxTemplateBytes>>20)
	}
	if len(s.SrcMAC) != 0 && len(s.SrcMAC) != 6 {
		return fmt.Errorf("srcMAC: %v is not a 6-byte MAC", s.SrcMAC)
	}
	if len(s.DstMAC) != 0 && len(s.DstMAC) != 6 {
		return fmt.Errorf("dstMAC: %v is not a 6-byte MAC", s.DstMAC)
	}
	return nil
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// Frames holds one ready frame per flow, back to back.
type Frames struct {
	spec    Spec
	size    int
	buf     []byte
	csumOff int  // offset of the transport checksum field
	hdrOff  int  // offset of the payload header
	udp     bool // the transport checksum follows UDP's zero rule
}

// Build validates spec and builds every flow's frame.
func Build(spec Spec) (*Frames, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	spec = spec.withDefaults()
	f := &Frames{
		spec:   spec,
		size:   spec.FrameSize,
		buf:    make([]byte, spec.Flows*spec.FrameSize),
		hdrOff: HeaderLen(spec.Src.Is6(), spec.Proto),
		udp:    spec.Proto == UDP,
	}
	l3 := 14 + 20
	if spec.Src.Is6() {
		l3 = 14 + 40
	}
	switch spec.Proto {
	case UDP:
		f.csumOff = l3 + 6
	case TCPSYN:
		f.csumOff = l3 + 16
	case ICMPEcho:
		f.csumOff = l3 + 2
	}
	buf := gopacket.NewSerializeBuffer()
	for i := range spec.Flows {
		src, sport := spec.flowSource(i)
		if err := serialize(buf, spec, i, src, sport); err != nil {
			return nil, fmt.Errorf("flow %d: %w", i, err)
		}
		b := buf.Bytes()
		if len(b) != f.size {
			return nil, fmt.Errorf("flow %d: built %d bytes, want %d", i, len(b), f.size)
		}
		copy(f.buf[i*f.size:], b)
	}
	return f, nil
}

// flowSource returns flow i's source address and port (or echo identifier).
func (s Spec) flowSource(i int) (netip.Addr, uint16) {
	a := s.Src
	for range i % s.SrcAddrs {
		a = a.Next()
	}
	return a, s.SrcPort + uint16(i/s.SrcAddrs)
}

// serialize builds flow i's frame into buf with gopacket.
func serialize(buf gopacket.SerializeBuffer, s Spec, flow int, src netip.Addr, sport uint16) error {
	payload := make([]byte, s.FrameSize-HeaderLen(s.Src.Is6(), s.Proto))
	binary.BigEndian.PutUint16(payload[0:], Magic)
	binary.BigEndian.PutUint16(payload[2:], uint16(flow))
	eth := &layers.Ethernet{SrcMAC: mac(s.SrcMAC), DstMAC: mac(s.DstMAC)}
	var ls []gopacket.SerializableLayer
	var net gopacket.NetworkLayer
	if s.Src.Is4() {
		eth.EthernetType = layers.EthernetTypeIPv4
		ip := &layers.IPv4{Version: 4, TTL: s.TTL, Flags: layers.IPv4DontFragment,
			SrcIP: src.AsSlice(), DstIP: s.Dst.AsSlice()}
		switch s.Proto {
		case UDP:
			ip.Protocol = layers.IPProtocolUDP
		case TCPSYN:
			ip.Protocol = layers.IPProtocolTCP
		case ICMPEcho:
			ip.Protocol = layers.IPProtocolICMPv4
		}
		net = ip
		ls = append(ls, eth, ip)
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip := &layers.IPv6{Version: 6, HopLimit: s.TTL, SrcIP: src.AsSlice(), DstIP: s.Dst.AsSlice()}
		switch s.Proto {
		case UDP:
			ip.NextHeader = layers.IPProtocolUDP
		case TCPSYN:
			ip.NextHeader = layers.IPProtocolTCP
		case ICMPEcho:
			ip.NextHeader = layers.IPProtocolICMPv6
		}
		net = ip
		ls = append(ls, eth, ip)
	}
	switch s.Proto {
	case UDP:
		u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(s.DstPort)}
		if err := u.SetNetworkLayerForChecksum(net); err != nil {
			return err
		}
		ls = append(ls, u)
	case TCPSYN:
		t := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(s.DstPort),
			Seq: uint32(flow) * 0x9e3779b9, SYN: true, Window: 65535}
		if err := t.SetNetworkLayerForChecksum(net); err != nil {
			return err
		}
		ls = append(ls, t)
	case ICMPEcho:
		if s.Src.Is4() {
			ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0),
				Id: sport, Seq: 0})
		} else {
			ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)}
			if err := ic.SetNetworkLayerForChecksum(net); err != nil {
				return err
			}
			ls = append(ls, ic, &layers.ICMPv6Echo{Identifier: sport, SeqNumber: 0})
		}
	}
	ls = append(ls, gopacket.Payload(payload))
	return gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...)
}

func mac(m net.HardwareAddr) net.HardwareAddr {
	if len(m) == 0 {
		return make(net.HardwareAddr, 6)
	}
	return m
}

// Spec returns the spec the frames were built from, defaults filled in.
func (f *Frames) Spec() Spec { return f.spec }

// Size returns the length of every frame.
func (f *Frames) Size() int { return f.size }

// Flows returns the number of flows.
func (f *Frames) Flows() int { return f.spec.Flows }

// Template returns flow's frame as built (sequence 0, timestamp 0). It
// aliases the Frames' memory: do not modify it.
func (f *Frames) Template(flow int) []byte {
	return f.buf[flow*f.size : (flow+1)*f.size : (flow+1)*f.size]
}

// Write copies flow's frame into dst, stamps seq and ts into it and
// returns the frame length. dst must hold Size bytes.
func (f *Frames) Write(dst []byte, flow int, seq uint32, ts int64) int {
	n := copy(dst[:f.size], f.buf[flow*f.size:(flow+1)*f.size])
	f.Stamp(dst[:n], seq, ts)
	return n
}

// Stamp writes seq and ts into frame, which holds a copy of a Template
// (sequence and timestamp zero), and fixes its transport checksum
// incrementally: the new words' sum is added to the field (RFC 1624 with
// the old words all zero).
func (f *Frames) Stamp(frame []byte, seq uint32, ts int64) {
	h := frame[f.hdrOff : f.hdrOff+PayloadHeaderLen]
	binary.BigEndian.PutUint32(h[4:], seq)
	binary.BigEndian.PutUint64(h[8:], uint64(ts))
	sum := seq>>16 + seq&0xffff +
		uint32(uint64(ts)>>48) + uint32(uint64(ts)>>32)&0xffff +
		uint32(uint64(ts)>>16)&0xffff + uint32(ts)&0xffff
	cs := binary.BigEndian.Uint16(frame[f.csumOff:])
	s := uint32(^cs) + sum
	s = s>>16 + s&0xffff
	s = s>>16 + s&0xffff
	cs = ^uint16(s)
	if cs == 0 && f.udp {
		cs = 0xffff // a zero UDP checksum means "none" (RFC 768)
	}
	binary.BigEndian.PutUint16(frame[f.csumOff:], cs)
}
