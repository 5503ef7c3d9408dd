package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
}
