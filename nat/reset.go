package nat

// Resets for lost state: a mid-stream TCP segment (no SYN) of a flow that
// would be translated flows in with no session behind it — the session
// was lost (a restart without the table, an expiry, an eviction) or never
// existed — and, instead of vanishing while its sender retransmits for
// minutes, it is answered with a TCP RST that tells the sender at once
// that the connection is gone. Commit decides; the RST is prepared in the
// worker's reply buffer (Worker.Reply) and the data path sends it back
// out of the port the segment came in on (Action DropAndReply), like
// nat's ICMP errors and under the same per-worker budget.
//
// Whom it answers. The sender of the refused segment, on either side:
//
//   - from the inside (its source would be translated: natOutgoing, a
//     floating IP's workload): the workload's connection is dead — its
//     mapping (and external port) is gone and cannot be guessed — and the
//     workload is the endpoint that must learn it;
//   - from the outside (to a floating IP, or to an external address and
//     port): the remote peer's connection is just as dead, and for a
//     service behind a floating IP the outside clients are the ones left
//     hanging while the workload idles.
//
// Answering outside senders is safe because the answer is the one any
// TCP host gives for a closed port (RFC 9293 section 3.10.7.1) and tells
// nothing more: it is the same for every external port whether a mapping
// exists or not (a segment that matches a live session is forwarded, and
// only the session's real peer can send one: a blind spoofer's RST goes
// to the spoofed address, not to it); it is one RST per refused segment,
// never larger than the segment (40 bytes for IPv4, 60 for IPv6, with no
// options and no payload, where the segment had at least as much), drawn
// from the worker's error budget (Policy.ErrorsPerSecond, which also
// silences it when negative); it never answers a RST (no RST loops) and
// never a segment carrying SYN, so an unsolicited SYN stays unanswered
// as RFC 5382 REQ-4 asks and a crossing SYN-ACK of a simultaneous open
// (REQ-2) is never reset — a SYN or SYN-ACK whose state is lost recovers
// by the SYN's own retransmission, which opens a fresh session. Flows
// that need no translation are not answered: loose pickup lets a mid-stream
// ACK of one continue, and their other strays are conntrack's INVALID,
// dropped silently as before (StrictTCPOpen keeps them silent too).
//
// RFC 5382 section 5 leaves what a NAT does with a non-SYN packet of a
// connection it holds no mapping for to the implementation (drop it, or
// answer with an ICMP Destination Unreachable); a RST in the name of the
// far end, as the far end's own stack would send it, makes the sender's
// stack drop the connection at once — its sequence number is the
// sender's own ACK field, its RCV.NXT, which RFC 9293 section 3.10.7.4
// accepts even under RFC 5961's exact-match check — where an ICMP
// unreachable is only a soft error to an established connection (RFC
// 1122 section 4.2.3.9, RFC 5461).

import (
	"encoding/binary"

	"github.com/gannet-net/gannet/pkt"
)

// TCP header fields the RST writes (RFC 9293 section 3.1).
const (
	tcpSeqOff, tcpAckOff = 4, 8
	tcpDataOffOff        = 12
	tcpFlagsOff          = 13
)

// noState refuses a TCP segment that may not open a session (it is not a
// SYN, and not a mid-stream ACK that loose pickup may take) and, when the
// flow would be translated and the segment may be answered, prepares a
// RST for its sender within the error budget.
func (w *Worker) noState(frame []byte, s *pkt.Summary, k *key, pl *plan, space uint16) Result {
	res := w.drop(noStateReason(frame, s, k, pl, space))
	if res.Reason != ReasonTCPNoStateReset || !w.allowError() {
		return res
	}
	w.replyLen = buildReset(w.reply[:], frame, s)
	w.resets.Add(1)
	res.Action = DropAndReply
	return res
}

// noStateReason is why Commit refuses a TCP segment that may not open a
// session: tcp-no-state-reset when it is to be answered with a RST (the
// flow would be translated and the segment is resettable), else
// tcp-not-syn. Query shares it.
func noStateReason(frame []byte, s *pkt.Summary, k *key, pl *plan, space uint16) Reason {
	if resettable(frame, s) && pl.translates(k, space) {
		return ReasonTCPNoStateReset
	}
	return ReasonTCPNotSYN
}

