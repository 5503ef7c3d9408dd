package config

// Cross-checks: fields that are each valid alone but together would break
// isolation between workloads or tenants. They run once every section has
// been checked on its own, on the Plan's typed values, and each names the
// field that would open the hole and the field it collides with.

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// crossCheck reports the combinations of c's (already validated) values
// that would hand one workload's or tenant's traffic to another.
func (c *Config) crossCheck(errs *problems, p *Plan) {
	owner := map[spaceAddr]string{} // workload address -> endpoint field
	for i, ep := range c.WorkloadEndpoints {
		for _, s := range ep.IPNetworks {
			a, err := parseHost(s)
			if err != nil {
				continue
			}
			sp := uint16(max(ep.AddressSpace, 0))
			if a.Is6() {
				sp = 0
			}
			owner[spaceAddr{sp, a}] = fmt.Sprintf("workloadEndpoints[%d] (%s)", i, ep.Name)
		}
	}
	c.checkFloating(errs, p, owner)
	c.checkPools(errs)
	c.checkCoreAddresses(errs, p)
	c.checkMetrics(errs, p)
}

type spaceAddr struct {
	space uint16
	addr  netip.Addr
}

// checkFloating: a floating IP's public address must not be a workload's
// own address (its traffic would be taken by the floating IP's target),
// and its workload address must belong to an endpoint.
func (c *Config) checkFloating(errs *problems, p *Plan, owner map[spaceAddr]string) {
	if c.NAT == nil || p.NAT == nil {
		return
	}
	ext := p.NAT.ExternalSpace
	for i, f := range c.NAT.FloatingIPs {
		field := fmt.Sprintf("nat.floatingIPs[%d]", i)
		pub, err1 := parseHost(f.Public)
		wl, err2 := parseHost(f.Workload)
		if err1 != nil || err2 != nil {
			continue
		}
		pubSpace := ext
		if pub.Is6() {
			pubSpace = 0
		}
		if who, ok := owner[spaceAddr{pubSpace, pub}]; ok {
			errs.addf(field+".public", "%s is %s's own address: its traffic would be taken over by the floating IP", pub, who)
		}
		wlSpace := uint16(max(f.Space, 0))
		if wl.Is6() {
			wlSpace = 0
		}
		if _, ok := owner[spaceAddr{wlSpace, wl}]; !ok {
			errs.addf(field+".workload", "%s in space %d is no endpoint's address (workloadEndpoints)", wl, wlSpace)
		}
	}
}

// checkPools: two pools that overlap in one space must agree on
// natOutgoing, otherwise whether an address is NATed depends on which
// pool nat happens to look at first.
func (c *Config) checkPools(errs *problems) {
	if c.NAT == nil {
		return
	}
	type pool struct {
		field string
		space int
		pfx   netip.Prefix
		nat   bool
	}
	var pools []pool
	for i, ip := range c.NAT.IPPools {
		pfx, err := netip.ParsePrefix(ip.CIDR)
		if err != nil {
			continue
		}
		field := fmt.Sprintf("nat.ipPools[%d]", i)
		for _, o := range pools {
			if o.space == ip.Space && o.pfx.Overlaps(pfx) && o.nat != ip.NATOutgoing {
				errs.addf(field+".cidr", "%s overlaps %s (%s) with a different natOutgoing", pfx, o.field, o.pfx)
			}
		}
		pools = append(pools, pool{field, ip.Space, pfx, ip.NATOutgoing})
	}
}

// checkCoreAddresses: an address of the flat space (any IPv6 workload
// address, and IPv6 routes) must not fall inside a translated space's
// core prefix or an EAM IPv6 prefix: it would receive that tenant's
// translated traffic and could send into the tenant.
func (c *Config) checkCoreAddresses(errs *problems, p *Plan) {
	if c.Translation == nil {
		return
	}
	type tenant struct {
		what string
		pfx  netip.Prefix
	}
	var tenants []tenant
	for id, s := range c.Translation.AddressSpaces {
		pfx := netip.PrefixFrom(spacePrefixBase(id), 96)
		if s != "" {
			if p2, err := netip.ParsePrefix(s); err == nil {
				pfx = p2
			}
		}
		tenants = append(tenants, tenant{fmt.Sprintf("translation.addressSpaces[%d] (%s)", id, pfx), pfx})
	}
	for i, e := range c.Translation.EAM {
		if pfx, err := netip.ParsePrefix(e.IPv6); err == nil {
			tenants = append(tenants, tenant{fmt.Sprintf("translation.eam[%d] (%s)", i, pfx), pfx})
		}
	}
	for i, ep := range c.WorkloadEndpoints {
		for j, s := range ep.IPNetworks {
			a, err := parseHost(s)
			if err != nil || !a.Is6() {
				continue
			}
			for _, t := range tenants {
				if t.pfx.Contains(a) {
					errs.addf(fmt.Sprintf("workloadEndpoints[%d].ipNetworks[%d]", i, j), "%s is inside %s: it would receive and could send that translated space's traffic", a, t.what)
				}
			}
		}
	}
}

// spacePrefixBase is the default core prefix of translated space id
// (64:ff9b:1:<ID>::/96, DESIGN.md section 1).
func spacePrefixBase(id int) netip.Addr {
	b := netip.MustParseAddr("64:ff9b:1::").As16()
	b[6], b[7] = byte(id>>8), byte(id)
	return netip.AddrFrom16(b)
}

// natNames maps nat's own field names (Policy.External[1].Prefix) onto the
// configuration's (nat.external[1].cidr).
var natNames = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`^Policy\.Pools\[(\d+)\]\.Prefix`), "nat.ipPools[$1].cidr"},
	{regexp.MustCompile(`^Policy\.Pools\[(\d+)\]`), "nat.ipPools[$1]"},
	{regexp.MustCompile(`^Policy\.External\[(\d+)\]\.Prefix`), "nat.external[$1].cidr"},
	{regexp.MustCompile(`^Policy\.External\[(\d+)\]`), "nat.external[$1]"},
	{regexp.MustCompile(`^Policy\.Floating\[(\d+)\]\.Public`), "nat.floatingIPs[$1].public"},
	{regexp.MustCompile(`^Policy\.Floating\[(\d+)\]\.Workload`), "nat.floatingIPs[$1].workload"},
	{regexp.MustCompile(`^Policy\.Floating\[(\d+)\]`), "nat.floatingIPs[$1]"},
	{regexp.MustCompile(`^Policy\.Timeouts\.(\w)(\w*)`), "nat.timeouts.$1$2"},
	{regexp.MustCompile(`^Policy\.Filtering`), "nat.filtering"},
	{regexp.MustCompile(`^Policy\.ErrorSource(\d)`), "nat.errorSource$1"},
}

// addNAT records nat's verdict on the policy under the configuration's
// field names: "nat: Policy.External[1]: address ... listed twice"
// becomes "nat.external[1]: address ... listed twice".
func (p *problems) addNAT(err error) {
	msg := strings.TrimPrefix(err.Error(), "nat: ")
	for _, n := range natNames {
		if loc := n.re.FindStringSubmatchIndex(msg); loc != nil {
			field := string(n.re.ExpandString(nil, n.with, msg, loc))
			if i := strings.LastIndex(field, "."); i >= 0 && strings.HasPrefix(field, "nat.timeouts.") {
				field = field[:i+1] + strings.ToLower(field[i+1:i+2]) + field[i+2:]
			}
			rest := strings.TrimLeft(msg[loc[1]:], ": ")
			p.addf(field, "%s", rest)
			return
		}
	}
	p.addf("nat", "%s", msg)
}
