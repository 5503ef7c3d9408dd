package config

// Validation: Config in, Plan out. Every check names the field it is about
// (`workloadEndpoints[1].ipNetworks[0]: ...`) and Validate reports all the
// problems it finds at once, so an operator fixes a file in one pass. A Plan
// holds typed values only; turning it into data-plane tables (tables.go) and
// attaching to interfaces (the daemon in ctl) come later and never see a bad
// value. Nothing here makes a system call: validation is a pure function
// of the file, so it is fuzzed and runs the same anywhere.

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gannet-net/gannet/acl"
	"github.com/gannet-net/gannet/ctl/api"
	"github.com/gannet-net/gannet/fwd"
	"github.com/gannet-net/gannet/fwd/bpf"
	"github.com/gannet-net/gannet/nat"
	"github.com/gannet-net/gannet/xlat"
)

// Plan is a validated Config in typed form.
type Plan struct {
	Name             string
	Router4, Router6 netip.Addr

	Cores        []int
	Frames       int
	FrameSize    int
	RingSize     int
	BusyPoll     bool
	XSKMode      string // auto, copy, zerocopy
	XDPMode      string // auto, native, generic
	NoSocketDrop bool
	PinPath      string
	StateDir     string      // dataplane.stateDir
	RPF          fwd.RPFMode // dataplane.rpf
	// EndpointToHost: dataplane.endpointToHost is accept, and
	// HostInterface is the TAP device workloads reach the host through.
	EndpointToHost bool
	HostInterface  string
	// FastPathFlows is the kernel fast path's flow capacity; 0: the fast
	// path is off (dataplane.fastPath).
	FastPathFlows int

	BusyPollUsec, BusyPollBudget int
	PreferBusyPoll               bool

	// ConntrackCapacity is 0 when conntrack is off.
	ConntrackCapacity int
	// HeldFragments is the out-of-order fragments each worker holds
	// (with conntrack); 0: none.
	HeldFragments int

	Uplinks   []PlanUplink
	Spaces    []PlanSpace // space 0 first
	Endpoints []PlanEndpoint
	Routes    []PlanRoute
	// HostEndpoints are the uplinks' host endpoints with their
	// forwarding programs (policy with applyOnForward).
	HostEndpoints []PlanHostEndpoint

	// Policy is nil when no policy or profile is configured.
	Policy *acl.CompiledPolicy
	// NAT is nil when the nat section is absent.
	NAT *nat.Policy
	// Translation is nil when no space is translated.
	Translation *xlat.Config

	APISocket string // never empty
	APIGroup  string // empty: root only

	// BGP is nil when the bgp section is absent.
	BGP *PlanBGP

	// MetricsListen is where /metrics is served; invalid: nowhere.
	MetricsListen netip.AddrPort
}

// PlanUplink is a validated uplink port.
type PlanUplink struct {
	Interface string
	MTU       int // 0: the interface's
}

// PlanSpace is an address space.
type PlanSpace struct {
	ID         uint16
	Translated bool
}

// PlanEndpoint is a validated workload endpoint.
type PlanEndpoint struct {
	Name      string
	Interface string
	MAC       [6]byte
	Addrs     []netip.Addr
	Space     uint16
	MTU       int
}

// PlanHostEndpoint is a validated host endpoint: its uplink and the
// programs of the applyOnForward policies that select it (nil: none
// selects it in that direction, and forwarded traffic passes).
type PlanHostEndpoint struct {
	Name            string
	Interface       string
	Labels          map[string]string
	Addrs           []netip.Addr
	Ingress, Egress *acl.Program
}

// PlanRoute is a validated static route.
type PlanRoute struct {
	Space     uint16
	Prefix    netip.Prefix
	Via       netip.Addr // invalid: directly connected
	Interface string
	// Translate routes (Interface empty) deliver into TranslateSpace.
	Translate      bool
	TranslateSpace uint16
}

// Defaults.
const (
	DefaultFrames            = 8192
	DefaultFrameSize         = 4096
	DefaultRingSize          = 2048
	DefaultFastPathFlows     = 65536
	DefaultConntrackCapacity = 65536
	DefaultHeldFragments     = fwd.DefaultHeldFragments
	DefaultPinPath           = "/sys/fs/bpf/gannet"
	DefaultStateDir          = "/run/gannet"
	// DefaultHostInterface is the TAP device of endpointToHost: accept.
	DefaultHostInterface = "gannet-host"
	// MaxCPU bounds dataplane.cores.
	MaxCPU = 1024
)

