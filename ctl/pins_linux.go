package ctl

// Pins: the XDP programs' links live on bpffs under dataplane.pinPath, one
// directory per network namespace (two gannets in two namespaces may both
// have an eth0), one pin per interface. They outlive the process: a
// stopped or crashed gannet leaves every port with a program that has no
// socket, which drops transit and workload traffic and still hands the
// host its own (fail closed), and the next gannet adopts each link in one
// step. `gannet cleanup` removes them for good.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/gannet-net/gannet/fwd/bpf"
)

// pinDir returns this namespace's pin directory under base, mounting
// bpffs where it is missing.
func pinDir(base string) (string, error) {
	if err := ensureBPFFS(base); err != nil {
		return "", fmt.Errorf("dataplane.pinPath: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &st); err != nil {
		return "", fmt.Errorf("dataplane.pinPath: which network namespace: %w", err)
	}
	dir := filepath.Join(base, fmt.Sprintf("netns-%d", st.Ino))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("dataplane.pinPath: %w", err)
	}
	return dir, nil
}

// ensureBPFFS makes base a directory on bpffs: as it is, or by mounting
// bpffs on /sys/fs/bpf (for a base beneath it: directories cannot be made
// in sysfs) or on base itself. Mounting needs CAP_SYS_ADMIN, which the
// systemd unit does not give: it mounts the pin path before gannet starts.
func ensureBPFFS(base string) error {
	if onBPFFS(base) {
		return nil
	}
	const sysBPF = "/sys/fs/bpf"
	if strings.HasPrefix(base, sysBPF+"/") || base == sysBPF {
		if !onBPFFS(sysBPF) {
			if err := unix.Mount("bpf", sysBPF, "bpf", 0, "mode=0700"); err != nil {
				return fmt.Errorf("mounting bpffs on %s: %w%s", sysBPF, err, mountHint(err))
			}
		}
		if err := os.MkdirAll(base, 0o700); err != nil {
			return err
		}
		return nil
	}
	if err := os.MkdirAll(base, 0o700); err != nil {
		return err
	}
	if err := unix.Mount("bpf", base, "bpf", 0, "mode=0700"); err != nil {
		return fmt.Errorf("mounting bpffs on %s: %w%s", base, err, mountHint(err))
	}
	return nil
}

// mountHint says what to do when gannet may not mount.
func mountHint(err error) string {
	if errors.Is(err, unix.EPERM) {
		return " (mounting needs CAP_SYS_ADMIN: mount bpffs there before gannet starts, as the systemd unit's ExecStartPre does)"
	}
	return ""
}

func onBPFFS(path string) bool {
	var fs unix.Statfs_t
	return unix.Statfs(path, &fs) == nil && fs.Type == unix.BPF_FS_MAGIC
}

// Cleanup detaches every program a gannet of this network namespace left
// pinned under base and removes the pins: what `gannet cleanup` does, and
// the package's removal runs.
func Cleanup(base string) (removed []string, err error) {
	if !onBPFFS(base) {
		return nil, nil // nothing was ever pinned there
	}
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &st); err != nil {
		return nil, err
	}
	dir := filepath.Join(base, fmt.Sprintf("netns-%d", st.Ino))
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, e := range entries {
		if err := bpf.RemovePinned(filepath.Join(dir, e.Name())); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, e.Name())
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return removed, errors.Join(errs...)
}
