package pkt

import "encoding/binary"

// IPv4 header (RFC 791), options included.
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Version|  IHL  |Type of Service|          Total Length         |
//	|         Identification        |Flags|      Fragment Offset    |
//	|  Time to Live |    Protocol   |         Header Checksum       |
//	|                       Source Address                          |
//	|                    Destination Address                        |
//	|                    Options                    |    Padding    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
type IPv4 []byte

const (
	IPv4MinLen        = 20
	IPv4MaxLen        = 60
	ipv4VerIHLOff     = 0
	ipv4TOSOff        = 1
	ipv4TotalLenOff   = 2
	ipv4IDOff         = 4
	ipv4FlagsFragOff  = 6
	ipv4TTLOff        = 8
	ipv4ProtoOff      = 9
	ipv4ChecksumOff   = 10
	ipv4SrcOff        = 12
	ipv4DstOff        = 16
	ipv4OptionsOff    = 20
	ipv4FlagDF        = 0x4000
	ipv4FlagMF        = 0x2000
	ipv4FragOffMask   = 0x1fff
	IPv4MaxPacketSize = 65535

	// IPv4 option kinds (RFC 791).
	IPv4OptEnd  = 0
	IPv4OptNOP  = 1
	IPv4OptRR   = 7
	IPv4OptTS   = 68
	IPv4OptLSRR = 131
	IPv4OptSSRR = 137
	IPv4OptRA   = 148 // router alert (RFC 2113)
)

// Protocol numbers used in IPv4 Protocol and IPv6 Next Header.
const (
	ProtoHopByHop = 0
	ProtoICMP     = 1
	ProtoTCP      = 6
	ProtoUDP      = 17
	ProtoIPv6     = 41
	ProtoRouting  = 43
	ProtoFragment = 44
	ProtoESP      = 50
	ProtoAH       = 51
	ProtoICMPv6   = 58
	ProtoNoNext   = 59
	ProtoDestOpts = 60
	ProtoMobility = 135
	ProtoHIP      = 139
	ProtoShim6    = 140
	ProtoUDPLite  = 136
	ProtoSCTP     = 132
	ProtoGRE      = 47
	ProtoIPIP     = 4
)

func (h IPv4) Version() uint8     { return h[ipv4VerIHLOff] >> 4 }
func (h IPv4) HeaderLen() int     { return int(h[ipv4VerIHLOff]&0x0f) * 4 }
func (h IPv4) TOS() uint8         { return h[ipv4TOSOff] }
func (h IPv4) TotalLen() uint16   { return binary.BigEndian.Uint16(h[ipv4TotalLenOff:]) }
func (h IPv4) ID() uint16         { return binary.BigEndian.Uint16(h[ipv4IDOff:]) }
func (h IPv4) flagsFrag() uint16  { return binary.BigEndian.Uint16(h[ipv4FlagsFragOff:]) }
func (h IPv4) DF() bool           { return h.flagsFrag()&ipv4FlagDF != 0 }
func (h IPv4) MF() bool           { return h.flagsFrag()&ipv4FlagMF != 0 }
func (h IPv4) FragOffset() uint16 { return (h.flagsFrag() & ipv4FragOffMask) * 8 } // bytes
func (h IPv4) TTL() uint8         { return h[ipv4TTLOff] }
func (h IPv4) Protocol() uint8    { return h[ipv4ProtoOff] }
func (h IPv4) Checksum() uint16   { return binary.BigEndian.Uint16(h[ipv4ChecksumOff:]) }
func (h IPv4) Src() [4]byte       { return [4]byte(h[ipv4SrcOff : ipv4SrcOff+4]) }
func (h IPv4) Dst() [4]byte       { return [4]byte(h[ipv4DstOff : ipv4DstOff+4]) }
func (h IPv4) SrcSlice() []byte   { return h[ipv4SrcOff : ipv4SrcOff+4] }
func (h IPv4) DstSlice() []byte   { return h[ipv4DstOff : ipv4DstOff+4] }

