package ctl

// Interfaces: names resolved against the kernel of the current network
// namespace (index, MAC, MTU, queues, link state, addresses), and the
// kernel's link events followed so the daemon learns at once when an
// interface vanishes, comes back, goes down or changes its MTU. Nothing
// here changes an interface.

import (
	"context"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// linkInfo is what the kernel says about one interface.
type linkInfo struct {
	index  int
	mac    [6]byte
	mtu    int
	queues int
	up     bool // administratively up and not lower-layer down
	addrs  []netip.Addr
	// prefixes are its addresses with their subnets: the connected
	// networks learned routes' next hops resolve over.
	prefixes []netip.Prefix
}

// lookupLink resolves an interface by name; a missing one is (nil, nil).
func lookupLink(name string) (*linkInfo, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		if _, ok := err.(netlink.LinkNotFoundError); ok {
			return nil, nil
		}
		return nil, fmt.Errorf("interface %q: %w", name, err)
	}
	return infoOf(l)
}

func infoOf(l netlink.Link) (*linkInfo, error) {
	a := l.Attrs()
	li := &linkInfo{index: a.Index, mtu: a.MTU, queues: a.NumRxQueues, up: linkUp(a)}
	if len(a.HardwareAddr) == 6 {
		copy(li.mac[:], a.HardwareAddr)
	}
	addrs, err := netlink.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("interface %s: listing addresses: %w", a.Name, err)
	}
	for _, ad := range addrs {
		if ip, ok := netip.AddrFromSlice(ad.IP); ok && !ip.IsLinkLocalUnicast() {
			li.addrs = append(li.addrs, ip.Unmap())
			if ad.IPNet != nil {
				ones, _ := ad.IPNet.Mask.Size()
				li.prefixes = append(li.prefixes, netip.PrefixFrom(ip.Unmap(), ones).Masked())
			}
		}
	}
	return li, nil
}

// linkUp: up, and the lower layer is not known to be down (a veth whose
// peer is down reports LOWERLAYERDOWN; unknown counts as up, as for TAP).
func linkUp(a *netlink.LinkAttrs) bool {
	return a.Flags&net.FlagUp != 0 && a.OperState != netlink.OperDown && a.OperState != netlink.OperLowerLayerDown
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

// linkEvent is one change the kernel reported.
type linkEvent struct {
	name    string
	index   int
	deleted bool
}

// followLinks sends the kernel's link events to fn until ctx ends. A
// subscription that fails (the socket overran) is reopened; fn should
// then resync from scratch, which the daemon's periodic check does anyway.
func followLinks(ctx context.Context, fn func(linkEvent), onErr func(error)) error {
	updates := make(chan netlink.LinkUpdate, 256)
	done := make(chan struct{})
	err := netlink.LinkSubscribeWithOptions(updates, done, netlink.LinkSubscribeOptions{
		ErrorCallback: onErr,
	})
	if err != nil {
		return fmt.Errorf("subscribing to link events: %w", err)
	}
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case u, ok := <-updates:
				if !ok {
					return
				}
				fn(linkEvent{name: u.Attrs().Name, index: int(u.Index), deleted: u.Header.Type == unix.RTM_DELLINK})
			}
		}
	}()
	return nil
}
