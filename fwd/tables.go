// Tables: a Config flows in, is validated and compiled into an immutable
// snapshot — ports, endpoints, one lpm table per address space with
// next-hop indices, the gateway identity, ICMP sources, and the nat and
// xlat handles — that workers load once per batch from an atomic pointer.

package fwd

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/gannet-net/gannet/acl"
	"github.com/gannet-net/gannet/lpm"
	"github.com/gannet-net/gannet/nat"
	"github.com/gannet-net/gannet/pkt"
	"github.com/gannet-net/gannet/xlat"
)

// Tables is one immutable forwarding snapshot. Build it with NewTables and
// publish it with one atomic store (Worker.Tables / a shared
// atomic.Pointer); workers never see a half-built one.
type Tables struct {
	ports  []portEntry
	spaces map[uint16]*space
	flat   *space // space 0: its IPv6 table is the core
	nhs    []nextHop

	gwMAC pkt.MAC
	gw4   [4]byte
	gw6   [16]byte

	icmpRate int // errors per second per worker; < 0: none
	// uplinkMTU is the lowest MTU of the uplinks that are up (0: none):
	// what a border's translation route is translated to fit (xlatMTU).
	uplinkMTU int
	// clampMSS is the translator's clampMSS setting (xlat.ClampOff,
	// ClampAuto or a ceiling): SYNs crossing it are clamped (mss.go).
	clampMSS int
	logRate  int // policy log records per second per worker; < 0: none
	// rpf: packets from an uplink into a translated space must have a
	// feasible reverse path (Config.RPF).
	rpf bool

	// host: endpointToHost: accept (Config.Host); nil: drop.
	host *HostPath

	nat       *nat.Table
	natPolicy *nat.Prepared
	xlat      *xlat.Translator

	learned learnedState // learned.go: the writer's
}

type portEntry struct {
	name    string
	ifindex int
	role    Role
	mac     pkt.MAC
	mtu     int
	down    bool
	ep      *endpoint // the workload port's endpoint, or nil
	hep     *endpoint // the uplink's host endpoint (its forwarding programs), or nil

	src4       [4]byte // ICMPv4 error source
	src6       [16]byte
	has4, has6 bool
}

type endpoint struct {
	name            string
	port            int
	mac             pkt.MAC
	space           *space
	addrs4          [][4]byte
	addrs6          [][16]byte
	ingress, egress *acl.Program
	inHits, egHits  *RuleHits
}

type space struct {
	id         uint16
	translated bool
	table      *lpm.Table
}

type nhKind uint8

const (
	nhEndpoint    nhKind = iota // deliver to a local endpoint
	nhGateway                   // out of a port to a gateway's MAC
	nhConnected                 // out of a port to the destination's own MAC
	nhTranslate                 // 6->4 into space, then route again there
	nhHost                      // one of the host's own addresses: never forwarded (endpointToHost)
	nhECMP                      // equal gateway hops (learned.go): forward picks one per flow
	nhUnreachable               // forwards nothing: answered with Destination Unreachable (RouteConfig.Unreachable)
)

type nextHop struct {
	kind  nhKind
	port  int
	ep    *endpoint // nhEndpoint
	xlat  bool      // nhEndpoint reached from the IPv6 core: translate 6->4 first
	space *space    // nhEndpoint: the endpoint's space; nhTranslate: the target
	gw    netip.Addr
	// deliver is, for an xlat endpoint hop, the index of the plain hop
	// that delivers the translated packet.
	deliver uint32
	group   ecmpGroup // nhECMP: its members (port and gw unused)
}