// Options returns the option bytes (empty when IHL is 5).
func (h IPv4) Options() []byte { return h[ipv4OptionsOff:h.HeaderLen()] }

// Payload returns the bytes after the header up to the total length.
func (h IPv4) Payload() []byte { return h[h.HeaderLen():h.TotalLen()] }

func (h IPv4) SetVersionIHL(ihlBytes int) { h[ipv4VerIHLOff] = 0x40 | uint8(ihlBytes/4) }
func (h IPv4) SetTOS(v uint8)             { h[ipv4TOSOff] = v }
func (h IPv4) SetTotalLen(n uint16)       { binary.BigEndian.PutUint16(h[ipv4TotalLenOff:], n) }
func (h IPv4) SetID(id uint16)            { binary.BigEndian.PutUint16(h[ipv4IDOff:], id) }
func (h IPv4) SetTTL(v uint8)             { h[ipv4TTLOff] = v }
func (h IPv4) SetProtocol(p uint8)        { h[ipv4ProtoOff] = p }
func (h IPv4) SetChecksum(c uint16)       { binary.BigEndian.PutUint16(h[ipv4ChecksumOff:], c) }
func (h IPv4) SetSrc(a [4]byte)           { copy(h[ipv4SrcOff:], a[:]) }
func (h IPv4) SetDst(a [4]byte)           { copy(h[ipv4DstOff:], a[:]) }

// SetFragment writes the DF and MF flags and the fragment offset in bytes
// (a multiple of 8).
func (h IPv4) SetFragment(df, mf bool, offBytes uint16) {
	v := offBytes / 8 & ipv4FragOffMask
	if df {
		v |= ipv4FlagDF
	}
	if mf {
		v |= ipv4FlagMF
	}
	binary.BigEndian.PutUint16(h[ipv4FlagsFragOff:], v)
}

// ComputeChecksum returns the header checksum over IHL*4 bytes with the
// checksum field taken as zero.
func (h IPv4) ComputeChecksum() uint16 {
	n := h.HeaderLen()
	sum := Checksum(h[:ipv4ChecksumOff], 0)
	return ^Checksum(h[ipv4ChecksumOff+2:n], sum)
}

// DecTTL decrements the TTL by one and patches the header checksum
// incrementally (RFC 1624). The caller checks TTL > 1 first.
func (h IPv4) DecTTL() {
	// TTL is the high byte of the 16-bit word TTL|Protocol.
	old := binary.BigEndian.Uint16(h[ipv4TTLOff:])
	h[ipv4TTLOff]--
	h.SetChecksum(ChecksumUpdate16(h.Checksum(), old, old-0x100))
}

// IPv4Option is one option from an IPv4 header's option list.
type IPv4Option struct {
	Kind uint8
	Data []byte // the option's bytes after kind and length
}

// NextOption parses the option at the start of opts and returns it with the
// rest of the list. ok is false at the end of the list or when an option's
// length is malformed (length < 2 or beyond the list).
func NextOption(opts []byte) (opt IPv4Option, rest []byte, ok bool) {
	if len(opts) == 0 || opts[0] == IPv4OptEnd {
		return IPv4Option{}, nil, false
	}
	if opts[0] == IPv4OptNOP {
		return IPv4Option{Kind: IPv4OptNOP}, opts[1:], true
	}
	if len(opts) < 2 {
		return IPv4Option{}, nil, false
	}
	n := int(opts[1])
	if n < 2 || n > len(opts) {
		return IPv4Option{}, nil, false
	}
	return IPv4Option{Kind: opts[0], Data: opts[2:n]}, opts[n:], true
}

// HasSourceRoute reports whether the options carry loose or strict source
// routing, which routers commonly refuse to forward.
func (h IPv4) HasSourceRoute() bool {
	for opts := h.Options(); ; {
		opt, rest, ok := NextOption(opts)
		if !ok {
			return false
		}
		if opt.Kind == IPv4OptLSRR || opt.Kind == IPv4OptSSRR {
			return true
		}
		opts = rest
	}
}
