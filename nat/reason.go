package nat

// Reasons: why a packet was dropped or could not be tracked. Each is a
// counter label; workers count them in fixed arrays, never with an error
// value.

// Reason names the outcome of Track or Commit when it is not a plain
// forward. ReasonNone goes with a forwarded packet.
type Reason uint8

const (
	ReasonNone Reason = iota

	ReasonMalformed         // the summary is not OK, or its offsets do not fit the frame
	ReasonNotIP             // not an IPv4 or IPv6 packet
	ReasonICMPUntracked     // an ICMP type that is neither a query nor an error (router advertisement, NDP, ...)
	ReasonFragment          // a non-first fragment whose first fragment was not forwarded (yet), or whose state expired
	ReasonTCPNotSYN         // a TCP packet of no known flow that is not a SYN (nor an ACK that loose pickup may take), not answered
	ReasonICMPNotRequest    // an ICMP query of no known flow that is not a request
	ReasonLand              // source and destination endpoints are equal
	ReasonProtoUnsupported  // source NAT of a protocol without ports or identifiers
	ReasonNoMapping         // unsolicited inbound packet to an external address with no mapping
	ReasonFiltered          // inbound packet refused by address-dependent filtering
	ReasonPortsExhausted    // no free external port on the paired address
	ReasonTableFull         // no free session slot, nothing evictable
	ReasonMappingsFull      // no free mapping slot
	ReasonTupleConflict     // the translated tuple is already in use by another session
	ReasonErrorChecksum     // ICMP error whose ICMP checksum does not verify (RFC 5508 REQ-3)
	ReasonErrorQuoteInvalid // ICMP error whose quoted packet is malformed or has a bad IPv4 header checksum
	ReasonErrorUntracked    // ICMP error about a flow with no session (RFC 5508 REQ-4, REQ-5)
	ReasonFragmentHoldFull  // a fragment that overtook its first fragment found no free hold slot (or none big enough)
	ReasonFragmentTimeout   // a held fragment's first fragment did not come within the fragment timeout
	ReasonTCPNoStateReset   // a TCP segment (no SYN, no RST) of a translated flow with no session: answered with a RST, error budget permitting
	ReasonNonRoutable       // at a border, a new flow from outside every pool to an address of a natOutgoing pool (not routable from the Internet): dropped, never answered

	numReasons
)

// NumReasons is the number of reasons, for counter arrays.
const NumReasons = int(numReasons)

var reasonNames = [numReasons]string{
	ReasonNone:              "none",
	ReasonMalformed:         "malformed",
	ReasonNotIP:             "not-ip",
	ReasonICMPUntracked:     "icmp-untracked-type",
	ReasonFragment:          "fragment-no-state",
	ReasonTCPNotSYN:         "tcp-not-syn",
	ReasonICMPNotRequest:    "icmp-not-request",
	ReasonLand:              "land",
	ReasonProtoUnsupported:  "proto-unsupported",
	ReasonNoMapping:         "no-mapping",
	ReasonFiltered:          "filtered",
	ReasonPortsExhausted:    "ports-exhausted",
	ReasonTableFull:         "table-full",
	ReasonMappingsFull:      "mappings-full",
	ReasonTupleConflict:     "tuple-conflict",
	ReasonErrorChecksum:     "icmp-error-checksum",
	ReasonErrorQuoteInvalid: "icmp-error-quote-invalid",
	ReasonErrorUntracked:    "icmp-error-untracked",
	ReasonFragmentHoldFull:  "fragment-hold-full",
	ReasonFragmentTimeout:   "fragment-hold-timeout",
	ReasonTCPNoStateReset:   "tcp-no-state-reset",
	ReasonNonRoutable:       "nonroutable-inbound",
}

// String returns the metric label of r.
func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "reason?"
}
