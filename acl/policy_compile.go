// A PolicySet flows in here and leaves as one Program per endpoint and
// direction: the policy rules that apply, in evaluation order, expanded
// into classifier rules (a policy rule with several nets, negations or
// selector-resolved addresses becomes several boxes with one action).

package acl

import (
	"cmp"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// maxBoxesPerRule bounds how many classifier rules one policy rule may
// expand to (cross products of nets, negations, protocols and ports).
const maxBoxesPerRule = 1 << 16

// CompiledPolicy is the compiled form of a PolicySet: a pair of Programs
// per endpoint. It is immutable; publish a new one to change policy.
type CompiledPolicy struct {
	endpoints map[string]*EndpointPolicy
}

// EndpointPolicy is what the data path consults for one endpoint.
type EndpointPolicy struct {
	Ingress *Program // packets to the endpoint
	Egress  *Program // packets from the endpoint
}

// Endpoint returns the programs of the named endpoint, or nil.
func (c *CompiledPolicy) Endpoint(name string) *EndpointPolicy { return c.endpoints[name] }

// parsedRule is a validated PolicyRule.
type parsedRule struct {
	ref      RuleRef
	v4, v6   bool
	protos   []rng    // protocol numbers the rule matches
	icmp     [][2]rng // ICMP (type, code) boxes when icmp/notICMP is given, else nil
	src, dst parsedEntity

	// Set by resolve:
	ports  [][2]rng    // (source port, destination port) or ICMP (type, code) boxes
	sw, dw [2][][4]rng // per family: source and destination address words
	key    progKey     // fingerprint of everything the boxes are built from

	// Set by boxes, when a program holding the rule is built:
	expanded bool
	fb       famBoxes
}

type parsedEntity struct {
	nets, notNets []netip.Prefix
	hasNets       bool
	sel, notSel   *Selector
	ports         []rng // nil: any port
}

// CompilePolicy validates the whole set and compiles it. Any invalid
// policy, profile, rule or endpoint is an error naming it and the field,
// and nothing is returned with it.
func CompilePolicy(set *PolicySet) (*CompiledPolicy, error) {
	return CompilePolicyCached(set, nil)
}

// CompilePolicyCached is CompilePolicy reusing the programs of earlier
// compiles kept in cache (nil: none). A program is reused when everything
// it would be built from is equal (see ProgramCache), so the result
// decides every packet as CompilePolicy's does. On success the cache keeps
// exactly this compile's programs; on error it is left as it was.
func CompilePolicyCached(set *PolicySet, cache *ProgramCache) (*CompiledPolicy, error) {
	type pol struct {
		p        *Policy
		sel      *selRes
		in, eg   bool
		inR, egR []*parsedRule
	}
	c := newCompiler(set.Endpoints)
	names := map[string]bool{}
	pols := make([]pol, 0, len(set.Policies))
	for i := range set.Policies {
		p := &set.Policies[i]
		if p.Name == "" {
			return nil, fmt.Errorf("acl: policies[%d]: name is empty", i)
		}
		if names[p.Name] {
			return nil, fmt.Errorf("acl: policy %q: name used twice", p.Name)
		}
		names[p.Name] = true
		errf := func(format string, a ...any) error {
			return fmt.Errorf("acl: policy %q: %s", p.Name, fmt.Sprintf(format, a...))
		}
		sel, err := c.parseSelector(p.Selector)
		if err != nil {
			return nil, errf("selector: %v", err)
		}
		if p.Order != nil && (math.IsNaN(*p.Order) || math.IsInf(*p.Order, 0)) {
			return nil, errf("order: %v is not a number", *p.Order)
		}
		x := pol{p: p, sel: c.match(sel)}
		if len(p.Types) == 0 {
			x.in, x.eg = true, len(p.Egress) > 0
		}
		for j, t := range p.Types {
			switch t {
			case Ingress:
				x.in = true
			case Egress:
				x.eg = true
			default:
				return nil, errf("types[%d]: %q is not Ingress or Egress", j, t)
			}
		}
		if x.inR, err = c.parseRules(p.Ingress, RuleRef{Policy: p.Name, Dir: Ingress}); err != nil {
			return nil, errf("%v", err)
		}
		if x.egR, err = c.parseRules(p.Egress, RuleRef{Policy: p.Name, Dir: Egress}); err != nil {
			return nil, errf("%v", err)
		}
		pols = append(pols, x)
	}
	// Evaluation order: by order (none = last), then by name.
	slices.SortStableFunc(pols, func(a, b pol) int {
		switch {
		case a.p.Order != nil && b.p.Order == nil:
			return -1
		case a.p.Order == nil && b.p.Order != nil:
			return 1
		case a.p.Order != nil:
			if c := cmp.Compare(*a.p.Order, *b.p.Order); c != 0 {
				return c
			}
		}
		return strings.Compare(a.p.Name, b.p.Name)
	})

	profiles := map[string][2][]*parsedRule{}
	for i := range set.Profiles {
		p := &set.Profiles[i]
		if p.Name == "" {
			return nil, fmt.Errorf("acl: profiles[%d]: name is empty", i)
		}
		if _, dup := profiles[p.Name]; dup {
			return nil, fmt.Errorf("acl: profile %q: name used twice", p.Name)
		}
		in, err := c.parseRules(p.Ingress, RuleRef{Profile: p.Name, Dir: Ingress})
		if err != nil {
			return nil, fmt.Errorf("acl: profile %q: %v", p.Name, err)
		}
		eg, err := c.parseRules(p.Egress, RuleRef{Profile: p.Name, Dir: Egress})
		if err != nil {
			return nil, fmt.Errorf("acl: profile %q: %v", p.Name, err)
		}
		profiles[p.Name] = [2][]*parsedRule{in, eg}
	}

	eps := map[string]bool{}
	for i := range set.Endpoints {
		e := &set.Endpoints[i]
		if e.Name == "" {
			return nil, fmt.Errorf("acl: endpoints[%d]: name is empty", i)
		}
		if eps[e.Name] {
			return nil, fmt.Errorf("acl: endpoint %q: name used twice", e.Name)
		}
		eps[e.Name] = true
		for j, a := range e.Addrs {
			if !a.IsValid() {
				return nil, fmt.Errorf("acl: endpoint %q: addrs[%d]: invalid address", e.Name, j)
			}
		}
		for j, pr := range e.Profiles {
			if _, ok := profiles[pr]; !ok {
				return nil, fmt.Errorf("acl: endpoint %q: profiles[%d]: no profile %q", e.Name, j, pr)
			}
		}
	}

	// Resolve every rule once: its address words (selectors resolved
	// against the endpoints, each distinct selector once) and the
	// fingerprint of the boxes they expand to. The boxes themselves are
	// made only for programs that are built.
	for _, x := range pols {
		if err := c.resolveRules(x.inR); err != nil {
			return nil, err
		}
		if err := c.resolveRules(x.egR); err != nil {
			return nil, err
		}
	}
	for i := range set.Profiles {
		pr := profiles[set.Profiles[i].Name]
		if err := c.resolveRules(pr[0]); err != nil {
			return nil, err
		}
		if err := c.resolveRules(pr[1]); err != nil {
			return nil, err
		}
	}

	// One program per distinct (direction, policies, profiles): endpoints
	// with the same labels and profiles share it. Each is fingerprinted by
	// what it is built from and taken from the cache when it is there.
	var prev map[progKey]*Program
	if cache != nil {
		cache.mu.Lock()
		defer cache.mu.Unlock()
		prev = cache.progs
		c.prevBoxes = cache.boxes
	}
	c.boxSet = map[progKey]famBoxes{}
	for key, fb := range c.prevBoxes {
		if c.keys[key] {
			c.boxSet[key] = fb // a rule of this compile: kept
		}
	}
	deferred := cache != nil && cache.deferred
	var built []*Program // deferred: the programs to optimize
	used := map[progKey]*Program{}
	byShape := map[string]*Program{}
	builds, hits := 0, 0
	out := &CompiledPolicy{endpoints: make(map[string]*EndpointPolicy, len(set.Endpoints))}
	var key []byte
	var pr, prof [][]*parsedRule // scratch: buildProgram keeps neither
	for i := range set.Endpoints {
		e := &set.Endpoints[i]
		ep := &EndpointPolicy{}
		for dir := range 2 {
			pr, prof = pr[:0], prof[:0]
			key = append(key[:0], byte(dir), '|')
			applies := false
			for j, x := range pols {
				if dir == 0 && !x.in || dir == 1 && !x.eg || !x.sel.match[i] {
					continue
				}
				applies = true
				key = strconv.AppendInt(key, int64(j), 10)
				key = append(key, ',')
				if dir == 0 {
					pr = append(pr, x.inR)
				} else {
					pr = append(pr, x.egR)
				}
			}
			key = append(key, '|')
			for _, name := range e.Profiles {
				key = strconv.AppendQuote(key, name)
				key = append(key, ',')
				prof = append(prof, profiles[name][dir])
			}
			prog := byShape[string(key)]
			if prog == nil {
				fp := c.programKey(applies, pr, prof)
				if prog = used[fp]; prog == nil {
					if prog = prev[fp]; prog != nil {
						hits++
					} else {
						var err error
						if prog, err = buildProgram(applies, pr, prof, c.boxes, deferred); err != nil {
							return nil, fmt.Errorf("acl: endpoint %q: %v", e.Name, err)
						}
						builds++
						if deferred {
							built = append(built, prog)
						}
					}
					used[fp] = prog
				}
				byShape[string(key)] = prog
			}
			if dir == 0 {
				ep.Ingress = prog
			} else {
				ep.Egress = prog
			}
		}
		out.endpoints[e.Name] = ep
	}
	if cache != nil {
		cache.progs = used
		cache.hits += hits
		cache.builds += builds
		cache.pending = append(cache.pending, built...)
		cache.boxes = c.boxSet
	}
	return out, nil
}

func (c *compiler) parseRules(rs []PolicyRule, ref RuleRef) ([]*parsedRule, error) {
	out := make([]*parsedRule, len(rs))
	for i := range rs {
		ref.Index = i
		ref.Action = rs[i].Action
		r, err := c.parseRule(&rs[i], ref)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %v", strings.ToLower(string(ref.Dir)), i, err)
		}
		out[i] = r
	}
	return out, nil
}

