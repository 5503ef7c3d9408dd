// Compiles flow through here to stay incremental. Within one compile,
// every selector is parsed once per text and resolved against the
// endpoints once per canonical form, and every rule's address words are
// fingerprinted; across compiles, a ProgramCache hands back any program
// whose fingerprint (everything it is built from) is unchanged, so a
// change that moves an endpoint between existing programs, or leaves every
// rule's resolved addresses as they were, builds no classifier. Control
// path only.

package acl

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// ProgramCache keeps the programs of the latest successful compile, keyed
// by a 128-bit fingerprint of what each was built from: whether policies
// apply, then for each rule of its policy stage and of its profile stage,
// in order, the rule's RuleRef (which carries its action) and the
// fingerprint of its boxes (its families, protocols, ports or ICMP
// type/code, and source and destination address words after nets,
// selectors and negations). Programs of earlier compiles that the latest
// one did not use are dropped, so it holds at most one compile's programs.
//
// The daemon's one apply goroutine owns it; the mutex only makes misuse
// safe.
type ProgramCache struct {
	mu    sync.Mutex
	progs map[progKey]*Program // the latest successful compile's programs

	// deferred: programs are built with linear scans for their large
	// classifiers (fast to build) and kept in pending until Optimize.
	deferred bool
	pending  []*Program
	// boxes are the expanded boxes of the latest compile's rules, by rule
	// fingerprint: a rule whose addresses, ports and protocols did not
	// change is not expanded again (a program built again because one of
	// its rules changed copies the others' boxes instead of making them).
	boxes map[progKey]famBoxes

	// Counted over the cache's life (for tests): programs taken from the
	// cache, and programs built.
	hits, builds int
}

// SetDefer makes the compiles through c build large classifiers as linear
// scans — a program is correct as soon as it is built, in time linear in
// its rules — and remember them for TakePending, whose Optimize builds
// the decision trees later, off the apply path. The daemon turns it on
// once it runs: a policy change then publishes within milliseconds and
// new flows of the programs it touched are classified by a scan until
// their trees are in.
func (c *ProgramCache) SetDefer(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deferred = on
}

// TakePending returns the programs built deferred that the latest compile
// still uses, and forgets every pending one.
func (c *ProgramCache) TakePending() []*Program {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Program
	inUse := make(map[*Program]bool, len(c.progs))
	for _, p := range c.progs {
		inUse[p] = true
	}
	for _, p := range c.pending {
		if inUse[p] {
			out = append(out, p)
			inUse[p] = false // once
		}
	}
	c.pending = nil
	return out
}

// NewProgramCache returns an empty cache.
func NewProgramCache() *ProgramCache { return &ProgramCache{} }

// Len returns how many programs the cache holds.
func (c *ProgramCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.progs)
}

// progKey is a 128-bit fingerprint.
type progKey [2]uint64

// Fingerprints are only compared within one process: seeds are random.
var keySeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

// hasher builds a canonical encoding and fingerprints it.
type hasher struct{ buf []byte }

func (h *hasher) reset() { h.buf = h.buf[:0] }
func (h *hasher) u64(v uint64) {
	h.buf = binary.LittleEndian.AppendUint64(h.buf, v)
}
func (h *hasher) bool(v bool) {
	if v {
		h.buf = append(h.buf, 1)
	} else {
		h.buf = append(h.buf, 0)
	}
}
func (h *hasher) str(s string) {
	h.u64(uint64(len(s)))
	h.buf = append(h.buf, s...)
}
func (h *hasher) rng(r rng) { h.u64(uint64(r.lo)<<32 | uint64(r.hi)) }
func (h *hasher) rngs(rs []rng) {
	h.u64(uint64(len(rs)))
	for _, r := range rs {
		h.rng(r)
	}
}
func (h *hasher) sum(k progKey) { h.u64(k[0]); h.u64(k[1]) }
func (h *hasher) key() progKey {
	return progKey{maphash.Bytes(keySeeds[0], h.buf), maphash.Bytes(keySeeds[1], h.buf)}
}

// programKey fingerprints what buildProgram builds from.
func (c *compiler) programKey(applies bool, pols, profs [][]*parsedRule) progKey {
	h := &c.ph
	h.reset()
	h.bool(applies)
	for _, lists := range [2][][]*parsedRule{pols, profs} {
		h.u64(uint64(len(lists)))
		for _, list := range lists {
			h.u64(uint64(len(list)))
			for _, r := range list {
				h.str(r.ref.Policy)
				h.str(r.ref.Profile)
				h.str(string(r.ref.Dir))
				h.u64(uint64(r.ref.Index))
				h.str(string(r.ref.Action))
				h.sum(r.key)
			}
		}
	}
	return h.key()
}

// compiler is one compile's memo.
type compiler struct {
	eps   []Endpoint
	sels  map[string]*Selector  // by source text
	res   map[*Selector]*selRes // by parsed selector
	canon map[string]*selRes    // by canonical text
	ents  map[string]*entityRes // entities with a selector, or none at all
	ph    hasher                // programKey's scratch
	rh    hasher                // resolve's scratch
	eh    hasher                // entity's scratch
	ek    []byte                // entity's memo key scratch

	// Boxes by rule fingerprint: the previous compile's (from the
	// ProgramCache) to reuse, and this compile's rules' to keep.
	prevBoxes, boxSet map[progKey]famBoxes
	keys              map[progKey]bool // every resolved rule's fingerprint
}

