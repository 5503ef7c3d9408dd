// Package pcapio reads packet captures for gannet's offline tools (gannet
// pcap, gannet xlat): pcap and pcapng files, with the link types a router
// meets. It hands out each packet with where its network layer starts, so
// callers parse with pkt.Parse (Ethernet) or pkt.ParseIP (bare IP). It
// also writes the pcap stream of gannet capture (write.go).
package pcapio

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Link says what a captured packet starts with.
type Link uint8

const (
	LinkEthernet Link = iota + 1 // an Ethernet header: use pkt.Parse
	LinkIP                       // a bare IP packet: use pkt.ParseIP
)

// Packet is one captured packet. Data is valid until the next call to Next.
type Packet struct {
	Time    time.Time
	Data    []byte // from the link kind's start: Ethernet header or IP header
	Link    Link
	OrigLen int // length on the wire, when the capture truncated it
}

// Reader reads packets from a pcap or pcapng file.
type Reader struct {
	file     *os.File
	next     func() ([]byte, int, time.Time, layers.LinkType, error)
	linkType layers.LinkType
}

// Open opens a pcap or pcapng file, detected by its magic number.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r, err := NewReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r.file = f
	return r, nil
}

// NewReader reads a capture from rd.
func NewReader(rd io.Reader) (*Reader, error) {
	br := bufio.NewReader(rd)
	magic, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("not a capture file: %w", err)
	}
	r := &Reader{}
	if bytes.Equal(magic, []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		ng, err := pcapgo.NewNgReader(br, pcapgo.DefaultNgReaderOptions)
		if err != nil {
			return nil, fmt.Errorf("pcapng: %w", err)
		}
		r.linkType = ng.LinkType()
		r.next = func() ([]byte, int, time.Time, layers.LinkType, error) {
			data, ci, err := ng.ReadPacketData()
			lt := r.linkType
			if err == nil && ci.InterfaceIndex >= 0 && ci.InterfaceIndex < ng.NInterfaces() {
				if intf, ierr := ng.Interface(ci.InterfaceIndex); ierr == nil {
					lt = intf.LinkType
				}
			}
			return data, ci.Length, ci.Timestamp, lt, err
		}
		return r, nil
	}
	pr, err := pcapgo.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("pcap: %w", err)
	}
	r.linkType = pr.LinkType()
	r.next = func() ([]byte, int, time.Time, layers.LinkType, error) {
		data, ci, err := pr.ReadPacketData()
		return data, ci.Length, ci.Timestamp, r.linkType, err
	}
	return r, nil
}

// LinkType returns the capture's (first interface's) link type.
func (r *Reader) LinkType() layers.LinkType { return r.linkType }

// ErrLinkType is returned for packets of a link type gannet cannot read.
var ErrLinkType = errors.New("unsupported link type")

// Linux cooked capture headers ("tcpdump -i any"): the protocol field holds
// the EtherType.
const (
	sllLen       = 16
	sllProtoOff  = 14
	sll2Len      = 20
	sll2ProtoOff = 0
)

// Next returns the next packet, io.EOF at the end. A packet of a link type
// pcapio cannot read returns an error wrapping ErrLinkType; the caller may
// go on to the next packet.
func (r *Reader) Next() (Packet, error) {
	data, origLen, ts, lt, err := r.next()
	if err != nil {
		return Packet{}, err
	}
	p := Packet{Time: ts, Data: data, OrigLen: origLen}
	switch lt {
	case layers.LinkTypeEthernet:
		p.Link = LinkEthernet
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, 12: // 12: raw IP on OpenBSD-derived systems
		p.Link = LinkIP
	case layers.LinkTypeLinuxSLL:
		return cooked(p, sllLen, sllProtoOff)
	case 276: // LINKTYPE_LINUX_SLL2
		return cooked(p, sll2Len, sll2ProtoOff)
	default:
		return p, fmt.Errorf("%w %d", ErrLinkType, lt)
	}
	return p, nil
}

// cooked strips a Linux cooked-capture header whose protocol field says IP.
func cooked(p Packet, hdrLen, protoOff int) (Packet, error) {
	if len(p.Data) < hdrLen {
		return p, fmt.Errorf("%w: truncated Linux cooked header", ErrLinkType)
	}
	proto := binary.BigEndian.Uint16(p.Data[protoOff:])
	if proto != 0x0800 && proto != 0x86dd {
		return p, fmt.Errorf("%w: Linux cooked capture of EtherType %#04x", ErrLinkType, proto)
	}
	p.Link, p.Data = LinkIP, p.Data[hdrLen:]
	return p, nil
}

// Close closes the file Open opened.
func (r *Reader) Close() error {
	if r.file != nil {
		return r.file.Close()
	}
	return nil
}