var protoNames = map[string]uint8{"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58, "sctp": 132, "udplite": 136}

func parseProto(s string) (uint8, error) {
	for name, p := range protoNames {
		if strings.EqualFold(s, name) {
			return p, nil
		}
	}
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil {
		return 0, fmt.Errorf("%q is not a protocol name or a number 0-255", s)
	}
	return uint8(n), nil
}

func (c *compiler) parseRule(pr *PolicyRule, ref RuleRef) (*parsedRule, error) {
	r := &parsedRule{ref: ref, v4: true, v6: true}
	switch pr.Action {
	case Allow, Deny, Log, Pass:
	default:
		return nil, fmt.Errorf("action: %q is not Allow, Deny, Log or Pass", pr.Action)
	}
	switch pr.IPVersion {
	case 0:
	case 4:
		r.v6 = false
	case 6:
		r.v4 = false
	default:
		return nil, fmt.Errorf("ipVersion: %d is not 4 or 6", pr.IPVersion)
	}
	r.protos = []rng{{0, 255}}
	proto := -1
	if pr.Protocol != "" {
		p, err := parseProto(pr.Protocol)
		if err != nil {
			return nil, fmt.Errorf("protocol: %v", err)
		}
		proto = int(p)
		r.protos = []rng{{uint32(p), uint32(p)}}
	}
	if pr.NotProtocol != "" {
		p, err := parseProto(pr.NotProtocol)
		if err != nil {
			return nil, fmt.Errorf("notProtocol: %v", err)
		}
		r.protos = subtractRanges(r.protos, []rng{{uint32(p), uint32(p)}})
	}
	if pr.ICMP != nil || pr.NotICMP != nil {
		field := "icmp"
		if pr.ICMP == nil {
			field = "notICMP"
		}
		switch proto {
		case 1:
			if !r.v4 {
				return nil, fmt.Errorf("%s: protocol ICMP with ipVersion 6", field)
			}
			r.v6 = false
		case 58:
			if !r.v6 {
				return nil, fmt.Errorf("%s: protocol ICMPv6 with ipVersion 4", field)
			}
			r.v4 = false
		default:
			return nil, fmt.Errorf("%s: needs protocol ICMP or ICMPv6", field)
		}
		pos := [2]rng{{0, 65535}, {0, 65535}}
		if pr.ICMP != nil {
			b, err := icmpBox(pr.ICMP)
			if err != nil {
				return nil, fmt.Errorf("icmp: %v", err)
			}
			pos = b
		}
		r.icmp = [][2]rng{pos}
		if pr.NotICMP != nil {
			b, err := icmpBox(pr.NotICMP)
			if err != nil {
				return nil, fmt.Errorf("notICMP: %v", err)
			}
			r.icmp = subtractBox(pos, b)
		}
	}
	var err error
	if r.src, err = c.parseEntity(&pr.Source, proto); err != nil {
		return nil, fmt.Errorf("source.%v", err)
	}
	if r.dst, err = c.parseEntity(&pr.Destination, proto); err != nil {
		return nil, fmt.Errorf("destination.%v", err)
	}
	return r, nil
}

func icmpBox(m *ICMPMatch) ([2]rng, error) {
	b := [2]rng{{0, 65535}, {0, 65535}} // ports carry type and code; any value
	if m.Type == nil {
		if m.Code != nil {
			return b, fmt.Errorf("code given without type")
		}
		return b, fmt.Errorf("type is missing")
	}
	if *m.Type < 0 || *m.Type > 254 {
		return b, fmt.Errorf("type %d is not in 0-254", *m.Type)
	}
	b[0] = rng{uint32(*m.Type), uint32(*m.Type)}
	if m.Code != nil {
		if *m.Code < 0 || *m.Code > 255 {
			return b, fmt.Errorf("code %d is not in 0-255", *m.Code)
		}
		b[1] = rng{uint32(*m.Code), uint32(*m.Code)}
	}
	return b, nil
}

// subtractBox returns a \ b as disjoint boxes (type, code).
func subtractBox(a, b [2]rng) [][2]rng {
	if b[0].hi < a[0].lo || b[0].lo > a[0].hi || b[1].hi < a[1].lo || b[1].lo > a[1].hi {
		return [][2]rng{a}
	}
	var out [][2]rng
	for _, t := range subtractRanges([]rng{a[0]}, []rng{b[0]}) {
		out = append(out, [2]rng{t, a[1]})
	}
	mid := rng{max(a[0].lo, b[0].lo), min(a[0].hi, b[0].hi)}
	for _, c := range subtractRanges([]rng{a[1]}, []rng{b[1]}) {
		out = append(out, [2]rng{mid, c})
	}
	return out
}

func (c *compiler) parseEntity(e *EntityMatch, proto int) (parsedEntity, error) {
	var pe parsedEntity
	var err error
	if pe.nets, err = parseNets(e.Nets, "nets"); err != nil {
		return pe, err
	}
	pe.hasNets = len(e.Nets) > 0
	if pe.notNets, err = parseNets(e.NotNets, "notNets"); err != nil {
		return pe, err
	}
	if e.Selector != "" {
		if pe.sel, err = c.parseSelector(e.Selector); err != nil {
			return pe, fmt.Errorf("selector: %v", err)
		}
	}
	if e.NotSelector != "" {
		if pe.notSel, err = c.parseSelector(e.NotSelector); err != nil {
			return pe, fmt.Errorf("notSelector: %v", err)
		}
	}
	if len(e.Ports) > 0 || len(e.NotPorts) > 0 {
		switch proto {
		case 6, 17, 132, 136:
		default:
			field := "ports"
			if len(e.Ports) == 0 {
				field = "notPorts"
			}
			return pe, fmt.Errorf("%s: needs protocol TCP, UDP, SCTP or UDPLite", field)
		}
		pos := []rng{{0, 65535}}
		if len(e.Ports) > 0 {
			if pos, err = parsePorts(e.Ports, "ports"); err != nil {
				return pe, err
			}
		}
		neg, err := parsePorts(e.NotPorts, "notPorts")
		if err != nil {
			return pe, err
		}
		if len(neg) == 0 && len(pos) == 1 {
			pe.ports = pos // what subtractRanges returns, without its copies
		} else {
			pe.ports = subtractRanges(pos, neg)
		}
		if pe.ports == nil {
			// notPorts took every port: the entity matches no port, and
			// nil would mean any port (fail open).
			pe.ports = []rng{}
		}
	}
	return pe, nil
}

func parseNets(ss []string, field string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for i, s := range ss {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("%s[%d]: %q is not a CIDR or an address", field, i, s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Zone() != "" || p.Addr().Is4In6() {
			return nil, fmt.Errorf("%s[%d]: %q: zones and IPv4-mapped IPv6 are not allowed", field, i, s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func parsePorts(ss []string, field string) ([]rng, error) {
	var out []rng
	for i, s := range ss {
		los, his, isRange := strings.Cut(s, ":")
		lo, err := strconv.ParseUint(strings.TrimSpace(los), 10, 16)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %q is not a port or a lo:hi range (named ports are not supported)", field, i, s)
		}
		hi := lo
		if isRange {
			if hi, err = strconv.ParseUint(strings.TrimSpace(his), 10, 16); err != nil {
				return nil, fmt.Errorf("%s[%d]: %q: high port is not a number 0-65535", field, i, s)
			}
		}
		if lo > hi {
			return nil, fmt.Errorf("%s[%d]: %q: range is empty", field, i, s)
		}
		out = append(out, rng{uint32(lo), uint32(hi)})
	}
	return out, nil
}

// addrs returns the set of addresses of family f (0: IPv4, 1: IPv6) an
// entity matches (empty: none of that family).
func (c *compiler) addrs(pe *parsedEntity, f int) addrSet {
	v4 := f == 0
	fam := func(ps []netip.Prefix) []netip.Prefix {
		n := 0
		for _, p := range ps {
			if p.Addr().Is4() == v4 {
				n++
			}
		}
		if n == len(ps) {
			return ps
		}
		out := make([]netip.Prefix, 0, n)
		for _, p := range ps {
			if p.Addr().Is4() == v4 {
				out = append(out, p)
			}
		}
		return out
	}
	var set addrSet
	if pe.hasNets {
		if nets := fam(pe.nets); len(nets) == 1 {
			set = setOf1(nets[0])
		} else {
			set = setOf(nets)
		}
	} else {
		set = fullSet(v4)
	}
	if pe.sel != nil {
		set = intersect(set, c.selSet(pe.sel).addrs[f])
	}
	if not := fam(pe.notNets); len(not) > 0 {
		set = subtract(set, setOf(not))
	}
	if pe.notSel != nil {
		set = subtract(set, c.selSet(pe.notSel).addrs[f])
	}
	return set
}

// setOf1 is setOf for one prefix, without sorting.
func setOf1(p netip.Prefix) addrSet {
	lo := addrU128(p.Masked().Addr())
	width := 128
	if p.Addr().Is4() {
		width = 32
	}
	return addrSet{{lo, lo.or(hostMask(width - p.Bits()))}}
}

// famBoxes is a rule's boxes per family (box.rule is set per stage).
type famBoxes struct{ v4, v6 []box }

// resolve computes r's address words per family, checks how many boxes
// it expands to, and fingerprints what its boxes are built from.
func (c *compiler) resolve(r *parsedRule) error {
	switch {
	case r.icmp != nil:
		r.ports = r.icmp
	default:
		sp, dp := r.src.ports, r.dst.ports
		if sp == nil {
			sp = []rng{{0, 65535}}
		}
		if dp == nil {
			dp = []rng{{0, 65535}}
		}
		r.ports = make([][2]rng, 0, len(sp)*len(dp))
		for _, s := range sp {
			for _, d := range dp {
				r.ports = append(r.ports, [2]rng{s, d})
			}
		}
	}
	src, dst := c.entity(&r.src), c.entity(&r.dst)
	h := &c.rh
	h.reset()
	h.bool(r.v4)
	h.bool(r.v6)
	h.rngs(r.protos)
	h.u64(uint64(len(r.ports)))
	for _, pp := range r.ports {
		h.rng(pp[0])
		h.rng(pp[1])
	}
	total := 0
	for f, on := range [2]bool{r.v4, r.v6} {
		if !on {
			continue
		}
		r.sw[f], r.dw[f] = src.words[f], dst.words[f]
		h.sum(src.sum[f])
		h.sum(dst.sum[f])
		total += len(r.sw[f]) * len(r.dw[f]) * len(r.protos) * len(r.ports)
		if total > maxBoxesPerRule {
			return fmt.Errorf("%s: expands to more than %d classifier rules", r.ref, maxBoxesPerRule)
		}
	}
	r.key = h.key()
	c.keys[r.key] = true
	return nil
}

func (c *compiler) resolveRules(rs []*parsedRule) error {
	for _, r := range rs {
		if err := c.resolve(r); err != nil {
			return err
		}
	}
	return nil
}

// boxes expands a resolved rule into classifier boxes: the cross product
// of its source and destination address ranges, protocol ranges and port
// (or ICMP type/code) ranges, per family. A rule is expanded once per
// compile, and only when a program that holds it is built.
func (c *compiler) boxes(r *parsedRule) famBoxes {
	if r.expanded {
		return r.fb
	}
	r.expanded = true
	if fb, ok := c.boxSet[r.key]; ok {
		r.fb = fb // the same boxes as the last compile's (never written)
		return fb
	}
	defer func() { c.boxSet[r.key] = r.fb }()
	for f := range 2 {
		aw, nd := 1, dims4
		if f == 1 {
			aw, nd = 4, dims6
		}
		out := make([]box, 0, len(r.sw[f])*len(r.dw[f])*len(r.protos)*len(r.ports))
		var b box
		for _, s := range r.sw[f] {
			copy(b.r[0:aw], s[:aw])
			for _, d := range r.dw[f] {
				copy(b.r[aw:2*aw], d[:aw])
				for _, p := range r.protos {
					b.r[nd-1] = p
					for _, pp := range r.ports {
						b.r[nd-3], b.r[nd-2] = pp[0], pp[1]
						out = append(out, b)
					}
				}
			}
		}
		if f == 0 {
			r.fb.v4 = out
		} else {
			r.fb.v6 = out
		}
	}
	return r.fb
}
