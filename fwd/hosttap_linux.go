// The host interface of endpointToHost: accept — a TAP device gannet
// creates in its own network namespace and holds open for its life.
// Frames a worker writes into it arrive in the host stack as received on
// it; the host answers over its own route to the workload, never through
// the TAP (gannet never reads it). Closing the descriptor (or the process
// ending) removes the device.

package fwd

import (
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// HostTAP is the TAP device workloads' packets reach the host through. It
// is a HostSink: WriteFrames may be called by several workers at once
// (each write(2) is one whole frame).
type HostTAP struct {
	fd    int
	name  string
	index int
	mac   [6]byte
}

// HostTAPAddr is the one address of the host interface: link scope, never
// a source the host picks for anything routed. It is there because the
// kernel's reverse-path filter refuses every packet that comes in on an
// interface without an IPv4 address whenever rp_filter is on (strict or
// loose, for the interface or for all); with it, the interface's loose
// filter (rp_filter 2) takes the workloads' sources, which the host
// routes through their own interfaces.
var HostTAPAddr = net.IPNet{IP: net.IPv4(169, 254, 255, 1).To4(), Mask: net.CIDRMask(32, 32)}

// OpenHostTAP creates (or takes over) the TAP device name, with the
// link-scope address HostTAPAddr, loose reverse-path filtering and no
// IPv6 link-local address (the host sends nothing out of it), and brings
// it up.
func OpenHostTAP(name string) (*HostTAP, error) {
	if name == "" || len(name) >= unix.IFNAMSIZ {
		return nil, fmt.Errorf("host interface %q: want a name of 1-%d characters", name, unix.IFNAMSIZ-1)
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("host interface %s: /dev/net/tun: %w", name, err)
	}
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
		}
	}()
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return nil, fmt.Errorf("host interface %s: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return nil, fmt.Errorf("host interface %s: TUNSETIFF: %w", name, err)
	}
	// Before the link is up: no link-local address, so no DAD, router
	// solicitations or MLD reports pile up on a queue nobody reads.
	_ = writeSysctl(filepath.Join("/proc/sys/net/ipv6/conf", name, "addr_gen_mode"), "1")
	if err := writeSysctl(filepath.Join("/proc/sys/net/ipv4/conf", name, "rp_filter"), "2"); err != nil {
		return nil, fmt.Errorf("host interface %s: rp_filter: %w", name, err)
	}
	// Nothing that comes in here is the kernel's to forward: gannet
	// writes only packets to the host's own addresses, and one the host
	// gave up since the tables were compiled must not be routed on past
	// every policy. (IPv4 honours this per interface; IPv6 forwarding is
	// the host's global setting.)
	if err := writeSysctl(filepath.Join("/proc/sys/net/ipv4/conf", name, "forwarding"), "0"); err != nil {
		return nil, fmt.Errorf("host interface %s: forwarding: %w", name, err)
	}
	l, err := netlink.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("host interface %s: %w", name, err)
	}
	if err := netlink.AddrReplace(l, &netlink.Addr{IPNet: &HostTAPAddr, Scope: unix.RT_SCOPE_LINK}); err != nil {
		return nil, fmt.Errorf("host interface %s: address %v: %w", name, &HostTAPAddr, err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return nil, fmt.Errorf("host interface %s: up: %w", name, err)
	}
	t := &HostTAP{fd: fd, name: name, index: l.Attrs().Index}
	if len(l.Attrs().HardwareAddr) != 6 {
		return nil, fmt.Errorf("host interface %s: no Ethernet address", name)
	}
	copy(t.mac[:], l.Attrs().HardwareAddr)
	ok = true
	return t, nil
}

func writeSysctl(path, v string) error {
	return os.WriteFile(path, []byte(v), 0o644)
}

// Name returns the device's name.
func (t *HostTAP) Name() string { return t.name }

// Index returns the device's interface index.
func (t *HostTAP) Index() int { return t.index }

// Path is the HostPath that delivers into the device.
func (t *HostTAP) Path() *HostPath { return &HostPath{Sink: t, MAC: t.mac} }

// WriteFrames writes each frame into the device: one write(2) per frame,
// all at the end of the worker's batch. It stops at the first frame the
// kernel refuses.
func (t *HostTAP) WriteFrames(frames [][]byte) int {
	for i, f := range frames {
		if _, err := unix.Write(t.fd, f); err != nil {
			return i
		}
	}
	return len(frames)
}

// Close closes the device (the kernel removes it). No worker may write
// into it after.
func (t *HostTAP) Close() error { return unix.Close(t.fd) }