// NewTables validates c and compiles it. Any problem is an error naming the
// field, and nothing is returned with it.
func NewTables(c Config) (*Tables, error) {
	t := &Tables{
		spaces:    map[uint16]*space{},
		gwMAC:     pkt.MAC(c.GatewayMAC),
		icmpRate:  c.ICMPRate,
		logRate:   c.PolicyLogRate,
		nat:       c.NAT,
		natPolicy: c.NATPolicy,
		xlat:      c.Xlat,
		rpf:       c.RPF == RPFFeasible,
		host:      c.Host,
	}
	if c.Host != nil && c.Host.Sink == nil {
		return nil, fmt.Errorf("fwd: Host.Sink: nil")
	}
	if c.Xlat != nil {
		t.clampMSS = c.Xlat.ClampMSS()
	}
	if c.RPF > RPFOff {
		return nil, fmt.Errorf("fwd: RPF: unknown mode %d", c.RPF)
	}
	if c.NATPolicy != nil && !c.NATPolicy.For(c.NAT) {
		return nil, fmt.Errorf("fwd: NATPolicy: prepared for another connection table")
	}
	if t.gwMAC == (pkt.MAC{}) {
		t.gwMAC = pkt.MAC(DefaultGatewayMAC)
	}
	if t.logRate == 0 {
		t.logRate = DefaultPolicyLogRate
	}
	if t.icmpRate == 0 {
		t.icmpRate = DefaultICMPRate
	}
	gw4, gw6 := c.Gateway4, c.Gateway6
	if !gw4.IsValid() {
		gw4 = DefaultGateway4
	}
	if !gw6.IsValid() {
		gw6 = DefaultGateway6
	}
	if !gw4.Is4() {
		return nil, fmt.Errorf("fwd: Gateway4: %v is not an IPv4 address", gw4)
	}
	if !gw6.Is6() || gw6.Is4In6() {
		return nil, fmt.Errorf("fwd: Gateway6: %v is not an IPv6 address", gw6)
	}
	t.gw4, t.gw6 = gw4.As4(), gw6.As16()

	var router4, router6 netip.Addr
	for i, a := range c.RouterAddrs {
		switch {
		case !a.IsValid():
			return nil, fmt.Errorf("fwd: RouterAddrs[%d]: invalid address", i)
		case a.Is4() && router4.IsValid(), a.Is6() && router6.IsValid():
			return nil, fmt.Errorf("fwd: RouterAddrs[%d]: %v: only one address per family", i, a)
		case a.Is4():
			router4 = a
		default:
			router6 = a.Unmap()
			if router6.Is4() {
				return nil, fmt.Errorf("fwd: RouterAddrs[%d]: %v is IPv4-mapped; give the IPv4 address", i, a)
			}
		}
	}

	// Spaces.
	t.flat = &space{id: 0, table: lpm.New()}
	t.spaces[0] = t.flat
	var xlatSpaces []uint16
	if c.Xlat != nil {
		xlatSpaces = c.Xlat.Spaces()
	}
	for i, sc := range c.Spaces {
		f := fmt.Sprintf("fwd: Spaces[%d]", i)
		if sc.ID == 0 {
			if sc.Translated {
				return nil, fmt.Errorf("%s.Translated: space 0 is the flat core space and cannot be translated", f)
			}
			continue
		}
		if _, dup := t.spaces[sc.ID]; dup {
			return nil, fmt.Errorf("%s.ID: space %d declared twice", f, sc.ID)
		}
		if sc.Translated {
			if c.Xlat == nil {
				return nil, fmt.Errorf("%s.Translated: space %d is translated but Config.Xlat is nil", f, sc.ID)
			}
			if !slices.Contains(xlatSpaces, sc.ID) {
				return nil, fmt.Errorf("%s.Translated: the translator has no address space %d", f, sc.ID)
			}
		}
		t.spaces[sc.ID] = &space{id: sc.ID, translated: sc.Translated, table: lpm.New()}
	}

	// Ports.
	for i, pc := range c.Ports {
		f := fmt.Sprintf("fwd: Ports[%d]", i)
		if pc.Role == RoleNone {
			t.ports = append(t.ports, portEntry{role: RoleNone, mtu: 1500, down: true})
			continue
		}
		if pc.Role != RoleUplink && pc.Role != RoleWorkload {
			return nil, fmt.Errorf("%s.Role: unknown role %d", f, pc.Role)
		}
		mtu := pc.MTU
		if mtu == 0 {
			mtu = 1500
		}
		if mtu < 68 || mtu > 65535 {
			return nil, fmt.Errorf("%s.MTU: %d out of range 68-65535", f, pc.MTU)
		}
		if pc.Ifindex < 0 {
			return nil, fmt.Errorf("%s.Ifindex: %d is negative", f, pc.Ifindex)
		}
		pe := portEntry{name: pc.Name, ifindex: pc.Ifindex, role: pc.Role, mac: pkt.MAC(pc.MAC), mtu: mtu, down: pc.Down}
		for j, a := range pc.HostAddrs {
			switch {
			case !a.IsValid():
				return nil, fmt.Errorf("%s.HostAddrs[%d]: invalid address", f, j)
			case a.Is4() && !pe.has4:
				pe.src4, pe.has4 = a.As4(), true
			case a.Is6() && !a.Is4In6() && !pe.has6:
				pe.src6, pe.has6 = a.As16(), true
			}
		}
		if !pe.has4 && router4.IsValid() {
			pe.src4, pe.has4 = router4.As4(), true
		}
		if !pe.has6 && router6.IsValid() {
			pe.src6, pe.has6 = router6.As16(), true
		}
		if h := pc.HostEndpoint; h != nil {
			if pe.role != RoleUplink {
				return nil, fmt.Errorf("%s.HostEndpoint: port %s is not an uplink", f, pc.Name)
			}
			if h.Name == "" {
				return nil, fmt.Errorf("%s.HostEndpoint.Name: empty", f)
			}
			pe.hep = &endpoint{name: h.Name, port: i, mac: pe.mac, space: t.flat, ingress: h.Ingress, egress: h.Egress}
			var err error
			if pe.hep.inHits, err = checkHits(f+".HostEndpoint.Ingress", h.Ingress, h.IngressHits); err != nil {
				return nil, err
			}
			if pe.hep.egHits, err = checkHits(f+".HostEndpoint.Egress", h.Egress, h.EgressHits); err != nil {
				return nil, err
			}
		}
		if pe.role == RoleUplink && !pe.down && (t.uplinkMTU == 0 || mtu < t.uplinkMTU) {
			t.uplinkMTU = mtu
		}
		t.ports = append(t.ports, pe)
	}

	// Static routes first; endpoint host routes are checked against them.
	type routeKey struct {
		space  uint16
		prefix netip.Prefix
	}
	// seen names the first user of each prefix, formatted only for an
	// error: a full table has a million routes.
	type user struct{ route, ep, addr int }
	seen := make(map[routeKey]user, len(c.Routes))
	name := func(u user) string {
		if u.route >= 0 {
			return fmt.Sprintf("Routes[%d]", u.route)
		}
		return fmt.Sprintf("Endpoints[%d].Addrs[%d]", u.ep, u.addr)
	}
	// Routes share next hops: a full table has a handful of gateways.
	type hopKey struct {
		kind  nhKind
		port  int
		gw    netip.Addr
		space *space
	}
	hops := map[hopKey]uint32{}
	for i, rc := range c.Routes {
		f := routeField(i)
		sp := t.spaces[rc.Space]
		if sp == nil {
			return nil, fmt.Errorf("%s.Space: address space %d is not declared", f, rc.Space)
		}
		if sp.translated {
			return nil, fmt.Errorf("%s.Space: space %d is translated: its traffic is routed in the core (space 0) table", f, rc.Space)
		}
		if !rc.Prefix.IsValid() {
			return nil, fmt.Errorf("%s.Prefix: invalid prefix", f)
		}
		p := rc.Prefix.Masked()
		if p.Addr().Is4In6() {
			return nil, fmt.Errorf("%s.Prefix: %v is IPv4-mapped IPv6", f, rc.Prefix)
		}
		k := routeKey{rc.Space, p}
		if prev, dup := seen[k]; dup {
			return nil, fmt.Errorf("%s.Prefix: %v in space %d repeats %s", f, p, rc.Space, name(prev))
		}
		seen[k] = user{route: i}
		var nh nextHop
		if rc.Unreachable {
			if rc.Translate || rc.Port != 0 || rc.Gateway.IsValid() || rc.TranslateSpace != 0 {
				return nil, fmt.Errorf("%s.Unreachable: an unreachable route has no Port, Gateway or Translate", f)
			}
			nh = nextHop{kind: nhUnreachable}
		} else if rc.Translate {
			dst := t.spaces[rc.TranslateSpace]
			switch {
			case rc.Space != 0 || !p.Addr().Is6():
				return nil, fmt.Errorf("%s.Translate: translation routes belong in space 0's IPv6 (core) table", f)
			case dst == nil || !dst.translated:
				return nil, fmt.Errorf("%s.TranslateSpace: space %d is not a declared translated space", f, rc.TranslateSpace)
			case rc.Port != 0 || rc.Gateway.IsValid():
				return nil, fmt.Errorf("%s: a translation route has no Port or Gateway", f)
			}
			nh = nextHop{kind: nhTranslate, space: dst}
		} else {
			if rc.Port < 0 || rc.Port >= len(t.ports) || t.ports[rc.Port].role == RoleNone {
				return nil, fmt.Errorf("%s.Port: %d is not a port index (0-%d)", f, rc.Port, len(t.ports)-1)
			}
			if rc.TranslateSpace != 0 {
				return nil, fmt.Errorf("%s.TranslateSpace: set without Translate", f)
			}
			nh = nextHop{kind: nhConnected, port: rc.Port}
			if rc.Gateway.IsValid() {
				gw, err := gatewayFor(p, rc.Gateway)
				if err != nil {
					return nil, fmt.Errorf("%s.Gateway: %w", f, err)
				}
				nh = nextHop{kind: nhGateway, port: rc.Port, gw: gw}
			}
		}
		hk := hopKey{nh.kind, nh.port, nh.gw, nh.space}
		nhi, ok := hops[hk]
		if !ok {
			nhi = t.addNH(nh)
			hops[hk] = nhi
		}
		if err := sp.table.Insert(p, nhi); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
	}

	// Endpoints and their implicit host routes.
	names := map[string]int{}
	for i, ec := range c.Endpoints {
		f := fmt.Sprintf("fwd: Endpoints[%d]", i)
		if ec.Name == "" {
			return nil, fmt.Errorf("%s.Name: empty", f)
		}
		if j, dup := names[ec.Name]; dup {
			return nil, fmt.Errorf("%s.Name: %q repeats Endpoints[%d]", f, ec.Name, j)
		}
		names[ec.Name] = i
		if ec.Port < 0 || ec.Port >= len(t.ports) {
			return nil, fmt.Errorf("%s.Port: %d is not a port index (0-%d)", f, ec.Port, len(t.ports)-1)
		}
		pe := &t.ports[ec.Port]
		if pe.role != RoleWorkload {
			return nil, fmt.Errorf("%s.Port: port %d (%s) is not a workload port", f, ec.Port, pe.name)
		}
		if pe.ep != nil {
			return nil, fmt.Errorf("%s.Port: port %d (%s) already holds endpoint %q", f, ec.Port, pe.name, pe.ep.name)
		}
		sp := t.spaces[ec.Space]
		if sp == nil {
			return nil, fmt.Errorf("%s.Space: address space %d is not declared", f, ec.Space)
		}
		if len(ec.Addrs) == 0 {
			return nil, fmt.Errorf("%s.Addrs: no addresses", f)
		}
		ep := &endpoint{name: ec.Name, port: ec.Port, mac: pkt.MAC(ec.MAC), space: sp, ingress: ec.Ingress, egress: ec.Egress}
		var err error
		if ep.inHits, err = checkHits(f+".Ingress", ec.Ingress, ec.IngressHits); err != nil {
			return nil, err
		}
		if ep.egHits, err = checkHits(f+".Egress", ec.Egress, ec.EgressHits); err != nil {
			return nil, err
		}
		nhi := t.addNH(nextHop{kind: nhEndpoint, port: ec.Port, ep: ep, space: sp})
		var core uint32
		if sp.translated {
			core = t.addNH(nextHop{kind: nhEndpoint, port: ec.Port, ep: ep, space: sp, xlat: true, deliver: nhi})
		}
		for j, a := range ec.Addrs {
			af := fmt.Sprintf("%s.Addrs[%d]", f, j)
			if !a.IsValid() || a.Is4In6() || a.IsUnspecified() || a.IsMulticast() || a.IsLinkLocalUnicast() {
				return nil, fmt.Errorf("%s: %v is not a routable unicast address", af, a)
			}
			a = a.WithZone("")
			if sp.translated && a.Is6() {
				return nil, fmt.Errorf("%s: %v: space %d is translated (IPv4 only)", af, a, sp.id)
			}
			hp := netip.PrefixFrom(a, a.BitLen())
			k := routeKey{sp.id, hp}
			if prev, dup := seen[k]; dup {
				return nil, fmt.Errorf("%s: %v in space %d repeats %s", af, a, sp.id, name(prev))
			}
			seen[k] = user{-1, i, j}
			if err := sp.table.Insert(hp, nhi); err != nil {
				return nil, fmt.Errorf("%s: %w", af, err)
			}
			if a.Is4() {
				ep.addrs4 = append(ep.addrs4, a.As4())
			} else {
				ep.addrs6 = append(ep.addrs6, a.As16())
			}
			if sp.translated {
				a6, err := map46(c.Xlat, sp.id, a)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", af, err)
				}
				ck := routeKey{0, netip.PrefixFrom(a6, 128)}
				if prev, dup := seen[ck]; dup {
					return nil, fmt.Errorf("%s: its core address %v repeats %s", af, a6, name(prev))
				}
				seen[ck] = user{-1, i, j}
				if err := t.flat.table.Insert(ck.prefix, core); err != nil {
					return nil, fmt.Errorf("%s: %w", af, err)
				}
			}
		}
		pe.ep = ep
		if sp.translated {
			// The router's IPv4 errors to a workload of a translated
			// space (Time Exceeded, Fragmentation Needed, unreachable)
			// come from the gateway: the router's address on that link
			// as the workload knows it (RFC 1812 4.3.2.4), the same in
			// every space and never a tenant's address (endpoints
			// cannot be link-local). The router's flat-space address
			// means nothing in the tenant's space, and may even be one
			// of its workloads'.
			pe.src4, pe.has4 = t.gw4, true
		}
	}

	// The host's own addresses and loopback: a workload's packet to them
	// is dropped (to-host) after its source check, or with
	// endpointToHost: accept delivered to the host after its egress
	// policy (hostpath.go) — never forwarded, and never handed to the
	// kernel unchecked (workload ports' XDP programs pass nothing).
	// A configured route or endpoint for the same prefix stays as it is.
	host := t.addNH(nextHop{kind: nhHost})
	for i, a := range append([]netip.Addr{netip.MustParseAddr("127.0.0.0"), netip.IPv6Loopback()}, c.HostAddrs...) {
		if !a.IsValid() {
			return nil, fmt.Errorf("fwd: HostAddrs[%d]: invalid address", i-2)
		}
		a = a.Unmap().WithZone("")
		if a.IsLinkLocalUnicast() || a.IsMulticast() || a.IsUnspecified() {
			continue // never routed anyway
		}
		hp := netip.PrefixFrom(a, a.BitLen())
		if i == 0 {
			hp = netip.MustParsePrefix("127.0.0.0/8")
		}
		if _, dup := seen[routeKey{0, hp}]; dup {
			continue
		}
		seen[routeKey{0, hp}] = user{route: -1, ep: -1}
		if err := t.flat.table.Insert(hp, host); err != nil {
			return nil, fmt.Errorf("fwd: HostAddrs: %v: %w", a, err)
		}
	}
	// Room for the next hops of learned routes (learned.go): the slice
	// never grows under the workers' feet.
	t.learned.nnh = len(t.nhs)
	t.nhs = append(t.nhs, make([]nextHop, learnReserve)...)
	return t, nil
}

