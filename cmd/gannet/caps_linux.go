package main

// File capabilities: the container image gives /usr/sbin/gannet its
// capabilities as permitted-only file capabilities (setcap ...+p), because
// a binary whose file capabilities are marked effective cannot even start
// (`gannet version`) in a container that was not given all of them. So
// gannet makes its permitted capabilities effective itself, on every thread
// at once (capabilities are per thread). Under systemd the capabilities
// arrive ambient, already effective, and this does nothing.

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// raiseCapabilities makes the permitted capabilities effective. It needs
// a binary without cgo (syscall.AllThreadsSyscall); the released builds
// are static.
func raiseCapabilities() error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return err
	}
	if data[0].Effective == data[0].Permitted && data[1].Effective == data[1].Permitted {
		return nil
	}
	data[0].Effective, data[1].Effective = data[0].Permitted, data[1].Permitted
	if _, _, errno := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); errno != 0 {
		return errno
	}
	return nil
}
