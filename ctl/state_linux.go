package ctl

// State: the connection table lives in a file under dataplane.stateDir,
// one directory per network namespace (as the pins), mapped shared, so
// that a restart, an upgrade or a crash keeps every session and NAT
// mapping (nat.Open). The next gannet adopts what it finds, or starts
// empty and says why; `gannet cleanup` removes it for good.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/gannet-net/gannet/ctl/config"
	"github.com/gannet-net/gannet/nat"
)

// conntrackFile is the name of the connection table's state file.
const conntrackFile = "conntrack"

// stateDir returns this network namespace's state directory under base.
func stateDir(base string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &st); err != nil {
		return "", fmt.Errorf("dataplane.stateDir: which network namespace: %w", err)
	}
	return filepath.Join(base, fmt.Sprintf("netns-%d", st.Ino)), nil
}

// openStateful is newStateful for gannet run: the connection table is in
// its state file, adopted from the last gannet when it can be; restore
// says what was found (nil without conntrack). The plan's NAT policy is
// published at once, so that adopted sessions expire by the configured
// timers, not the defaults, from the first batch on.
func openStateful(p *config.Plan) (stateful, *nat.Restore, error) {
	s := stateful{hits: newRuleHits(p)}
	if p.ConntrackCapacity == 0 {
		return s, nil, nil
	}
	dir, err := stateDir(p.StateDir)
	if err != nil {
		return s, nil, err
	}
	t, r, err := nat.Open(filepath.Join(dir, conntrackFile), nat.Config{Capacity: p.ConntrackCapacity})
	if err != nil {
		return s, nil, fmt.Errorf("dataplane.stateDir: %w", err)
	}
	if err := t.SetPolicy(natPolicy(p)); err != nil {
		t.Close()
		return s, nil, fmt.Errorf("nat: %w", err)
	}
	s.nat = t
	return s, &r, nil
}

// CleanupState removes the state a gannet of this network namespace left
// under base: what `gannet cleanup` does, with the pins. It refuses
// while a gannet holds the state.
func CleanupState(base string) (removed []string, err error) {
	dir, err := stateDir(base)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, conntrackFile)
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	switch {
	case errors.Is(err, unix.ENOENT):
	case err != nil:
		return nil, fmt.Errorf("%s: %w", path, err)
	default:
		lerr := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if lerr == nil {
			err = os.Remove(path)
		}
		unix.Close(fd)
		if errors.Is(lerr, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s is in use: stop gannet first", path)
		}
		if lerr != nil {
			return nil, fmt.Errorf("%s: lock: %w", path, lerr)
		}
		if err != nil {
			return nil, err
		}
		removed = append(removed, path)
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return removed, err
	}
	return removed, nil
}
