// Package netnstest builds throwaway network namespaces and veth pairs for
// tests that need the real kernel: every name gets a random suffix (so
// packages testing in parallel never collide), everything is removed by
// t.Cleanup, and a test without root skips with a message naming what is
// missing. Namespaces are made, entered and removed by lab/namespace, the
// one namespace library (which drives iproute2, the tool an operator would
// use, so a failing step prints the command that failed); this package adds
// what tests need on top: unique names, cleanup and skips.
package netnstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/gannet-net/gannet/lab/namespace"
)

// Require skips t unless the process is root and the named tools (plus
// `ip` and `sysctl`, which NewNS uses) are on PATH.
func Require(t testing.TB, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces and veth pairs")
	}
	for _, tool := range append([]string{"ip", "sysctl"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s on PATH (%v)", tool, err)
		}
	}
}

// Name returns prefix plus a random 6-hex-digit suffix; it stays within
// the kernel's 15-byte interface name limit for prefixes up to 8 bytes.
func Name(prefix string) string {
	var b [3]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return prefix + hex.EncodeToString(b[:])
}

// NS is a network namespace made for one test.
type NS struct {
	Name string
	t    testing.TB
	h    *netlink.Handle // made by Netlink on first use
}

// NewNS creates a namespace named prefix+suffix with its loopback up and
// duplicate address detection off (IPv6 addresses work at once), and
// removes it when the test ends, killing what still runs inside.
func NewNS(t testing.TB, prefix string) *NS {
	t.Helper()
	ns := &NS{Name: Name(prefix), t: t}
	if namespace.Exists(ns.Name) {
		t.Fatalf("namespace %s exists already", ns.Name) // never delete one this test did not make
	}
	if err := namespace.Add(ns.Name); err != nil {
		// A namespace made before the failing step is still removed.
		if derr := namespace.Delete(ns.Name); derr != nil {
			t.Logf("removing %s: %v", ns.Name, derr)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Deleting the namespace destroys the interfaces in it (and with
		// a veth end, its peer).
		if err := namespace.Delete(ns.Name); err != nil {
			t.Logf("removing %s: %v", ns.Name, err)
		}
	})
	return ns
}

// Run runs a command inside the namespace and returns its output; a
// failure ends the test.
func (ns *NS) Run(args ...string) string {
	ns.t.Helper()
	out, err := ns.Command(args...).CombinedOutput()
	if err != nil {
		ns.t.Fatalf("ip netns exec %s %s: %v\n%s", ns.Name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Try runs a command inside the namespace and returns its output and error.
func (ns *NS) Try(args ...string) (string, error) {
	out, err := ns.Command(args...).CombinedOutput()
	return string(out), err
}

// Command returns a command that runs inside the namespace, for callers
// that want to start it in the background.
func (ns *NS) Command(args ...string) *exec.Cmd {
	return namespace.Command(context.Background(), ns.Name, args[0], args[1:]...)
}

// Do runs fn on an OS thread switched into the namespace: sockets fn opens
// belong to the namespace and keep working after Do returns.
func (ns *NS) Do(fn func() error) error { return namespace.Do(ns.Name, fn) }

// Netlink returns a netlink handle that works in the namespace whatever
// namespace the calling thread is in, for tests that read or change its
// links, addresses and neighbours directly; it is closed when the test
// ends, before the namespace is deleted.
func (ns *NS) Netlink() *netlink.Handle {
	ns.t.Helper()
	if ns.h != nil {
		return ns.h
	}
	nsh, err := netns.GetFromName(ns.Name)
	if err != nil {
		ns.t.Fatalf("namespace %s: %v", ns.Name, err)
	}
	defer nsh.Close() // the handle's sockets hold the namespace themselves
	h, err := netlink.NewHandleAt(nsh)
	if err != nil {
		ns.t.Fatalf("netlink handle in %s: %v", ns.Name, err)
	}
	ns.h = h
	ns.t.Cleanup(func() { h.Close(); ns.h = nil })
	return h
}

// Veth creates a veth pair, end a in namespace na and end b in nb (nil
// means the test's own namespace), and brings both up. Extra link options
// (e.g. "numrxqueues", "2", "numtxqueues", "2") apply to both ends.
func Veth(t testing.TB, a string, na *NS, b string, nb *NS, extra ...string) {
	t.Helper()
	args := []string{"ip", "link", "add", a}
	if na != nil {
		args = append(args, "netns", na.Name)
	}
	args = append(args, extra...)
	args = append(args, "type", "veth", "peer", "name", b)
	if nb != nil {
		args = append(args, "netns", nb.Name)
	}
	args = append(args, extra...)
	Run(t, args...)
	t.Cleanup(func() {
		// Gone already when one of the namespaces was deleted.
		if na != nil {
			_, _ = na.Try("ip", "link", "del", a)
		} else {
			_ = exec.Command("ip", "link", "del", a).Run()
		}
	})
	up := func(ns *NS, dev string) {
		if ns != nil {
			ns.Run("ip", "link", "set", dev, "up")
		} else {
			Run(t, "ip", "link", "set", dev, "up")
		}
	}
	up(na, a)
	up(nb, b)
}

// Run runs a command and returns its combined output; a failure ends the
// test with the command line and its output.
func Run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