func newCompiler(eps []Endpoint) *compiler {
	return &compiler{
		eps:   eps,
		sels:  map[string]*Selector{},
		res:   map[*Selector]*selRes{},
		canon: map[string]*selRes{},
		ents:  map[string]*entityRes{},
		keys:  map[progKey]bool{},
	}
}

// parseSelector parses each distinct selector text once.
func (c *compiler) parseSelector(s string) (*Selector, error) {
	if sel, ok := c.sels[s]; ok {
		return sel, nil
	}
	sel, err := ParseSelector(s)
	if err != nil {
		return nil, err
	}
	c.sels[s] = sel
	return sel, nil
}

// selRes is a selector resolved against the compile's endpoints.
type selRes struct {
	text  string // canonical
	match []bool // per endpoint (index into the set's endpoints)
	done  bool   // addrs computed
	addrs [2]addrSet
}

// match resolves which endpoints sel selects: each canonical selector
// scans the endpoints once.
func (c *compiler) match(sel *Selector) *selRes {
	if r := c.res[sel]; r != nil {
		return r
	}
	var b strings.Builder
	canonical(&b, sel.root)
	text := b.String()
	r := c.canon[text]
	if r == nil {
		r = &selRes{text: text, match: make([]bool, len(c.eps))}
		for i := range c.eps {
			r.match[i] = sel.Matches(c.eps[i].Labels)
		}
		c.canon[text] = r
	}
	c.res[sel] = r
	return r
}

// selSet resolves sel to the addresses of the endpoints it selects, made
// the first time a rule asks for them.
func (c *compiler) selSet(sel *Selector) *selRes {
	r := c.match(sel)
	if !r.done {
		r.done = true
		var ps [2][]netip.Prefix
		for i := range c.eps {
			if !r.match[i] {
				continue
			}
			for _, a := range c.eps[i].Addrs {
				f := 1
				if a.Is4() {
					f = 0
				}
				ps[f] = append(ps[f], netip.PrefixFrom(a, a.BitLen()))
			}
		}
		r.addrs = [2]addrSet{setOf(ps[0]), setOf(ps[1])}
	}
	return r
}

// canonical writes a selector in one spelling per meaning of its syntax:
// quoting and spacing normalized, set members sorted, every binary
// operator parenthesized.
func canonical(b *strings.Builder, n *selNode) {
	switch n.op {
	case selAll:
		b.WriteString("all()")
	case selHas:
		b.WriteString("has(" + n.key + ")")
	case selNot:
		b.WriteString("!")
		canonical(b, n.a)
	case selAnd, selOr:
		op := " && "
		if n.op == selOr {
			op = " || "
		}
		b.WriteString("(")
		canonical(b, n.a)
		b.WriteString(op)
		canonical(b, n.b)
		b.WriteString(")")
	case selIn, selNotIn:
		op := " in {"
		if n.op == selNotIn {
			op = " not in {"
		}
		b.WriteString(n.key + op)
		vals := slices.Clone(n.vals)
		slices.Sort(vals)
		for i, v := range slices.Compact(vals) {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(strconv.Quote(v))
		}
		b.WriteString("}")
	default:
		op := map[selOp]string{selEq: " == ", selNe: " != ", selContains: " contains ", selStarts: " starts with ", selEnds: " ends with "}[n.op]
		b.WriteString(n.key + op + strconv.Quote(n.vals[0]))
	}
}

// entityRes is an entity's address words per family (IPv4 uses the first
// word) and their fingerprints.
type entityRes struct {
	words [2][][4]rng
	sum   [2]progKey
}

// entity resolves an entity's addresses. Entities with a selector (many
// rules share one) and the empty entity are resolved once per compile.
func (c *compiler) entity(pe *parsedEntity) *entityRes {
	memo := pe.sel != nil || pe.notSel != nil || !pe.hasNets && len(pe.notNets) == 0
	if memo {
		k := c.ek[:0]
		if pe.hasNets {
			k = append(k, 'n')
		}
		for _, ps := range [2][]netip.Prefix{pe.nets, pe.notNets} {
			k = append(k, '|')
			for _, p := range ps {
				k = p.AppendTo(k)
				k = append(k, ',')
			}
		}
		for _, s := range [2]*Selector{pe.sel, pe.notSel} {
			k = append(k, '|')
			if s != nil {
				k = append(k, c.match(s).text...)
			}
		}
		c.ek = k
		if r, ok := c.ents[string(k)]; ok {
			return r
		}
	}
	r := &entityRes{}
	h := &c.eh
	for f := range 2 {
		set := c.addrs(pe, f)
		if f == 0 {
			r.words[f] = make([][4]rng, len(set))
			for i, iv := range set { // one uint32 range per interval
				r.words[f][i] = [4]rng{{uint32(iv.lo.lo), uint32(iv.hi.lo)}}
			}
		} else {
			r.words[f] = set.words6()
		}
		h.reset()
		h.u64(uint64(f))
		h.u64(uint64(len(r.words[f])))
		for _, w := range r.words[f] {
			for _, x := range w {
				h.rng(x)
			}
		}
		r.sum[f] = h.key()
	}
	if memo {
		c.ents[string(c.ek)] = r
	}
	return r
}
