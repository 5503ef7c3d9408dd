// What a device says about the frames XDP redirected into it: veth counts
// the frames it took from ndo_xdp_xmit per queue in its ethtool statistics
// (tx_queue_N_xdp_xmit). Read through the SIOCETHTOOL ioctl: the string
// set names the counters, the stats are read in the same order.

package fwd

import (
	"bytes"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// From linux/ethtool.h (golang.org/x/sys/unix does not have them).
const (
	ethSSStats    = 1  // ETH_SS_STATS: the string set of the statistics
	ethGStringLen = 32 // ETH_GSTRING_LEN
)

// XDPDelivered returns the frames redirected by XDP that the device
// ifindex took so far, summed over its queues; false when the device has
// no such counter (not a veth) or cannot be read. It is
// OffloadConfig.Delivered for the daemon.
func XDPDelivered(ifindex int) (uint64, bool) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, false
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("")
	if err != nil {
		return 0, false
	}
	ifr.SetUint32(uint32(ifindex))
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFNAME, ifr); err != nil {
		return 0, false
	}
	name := ifr.Name()

	// struct ethtool_sset_info with one data word: the stats set's size.
	var sset struct {
		cmd, reserved uint32
		mask          uint64
		n             uint32
	}
	sset.cmd, sset.mask = unix.ETHTOOL_GSSET_INFO, 1<<ethSSStats
	if ethtool(fd, name, unsafe.Pointer(&sset)) != nil || sset.mask == 0 || sset.n == 0 {
		return 0, false
	}
	n := int(sset.n)
	// struct ethtool_gstrings: cmd, string_set, len, then len names of 32 bytes.
	strs := make([]byte, 12+n*ethGStringLen)
	*(*uint32)(unsafe.Pointer(&strs[0])) = unix.ETHTOOL_GSTRINGS
	*(*uint32)(unsafe.Pointer(&strs[4])) = ethSSStats
	*(*uint32)(unsafe.Pointer(&strs[8])) = uint32(n)
	if ethtool(fd, name, unsafe.Pointer(&strs[0])) != nil {
		return 0, false
	}
	// struct ethtool_stats: cmd, n_stats, then n_stats u64.
	stats := make([]uint64, 1+n)
	*(*uint32)(unsafe.Pointer(&stats[0])) = unix.ETHTOOL_GSTATS
	*(*uint32)(unsafe.Add(unsafe.Pointer(&stats[0]), 4)) = uint32(n)
	if ethtool(fd, name, unsafe.Pointer(&stats[0])) != nil {
		return 0, false
	}
	var sum uint64
	found := false
	for i := range n {
		s := strs[12+i*ethGStringLen : 12+(i+1)*ethGStringLen]
		if j := bytes.IndexByte(s, 0); j >= 0 {
			s = s[:j]
		}
		if name := string(s); strings.HasPrefix(name, "tx_queue_") && strings.HasSuffix(name, "_xdp_xmit") {
			sum += stats[1+i]
			found = true
		}
	}
	return sum, found
}

// ethtool issues SIOCETHTOOL on device name with the command at data.
func ethtool(fd int, name string, data unsafe.Pointer) error {
	var ifr struct {
		name [unix.IFNAMSIZ]byte
		data unsafe.Pointer
		_    [24 - unsafe.Sizeof(uintptr(0))]byte
	}
	copy(ifr.name[:], name)
	ifr.data = data
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr))); errno != 0 {
		return errno
	}
	return nil
}
