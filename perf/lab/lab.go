//go:build linux

// Package lab builds throw-away topologies in network namespaces for
// gannet's benchmarks and privileged tests: namespaces and veth pairs with
// random-suffix names, commands run inside them, and removal of all of it
// when done (or interrupted). It uses iproute2 (`ip`), so what it does can
// be replayed by hand. It never touches the namespace it was started from
// except to create and delete the veth pairs' ends it moved away.
package lab

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"

	"github.com/vishvananda/netns"
)

// Lab is a set of namespaces that are removed together.
type Lab struct {
	Suffix string // random suffix of every name this lab makes

	mu     sync.Mutex
	ns     []string
	closed bool
}

// New returns an empty lab with a fresh random suffix.
func New() (*Lab, error) {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return nil, fmt.Errorf("lab: iproute2 `ip` not found: %w", err)
	}
	return &Lab{Suffix: hex.EncodeToString(b[:])}, nil
}

// Name returns base with the lab's suffix; veth names must stay within 15
// bytes, so keep base at most 8.
func (l *Lab) Name(base string) string { return base + l.Suffix }

// AddNS creates namespace Name(base) with its loopback up and returns its name.
func (l *Lab) AddNS(base string) (string, error) {
	name := "gnt-" + l.Name(base)
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return "", errors.New("lab: closed")
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
func (l *Lab) Veth(nsA, a, nsB, b string, queues int) error {
	args := []string{"link", "add", a}
	if queues > 0 {
		args = append(args, "numrxqueues", fmt.Sprint(queues), "numtxqueues", fmt.Sprint(queues))
	}
	args = append(args, "netns", nsA, "type", "veth", "peer", "name", b)
	if queues > 0 {
		args = append(args, "numrxqueues", fmt.Sprint(queues), "numtxqueues", fmt.Sprint(queues))
	}
	args = append(args, "netns", nsB)
	if _, err := Run("", "ip", args...); err != nil {
		return err
	}
	if _, err := Run(nsA, "ip", "link", "set", a, "up"); err != nil {
		return err
	}
	_, err := Run(nsB, "ip", "link", "set", b, "up")
	return err
}

// Namespaces returns the namespaces made so far.
func (l *Lab) Namespaces() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.ns...)
}

// Close kills every process left in the lab's namespaces and deletes them
// (which deletes their veth ends). Safe to call more than once and from a
// signal handler's goroutine.
func (l *Lab) Close() error {
	l.mu.Lock()
	ns := l.ns
	l.ns, l.closed = nil, true
	l.mu.Unlock()
	var errs []error
	for _, n := range ns {
		// Processes still inside would keep the namespace's devices alive.
		if out, err := exec.Command("ip", "netns", "pids", n).Output(); err == nil {
			for _, pid := range strings.Fields(string(out)) {
				var p int
				if _, err := fmt.Sscan(pid, &p); err == nil && p != os.Getpid() {
					if proc, err := os.FindProcess(p); err == nil {
						proc.Kill()
					}
				}
			}
		}
		if _, err := Run("", "ip", "netns", "del", n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Run runs a command in namespace ns ("" = the current one) and returns
// its standard output; the error quotes the command and its stderr.
func Run(ns, name string, args ...string) (string, error) {
	return RunContext(context.Background(), ns, name, args...)
}

// RunContext is Run with a context.
func RunContext(ctx context.Context, ns, name string, args ...string) (string, error) {
	cmd := Command(ctx, ns, name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// Command returns the command that runs name in namespace ns.
func Command(ctx context.Context, ns, name string, args ...string) *exec.Cmd {
	if ns == "" {
		return exec.CommandContext(ctx, name, args...)
	}
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// Do runs fn on a locked OS thread inside namespace ns and switches back.
// Sockets and BPF links created inside stay bound to ns.
func Do(ns string, fn func() error) error {
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("lab: current namespace: %w", err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(ns)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("lab: namespace %s: %w", ns, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("lab: enter %s: %w", ns, err)
	}
	ferr := fn()
	if err := netns.Set(orig); err != nil {
		// The thread is stuck in ns: leave it locked so it dies with
		// this goroutine instead of running other goroutines there.
		return errors.Join(ferr, fmt.Errorf("lab: leave %s: %w", ns, err))
	}
	runtime.UnlockOSThread()
	return ferr
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
