// Snapshot: an immutable (ifindex, address) -> MAC table. Entries flow in once at build
// time; lookups from the data path flow through a single map probe with a fixed-size key.

package neigh

import "net/netip"

// Entry is one usable neighbour: the MAC address of Addr as seen on link Ifindex.
type Entry struct {
	Ifindex int
	Addr    netip.Addr
	MAC     [6]byte
}

// key is the fixed-size map key. Addresses are stored as 16 bytes; v4 separates an IPv4
// address from the IPv4-mapped IPv6 address with the same bytes (the data path never sees
// the latter, but two different addresses must never share a key). Zones are dropped: the
// link is named by ifindex.
type key struct {
	ifindex int32
	v4      bool
	addr    [16]byte
}

func makeKey(ifindex int, addr netip.Addr) key {
	return key{ifindex: int32(ifindex), v4: addr.Is4(), addr: addr.As16()}
}

// Snapshot is an immutable neighbour table. The zero value and nil are empty tables.
// Safe for concurrent readers.
type Snapshot struct {
	m map[key][6]byte
}

// NewSnapshot builds a table from entries. A later entry for the same (ifindex, address)
// replaces an earlier one. Entries with an invalid address or an ifindex outside 1..2^31-1
// are skipped: no lookup could name them.
func NewSnapshot(entries []Entry) *Snapshot {
	m := make(map[key][6]byte, len(entries))
	for _, e := range entries {
		if !e.Addr.IsValid() || e.Ifindex <= 0 || e.Ifindex > 1<<31-1 {
			continue
		}
		m[makeKey(e.Ifindex, e.Addr)] = e.MAC
	}
	return &Snapshot{m: m}
}

// Lookup returns the MAC address of addr on link ifindex. It never allocates. An invalid
// address or an ifindex outside 1..2^31-1 finds nothing.
// A zoned address matches its unzoned form; an IPv4-mapped IPv6 address does not match
// the IPv4 address.
func (s *Snapshot) Lookup(ifindex int, addr netip.Addr) (mac [6]byte, ok bool) {
	if s == nil || !addr.IsValid() || uint(ifindex-1) >= 1<<31-1 {
		return mac, false
	}
	mac, ok = s.m[makeKey(ifindex, addr)]
	return mac, ok
}

// Len returns the number of entries.
func (s *Snapshot) Len() int {
	if s == nil {
		return 0
	}
	return len(s.m)
}

// Entries returns the table's entries in no particular order (for inspection and tests,
// not the data path: it allocates).
func (s *Snapshot) Entries() []Entry {
	if s == nil {
		return nil
	}
	out := make([]Entry, 0, len(s.m))
	for k, mac := range s.m {
		a := netip.AddrFrom16(k.addr)
		if k.v4 {
			a = a.Unmap()
		}
		out = append(out, Entry{Ifindex: int(k.ifindex), Addr: a, MAC: mac})
	}
	return out
}
