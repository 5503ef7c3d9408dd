package fwd

import (
	"net"
	"os"
	"sync/atomic"
	"testing"

	"github.com/gannet-net/gannet/fwd/bpf"
	"github.com/gannet-net/gannet/internal/netnstest"
)

// TestEgressCheckQuietFlow: the egress check judges a device by packets
// redirected after its last reading of what the device took. A flow that
// goes quiet right after a sweep counted its last packets — already in the
// device's count — leaves the device on the fast path; packets redirected
// after a reading that the device never takes still take it off.
func TestEgressCheckQuietFlow(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_BPF, CAP_NET_ADMIN) for the egress devmap and a namespace")
	}
	ns := netnstest.NewNS(t, "fe")
	netnstest.Veth(t, "e0", ns, "e1", ns)
	fp, err := bpf.NewFastPath(64)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fp.Close() })
	var took atomic.Uint64 // what the device took so far
	var tabs atomic.Pointer[Tables]
	off, err := NewOffload(fp, OffloadConfig{Tables: &tabs, Delivered: func(int) (uint64, bool) { return took.Load(), true }})
	if err != nil {
		t.Fatal(err)
	}
	var ifindex int
	if err := ns.Do(func() error {
		ifi, err := net.InterfaceByName("e0")
		if err != nil {
			return err
		}
		ifindex = ifi.Index
		return off.AddEgress(ifindex)
	}); err != nil {
		t.Fatal(err)
	}
	sweep := func(redirected uint64) {
		off.mu.Lock()
		defer off.mu.Unlock()
		off.checkEgress(map[uint32]uint64{uint32(ifindex): redirected})
	}
	// A burst of 10, taken by the device before the sweep read it; then
	// quiet for several sweeps.
	took.Store(10)
	sweep(10)
	for range 3 {
		sweep(0)
	}
	if n := off.c.egressOff.Load(); n != 0 {
		t.Fatalf("a flow that went quiet took its device off the fast path (%d times)", n)
	}
	// Then 5 more redirected after that reading, never taken.
	sweep(5)
	sweep(0)
	if n := off.c.egressOff.Load(); n != 1 {
		t.Errorf("5 packets redirected and never taken: egress-off %d, want 1", n)
	}
}
