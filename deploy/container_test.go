package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gannet-net/gannet/internal/netnstest"
)

// imageCaps are the file capabilities the image's binary carries: the
// systemd unit's set (e2e/privileges_test.go proves it).
var imageCaps = []string{"cap_net_admin", "cap_net_raw", "cap_bpf", "cap_perfmon", "cap_ipc_lock", "cap_net_bind_service"}

// podman runs podman on a store of the test's own (vfs: no overlay mounts
// left behind), so nothing outlives the test.
type podman struct {
	t     *testing.T
	store string
}

func (p podman) cmd(args ...string) *exec.Cmd {
	base := []string{"--root", filepath.Join(p.store, "root"), "--runroot", filepath.Join(p.store, "run"),
		"--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "none"}
	if _, err := exec.LookPath("runc"); err == nil {
		base = append(base, "--runtime", "runc")
	}
	if args[0] == "run" {
		args = append([]string{"run", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"}, args[1:]...)
	}
	cmd := exec.Command("podman", append(base, args...)...)
	cmd.Env = append(os.Environ(), "TMPDIR="+filepath.Join(p.store, "tmp"))
	return cmd
}

func (p podman) try(args ...string) (string, error) {
	out, err := p.cmd(args...).CombinedOutput()
	return string(out), err
}

func (p podman) run(args ...string) string {
	p.t.Helper()
	out, err := p.try(args...)
	if err != nil {
		p.t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// Containers run with limits below the caller's (podman otherwise raises
// RLIMIT_NOFILE and RLIMIT_NPROC, which needs CAP_SYS_RESOURCE, and a CI
// sandbox's root may lack it: this one does), and with runc where it is
// installed (crun refuses a machine with hybrid cgroups, as this one has).

// TestContainerImage builds the Dockerfile's final stage from a binary
// built here (no registry is reachable: the golang build stage is
// replaced by a rootfs laid out by the same script it runs) and runs it:
// gannet version, the shipped configuration checked, a bad one refused
// naming its field, as user gannet with the capabilities on the file.
func TestContainerImage(t *testing.T) {
	requireRoot(t)
	requireTools(t, "podman", "setcap", "getcap")
	bin := staticGannet(t)
	tmp := t.TempDir()
	rootfs := filepath.Join(tmp, "rootfs")
	cmd := exec.Command("scripts/container-rootfs.sh", bin, rootfs)
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/container-rootfs.sh: %v\n%s", err, out)
	}
	p := podman{t: t, store: filepath.Join(tmp, "store")}
	os.MkdirAll(filepath.Join(p.store, "tmp"), 0o700)
	t.Cleanup(func() {
		if out, err := p.try("system", "reset", "--force"); err != nil {
			t.Errorf("podman system reset: %v\n%s", err, out)
		}
	})
	context := filepath.Join(tmp, "context") // the final stage copies nothing from it
	os.MkdirAll(context, 0o755)
	const image = "localhost/gannet-test:latest"
	p.run("build", "--quiet", "--build-context", "rootfs="+rootfs, "--target", "image", "-t", image, "-f", filepath.Join(repo, "Dockerfile"), context)

	if got := strings.TrimSpace(p.run("image", "inspect", "--format", "{{.Config.User}}", image)); got != "65532:65532" {
		t.Errorf("image user = %q, want 65532:65532 (gannet)", got)
	}
	if got := p.run("run", "--rm", "--network", "none", image, "version"); got != "gannet "+testVersion+"\n" {
		t.Errorf("gannet version in the image = %q, want gannet %s", got, testVersion)
	}
	out := p.run("run", "--rm", "--network", "none", image, "run", "--check", "--config", "/etc/gannet/gannet.yaml")
	if !strings.Contains(out, "configuration valid") {
		t.Errorf("gannet run --check of the shipped configuration:\n%s", out)
	}
	bad := filepath.Join(tmp, "bad.yaml")
	if err := os.WriteFile(bad, []byte("node:\n  name: x\ndataplane:\n  frameSize: 1000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := p.try("run", "--rm", "--network", "none", "-v", bad+":/etc/gannet/bad.yaml:ro", image, "run", "--check", "--config", "/etc/gannet/bad.yaml")
	if err == nil || !strings.Contains(out, "dataplane.frameSize") {
		t.Errorf("gannet run --check of a bad configuration = %v:\n%s\nwant a failure naming dataplane.frameSize", err, out)
	}

	// The capabilities are on the file, permitted only (gannet raises
	// them), so `gannet version` above ran without any of them.
	mnt := strings.TrimSpace(p.run("image", "mount", image))
	caps := run(t, "getcap", filepath.Join(mnt, "usr/sbin/gannet"))
	p.run("image", "unmount", image)
	for _, c := range imageCaps {
		if !strings.Contains(caps, c) {
			t.Errorf("getcap /usr/sbin/gannet = %q, lacks %s", caps, c)
		}
	}
	if !strings.HasSuffix(strings.TrimSpace(caps), "=p") {
		t.Errorf("getcap /usr/sbin/gannet = %q, want permitted only (=p)", caps)
	}

	t.Run("forwards", func(t *testing.T) { containerForwards(t, p, image, bin) })
}

// containerForwards runs the image as docs/OPERATIONS.md says to — every
// capability dropped but the six, the configuration and gannet's own
// bpffs mounted in, the host's network (here a namespace of the test's)
// — and a workload pings another through it.
func containerForwards(t *testing.T, p podman, image, bin string) {
	netnstest.Require(t, "ip", "ping", "ethtool")
	host := netnstest.NewNS(t, "ch")
	wls, endpoints := plugWorkloads(t, host, "198.18.17.10", "198.18.17.11")
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	config := filepath.Join(dir, "gannet.yaml")
	if err := os.WriteFile(config, []byte("node:\n  name: ctr\n  routerIPv4: 198.18.0.1\ndataplane:\n  cores: [0]\n  frames: 4096\n  pinPath: /var/lib/gannet/bpf\nworkloadEndpoints:\n"+endpoints), 0o644); err != nil {
		t.Fatal(err)
	}
	// gannet's bpffs, as the systemd unit's ExecStartPre makes it: the
	// image's user owns it.
	pins := filepath.Join(dir, "bpf")
	os.Mkdir(pins, 0o700)
	if err := syscall.Mount("bpf", pins, "bpf", 0, "mode=0700"); err != nil {
		t.Fatalf("mounting bpffs: %v", err)
	}
	t.Cleanup(func() {
		if out, err := host.Try(bin, "cleanup", "--pin-path", pins); err != nil {
			t.Errorf("gannet cleanup: %v\n%s", err, out)
		}
		syscall.Unmount(pins, syscall.MNT_DETACH)
	})
	os.Chown(pins, 65532, 65532)

	// The runtime's default seccomp profile allows bpf() only with
	// CAP_SYS_ADMIN (podman 4.3's, /usr/share/containers/seccomp.json):
	// gannet's map creation then fails "operation not permitted" although
	// CAP_BPF is effective. Hence seccomp=unconfined, as OPERATIONS.md says.
	args := []string{"run", "-d", "--name", "gannet-test", "--network", "ns:/run/netns/" + host.Name,
		"--security-opt", "seccomp=unconfined", "--cap-drop", "ALL"}
	for _, c := range imageCaps {
		args = append(args, "--cap-add", strings.ToUpper(c))
	}
	args = append(args, "-v", config+":/etc/gannet/gannet.yaml:ro", "-v", pins+":/var/lib/gannet/bpf", image)
	p.run(args...)
	t.Cleanup(func() { p.try("rm", "-f", "-t", "0", "gannet-test") })
	logs := func() string { out, _ := p.try("logs", "gannet-test"); return out }
	pid := strings.TrimSpace(p.run("inspect", "--format", "{{.State.Pid}}", "gannet-test"))
	if status, err := os.ReadFile("/proc/" + pid + "/status"); err == nil {
		for _, line := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(line, "CapEff") || strings.HasPrefix(line, "Uid") {
				t.Log("gannet in the container: " + line)
			}
		}
	}

	if err := pingThrough(wls[0], wls[1]); err != nil {
		t.Fatalf("through gannet in the container: %v\n%s", err, logs())
	}
	p.run("stop", "-t", "10", "gannet-test")
	if out := logs(); !strings.Contains(out, "forwarding") || strings.Contains(out, "attach failed") {
		t.Errorf("the container's log:\n%s", out)
	}
}
