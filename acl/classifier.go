// Rules flow into Compile and come out as a Classifier: one decision tree
// per address family. Keys flow into the Match methods and the index of the
// first matching rule flows back out.

package acl

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/gannet-net/gannet/pkt"
)

// Classifier answers "which rule matches this packet first". It is
// immutable once compiled and safe for concurrent use by any number of
// goroutines; publish a new one to change rules.
//
// A classifier built deferred (ProgramCache.Defer) starts as a linear
// scan of its boxes — correct at once, built in linear time — and
// Optimize replaces that with the decision trees in place; both answer
// every key the same (the trees are tested against the scan), so a reader
// never sees the rules change, only the lookups get faster.
type Classifier struct {
	fam   atomic.Pointer[families] // the representation lookups use
	rules int

	// Deferred only: the rules the trees are built from, until Optimize.
	once   sync.Once
	s4, s6 []scanRule
	binth  int
	optErr error
}

// families is a classifier's representation: one forest per family.
type families struct{ v4, v6 forest }

// Compile builds a classifier. Rule order is priority: rules[0] wins over
// every later rule. A rule that fails validation is an error naming its
// index and field, and no classifier is returned.
func Compile(rules []Rule) (*Classifier, error) {
	return compile(rules, defaultBinth)
}

func compile(rules []Rule, binth int) (*Classifier, error) {
	if len(rules) > math.MaxInt32 {
		return nil, fmt.Errorf("acl: %d rules is too many", len(rules))
	}
	var b4, b6 []box
	for i := range rules {
		v4, v6, err := rules[i].check(i)
		if err != nil {
			return nil, err
		}
		if v4 {
			b4 = rules[i].toBoxes(b4, int32(i), false)
		}
		if v6 {
			b6 = rules[i].toBoxes(b6, int32(i), true)
		}
	}
	return compileBoxes(b4, b6, len(rules), binth)
}

// compileBoxes builds a classifier from boxes already in priority order
// (box.rule ascending within each family); n is the number of rules.
func compileBoxes(b4, b6 []box, n, binth int) (*Classifier, error) {
	fam, err := buildFamilies(b4, b6, binth)
	if err != nil {
		return nil, err
	}
	c := &Classifier{rules: n}
	c.fam.Store(fam)
	return c, nil
}

func buildFamilies(b4, b6 []box, binth int) (*families, error) {
	var fam families
	var err error
	if fam.v4, err = buildForest(dims4, binth, b4); err != nil {
		return nil, fmt.Errorf("acl: IPv4: %w", err)
	}
	if fam.v6, err = buildForest(dims6, binth, b6); err != nil {
		return nil, fmt.Errorf("acl: IPv6: %w", err)
	}
	return &fam, nil
}

// deferMin is the number of boxes under which a deferred classifier is
// built at once: its trees cost less than the scan would on lookups.
var deferMin = 256 // a variable for the tests

// scanRule is one rule's boxes (shared, never written) and the rule
// number they answer with.
type scanRule struct {
	boxes []box
	rule  int32
}

// flatten copies a scan list's boxes out, numbered, in rule order.
func flatten(rs []scanRule) []box {
	n := 0
	for _, r := range rs {
		n += len(r.boxes)
	}
	out := make([]box, 0, n)
	for _, r := range rs {
		for _, b := range r.boxes {
			b.rule = r.rule
			out = append(out, b)
		}
	}
	return out
}

// compileScans is compileBoxes over scan lists (rule order).
func compileScans(s4, s6 []scanRule, n, binth int) (*Classifier, error) {
	return compileBoxes(flatten(s4), flatten(s6), n, binth)
}

// compileScansDeferred is compileScans for the control plane's quick
// path: a large set starts as a linear scan of the rules' own boxes —
// nothing copied, nothing built — and keeps the lists for Optimize.
func compileScansDeferred(s4, s6 []scanRule, n, binth int) (*Classifier, error) {
	total := 0
	for _, rs := range [][]scanRule{s4, s6} {
		for _, r := range rs {
			total += len(r.boxes)
		}
	}
	if total < deferMin {
		return compileScans(s4, s6, n, binth)
	}
	c := &Classifier{rules: n, s4: s4, s6: s6, binth: binth}
	c.fam.Store(&families{v4: forest{nd: dims4, scan: s4}, v6: forest{nd: dims6, scan: s6}})
	return c, nil
}

// Optimize builds a deferred classifier's decision trees and switches its
// lookups to them; it returns at once for one built whole, or already
// optimized. Safe to call from any goroutine while lookups run. On an
// error the scan stays (it is correct, only slower).
func (c *Classifier) Optimize() error {
	c.once.Do(func() {
		if c.s4 == nil && c.s6 == nil {
			return
		}
		fam, err := buildFamilies(flatten(c.s4), flatten(c.s6), c.binth)
		if err != nil {
			c.optErr = err
			return
		}
		c.fam.Store(fam)
		c.s4, c.s6 = nil, nil
	})
	return c.optErr
}

// Len returns the number of rules the classifier was compiled from.
func (c *Classifier) Len() int { return c.rules }

