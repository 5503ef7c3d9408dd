// Package lpmbench measures gannet's lpm tables side by side with bart's
// fastest table (bart.Fast) on a prefix list, by default a full Internet
// table: lookups, batch lookups, memory, build time and updates while
// lookups run. `go test -bench` (make bench) and `gannet bench lpm` run the
// same kernels; this package owns the workload and the report, never the
// tables.
package lpmbench

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"strings"
)

// fullTable is bart's full Internet table (see testdata/*.LICENSE).
//
//go:embed testdata/prefixes.txt.gz
var fullTable []byte

// DefaultSource names the shipped table in reports.
const DefaultSource = "bart v0.28.0 full table (embedded)"

// Default returns the shipped full Internet table.
func Default() ([]netip.Prefix, error) {
	return Load(bytes.NewReader(fullTable))
}

// LoadFile reads a prefix list from a file (see Load).
func LoadFile(path string) ([]netip.Prefix, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ps, err := Load(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ps, nil
}

// Load reads one CIDR prefix a line, gzipped or not (detected by the gzip
// magic). Blank lines and lines starting with '#' are skipped; host bits are
// masked. A line that is not a prefix is an error naming the line.
func Load(r io.Reader) ([]netip.Prefix, error) {
	br := bufio.NewReader(r)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer gz.Close()
		br = bufio.NewReader(gz)
	}
	var out []netip.Prefix
	sc := bufio.NewScanner(br)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("line %d: prefix: %w", line, err)
		}
		out = append(out, p.Masked())
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// Route is a prefix with its next hop.
type Route struct {
	Prefix netip.Prefix
	NH     uint32
}

// NextHops is how many distinct next hops the routes get, as in a real FIB.
const NextHops = 16

// Workload is the routes and the lookup keys every subject is measured on.
// Keys are what a packet gives: an IPv4 address as a big-endian integer,
// an IPv6 address as two big-endian halves. Subjects whose API takes a
// netip.Addr build it from the key inside the loop (a few instructions, no
// allocation), as a data path starting from packet bytes would; keeping
// keys free of pointers also keeps the collector off them.
type Workload struct {
	Routes           []Route
	Routes4, Routes6 int

	// Routed: a random address inside a random route of the family, so
	// lookups go as deep as the table does. Uniform: uniformly random
	// IPv4 addresses.
	Keys4, Uniform4 []uint32
	Keys6           [][2]uint64
}

// NumKeys is the number of keys per set: more than the caches hold paths
// for, so lookups pay for the table's real footprint.
const NumKeys = 1 << 20

// NewWorkload assigns next hops round robin over NextHops values and draws
// nkeys keys per set (a power of two; NumKeys for measurements) from seed.
func NewWorkload(prefixes []netip.Prefix, seed uint64, nkeys int) *Workload {
	w := &Workload{}
	var p4, p6 []netip.Prefix
	for i, p := range prefixes {
		w.Routes = append(w.Routes, Route{p, uint32(i % NextHops)})
		if p.Addr().Is4() {
			p4 = append(p4, p)
		} else {
			p6 = append(p6, p)
		}
	}
	w.Routes4, w.Routes6 = len(p4), len(p6)
	r := rand.New(rand.NewPCG(seed, 0x6c706d))
	if len(p4) > 0 {
		for range nkeys {
			a := randomIn(r, p4[r.IntN(len(p4))])
			b := a.As4()
			w.Keys4 = append(w.Keys4, uint32(b[0])<<24|uint32(b[1])<<16|uint32(b[2])<<8|uint32(b[3]))
			w.Uniform4 = append(w.Uniform4, r.Uint32())
		}
	}
	if len(p6) > 0 {
		for range nkeys {
			a := randomIn(r, p6[r.IntN(len(p6))])
			b := a.As16()
			var hi, lo uint64
			for i := range 8 {
				hi, lo = hi<<8|uint64(b[i]), lo<<8|uint64(b[8+i])
			}
			w.Keys6 = append(w.Keys6, [2]uint64{hi, lo})
		}
	}
	return w
}

// randomIn returns p's address with its host bits drawn at random.
func randomIn(r *rand.Rand, p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		if r.IntN(2) == 1 {
			b[i/8] |= 0x80 >> (i % 8)
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
