package ctl

// endpointToHost: accept, as the daemon runs it: the TAP device that
// workloads' packets reach the host through (opened by the first plan that
// asks for it, kept for the daemon's life because a snapshot a worker may
// still hold names it), and the workloads' neighbour entries the host
// answers them with. A workload's ARP and ND go to gannet (its port's XDP
// program passes nothing to the kernel), so the host could never resolve
// a workload's address on its own: gannet, which knows every endpoint's
// MAC, installs them as permanent entries on the workload's interface.

import (
	"errors"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/gannet-net/gannet/ctl/config"
	"github.com/gannet-net/gannet/fwd"
)

// openHost opens the host interface when p accepts endpoint-to-host
// traffic and it is not open yet.
func (dp *dataplane) openHost(p *config.Plan) error {
	if !p.EndpointToHost || dp.tap != nil {
		return nil
	}
	tap, err := fwd.OpenHostTAP(p.HostInterface)
	if err != nil {
		return err
	}
	dp.tap = tap
	dp.st.host = tap.Path()
	return nil
}

// closeHost closes the host interface once no worker runs.
func (dp *dataplane) closeHost() error {
	if dp.tap == nil {
		return nil
	}
	err := dp.tap.Close()
	dp.tap, dp.st.host = nil, nil
	return err
}

// hostNeighbours installs, with endpointToHost: accept, a permanent
// neighbour entry for every flat-space address of every attached
// workload endpoint on its interface, so the host's replies reach it.
// Translated spaces' workloads never reach the host (their addresses are
// a tenant's, not the host's). Entries of endpoints that go away leave
// with their interface; an entry that stays after a change to drop is
// harmless (nothing reaches the host to be answered).
func (d *Daemon) hostNeighbours() {
	if d.plan == nil || !d.plan.EndpointToHost {
		return
	}
	for _, ep := range d.plan.Endpoints {
		pt := d.ports[ep.Interface]
		if ep.Space != 0 || pt == nil || pt.link == nil || ep.MAC == ([6]byte{}) {
			continue
		}
		for _, a := range ep.Addrs {
			fam := unix.AF_INET6
			if a.Is4() {
				fam = unix.AF_INET
			}
			n := &netlink.Neigh{LinkIndex: pt.link.index, Family: fam, State: netlink.NUD_PERMANENT,
				IP: net.IP(a.AsSlice()), HardwareAddr: net.HardwareAddr(ep.MAC[:])}
			if err := netlink.NeighSet(n); err != nil && !errors.Is(err, unix.ENODEV) {
				d.log.Warn("workload neighbour for the host", "endpoint", ep.Name, "iface", ep.Interface, "addr", a, "err", err)
			}
		}
	}
}
