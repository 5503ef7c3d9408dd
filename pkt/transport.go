package pkt

import "encoding/binary"

// TCP header (RFC 9293).
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|          Source Port          |       Destination Port        |
//	|                        Sequence Number                        |
//	|                    Acknowledgment Number                      |
//	|  Data |       |C|E|U|A|P|R|S|F|                               |
//	| Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//	|           Checksum            |         Urgent Pointer        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
type TCP []byte

const (
	TCPMinLen      = 20
	tcpSrcPortOff  = 0
	tcpDstPortOff  = 2
	tcpSeqOff      = 4
	tcpAckOff      = 8
	tcpDataOffOff  = 12
	tcpFlagsOff    = 13
	tcpWindowOff   = 14
	TCPChecksumOff = 16
	tcpUrgentOff   = 18

	TCPFlagFIN = 0x01
	TCPFlagSYN = 0x02
	TCPFlagRST = 0x04
	TCPFlagPSH = 0x08
	TCPFlagACK = 0x10
	TCPFlagURG = 0x20
	TCPFlagECE = 0x40
	TCPFlagCWR = 0x80
)

func (t TCP) SrcPort() uint16     { return binary.BigEndian.Uint16(t[tcpSrcPortOff:]) }
func (t TCP) DstPort() uint16     { return binary.BigEndian.Uint16(t[tcpDstPortOff:]) }
func (t TCP) Seq() uint32         { return binary.BigEndian.Uint32(t[tcpSeqOff:]) }
func (t TCP) Ack() uint32         { return binary.BigEndian.Uint32(t[tcpAckOff:]) }
func (t TCP) HeaderLen() int      { return int(t[tcpDataOffOff]>>4) * 4 }
func (t TCP) Flags() uint8        { return t[tcpFlagsOff] }
func (t TCP) Window() uint16      { return binary.BigEndian.Uint16(t[tcpWindowOff:]) }
func (t TCP) Checksum() uint16    { return binary.BigEndian.Uint16(t[TCPChecksumOff:]) }
func (t TCP) UrgentPtr() uint16   { return binary.BigEndian.Uint16(t[tcpUrgentOff:]) }
func (t TCP) SetSrcPort(p uint16) { binary.BigEndian.PutUint16(t[tcpSrcPortOff:], p) }
func (t TCP) SetDstPort(p uint16) { binary.BigEndian.PutUint16(t[tcpDstPortOff:], p) }
func (t TCP) SetChecksum(c uint16) {
	binary.BigEndian.PutUint16(t[TCPChecksumOff:], c)
}

// UDP header (RFC 768).
//
//	+----------------+----------------+
//	|  Source Port   | Destination Port|
//	|     Length     |    Checksum     |
//	+----------------+----------------+
type UDP []byte

const (
	UDPLen         = 8
	udpSrcPortOff  = 0
	udpDstPortOff  = 2
	udpLengthOff   = 4
	UDPChecksumOff = 6
)

func (u UDP) SrcPort() uint16      { return binary.BigEndian.Uint16(u[udpSrcPortOff:]) }
func (u UDP) DstPort() uint16      { return binary.BigEndian.Uint16(u[udpDstPortOff:]) }
func (u UDP) Length() uint16       { return binary.BigEndian.Uint16(u[udpLengthOff:]) }
func (u UDP) Checksum() uint16     { return binary.BigEndian.Uint16(u[UDPChecksumOff:]) }
func (u UDP) SetSrcPort(p uint16)  { binary.BigEndian.PutUint16(u[udpSrcPortOff:], p) }
func (u UDP) SetDstPort(p uint16)  { binary.BigEndian.PutUint16(u[udpDstPortOff:], p) }
func (u UDP) SetLength(n uint16)   { binary.BigEndian.PutUint16(u[udpLengthOff:], n) }
func (u UDP) SetChecksum(c uint16) { binary.BigEndian.PutUint16(u[UDPChecksumOff:], c) }
