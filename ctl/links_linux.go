package ctl

// Interfaces: the names in a Plan resolved against the kernel of the
// current network namespace (index, MAC, MTU, queues) and the host's own
// addresses, which the XDP program hands to the kernel. Resolution only
// reads; an error names the config field that named the interface, and
// nothing has been attached yet when it is reported.

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// link is one interface gannet forwards on.
type link struct {
	field    string // the config field that named it, for errors
	name     string
	index    int
	mac      [6]byte
	mtu      int
	queues   int
	uplink   bool
	endpoint int  // index into Plan.Endpoints, -1 for uplinks
	down     bool // administratively down when resolved: reported, not refused
}

// resolveLinks looks up every uplink and workload interface of p, in the
// order uplinks then endpoints (the order of the data plane's ports).
func resolveLinks(p *Plan) ([]link, error) {
	var (
		links []link
		errs  []error
	)
	add := func(field, name string, mtu int, uplink bool, ep int) {
		l, err := netlink.LinkByName(name)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: interface %q: %v", field, name, err))
			return
		}
		a := l.Attrs()
		lk := link{field: field, name: name, index: a.Index, mtu: a.MTU, queues: a.NumRxQueues, uplink: uplink, endpoint: ep}
		if mtu != 0 {
			if mtu > a.MTU {
				errs = append(errs, fmt.Errorf("%s: mtu %d exceeds interface %s's MTU %d", field, mtu, name, a.MTU))
			}
			lk.mtu = mtu
		}
		if len(a.HardwareAddr) == 6 {
			copy(lk.mac[:], a.HardwareAddr)
		} else if uplink {
			errs = append(errs, fmt.Errorf("%s: interface %q is not Ethernet", field, name))
		}
		if lk.queues < len(p.Cores) {
			errs = append(errs, fmt.Errorf("%s: interface %q has %d receive queues; %d workers need one each (ethtool -L, or numrxqueues when creating a veth)",
				field, name, lk.queues, len(p.Cores)))
		}
		lk.down = a.Flags&net.FlagUp == 0
		links = append(links, lk)
	}
	for i, u := range p.Uplinks {
		add(fmt.Sprintf("ports[%d].interface", i), u.Interface, u.MTU, true, -1)
	}
	for i, ep := range p.Endpoints {
		add(fmt.Sprintf("workloadEndpoints[%d].interface", i), ep.Interface, ep.MTU, false, i)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("config: %w", errors.Join(errs...))
	}
	return links, nil
}

// hostAddrs lists every address the host holds in this namespace: traffic
// to any of them belongs to the kernel (BGP, SSH, ping of the host).
func hostAddrs() ([]netip.Addr, error) {
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("listing host addresses: %w", err)
	}
	var out []netip.Addr
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			out = append(out, ip.Unmap())
		}
	}
	return out, nil
}

// linkAddrs lists the addresses on one interface.
func linkAddrs(index int) ([]netip.Addr, error) {
	l, err := netlink.LinkByIndex(index)
	if err != nil {
		return nil, err
	}
	addrs, err := netlink.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("listing addresses: %w", err)
	}
	var out []netip.Addr
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && !ip.IsLinkLocalUnicast() {
			out = append(out, ip.Unmap())
		}
	}
	return out, nil
}
