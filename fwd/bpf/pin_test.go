package bpf

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gannet-net/gannet/internal/netnstest"
)

// bpffs mounts a private bpffs in a temporary directory for the test.
func bpffs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("bpf", dir, "bpf", 0, ""); err != nil {
		t.Skipf("mounting bpffs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

func progID(t *testing.T, p *Program) uint32 {
	t.Helper()
	info, err := p.objs.GannetXdp.Info()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := info.ID()
	return uint32(id)
}

// TestAttachPinned: a pinned program stays attached when its process lets
// go of it (a stop, a crash), the next one adopts it in one step, Close
// detaches it and removes the pin, and a pin left for a device that was
// deleted and made again is replaced.
func TestAttachPinned(t *testing.T) {
	requireRoot(t)
	netnstest.Require(t)
	ns := netnstest.NewNS(t, "gbpfpin")
	suffix := netnstest.Name("")
	pins := bpffs(t)
	_, b := vethPair(t, ns, "gpa"+suffix, "gpb"+suffix)
	idx := b.Attrs().Index
	pin := filepath.Join(pins, "ns", "gpb"+suffix)
	load := func() *Program {
		p, err := Load(Options{Role: RoleWorkload, NoSocket: NoSocketDrop})
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		return p
	}
	// AttachPinned resolves ifindex in the calling thread's namespace.
	attachPinned := func(p *Program, ifindex int) (adopted bool, err error) {
		err = ns.Do(func() (err error) {
			_, adopted, err = p.AttachPinned(ifindex, AttachAuto, pin)
			return err
		})
		return adopted, err
	}

	p1 := load()
	if adopted, err := attachPinned(p1, idx); err != nil || adopted {
		t.Fatalf("AttachPinned (first) = adopted %v, %v", adopted, err)
	}
	id1 := progID(t, p1)
	if err := p1.Release(); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if id, _ := xdpState(t, ns, idx); id != id1 {
		t.Fatalf("after Release the device has program %d, want %d still attached (fail closed)", id, id1)
	}

	p2 := load()
	if adopted, err := attachPinned(p2, idx); err != nil || !adopted {
		t.Fatalf("AttachPinned (restart) = adopted %v, %v; want the pinned link adopted", adopted, err)
	}
	if id, _ := xdpState(t, ns, idx); id != progID(t, p2) {
		t.Errorf("after adoption the device has program %d, want the new one %d", id, progID(t, p2))
	}
	if err := p2.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if id, _ := xdpState(t, ns, idx); id != 0 {
		t.Errorf("after Close program %d is still attached", id)
	}
	if _, err := os.Stat(pin); !os.IsNotExist(err) {
		t.Errorf("after Close the pin is still there: %v", err)
	}

	// A pin left for a device that was deleted and made again.
	p3 := load()
	if _, err := attachPinned(p3, idx); err != nil {
		t.Fatal(err)
	}
	p3.Release()
	if err := ns.Netlink().LinkDel(b); err != nil {
		t.Fatal(err)
	}
	_, b = vethPair(t, ns, "gpa"+suffix, "gpb"+suffix)
	p4 := load()
	defer p4.Close()
	if adopted, err := attachPinned(p4, b.Attrs().Index); err != nil || adopted {
		t.Fatalf("AttachPinned on the re-made device = adopted %v, %v; want a fresh attach", adopted, err)
	}
	if id, _ := xdpState(t, ns, b.Attrs().Index); id != progID(t, p4) {
		t.Errorf("the re-made device has program %d, want %d", id, progID(t, p4))
	}
	// RemovePinned detaches what a stopped gannet left.
	p4.Release()
	if err := RemovePinned(pin); err != nil {
		t.Fatalf("RemovePinned: %v", err)
	}
	if id, _ := xdpState(t, ns, b.Attrs().Index); id != 0 {
		t.Errorf("after RemovePinned program %d is still attached", id)
	}
}
