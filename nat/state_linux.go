//go:build linux

package nat

// The state file on Linux: created or opened under an exclusive lock (one
// process at a time owns it; the lock goes with the process, however it
// ends), mapped shared, its pages populated at start so that the data
// path never waits for the kernel to allocate one.

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// stateFile is an open, mapped, locked state file.
type stateFile struct {
	fd     int
	mem    []byte
	closed bool
}

func (f *stateFile) close() error {
	if f.closed {
		return nil
	}
	f.closed = true
	err := unix.Munmap(f.mem)
	if cerr := unix.Close(f.fd); err == nil {
		err = cerr
	}
	return err
}

// Open makes a table like New whose fixed arrays live in the state file
// at path (its directory is made if missing), so that they outlive the
// process. A file this process can adopt — one a table of the same
// configuration left, this boot — is taken over: its sessions that pass
// every check go on where they were (state.go). Anything else, a missing
// file included, is cleared and the table starts empty; Restore says
// which happened and why. Only one process may have the file open: a
// second Open fails, naming it. Close releases it; so does the end of
// the process, however it ends.
func Open(path string, cfg Config) (*Table, Restore, error) {
	r := Restore{Path: path}
	if err := cfg.normalize(); err != nil {
		return nil, r, err
	}
	l := layoutOf(&cfg)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, r, fmt.Errorf("nat: state file: %w", err)
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, r, fmt.Errorf("nat: state file %s: %w", path, err)
	}
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
		}
	}()
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, r, fmt.Errorf("nat: state file %s is in use by another process (another gannet?)", path)
		}
		return nil, r, fmt.Errorf("nat: state file %s: lock: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, r, fmt.Errorf("nat: state file %s: %w", path, err)
	}
	why := ""
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return nil, r, fmt.Errorf("nat: state file %s is not a regular file", path)
	case st.Size == 0:
		why = "no state file"
	case st.Size != int64(l.size):
		why = fmt.Sprintf("%d bytes, laid out for another size (want %d)", st.Size, l.size)
		// The header, if it is one, says better why (a capacity
		// changed); it is checked before the size.
		hdr := make([]byte, headerPage)
		if n, err := unix.Pread(fd, hdr, 0); err == nil && n == headerPage {
			if _, _, err := checkHeader(hdr, &l, &cfg, stateNow(cfg.Clock)); err != nil {
				why = strings.TrimPrefix(err.Error(), errNotAdopted.Error()+": ")
			}
		}
	}
	if why != "" {
		// Sparse zeros: tmpfs gives each page as it is touched.
		if err := unix.Ftruncate(fd, 0); err != nil {
			return nil, r, fmt.Errorf("nat: state file %s: %w", path, err)
		}
		if err := unix.Ftruncate(fd, int64(l.size)); err != nil {
			return nil, r, fmt.Errorf("nat: state file %s: %w", path, err)
		}
	}
	mem, err := unix.Mmap(fd, 0, l.size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, r, fmt.Errorf("nat: state file %s: mapping %d bytes: %w", path, l.size, err)
	}
	// Advice only, as for anonymous tables (hugealloc_linux.go).
	_ = unix.Madvise(mem, unix.MADV_HUGEPAGE)
	_ = unix.Madvise(mem, unix.MADV_POPULATE_WRITE)
	t, rr, err := newTableOn(mem, &l, cfg, stateNow(cfg.Clock))
	if err != nil {
		unix.Munmap(mem)
		return nil, r, err
	}
	rr.Path = path
	if why != "" {
		rr.Why = why
	}
	sf := &stateFile{fd: fd, mem: mem}
	t.state = sf
	runtime.AddCleanup(t, func(f *stateFile) { f.close() }, sf)
	ok = true
	return t, rr, nil
}

// Close releases a table's state file: unmapped and unlocked, it is the
// next process's to adopt. The table must not be used after Close. A
// table made by New has nothing to release.
func (t *Table) Close() error {
	if t.state == nil {
		return nil
	}
	return t.state.close()
}

// bootClock reads CLOCK_BOOTTIME and the boot's id.
func bootClock() (int64, [16]byte, bool) {
	var boot [16]byte
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0, boot, false
	}
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return 0, boot, false
	}
	id, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(string(b)), "-", ""))
	if err != nil || len(id) != len(boot) {
		return 0, boot, false
	}
	copy(boot[:], id)
	return ts.Nano(), boot, true
}
