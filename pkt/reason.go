package pkt

// Reason names why Parse gave a frame the verdict it did. Each malformed or
// unsupported shape has its own reason so that drop counters tell an
// operator exactly what arrived. ReasonNone goes with OK.
type Reason uint8

const (
	ReasonNone Reason = iota

	// Link layer.
	ReasonEthernetTruncated    // shorter than an Ethernet header
	ReasonVLANTruncated        // a VLAN tag cut off
	ReasonVLANTooDeep          // more than two VLAN tags (unsupported)
	ReasonEtherTypeUnsupported // not IPv4, IPv6 or ARP (unsupported)

	// ARP.
	ReasonARPTruncated // shorter than an Ethernet/IPv4 ARP packet
	ReasonARPFormat    // hardware/protocol type or lengths not Ethernet/IPv4 (unsupported)

	// IPv4.
	ReasonIPv4Truncated       // shorter than 20 bytes
	ReasonIPv4Version         // version field is not 4
	ReasonIPv4IHL             // IHL < 5
	ReasonIPv4HeaderTruncated // IHL*4 beyond the frame
	ReasonIPv4TotalLength     // total length < IHL*4
	ReasonIPv4TotalTruncated  // total length beyond the frame
	ReasonIPv4Checksum        // header checksum does not verify
	ReasonIPv4FragmentTooLong // fragment offset + length beyond 65535
	ReasonIPv4TinyFragment    // TCP fragment at offset 8, or a first fragment too short for its upper-layer header (RFC 1858)

	// IPv6.
	ReasonIPv6Truncated        // shorter than 40 bytes
	ReasonIPv6Version          // version field is not 6
	ReasonIPv6PayloadTruncated // payload length beyond the frame
	ReasonIPv6Jumbogram        // payload length 0 with a hop-by-hop header (unsupported)
	ReasonIPv6ExtTruncated     // an extension header runs past the packet
	ReasonIPv6HopByHopNotFirst // hop-by-hop options not directly after the fixed header
	ReasonIPv6ExtChainTooLong  // more extension headers than Parse walks
	ReasonIPv6FragmentTooLong  // fragment offset + length beyond 65535
	ReasonIPv6FragmentChain    // first fragment without the whole header chain (RFC 7112)
	ReasonIPv6FragmentRepeated // more than one fragment header

	// Upper layers.
	ReasonTCPTruncated    // shorter than 20 bytes
	ReasonTCPDataOffset   // data offset < 5 or beyond the packet
	ReasonUDPTruncated    // shorter than 8 bytes
	ReasonUDPLength       // UDP length < 8 or beyond the IP payload
	ReasonICMPTruncated   // shorter than the 8-byte ICMP header
	ReasonICMPv6Truncated // shorter than the 8-byte ICMPv6 header

	reasonCount
)

var reasonNames = [reasonCount]string{
	ReasonNone:                 "none",
	ReasonEthernetTruncated:    "ethernet-truncated",
	ReasonVLANTruncated:        "vlan-truncated",
	ReasonVLANTooDeep:          "vlan-too-deep",
	ReasonEtherTypeUnsupported: "ethertype-unsupported",
	ReasonARPTruncated:         "arp-truncated",
	ReasonARPFormat:            "arp-format",
	ReasonIPv4Truncated:        "ipv4-truncated",
	ReasonIPv4Version:          "ipv4-version",
	ReasonIPv4IHL:              "ipv4-ihl",
	ReasonIPv4HeaderTruncated:  "ipv4-header-truncated",
	ReasonIPv4TotalLength:      "ipv4-total-length",
	ReasonIPv4TotalTruncated:   "ipv4-total-truncated",
	ReasonIPv4Checksum:         "ipv4-checksum",
	ReasonIPv4FragmentTooLong:  "ipv4-fragment-too-long",
	ReasonIPv4TinyFragment:     "ipv4-tiny-fragment",
	ReasonIPv6Truncated:        "ipv6-truncated",
	ReasonIPv6Version:          "ipv6-version",
	ReasonIPv6PayloadTruncated: "ipv6-payload-truncated",
	ReasonIPv6Jumbogram:        "ipv6-jumbogram",
	ReasonIPv6ExtTruncated:     "ipv6-ext-truncated",
	ReasonIPv6HopByHopNotFirst: "ipv6-hop-by-hop-not-first",
	ReasonIPv6ExtChainTooLong:  "ipv6-ext-chain-too-long",
	ReasonIPv6FragmentTooLong:  "ipv6-fragment-too-long",
	ReasonIPv6FragmentChain:    "ipv6-fragment-chain",
	ReasonIPv6FragmentRepeated: "ipv6-fragment-repeated",
	ReasonTCPTruncated:         "tcp-truncated",
	ReasonTCPDataOffset:        "tcp-data-offset",
	ReasonUDPTruncated:         "udp-truncated",
	ReasonUDPLength:            "udp-length",
	ReasonICMPTruncated:        "icmp-truncated",
	ReasonICMPv6Truncated:      "icmpv6-truncated",
}

// String returns the reason's metric label, e.g. "ipv4-ihl".
func (r Reason) String() string {
	if r < reasonCount {
		return reasonNames[r]
	}
	return "reason?"
}

// NumReasons is the number of defined reasons, for sizing counter arrays
// indexed by Reason.
const NumReasons = int(reasonCount)
