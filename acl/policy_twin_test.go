package acl

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// interp is the slow twin of CompilePolicy + Program: it walks the policy
// set for every packet, reading the documents as written.
type interp struct {
	set     *PolicySet
	lastLog RuleRef // the first Log rule the last decide reached
}

func (in *interp) decide(epName string, dir PolicyType, k *Key) (Verdict, bool, RuleRef, bool) {
	var ep *Endpoint
	for i := range in.set.Endpoints {
		if in.set.Endpoints[i].Name == epName {
			ep = &in.set.Endpoints[i]
		}
	}
	pols := slices.Clone(in.set.Policies)
	slices.SortStableFunc(pols, func(a, b Policy) int {
		switch {
		case a.Order != nil && b.Order == nil:
			return -1
		case a.Order == nil && b.Order != nil:
			return 1
		case a.Order != nil && *a.Order != *b.Order:
			if *a.Order < *b.Order {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	logged := false
	in.lastLog = RuleRef{}
	applied := false
	passed := false
	for _, p := range pols {
		types := p.Types
		if len(types) == 0 {
			types = []PolicyType{Ingress}
			if len(p.Egress) > 0 {
				types = append(types, Egress)
			}
		}
		sel, _ := ParseSelector(p.Selector)
		if !slices.Contains(types, dir) || !sel.Matches(ep.Labels) {
			continue
		}
		applied = true
		rules := p.Ingress
		if dir == Egress {
			rules = p.Egress
		}
		for i := range rules {
			if !in.ruleMatches(&rules[i], k) {
				continue
			}
			ref := RuleRef{Policy: p.Name, Dir: dir, Index: i, Action: rules[i].Action}
			switch rules[i].Action {
			case Log:
				if !logged {
					logged, in.lastLog = true, ref
				}
				continue
			case Allow:
				return Accept, logged, ref, true
			case Deny:
				return Drop, logged, ref, true
			case Pass:
				passed = true
			}
			break
		}
		if passed {
			break
		}
	}
	if applied && !passed {
		return Drop, logged, RuleRef{}, false
	}
	for _, name := range ep.Profiles {
		for _, pr := range in.set.Profiles {
			if pr.Name != name {
				continue
			}
			rules := pr.Ingress
			if dir == Egress {
				rules = pr.Egress
			}
			for i := range rules {
				if !in.ruleMatches(&rules[i], k) {
					continue
				}
				ref := RuleRef{Profile: pr.Name, Dir: dir, Index: i, Action: rules[i].Action}
				switch rules[i].Action {
				case Log:
					if !logged {
						logged, in.lastLog = true, ref
					}
					continue
				case Allow:
					return Accept, logged, ref, true
				default:
					return Drop, logged, ref, true
				}
			}
		}
	}
	return Drop, logged, RuleRef{}, false
}

func (in *interp) ruleMatches(r *PolicyRule, k *Key) bool {
	if r.IPVersion == 4 && !k.Src.Is4() || r.IPVersion == 6 && k.Src.Is4() {
		return false
	}
	if r.Protocol != "" {
		p, _ := parseProto(r.Protocol)
		if k.Proto != p {
			return false
		}
		if p == 1 && !k.Src.Is4() || p == 58 && k.Src.Is4() {
			if r.ICMP != nil || r.NotICMP != nil {
				return false
			}
		}
	}
	if r.NotProtocol != "" {
		if p, _ := parseProto(r.NotProtocol); k.Proto == p {
			return false
		}
	}
	icmpHit := func(m *ICMPMatch) bool {
		return int(k.SrcPort) == *m.Type && (m.Code == nil || int(k.DstPort) == *m.Code)
	}
	if r.ICMP != nil && !icmpHit(r.ICMP) {
		return false
	}
	if r.NotICMP != nil && icmpHit(r.NotICMP) {
		return false
	}
	return in.entityMatches(&r.Source, k.Src, k.SrcPort) && in.entityMatches(&r.Destination, k.Dst, k.DstPort)
}

func (in *interp) entityMatches(e *EntityMatch, a netip.Addr, port uint16) bool {
	inNets := func(nets []string) bool {
		for _, s := range nets {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				ad := netip.MustParseAddr(s)
				p = netip.PrefixFrom(ad, ad.BitLen())
			}
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	if len(e.Nets) > 0 && !inNets(e.Nets) || inNets(e.NotNets) {
		return false
	}
	selHit := func(s string) bool {
		sel, _ := ParseSelector(s)
		for _, ep := range in.set.Endpoints {
			if sel.Matches(ep.Labels) && slices.Contains(ep.Addrs, a) {
				return true
			}
		}
		return false
	}
	if e.Selector != "" && !selHit(e.Selector) || e.NotSelector != "" && selHit(e.NotSelector) {
		return false
	}
	inPorts := func(ps []string) bool {
		for _, s := range ps {
			lo, hi, isRange := strings.Cut(s, ":")
			l, _ := strconv.Atoi(lo)
			h := l
			if isRange {
				h, _ = strconv.Atoi(hi)
			}
			if int(port) >= l && int(port) <= h {
				return true
			}
		}
		return false
	}
	if len(e.Ports) > 0 && !inPorts(e.Ports) || inPorts(e.NotPorts) {
		return false
	}
	return true
}