// routeField names route i in errors. It is a string type with a lazy
// String so that a million valid routes format nothing.
type routeField int

func (r routeField) String() string { return fmt.Sprintf("fwd: Routes[%d]", int(r)) }

// gatewayFor checks that gw can be the gateway of a route to p and
// returns it as the neighbour cache keys it (IPv4-mapped IPv6 as IPv4, no
// zone: the route's port names the link). A gateway is of the prefix's
// family, except that an IPv4 prefix may have an IPv6 gateway (RFC 8950:
// IPv4 over an IPv6-only core; the frame's EtherType follows the packet,
// the gateway's MAC comes from IPv6 neighbour discovery). An IPv6 prefix
// never has an IPv4 gateway: gannet's core is IPv6.
func gatewayFor(p netip.Prefix, gw netip.Addr) (netip.Addr, error) {
	a := gw.Unmap().WithZone("")
	switch {
	case !a.IsValid() || a.IsUnspecified() || a.IsMulticast():
		return netip.Addr{}, fmt.Errorf("%v is not a unicast address", gw)
	case a.Is4() && !p.Addr().Is4():
		return netip.Addr{}, fmt.Errorf("%v: an IPv6 prefix needs an IPv6 gateway", gw)
	}
	return a, nil
}

func (t *Tables) addNH(nh nextHop) uint32 {
	t.nhs = append(t.nhs, nh)
	return uint32(len(t.nhs) - 1)
}

