// Package namespace is the network-namespace plumbing every lab of
// gannet's builds on: named namespaces, veth pairs between them, commands
// run inside and Go code run on a thread switched into one, all through
// iproute2 (`ip`) so every step can be replayed by hand and a failing one
// quotes its command line. It imports nothing of gannet's, so any package's
// tests may use it. Scratch is a set of random-suffix namespaces removed
// together (benchmarks, tests); package lab builds the named data center
// on the same calls.
package namespace

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"github.com/vishvananda/netns"
)

// Run runs name with args in namespace ns ("" = the current one) and
// returns its standard output; the error quotes the command and its
// standard error.
func Run(ns, name string, args ...string) (string, error) {
	return RunContext(context.Background(), ns, name, args...)
}

// RunContext is Run with a context.
func RunContext(ctx context.Context, ns, name string, args ...string) (string, error) {
	cmd := Command(ctx, ns, name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String() + errb.String(), fmt.Errorf("%s: %w: %s", strings.Join(cmd.Args, " "), err, strings.TrimSpace(errb.String()))
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
// Sockets fn opens stay in ns and keep working after Do returns. fn runs
// on a goroutine of its own: it reports failure by its error, not by
// t.Fatal (which would end only that goroutine; Do then returns an error
// saying so instead of waiting forever).
func Do(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		// A thread that cannot switch back stays locked, so it dies
		// with this goroutine instead of running others in ns.
		runtime.LockOSThread()
		inFn := false
		defer func() {
			if inFn { // fn called runtime.Goexit; the thread dies still locked
				errc <- fmt.Errorf("namespace: the function run in %s exited without returning (t.FailNow or runtime.Goexit inside Do?)", ns)
			}
		}()
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("namespace: current namespace: %w", err)
			return
		}
		defer orig.Close()
		target, err := netns.GetFromName(ns)
		if err != nil {
			errc <- fmt.Errorf("namespace: namespace %s: %w", ns, err)
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			errc <- fmt.Errorf("namespace: enter %s: %w", ns, err)
			return
		}
		inFn = true
		ferr := fn()
		inFn = false
		if err := netns.Set(orig); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("namespace: leave %s: %w", ns, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Exists reports whether the named namespace exists.
func Exists(name string) bool {
	_, err := os.Stat("/run/netns/" + name)
	return err == nil
}

// Add creates namespace name with its loopback up; a new interface in
// it skips duplicate address detection (its addresses work at once).
func Add(name string) error {
	if _, err := Run("", "ip", "netns", "add", name); err != nil {
		return err
	}
	if _, err := Run(name, "ip", "link", "set", "lo", "up"); err != nil {
		return err
	}
	_, err := Run(name, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0", "net.ipv6.conf.all.accept_dad=0")
	return err
}

// Delete kills every process still inside namespace name (they would keep
// its devices alive) and deletes it, which deletes its interfaces and
// with a veth end its peer. A namespace that does not exist is no error.
func Delete(name string) error {
	if !Exists(name) {
		return nil
	}
	if out, err := exec.Command("ip", "netns", "pids", name).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			var pid int
			if _, err := fmt.Sscan(f, &pid); err == nil && pid != os.Getpid() {
				if proc, err := os.FindProcess(pid); err == nil {
					proc.Kill()
				}
			}
		}
	}
	_, err := Run("", "ip", "netns", "del", name)
	return err
}

// Veth creates a veth pair, end a in namespace nsA and end b in nsB, and
// sets both up.
func Veth(nsA, a, nsB, b string) error { return VethQueues(nsA, a, nsB, b, 0) }

// VethQueues is Veth with queues rx and tx queues on both ends (0: the
// kernel's default of 1); queue counts must be set before an XDP program
// is attached.
func VethQueues(nsA, a, nsB, b string, queues int) error {
	q := func() []string {
		if queues <= 0 {
			return nil
		}
		return []string{"numrxqueues", fmt.Sprint(queues), "numtxqueues", fmt.Sprint(queues)}
	}
	args := append([]string{"link", "add", a}, q()...)
	args = append(args, "netns", nsA, "type", "veth", "peer", "name", b)
	args = append(append(args, q()...), "netns", nsB)
	if _, err := Run("", "ip", args...); err != nil {
		return err
	}
	if _, err := Run(nsA, "ip", "link", "set", a, "up"); err != nil {
		return err
	}
	_, err := Run(nsB, "ip", "link", "set", b, "up")
	return err
}

// Script runs commands in order in namespace ns and stops at the first
// that fails.
func Script(ns string, cmds ...[]string) error {
	for _, c := range cmds {
		if _, err := Run(ns, c[0], c[1:]...); err != nil {
			return err
		}
	}
	return nil
}