// resettable reports whether a checked TCP segment of no session may be
// answered with a RST: it carries neither RST (never answer a reset) nor
// SYN (an unsolicited SYN is not answered, RFC 5382 REQ-4); its whole TCP
// header is there; its length is known when the RST must acknowledge it
// (a first fragment without ACK does not tell it); and both its ends are
// unicast hosts, so that the RST goes to one host.
func resettable(frame []byte, s *pkt.Summary) bool {
	if s.Proto != pkt.ProtoTCP || s.TCPFlags&(pkt.TCPFlagSYN|pkt.TCPFlagRST) != 0 ||
		s.Flags&pkt.FlagPorts == 0 || laterFragment(s) {
		return false
	}
	l4, end := int(s.L4Off), s.End()
	if l4+pkt.TCPMinLen > end || int(s.PayloadOff) < l4+pkt.TCPMinLen || int(s.PayloadOff) > end || end > len(frame) {
		return false
	}
	if s.TCPFlags&pkt.TCPFlagACK == 0 && s.Flags&pkt.FlagFragment != 0 {
		return false
	}
	if s.Family == pkt.FamilyIPv4 {
		return unicastHost4(s.Src[0]) && unicastHost4(s.Dst[0])
	}
	return s.Src != [16]byte{} && s.Src[0] != 0xff && s.Dst[0] != 0xff
}

// unicastHost4 reports whether an IPv4 address with first octet b can be
// a single host's: not 0.0.0.0/8, loopback, multicast, class E or the
// limited broadcast.
func unicastHost4(b byte) bool { return b != 0 && b != 127 && b < 224 }

// buildReset writes into b the RST answering the TCP segment of frame
// (checked by resettable) and returns its length. It goes from the
// address and port the segment was sent to, to its sender, so that the
// sender's stack matches it to its connection. Its sequence numbers are
// those RFC 9293 section 3.10.7.1 gives a connection in CLOSED state:
//
//	If the incoming segment has an ACK field, the reset takes its
//	sequence number from the ACK field of the segment, otherwise the
//	reset has sequence number zero and the ACK field is set to the sum
//	of the sequence number and segment length of the incoming segment.
//	<SEQ=SEG.ACK><CTL=RST>  or  <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>
//
// SEG.LEN counts the payload, and one for a FIN (SYN is never answered).
func buildReset(b []byte, frame []byte, s *pkt.Summary) int {
	seg := frame[s.L4Off:s.End()]
	segSeq := binary.BigEndian.Uint32(seg[tcpSeqOff:])
	segAck := binary.BigEndian.Uint32(seg[tcpAckOff:])
	var seq, ack uint32
	flags := uint8(pkt.TCPFlagRST)
	if s.TCPFlags&pkt.TCPFlagACK != 0 {
		seq = segAck
	} else {
		n := uint32(s.End() - int(s.PayloadOff))
		if s.TCPFlags&pkt.TCPFlagFIN != 0 {
			n++
		}
		ack = segSeq + n
		flags |= pkt.TCPFlagACK
	}
	hl := pkt.IPv6Len
	if s.Family == pkt.FamilyIPv4 {
		hl = pkt.IPv4MinLen
	}
	n := hl + pkt.TCPMinLen
	clear(b[:n])
	tcp := b[hl:n]
	binary.BigEndian.PutUint16(tcp[0:], s.DstPort)
	binary.BigEndian.PutUint16(tcp[2:], s.SrcPort)
	binary.BigEndian.PutUint32(tcp[tcpSeqOff:], seq)
	binary.BigEndian.PutUint32(tcp[tcpAckOff:], ack)
	tcp[tcpDataOffOff] = pkt.TCPMinLen / 4 << 4
	tcp[tcpFlagsOff] = flags
	// Window and urgent pointer stay zero.
	var pseudo uint16
	if s.Family == pkt.FamilyIPv4 {
		ip := pkt.IPv4(b[:hl])
		ip.SetVersionIHL(pkt.IPv4MinLen)
		ip.SetTotalLen(uint16(n))
		ip.SetFragment(true, false, 0) // DF with ID 0: an atomic datagram (RFC 6864)
		ip.SetTTL(pkt.RouterTTL)
		ip.SetProtocol(pkt.ProtoTCP)
		ip.SetSrc([4]byte(s.Dst[:4]))
		ip.SetDst([4]byte(s.Src[:4]))
		ip.SetChecksum(ip.ComputeChecksum())
		pseudo = pkt.PseudoHeaderSum4(s.Dst[:4], s.Src[:4], pkt.ProtoTCP, pkt.TCPMinLen)
	} else {
		ip := pkt.IPv6(b[:hl])
		ip.SetVersionTCFlow(0, 0)
		ip.SetPayloadLen(pkt.TCPMinLen)
		ip.SetNextHeader(pkt.ProtoTCP)
		ip.SetHopLimit(pkt.RouterTTL)
		ip.SetSrc(s.Dst)
		ip.SetDst(s.Src)
		pseudo = pkt.PseudoHeaderSum6(s.Dst[:], s.Src[:], pkt.ProtoTCP, pkt.TCPMinLen)
	}
	binary.BigEndian.PutUint16(tcp[tcpCsumOff:], pkt.TransportChecksum(pseudo, tcp))
	return n
}