// map46 asks the translator which core IPv6 address IPv4 address a of
// space has, by translating a probe packet from a to a: the translator's
// own mapping (RFC 6052 prefix or EAM) is the only source of truth, and
// xlat exports no address-only call.
func map46(tr *xlat.Translator, spaceID uint16, a netip.Addr) (netip.Addr, error) {
	const head = 64
	var buf [head + pkt.IPv4MinLen + pkt.TCPMinLen]byte
	ip := pkt.IPv4(buf[head : head+pkt.IPv4MinLen])
	ip.SetVersionIHL(pkt.IPv4MinLen)
	ip.SetTotalLen(pkt.IPv4MinLen + pkt.TCPMinLen)
	ip.SetTTL(64)
	ip.SetProtocol(pkt.ProtoTCP)
	ip.SetSrc(a.As4())
	ip.SetDst(a.As4())
	ip.SetChecksum(ip.ComputeChecksum())
	buf[head+pkt.IPv4MinLen+12] = 5 << 4 // TCP data offset
	p := xlat.Packet{Buf: buf[:], Off: head, Len: pkt.IPv4MinLen + pkt.TCPMinLen, Space: spaceID}
	if v := tr.To6(&p, nil); v != xlat.Forward {
		return netip.Addr{}, fmt.Errorf("%v in space %d has no core IPv6 address: translator says %v (%v)", a, spaceID, v, p.Reason)
	}
	var a6 [16]byte
	copy(a6[:], buf[p.Off+8:p.Off+24])
	return netip.AddrFrom16(a6), nil
}

// Endpoint names, ports and addresses, for the control plane and tests.

// NumPorts returns the number of ports the tables describe.
func (t *Tables) NumPorts() int { return len(t.ports) }
