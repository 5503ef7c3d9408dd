package namespace

// Scratch topologies: namespaces with random-suffix names for benchmarks
// (`gannet bench forward`) and privileged tests, which may run side by
// side and must never collide; removed together when done or
// interrupted. Package lab's named data center is built on the same calls.

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
)

// Scratch is a set of namespaces that are removed together.
type Scratch struct {
	Suffix string // random suffix of every name this scratch lab makes

	mu     sync.Mutex
	ns     []string
	closed bool
}

// NewScratch returns an empty scratch lab with a fresh random suffix.
func NewScratch() (*Scratch, error) {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, fmt.Errorf("namespace: iproute2 `ip` not found: %w", err)
	}
	return &Scratch{Suffix: hex.EncodeToString(b[:])}, nil
}

// Name returns base with the lab's suffix; veth names must stay within 15
// bytes, so keep base at most 8.
func (l *Scratch) Name(base string) string { return base + l.Suffix }

// AddNS creates namespace gnt-Name(base) with its loopback up and returns
// its name.
func (l *Scratch) AddNS(base string) (string, error) {
	name := "gnt-" + l.Name(base)
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return "", errors.New("namespace: closed")
	}
	l.mu.Unlock()
	if _, err := Run("", "ip", "netns", "add", name); err != nil {
		return "", err
	}
	l.mu.Lock()
	l.ns = append(l.ns, name)
	l.mu.Unlock()
	if _, err := Run(name, "ip", "link", "set", "lo", "up"); err != nil {
		return "", err
	}
	return name, nil
}

// Veth creates a veth pair with end a in namespace nsA and end b in nsB,
// both with queues rx/tx queues (0: the kernel's default of 1), and sets
// both up.
func (l *Scratch) Veth(nsA, a, nsB, b string, queues int) error {
	return VethQueues(nsA, a, nsB, b, queues)
}

// Namespaces returns the namespaces made so far.
func (l *Scratch) Namespaces() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.ns...)
}

// Close kills every process left in the lab's namespaces and deletes them
// (which deletes their veth ends). Safe to call more than once and from a
// signal handler's goroutine.
func (l *Scratch) Close() error {
	l.mu.Lock()
	ns := l.ns
	l.ns, l.closed = nil, true
	l.mu.Unlock()
	var errs []error
	for _, n := range ns {
		if err := Delete(n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Root reports whether the process can build labs, and if not, why.
func Root() (bool, string) {
	if os.Geteuid() != 0 {
		return false, "needs root (network namespaces, veth)"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return false, "needs iproute2 (ip)"
	}
	return true, ""
}
