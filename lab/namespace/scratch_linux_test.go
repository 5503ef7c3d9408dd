package namespace

import (
	"net"
	"runtime"
	"strings"
	"testing"
)

// scratch returns a scratch lab closed when the test ends, or skips t
// without root.
func scratch(t *testing.T) *Scratch {
	t.Helper()
	if ok, why := Root(); !ok {
		t.Skip(why)
	}
	l, err := NewScratch()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestScratchLifecycle(t *testing.T) {
	l := scratch(t)
	a, err := l.AddNS("a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.AddNS("b")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Veth(a, l.Name("va"), b, l.Name("vb"), 2); err != nil {
		t.Fatal(err)
	}
	out, err := Run(b, "ip", "-o", "link", "show", l.Name("vb"))
	if err != nil || !strings.Contains(out, "state UP") && !strings.Contains(out, "LOWERLAYERDOWN") && !strings.Contains(out, ",UP") {
		t.Fatalf("veth end in %s: %q, %v", b, out, err)
	}
	var idx int
	if err := Do(a, func() error {
		ifc, err := net.InterfaceByName(l.Name("va"))
		if err == nil {
			idx = ifc.Index
		}
		return err
	}); err != nil || idx == 0 {
		t.Fatalf("Do(%s) lookup: index %d, %v", a, idx, err)
	}
	if _, err := net.InterfaceByName(l.Name("va")); err == nil {
		t.Fatalf("%s visible outside its namespace after Do", l.Name("va"))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	out, _ = Run("", "ip", "netns", "list")
	if strings.Contains(out, l.Suffix) {
		t.Fatalf("namespaces left after Close: %s", out)
	}
}

// TestDoGoexit: a function that leaves Do's goroutine without returning
// (t.Fatal inside Do) makes Do fail instead of hang.
func TestDoGoexit(t *testing.T) {
	ns, err := scratch(t).AddNS("x")
	if err != nil {
		t.Fatal(err)
	}
	if err := Do(ns, func() error { runtime.Goexit(); return nil }); err == nil || !strings.Contains(err.Error(), "without returning") {
		t.Errorf("Do(fn calling runtime.Goexit) = %v, want an error saying fn did not return", err)
	}
	if err := Do(ns, func() error { return nil }); err != nil {
		t.Errorf("Do after a Goexit: %v", err)
	}
}
