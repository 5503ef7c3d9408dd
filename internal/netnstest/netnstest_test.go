package netnstest

import (
	"net"
	"strings"
	"testing"
)

func TestNamespacesAndVeth(t *testing.T) {
	Require(t, "ping")
	a, b := NewNS(t, "nta"), NewNS(t, "ntb")
	va, vb := Name("nva"), Name("nvb")
	Veth(t, va, a, vb, b)
	a.Run("ip", "addr", "add", "198.18.200.1/30", "dev", va)
	b.Run("ip", "addr", "add", "198.18.200.2/30", "dev", vb)
	if out := a.Run("ping", "-c", "1", "-W", "2", "198.18.200.2"); !strings.Contains(out, "1 received") {
		t.Fatalf("ping across the veth pair: %s", out)
	}
	// A netlink handle works in its namespace from any thread.
	if l, err := a.Netlink().LinkByName(va); err != nil || l.Attrs().Name != va {
		t.Errorf("Netlink().LinkByName(%s) in %s = %v, %v", va, a.Name, l, err)
	}
	if _, err := b.Netlink().LinkByName(va); err == nil {
		t.Errorf("Netlink().LinkByName(%s) in %s found a link of %s", va, b.Name, a.Name)
	}
	if _, err := net.InterfaceByName(va); err == nil {
		t.Errorf("%s visible outside namespace %s", va, a.Name)
	}
	// A socket opened inside Do belongs to the namespace.
	var ln net.Listener
	if err := b.Do(func() (err error) {
		ln, err = net.Listen("tcp", "198.18.200.2:0")
		return err
	}); err != nil {
		t.Fatalf("Do: %v", err)
	}
	defer ln.Close()
	if _, err := net.Listen("tcp", "198.18.200.2:0"); err == nil {
		t.Errorf("198.18.200.2 is bindable outside namespace %s", b.Name)
	}
}

func TestName(t *testing.T) {
	x, y := Name("gw"), Name("gw")
	if x == y || len(x) != 8 || !strings.HasPrefix(x, "gw") {
		t.Errorf("Name(gw) = %q, %q", x, y)
	}
}