// Match returns the index of the first rule matching k.
func (c *Classifier) Match(k *Key) (index int, ok bool) {
	var d [maxDims]uint32
	var i int32
	switch {
	case k.Src.Is4() && k.Dst.Is4():
		s, t := k.Src.As4(), k.Dst.As4()
		d[0] = binary.BigEndian.Uint32(s[:])
		d[1] = binary.BigEndian.Uint32(t[:])
		d[2], d[3], d[4] = uint32(k.SrcPort), uint32(k.DstPort), uint32(k.Proto)
		i = c.fam.Load().v4.lookup(&d)
	case k.Src.Is6() && k.Dst.Is6():
		s, t := k.Src.As16(), k.Dst.As16()
		words6(&d, &s, &t)
		d[8], d[9], d[10] = uint32(k.SrcPort), uint32(k.DstPort), uint32(k.Proto)
		i = c.fam.Load().v6.lookup(&d)
	default:
		return -1, false
	}
	return int(i), i >= 0
}

func words6(d *[maxDims]uint32, s, t *[16]byte) {
	d[0] = binary.BigEndian.Uint32(s[0:])
	d[1] = binary.BigEndian.Uint32(s[4:])
	d[2] = binary.BigEndian.Uint32(s[8:])
	d[3] = binary.BigEndian.Uint32(s[12:])
	d[4] = binary.BigEndian.Uint32(t[0:])
	d[5] = binary.BigEndian.Uint32(t[4:])
	d[6] = binary.BigEndian.Uint32(t[8:])
	d[7] = binary.BigEndian.Uint32(t[12:])
}

// MatchPacket is Match for the data path's fixed-size key.
func (c *Classifier) MatchPacket(k *PacketKey) (index int, ok bool) {
	i := c.matchPacket(k)
	return int(i), i >= 0
}

func (c *Classifier) matchPacket(k *PacketKey) int32 {
	var d [maxDims]uint32
	switch k.Family {
	case pkt.FamilyIPv4:
		d[0] = binary.BigEndian.Uint32(k.Src[:4])
		d[1] = binary.BigEndian.Uint32(k.Dst[:4])
		d[2], d[3], d[4] = uint32(k.SrcPort), uint32(k.DstPort), uint32(k.Proto)
		return c.fam.Load().v4.lookup(&d)
	case pkt.FamilyIPv6:
		words6(&d, &k.Src, &k.Dst)
		d[8], d[9], d[10] = uint32(k.SrcPort), uint32(k.DstPort), uint32(k.Proto)
		return c.fam.Load().v6.lookup(&d)
	}
	return -1
}

// MatchSummary classifies a parsed packet directly (see PacketKey for
// how ports and ICMP type/code are taken from it).
func (c *Classifier) MatchSummary(s *pkt.Summary) (index int, ok bool) {
	var k PacketKey
	k.FromSummary(s)
	return c.MatchPacket(&k)
}

// MatchBatch classifies keys[i] into out[i]: the first matching rule's
// index, or -1. out must be at least as long as keys. Keys of one family
// are walked through the trees together (see lookup.go), which is faster
// per key than MatchPacket when lookups miss the cache.
func (c *Classifier) MatchBatch(keys []PacketKey, out []int32) {
	out = out[:len(keys)]
	var b4, b6 batch
	fam := c.fam.Load()
	b4.f, b6.f = &fam.v4, &fam.v6
	for i := range keys {
		k := &keys[i]
		switch k.Family {
		case pkt.FamilyIPv4:
			d := b4.next(i)
			d[0] = binary.BigEndian.Uint32(k.Src[:4])
			d[1] = binary.BigEndian.Uint32(k.Dst[:4])
			d[2], d[3], d[4] = uint32(k.SrcPort), uint32(k.DstPort), uint32(k.Proto)
			if b4.n == batchKeys {
				b4.flush(out)
			}
		case pkt.FamilyIPv6:
			d := b6.next(i)
			words6(d, &k.Src, &k.Dst)
			d[8], d[9], d[10] = uint32(k.SrcPort), uint32(k.DstPort), uint32(k.Proto)
			if b6.n == batchKeys {
				b6.flush(out)
			}
		default:
			out[i] = -1
		}
	}
	b4.flush(out)
	b6.flush(out)
}

// Stats describes a compiled classifier's size.
type Stats struct {
	Rules       int // rules compiled
	Nodes       int // tree nodes, both families
	LeafEntries int // boxes stored in leaves (rules are replicated across leaves)
	Trees       int // decision trees, both families (more than 2 when rules were partitioned)
	Depth       int // deepest leaf, either family
	Bytes       int // memory held by the tables
}

// Stats reports the classifier's size.
func (c *Classifier) Stats() Stats {
	s := Stats{Rules: c.rules}
	fam := c.fam.Load()
	for _, f := range []*forest{&fam.v4, &fam.v6} {
		for _, t := range f.roots {
			s.Trees++
			s.Nodes += t.nodes
			s.LeafEntries += t.entries
			s.Depth = max(s.Depth, t.depth)
		}
		s.Bytes += 8*cap(f.nodes) + 4*cap(f.data) + 40*cap(f.roots)
	}
	return s
}
