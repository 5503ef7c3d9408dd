package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gannet-net/gannet/internal/netnstest"
)

// testVersion is the version the tests build gannet with: a release-like
// tag, so the package's name and version are predictable.
const testVersion = "v0.0.1-test"

// repo is the repository's top directory (tests run in deploy/).
var repo, _ = filepath.Abs("..")

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// staticGannet builds gannet as the package and the image do (static,
// CGO_ENABLED=0, testVersion) once for every test that needs it.
func staticGannet(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "gannet-deploy"); buildErr != nil {
			return
		}
		os.Chmod(buildDir, 0o755)
		builtBin = filepath.Join(buildDir, "gannet")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-X main.version="+testVersion, "-o", builtBin, "./cmd/gannet")
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building gannet: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// requireTools skips the test naming the first tool it lacks.
func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// run runs a command and fails the test when it fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// copyFile copies src to dst with mode.
func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, mode); err != nil {
		t.Fatal(err)
	}
}

// TestUnitVerifies: systemd-analyze verify accepts the unit offline — in
// a root holding the unit, the binary and the commands it names, and the
// machine's own systemd units for its dependencies — with not one
// warning (an unknown or misspelt setting is only a warning), and
// systemd-analyze security rates its sandbox no worse than "OK".
func TestUnitVerifies(t *testing.T) {
	requireTools(t, "systemd-analyze")
	const units = "/usr/lib/systemd/system"
	if _, err := os.Stat(filepath.Join(units, "sysinit.target")); err != nil {
		t.Skipf("no systemd units in %s (package systemd)", units)
	}
	root := t.TempDir()
	for _, l := range [][2]string{{"bin", "usr/bin"}, {"lib", "usr/lib"}, {"sbin", "usr/sbin"}} {
		os.MkdirAll(filepath.Join(root, l[1]), 0o755)
		if err := os.Symlink(l[1], filepath.Join(root, l[0])); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(root, "usr/lib/systemd"), 0o755)
	run(t, "cp", "-a", units, filepath.Join(root, "usr/lib/systemd/"))
	copyFile(t, filepath.Join(repo, "deploy/systemd/gannet.service"), filepath.Join(root, units, "gannet.service"), 0o644)
	copyFile(t, staticGannet(t), filepath.Join(root, "usr/sbin/gannet"), 0o755)
	for _, cmd := range []string{"sh", "kill"} { // ExecStartPre, ExecReload
		path, err := exec.LookPath(cmd)
		if err != nil {
			t.Fatal(err)
		}
		real, _ := filepath.EvalSymlinks(path)
		copyFile(t, real, filepath.Join(root, "usr/bin", cmd), 0o755)
	}
	unit := filepath.Join(root, units, "gannet.service")
	out, err := exec.Command("systemd-analyze", "verify", "--root="+root, "--man=no", unit).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Fatalf("systemd-analyze verify gannet.service: %v\n%s", err, out)
	}
	// Exposure 0 (locked down) to 10 (unprotected); 4.0 is where "OK"
	// ends. Weakening the sandbox past it fails here.
	out, err = exec.Command("systemd-analyze", "security", "--offline=yes", "--root="+root, "--threshold=40", unit).CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err != nil {
		t.Fatalf("systemd-analyze security gannet.service: %v\n%s", err, out)
	}
	t.Log(lines[len(lines)-1])
}

// lockHost serializes the tests that change this machine (installing the
// package) across concurrent test runs.
func lockHost(t *testing.T, name string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), name+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
}

// workload is a namespace plugged into host by a veth pair and addressed
// as a Calico workload: one /32, the gateway 169.254.1.1 on-link.
type workload struct {
	ns          *netnstest.NS
	hostIf, mac string
	v4          string
}

// plugWorkloads makes one workload per address and returns them with
// their workloadEndpoints entries.
func plugWorkloads(t *testing.T, host *netnstest.NS, addrs ...string) ([]workload, string) {
	t.Helper()
	var wls []workload
	var endpoints string
	for i, v4 := range addrs {
		w := workload{ns: netnstest.NewNS(t, "dw"), hostIf: netnstest.Name("gw"), mac: fmt.Sprintf("02:00:00:00:18:%02x", i+10), v4: v4}
		dev := netnstest.Name("eth")
		netnstest.Veth(t, dev, w.ns, w.hostIf, host)
		// gannet, not the kernel, forwards: no partial checksums.
		w.ns.Run("ethtool", "-K", dev, "tx", "off")
		w.ns.Run("ip", "link", "set", dev, "address", w.mac)
		w.ns.Run("ip", "addr", "add", v4+"/32", "dev", dev)
		w.ns.Run("ip", "route", "add", "169.254.1.1", "dev", dev, "scope", "link")
		w.ns.Run("ip", "route", "add", "default", "via", "169.254.1.1", "dev", dev)
		endpoints += fmt.Sprintf("  - name: wl%d\n    interface: %s\n    mac: %q\n    ipNetworks: [%s/32]\n", i, w.hostIf, w.mac, v4)
		wls = append(wls, w)
	}
	return wls, endpoints
}

// pingThrough waits up to 15 s for a to reach b (gannet starting), then
// wants 5 of 5 pings answered.
func pingThrough(a, b workload) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		out, err := a.ns.Try("ping", "-c", "1", "-W", "1", b.v4)
		if err == nil && strings.Contains(out, "1 received") {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s cannot ping %s within 15s", a.v4, b.v4)
		}
	}
	if out, err := a.ns.Try("ping", "-c", "5", "-i", "0.2", "-W", "1", b.v4); err != nil || !strings.Contains(out, "5 received") {
		return fmt.Errorf("ping %s -> %s: %v\n%s", a.v4, b.v4, err, out)
	}
	return nil
}