// Errors is every problem Validate found, each naming its field, in
// the order of the file. It is the error ParseConfig and Validate return
// (wrapped: errors.As finds it).
type Errors []api.FieldError

func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, fe := range e {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// problems collects field errors in order.
type problems = Errors

func (p *problems) addf(field, format string, args ...any) {
	*p = append(*p, api.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Validate checks c and returns its Plan, or an error listing every
// problem, one per line, each naming its field.
func (c *Config) Validate() (*Plan, error) { return c.ValidateWith(nil) }

// ValidateWith is Validate compiling policy with pc (nil: none), which
// hands back the programs of an earlier compile that are unchanged (see
// acl.ProgramCache); the Plan is the same as Validate's.
func (c *Config) ValidateWith(pc *acl.ProgramCache) (*Plan, error) {
	var errs problems
	p := &Plan{Name: c.Node.Name}
	p.Router4 = optionalAddr(&errs, "node.routerIPv4", c.Node.RouterIPv4, 4)
	p.Router6 = optionalAddr(&errs, "node.routerIPv6", c.Node.RouterIPv6, 6)

	c.validateDataplane(&errs, p)
	ifaces := map[string]string{} // interface -> field that declared it
	c.validatePorts(&errs, p, ifaces)
	spaces := c.validateSpaces(&errs, p)
	c.validateEndpoints(&errs, p, ifaces, spaces)
	c.validateRoutes(&errs, p, ifaces, spaces)
	c.validateHostEndpoints(&errs, p)
	c.validatePolicy(&errs, p, pc)
	c.validateNAT(&errs, p, spaces)
	c.validateTranslation(&errs, p, spaces)
	c.validateAPI(&errs, p)
	c.validateMetrics(&errs, p)
	c.validateBGP(&errs, p)
	if len(errs) == 0 {
		c.crossCheck(&errs, p)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("config: %w", errs)
	}
	return p, nil
}

func (c *Config) validateDataplane(errs *problems, p *Plan) {
	d := &c.Dataplane
	p.Cores = d.Cores
	if len(p.Cores) == 0 {
		p.Cores = []int{0}
	}
	seen := map[int]bool{}
	for i, core := range p.Cores {
		f := fmt.Sprintf("dataplane.cores[%d]", i)
		switch {
		case core < 0 || core >= MaxCPU:
			// Whether the CPU exists is the daemon's to check: this
			// file reads nothing of the machine.
			errs.addf(f, "CPU %d out of range 0-%d", core, MaxCPU-1)
		case seen[core]:
			errs.addf(f, "CPU %d is listed twice", core)
		}
		seen[core] = true
	}
	p.Frames = orDefault(d.Frames, DefaultFrames)
	if p.Frames < 256 || p.Frames > 1<<20 {
		errs.addf("dataplane.frames", "%d out of range 256-1048576", p.Frames)
	}
	p.FrameSize = orDefault(d.FrameSize, DefaultFrameSize)
	if p.FrameSize != 2048 && p.FrameSize != 4096 {
		errs.addf("dataplane.frameSize", "%d: must be 2048 or 4096", p.FrameSize)
	}
	p.RingSize = orDefault(d.RingSize, DefaultRingSize)
	if p.RingSize < 64 || p.RingSize > 1<<16 || p.RingSize&(p.RingSize-1) != 0 {
		errs.addf("dataplane.ringSize", "%d: must be a power of two in 64-65536", p.RingSize)
	}
	switch d.Idle {
	case "", "poll":
	case "busy":
		p.BusyPoll = true
	default:
		errs.addf("dataplane.idle", "%q: want poll or busy", d.Idle)
	}
	p.XSKMode = oneOf(errs, "dataplane.xskMode", d.XSKMode, "auto", "copy", "zerocopy")
	p.XDPMode = oneOf(errs, "dataplane.xdpMode", d.XDPMode, "auto", "native", "generic")
	p.NoSocketDrop = oneOf(errs, "dataplane.noSocket", d.NoSocket, "drop", "pass") == "drop"
	p.RPF = fwd.RPFFeasible
	if oneOf(errs, "dataplane.rpf", d.RPF, "feasible", "off") == "off" {
		p.RPF = fwd.RPFOff
	}
	p.EndpointToHost = oneOf(errs, "dataplane.endpointToHost", d.EndpointToHost, "drop", "accept") == "accept"
	p.HostInterface = d.HostInterface
	if p.HostInterface == "" {
		p.HostInterface = DefaultHostInterface
	}
	if len(p.HostInterface) > 15 || strings.ContainsAny(p.HostInterface, "/ \t\n:") || p.HostInterface == "." || p.HostInterface == ".." {
		errs.addf("dataplane.hostInterface", "%q: not an interface name (1-15 characters, no '/', ':' or space)", d.HostInterface)
	}
	if oneOf(errs, "dataplane.fastPath", d.FastPath, "off", "on") == "on" {
		p.FastPathFlows = orDefault(d.FastPathFlows, DefaultFastPathFlows)
		if p.FastPathFlows < 1 || p.FastPathFlows > bpf.MaxFastFlows {
			errs.addf("dataplane.fastPathFlows", "%d out of range 1-%d", p.FastPathFlows, bpf.MaxFastFlows)
		}
	} else if d.FastPathFlows != 0 {
		errs.addf("dataplane.fastPathFlows", "set while dataplane.fastPath is off")
	}
	p.PinPath = d.PinPath
	if p.PinPath == "" {
		p.PinPath = DefaultPinPath
	}
	if !strings.HasPrefix(p.PinPath, "/") {
		errs.addf("dataplane.pinPath", "%q: want an absolute path", d.PinPath)
	}
	p.StateDir = d.StateDir
	if p.StateDir == "" {
		p.StateDir = DefaultStateDir
	}
	if !strings.HasPrefix(p.StateDir, "/") || filepath.Clean(p.StateDir) != p.StateDir || p.StateDir == "/" {
		errs.addf("dataplane.stateDir", "%q: want an absolute, clean path other than /", d.StateDir)
	}
	p.BusyPollUsec, p.BusyPollBudget, p.PreferBusyPoll = d.BusyPollUsec, d.BusyPollBudget, d.PreferBusyPoll
	if d.BusyPollUsec < 0 || d.BusyPollUsec > 1000000 {
		errs.addf("dataplane.busyPollUsec", "%d out of range 0-1000000", d.BusyPollUsec)
	}
	if d.BusyPollBudget < 0 || d.BusyPollBudget > 0xffff {
		errs.addf("dataplane.busyPollBudget", "%d out of range 0-65535", d.BusyPollBudget)
	}
	if d.Conntrack != nil {
		p.ConntrackCapacity = orDefault(d.Conntrack.Capacity, DefaultConntrackCapacity)
		if p.ConntrackCapacity < 64 || p.ConntrackCapacity > nat.MaxCapacity {
			errs.addf("dataplane.conntrack.capacity", "%d out of range 64-%d", p.ConntrackCapacity, nat.MaxCapacity)
		}
		p.HeldFragments = DefaultHeldFragments
		if h := d.Conntrack.HeldFragments; h != nil {
			p.HeldFragments = *h
			if *h < 0 || *h > nat.MaxHoldSlots {
				errs.addf("dataplane.conntrack.heldFragments", "%d out of range 0-%d", *h, nat.MaxHoldSlots)
			}
		}
	}
}

func (c *Config) validatePorts(errs *problems, p *Plan, ifaces map[string]string) {
	for i, port := range c.Ports {
		f := fmt.Sprintf("ports[%d]", i)
		if port.Role != "" && port.Role != "uplink" {
			errs.addf(f+".role", "%q: want uplink (workload ports are declared by workloadEndpoints)", port.Role)
		}
		if checkInterface(errs, f+".interface", port.Interface, ifaces) {
			p.Uplinks = append(p.Uplinks, PlanUplink{Interface: port.Interface, MTU: port.MTU})
		}
		checkMTU(errs, f+".mtu", port.MTU)
	}
}

func (c *Config) validateSpaces(errs *problems, p *Plan) map[uint16]bool {
	spaces := map[uint16]bool{0: false} // id -> translated
	p.Spaces = []PlanSpace{{ID: 0}}
	for i, s := range c.AddressSpaces {
		f := fmt.Sprintf("addressSpaces[%d].id", i)
		if s.ID < 1 || s.ID > xlat.MaxSpaceID {
			errs.addf(f, "%d out of range 1-%d (space 0 is the flat space and always exists)", s.ID, xlat.MaxSpaceID)
			continue
		}
		id := uint16(s.ID)
		if _, dup := spaces[id]; dup {
			errs.addf(f, "space %d is declared twice", id)
			continue
		}
		spaces[id] = s.Translated
		p.Spaces = append(p.Spaces, PlanSpace{ID: id, Translated: s.Translated})
	}
	return spaces
}

func (c *Config) validateEndpoints(errs *problems, p *Plan, ifaces map[string]string, spaces map[uint16]bool) {
	names := map[string]bool{}
	owner := map[[2]string]string{} // (space, addr) -> field
	for i, ep := range c.WorkloadEndpoints {
		f := fmt.Sprintf("workloadEndpoints[%d]", i)
		pe := PlanEndpoint{Name: ep.Name, Interface: ep.Interface, MTU: ep.MTU}
		switch {
		case ep.Name == "":
			errs.addf(f+".name", "missing")
		case names[ep.Name]:
			errs.addf(f+".name", "%q is used by another endpoint", ep.Name)
		}
		names[ep.Name] = true
		checkInterface(errs, f+".interface", ep.Interface, ifaces)
		checkMTU(errs, f+".mtu", ep.MTU)
		if mac, err := net.ParseMAC(ep.MAC); err != nil || len(mac) != 6 {
			errs.addf(f+".mac", "%q is not an Ethernet MAC address", ep.MAC)
		} else if mac[0]&1 != 0 {
			errs.addf(f+".mac", "%s is a multicast address", mac)
		} else {
			copy(pe.MAC[:], mac)
		}
		space, ok := spaceRef(errs, f+".addressSpace", ep.AddressSpace, spaces)
		pe.Space = space
		if len(ep.IPNetworks) == 0 {
			errs.addf(f+".ipNetworks", "an endpoint needs at least one address")
		}
		for j, s := range ep.IPNetworks {
			ff := fmt.Sprintf("%s.ipNetworks[%d]", f, j)
			a, ok2 := hostAddr(errs, ff, s)
			if !ok2 {
				continue
			}
			// IPv6 addresses are always in the flat core; only IPv4 has spaces.
			sp := space
			if a.Is6() {
				sp = 0
			}
			k := [2]string{strconv.Itoa(int(sp)), a.String()}
			if prev, dup := owner[k]; dup {
				errs.addf(ff, "%s in space %d is already %s's", a, sp, prev)
				continue
			}
			owner[k] = f
			pe.Addrs = append(pe.Addrs, a)
		}
		if ok {
			p.Endpoints = append(p.Endpoints, pe)
		}
	}
}

func (c *Config) validateRoutes(errs *problems, p *Plan, ifaces map[string]string, spaces map[uint16]bool) {
	for i, r := range c.Routes {
		f := fmt.Sprintf("routes[%d]", i)
		space, ok := spaceRef(errs, f+".space", r.Space, spaces)
		pr := PlanRoute{Space: space, Interface: r.Interface}
		pfx, err := netip.ParsePrefix(r.Prefix)
		switch {
		case err != nil:
			errs.addf(f+".prefix", "%q is not a prefix", r.Prefix)
			ok = false
		case pfx.Masked() != pfx:
			errs.addf(f+".prefix", "%s has host bits set (want %s)", pfx, pfx.Masked())
			ok = false
		case pfx.Addr().Is4In6():
			errs.addf(f+".prefix", "%s: write IPv4 prefixes in IPv4 form", pfx)
			ok = false
		case pfx.Addr().Is6() && space != 0:
			errs.addf(f+".prefix", "%s: IPv6 routes live in space 0 (the core); only IPv4 has address spaces", pfx)
			ok = false
		}
		pr.Prefix = pfx
		if r.Via != "" {
			via, err := netip.ParseAddr(r.Via)
			switch {
			case err != nil:
				errs.addf(f+".via", "%q is not an IP address", r.Via)
				ok = false
			case via.Zone() != "":
				errs.addf(f+".via", "%q: drop the zone; interface names the link", r.Via)
				ok = false
			case via.Is4In6():
				errs.addf(f+".via", "%s: write an IPv4 gateway in IPv4 form", via)
				ok = false
			case via.IsUnspecified() || via.IsMulticast():
				errs.addf(f+".via", "%s is not a unicast address", via)
				ok = false
			case pfx.IsValid() && via.Is4() && pfx.Addr().Is6():
				// An IPv4 prefix may have an IPv6 gateway (RFC 8950:
				// IPv4 over an IPv6-only core), never the reverse.
				errs.addf(f+".via", "%s: an IPv6 prefix (%s) needs an IPv6 gateway", via, pfx)
				ok = false
			}
			pr.Via = via
		}
		if r.TranslateToSpace != nil {
			ts := *r.TranslateToSpace
			switch {
			case r.Interface != "" || r.Via != "":
				errs.addf(f+".translateToSpace", "a translation route has no interface or via")
				ok = false
			case space != 0 || (pfx.IsValid() && !pfx.Addr().Is6()):
				errs.addf(f+".translateToSpace", "translation routes are IPv6 routes of the core (space 0)")
				ok = false
			case ts < 1 || ts > xlat.MaxSpaceID || !spaces[uint16(ts)]:
				errs.addf(f+".translateToSpace", "%d is not a translated space of addressSpaces", ts)
				ok = false
			}
			pr.Translate, pr.TranslateSpace = true, uint16(max(ts, 0))
			if ok {
				p.Routes = append(p.Routes, pr)
			}
			continue
		}
		decl, known := ifaces[r.Interface]
		switch {
		case r.Interface == "":
			errs.addf(f+".interface", "missing: name the uplink the route leaves by")
			ok = false
		case !known:
			errs.addf(f+".interface", "%q is not a port or workload interface of this config", r.Interface)
			ok = false
		case strings.HasPrefix(decl, "workloadEndpoints") && r.Via != "":
			errs.addf(f+".via", "a route to a workload interface has no gateway")
			ok = false
		}
		if ok {
			p.Routes = append(p.Routes, pr)
		}
	}
}

// validateHostEndpoints checks the hostEndpoints section: unique names
// (among workload endpoints' too: policy selects both), each on an uplink,
// one per uplink.
func (c *Config) validateHostEndpoints(errs *problems, p *Plan) {
	uplinks := map[string]bool{}
	for _, u := range p.Uplinks {
		uplinks[u.Interface] = true
	}
	workloads := map[string]bool{}
	for _, ep := range c.WorkloadEndpoints {
		workloads[ep.Name] = true
	}
	names := map[string]string{}
	ifaces := map[string]string{}
	for i, h := range c.HostEndpoints {
		f := fmt.Sprintf("hostEndpoints[%d]", i)
		ok := true
		switch {
		case h.Name == "":
			errs.addf(f+".name", "empty")
			ok = false
		case names[h.Name] != "":
			errs.addf(f+".name", "%q is also %s's", h.Name, names[h.Name])
			ok = false
		case workloads[h.Name]:
			errs.addf(f+".name", "%q is also a workload endpoint's name (policy selects both kinds)", h.Name)
			ok = false
		}
		names[h.Name] = f
		switch {
		case h.InterfaceName == "":
			errs.addf(f+".interfaceName", "empty: name an uplink (ports[].interface)")
			ok = false
		case !uplinks[h.InterfaceName]:
			errs.addf(f+".interfaceName", "%q is not an uplink (ports[].interface): host endpoints police forwarded traffic on uplinks", h.InterfaceName)
			ok = false
		case ifaces[h.InterfaceName] != "":
			errs.addf(f+".interfaceName", "%q already has host endpoint %s", h.InterfaceName, ifaces[h.InterfaceName])
			ok = false
		}
		ifaces[h.InterfaceName] = f
		pe := PlanHostEndpoint{Name: h.Name, Interface: h.InterfaceName, Labels: h.Labels}
		for j, s := range h.ExpectedIPs {
			a, err := parseHost(s)
			if err != nil {
				errs.addf(fmt.Sprintf("%s.expectedIPs[%d]", f, j), "%v", err)
				ok = false
				continue
			}
			pe.Addrs = append(pe.Addrs, a)
		}
		if ok {
			p.HostEndpoints = append(p.HostEndpoints, pe)
		}
	}
}

func (c *Config) validatePolicy(errs *problems, p *Plan, pc *acl.ProgramCache) {
	if len(c.Policy.Policies) == 0 && len(c.Policy.Profiles) == 0 {
		for i, ep := range c.WorkloadEndpoints {
			if len(ep.Profiles) > 0 {
				errs.addf(fmt.Sprintf("workloadEndpoints[%d].profiles", i), "profile %q is not defined in policy.profiles", ep.Profiles[0])
			}
		}
		return
	}
	set := &acl.PolicySet{Policies: c.Policy.Policies, Profiles: c.Policy.Profiles}
	for _, ep := range c.WorkloadEndpoints {
		e := acl.Endpoint{Name: ep.Name, Labels: ep.Labels, Profiles: ep.Profiles}
		for _, s := range ep.IPNetworks {
			if a, err := parseHost(s); err == nil {
				e.Addrs = append(e.Addrs, a)
			}
		}
		set.Endpoints = append(set.Endpoints, e)
	}
	// Host endpoints are endpoints to selectors too (their expectedIPs).
	for _, h := range p.HostEndpoints {
		set.Endpoints = append(set.Endpoints, acl.Endpoint{Name: h.Name, Labels: h.Labels, Addrs: h.Addrs})
	}
	cp, err := acl.CompilePolicyCached(set, pc)
	if err != nil {
		errs.addf("policy", "%v", err)
		return
	}
	p.Policy = cp
	c.hostEndpointPolicy(errs, p, set)
}

// hostEndpointPolicy compiles the forwarding programs of the host
// endpoints with the same policy engine: the policies with applyOnForward,
// over the same endpoints (so rule selectors resolve alike). A host
// endpoint no such policy selects in a direction gets no program there:
// forwarded traffic passes, as in Calico. Profiles are the workloads'.
func (c *Config) hostEndpointPolicy(errs *problems, p *Plan, all *acl.PolicySet) {
	if len(p.HostEndpoints) == 0 {
		return
	}
	set := &acl.PolicySet{Profiles: all.Profiles, Endpoints: all.Endpoints}
	for _, pol := range all.Policies {
		if pol.ApplyOnForward {
			set.Policies = append(set.Policies, pol)
		}
	}
	if len(set.Policies) == 0 {
		return
	}
	cp, err := acl.CompilePolicy(set)
	if err != nil {
		errs.addf("policy", "%v", err)
		return
	}
	for i := range p.HostEndpoints {
		h := &p.HostEndpoints[i]
		ep := cp.Endpoint(h.Name)
		if ep == nil {
			continue
		}
		if ep.Ingress != nil && ep.Ingress.PoliciesApplied {
			h.Ingress = ep.Ingress
		}
		if ep.Egress != nil && ep.Egress.PoliciesApplied {
			h.Egress = ep.Egress
		}
	}
}

func (c *Config) validateNAT(errs *problems, p *Plan, spaces map[uint16]bool) {
	n := c.NAT
	if n == nil {
		return
	}
	if c.Dataplane.Conntrack == nil {
		errs.addf("nat", "needs connection tracking: set dataplane.conntrack")
	}
	np := &nat.Policy{}
	ok := true
	np.ExternalSpace, ok = spaceRef(errs, "nat.externalSpace", n.ExternalSpace, spaces)
	for i, pool := range n.IPPools {
		f := fmt.Sprintf("nat.ipPools[%d]", i)
		sp, ok2 := spaceRef(errs, f+".space", pool.Space, spaces)
		pfx, ok3 := prefix(errs, f+".cidr", pool.CIDR)
		ok = ok && ok2 && ok3
		np.Pools = append(np.Pools, nat.Pool{Space: sp, Prefix: pfx, NATOutgoing: pool.NATOutgoing})
	}
	for i, ext := range n.External {
		f := fmt.Sprintf("nat.external[%d]", i)
		pfx, ok2 := prefix(errs, f+".cidr", ext.CIDR)
		lo, hi, ok3 := portRange(errs, f+".ports", ext.Ports)
		ok = ok && ok2 && ok3
		np.External = append(np.External, nat.ExternalPool{Prefix: pfx, PortMin: lo, PortMax: hi})
	}
	for i, fip := range n.FloatingIPs {
		f := fmt.Sprintf("nat.floatingIPs[%d]", i)
		sp, ok2 := spaceRef(errs, f+".space", fip.Space, spaces)
		pub, ok3 := hostAddr(errs, f+".public", fip.Public)
		wl, ok4 := hostAddr(errs, f+".workload", fip.Workload)
		ok = ok && ok2 && ok3 && ok4
		np.Floating = append(np.Floating, nat.FloatingIP{Space: sp, Public: pub, Workload: wl})
	}
	switch n.Filtering {
	case "", "endpoint-independent":
		np.Filtering = nat.EndpointIndependent
	case "address-dependent":
		np.Filtering = nat.AddressDependent
	default:
		errs.addf("nat.filtering", "%q: want endpoint-independent or address-dependent", n.Filtering)
		ok = false
	}
	t := &n.Timeouts
	for _, d := range []struct {
		field string
		s     string
		to    *time.Duration
	}{
		{"udp", t.UDP, &np.Timeouts.UDP},
		{"tcpEstablished", t.TCPEstablished, &np.Timeouts.TCPEstablished},
		{"tcpTransitory", t.TCPTransitory, &np.Timeouts.TCPTransitory},
		{"tcpRstHold", t.TCPRstHold, &np.Timeouts.TCPRstHold},
		{"icmpQuery", t.ICMPQuery, &np.Timeouts.ICMPQuery},
	} {
		if d.s == "" {
			continue
		}
		v, err := time.ParseDuration(d.s)
		if err != nil || v <= 0 {
			errs.addf("nat.timeouts."+d.field, "%q is not a positive duration (e.g. 5m, 2h4m)", d.s)
			ok = false
			continue
		}
		*d.to = v
	}
	if !ok {
		return
	}
	// nat validates its own policy when it is set on a table; a tiny
	// table gives the same verdict without touching the running one.
	probe, err := nat.New(nat.Config{Capacity: 64})
	if err != nil {
		errs.addf("nat", "%v", err)
		return
	}
	if err := probe.SetPolicy(np); err != nil {
		errs.addNAT(err)
		return
	}
	p.NAT = np
}

func (c *Config) validateTranslation(errs *problems, p *Plan, spaces map[uint16]bool) {
	var translated []uint16
	for _, s := range p.Spaces {
		if s.Translated {
			translated = append(translated, s.ID)
		}
	}
	if c.Translation == nil {
		if len(translated) > 0 {
			errs.addf("translation", "missing, but address space %d is translated", translated[0])
		}
		return
	}
	if err := c.Translation.Validate(); err != nil {
		errs.addf("translation", "%v", err)
		return
	}
	for id := range c.Translation.AddressSpaces {
		if tr, ok := spaces[uint16(id)]; id > 0 && id <= xlat.MaxSpaceID && (!ok || !tr) {
			errs.addf(fmt.Sprintf("translation.addressSpaces[%d]", id), "space %d is not declared translated in addressSpaces", id)
		}
	}
	for _, id := range translated {
		if _, ok := c.Translation.AddressSpaces[int(id)]; !ok {
			errs.addf("translation.addressSpaces", "space %d is translated but has no entry here (an empty entry takes 64:ff9b:1:<ID>::/96)", id)
		}
	}
	// The translator's own errors toward the IPv6 core (a parameter
	// problem, an error about an untranslatable packet) come from the
	// router's IPv6 address unless the section names another (RFC 7915
	// section 5: the translator's own address). IPv4 is left to the
	// section: its side is a tenant on a compute host (the gateway
	// answers there) and the Internet at a border exit.
	t := *c.Translation
	if t.TranslatorIPv6 == "" && p.Router6.IsValid() {
		t.TranslatorIPv6 = p.Router6.String()
	}
	p.Translation = &t
}

func (c *Config) validateAPI(errs *problems, p *Plan) {
	p.APISocket, p.APIGroup = c.API.Socket, c.API.Group
	if p.APISocket == "" {
		p.APISocket = api.DefaultSocket
	}
	if !strings.HasPrefix(p.APISocket, "/") || strings.HasSuffix(p.APISocket, "/") || len(p.APISocket) > 107 {
		errs.addf("api.socket", "%q: want an absolute file path of at most 107 bytes", c.API.Socket)
	}
	if g := p.APIGroup; g != "" && (len(g) > 32 || strings.ContainsAny(g, ":/ \t\n")) {
		errs.addf("api.group", "%q is not a group name", g)
	}
}

// Field helpers.

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func oneOf(errs *problems, field, v string, allowed ...string) string {
	if v == "" {
		return allowed[0]
	}
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	errs.addf(field, "%q: want one of %s", v, strings.Join(allowed, ", "))
	return allowed[0]
}

func optionalAddr(errs *problems, field, s string, family int) netip.Addr {
	if s == "" {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(s)
	if err != nil || (family == 4) != a.Is4() || a.Is4In6() {
		errs.addf(field, "%q is not an IPv%d address", s, family)
		return netip.Addr{}
	}
	return a
}

// checkInterface checks an interface name and that no other field
// declared it; it records the declaring field.
func checkInterface(errs *problems, field, name string, ifaces map[string]string) bool {
	switch {
	case name == "":
		errs.addf(field, "missing")
		return false
	case len(name) >= 16 || strings.ContainsAny(name, "/ \t\n:"):
		errs.addf(field, "%q is not a valid interface name", name)
		return false
	}
	if prev, dup := ifaces[name]; dup {
		errs.addf(field, "interface %q is already used by %s", name, prev)
		return false
	}
	ifaces[name] = strings.TrimSuffix(field, ".interface")
	return true
}

func checkMTU(errs *problems, field string, mtu int) {
	if mtu != 0 && (mtu < 1280 || mtu > 9000) {
		errs.addf(field, "%d out of range 1280-9000 (0 takes the interface's)", mtu)
	}
}

func spaceRef(errs *problems, field string, id int, spaces map[uint16]bool) (uint16, bool) {
	if id < 0 || id > xlat.MaxSpaceID {
		errs.addf(field, "%d out of range 0-%d", id, xlat.MaxSpaceID)
		return 0, false
	}
	if _, ok := spaces[uint16(id)]; !ok {
		errs.addf(field, "address space %d is not declared in addressSpaces", id)
		return 0, false
	}
	return uint16(id), true
}

// parseHost reads an address written bare or as a host prefix (/32, /128).
func parseHost(s string) (netip.Addr, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Addr{}, err
		}
		if p.Bits() != p.Addr().BitLen() {
			return netip.Addr{}, fmt.Errorf("is a /%d, want a single address (/%d)", p.Bits(), p.Addr().BitLen())
		}
		return p.Addr(), nil
	}
	return netip.ParseAddr(s)
}

func hostAddr(errs *problems, field, s string) (netip.Addr, bool) {
	a, err := parseHost(s)
	switch {
	case err != nil:
		errs.addf(field, "%q: %v", s, err)
		return a, false
	case a.Is4In6():
		errs.addf(field, "%q: write IPv4 addresses in IPv4 form", s)
		return a, false
	case a.IsMulticast() || a.IsUnspecified() || a.IsLoopback():
		errs.addf(field, "%s is not a unicast host address", a)
		return a, false
	}
	return a.WithZone(""), true
}

func prefix(errs *problems, field, s string) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		errs.addf(field, "%q is not a prefix", s)
		return p, false
	}
	if p.Masked() != p {
		errs.addf(field, "%s has host bits set (want %s)", p, p.Masked())
		return p, false
	}
	return p, true
}

func portRange(errs *problems, field, s string) (uint16, uint16, bool) {
	if s == "" {
		return 0, 0, true
	}
	lo, hi, found := strings.Cut(s, "-")
	if !found {
		hi = lo
	}
	a, err1 := strconv.ParseUint(lo, 10, 16)
	b, err2 := strconv.ParseUint(hi, 10, 16)
	if err1 != nil || err2 != nil || a == 0 || a > b {
		errs.addf(field, "%q: want a port range like 1024-65535", s)
		return 0, 0, false
	}
	return uint16(a), uint16(b), true
}
