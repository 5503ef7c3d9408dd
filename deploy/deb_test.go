package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gannet-net/gannet/internal/netnstest"
)

// TestDebianPackage: make deb's package installs on this machine, runs,
// checks its shipped configuration, and is removed and purged without a
// trace — files, state, user and group. It changes this machine, so it
// runs only where no gannet is installed, one at a time, and its cleanup
// purges the package even when a check fails.
func TestDebianPackage(t *testing.T) {
	requireRoot(t)
	requireTools(t, "dpkg-deb", "dpkg", "adduser", "deluser", "getent", "setcap")
	lockHost(t, "gannet-deb-test")
	if out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", "gannet").Output(); err == nil && strings.Contains(string(out), "installed") {
		t.Skip("package gannet is installed on this machine; not touching it")
	}
	for _, path := range []string{"/usr/sbin/gannet", "/etc/gannet", "/var/lib/gannet", "/lib/systemd/system/gannet.service"} {
		if _, err := os.Lstat(path); err == nil {
			t.Skipf("%s exists on this machine; not overwriting it", path)
		}
	}
	if exec.Command("getent", "passwd", "gannet").Run() == nil || exec.Command("getent", "group", "gannet").Run() == nil {
		t.Skip("user or group gannet exists on this machine; a purge would remove it")
	}

	dist := t.TempDir()
	cmd := exec.Command("scripts/deb.sh", dist)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "VERSION="+testVersion, "BIN="+staticGannet(t))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/deb.sh: %v\n%s", err, out)
	}
	deb := strings.TrimSpace(string(out))
	if want := filepath.Join(dist, "gannet_0.0.1+test_"+runtime.GOARCH+".deb"); deb != want {
		t.Fatalf("scripts/deb.sh built %q, want %q", deb, want)
	}
	t.Cleanup(func() {
		// Whatever happened, the machine is left as it was.
		if out, err := exec.Command("dpkg", "--purge", "gannet").CombinedOutput(); err != nil {
			t.Errorf("cleanup: dpkg --purge gannet: %v\n%s", err, out)
		}
		exec.Command("deluser", "--system", "gannet").Run()
		exec.Command("delgroup", "--system", "gannet").Run()
	})
	installed := run(t, "dpkg", "-i", deb)
	t.Log(installed)
	if strings.Contains(strings.ToLower(installed), "warning") {
		t.Errorf("dpkg -i warned:\n%s", installed)
	}

	if got := run(t, "/usr/sbin/gannet", "version"); got != "gannet "+testVersion+"\n" {
		t.Errorf("gannet version = %q, want gannet %s", got, testVersion)
	}
	if out := run(t, "/usr/sbin/gannet", "run", "--check", "--config", "/etc/gannet/gannet.yaml"); !strings.Contains(out, "configuration valid") {
		t.Errorf("the shipped configuration: %s", out)
	}
	if !strings.Contains(run(t, "dpkg-query", "-W", "-f=${Conffiles}", "gannet"), "/etc/gannet/gannet.yaml") {
		t.Error("/etc/gannet/gannet.yaml is not a conffile")
	}
	// The service's user: a system account that cannot log in.
	pw := strings.Split(strings.TrimSpace(run(t, "getent", "passwd", "gannet")), ":")
	if len(pw) != 7 || pw[5] != "/var/lib/gannet" || !strings.HasSuffix(pw[6], "nologin") {
		t.Errorf("user gannet = %v, want home /var/lib/gannet and no login shell", pw)
	}
	gr := strings.Split(strings.TrimSpace(run(t, "getent", "group", "gannet")), ":")
	gid := gr[2]

	files := []struct {
		path  string
		mode  os.FileMode
		group string // "0" or the gannet group's id
	}{
		{"/usr/sbin/gannet", 0o755, "0"},
		{"/lib/systemd/system/gannet.service", 0o644, "0"},
		{"/etc/gannet/gannet.yaml", 0o640, gid}, // may hold BGP passwords
		{"/usr/share/man/man8/gannet.8.gz", 0o644, "0"},
		{"/usr/share/man/man8/gannet-run.8.gz", 0o644, "0"},
		{"/usr/share/bash-completion/completions/gannet", 0o644, "0"},
		{"/usr/share/doc/gannet/OPERATIONS.md", 0o644, "0"},
		{"/usr/share/doc/gannet/METRICS.md", 0o644, "0"},
	}
	// Whatever deploy/grafana holds: the dashboard and its provisioning.
	grafana := filepath.Join(repo, "deploy/grafana")
	filepath.WalkDir(grafana, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(grafana, path)
			files = append(files, struct {
				path  string
				mode  os.FileMode
				group string
			}{"/usr/share/gannet/grafana/" + rel, 0o644, "0"})
		}
		return nil
	})
	if fi, err := os.Stat("/var/lib/gannet"); err != nil || fi.Mode().Perm() != 0o700 || itoa(fi.Sys().(*syscall.Stat_t).Uid) != pw[2] {
		t.Errorf("/var/lib/gannet: %v, %v; want the gannet user's, mode 0700", fi, err)
	}
	excluded := dpkgExcluded()
	for _, f := range files {
		if excluded(f.path) {
			t.Logf("%s: not installed here (dpkg path-exclude)", f.path)
			continue
		}
		fi, err := os.Stat(f.path)
		if err != nil {
			t.Errorf("installed: %v", err)
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm() != f.mode || st.Uid != 0 || itoa(st.Gid) != f.group {
			t.Errorf("%s: mode %v owner %d:%d, want %v 0:%s", f.path, fi.Mode().Perm(), st.Uid, st.Gid, f.mode, f.group)
		}
	}
	if _, err := exec.LookPath("man"); err == nil && !excluded("/usr/share/man/man8/gannet-run.8.gz") {
		if out := run(t, "man", "-l", "/usr/share/man/man8/gannet-run.8.gz"); !strings.Contains(out, "gannet run --config FILE") {
			t.Errorf("man gannet-run lacks its synopsis:\n%s", out)
		}
	}
	if out, err := exec.Command("bash", "-c", "source /usr/share/bash-completion/completions/gannet && complete -p gannet").CombinedOutput(); err != nil || !strings.Contains(string(out), "gannet") {
		t.Errorf("the bash completion does not register for gannet: %v\n%s", err, out)
	}
	// The unit where systemd would read it, beside the binary it names.
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		if out, err := exec.Command("systemd-analyze", "verify", "--man=no", "/lib/systemd/system/gannet.service").CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("systemd-analyze verify of the installed unit: %v\n%s", err, out)
		}
	}

	// The service's life as systemd would lead it, without systemd (PID 1
	// here is not): the unit's ExecStartPre prepares gannet's bpffs, the
	// installed gannet runs as user gannet with the unit's capabilities in
	// a namespace of the test's, forwards, and stops leaving its programs
	// pinned; the package's removal, run in that namespace, detaches them.
	host := netnstest.NewNS(t, "dh")
	hostIfs := runService(t, host, pw)

	// Removal: the prerm's gannet cleanup detaches the pinned programs;
	// the configuration stays until the purge, which takes the user and
	// group too.
	removed, err := host.Try("dpkg", "-r", "gannet")
	if err != nil {
		t.Fatalf("dpkg -r gannet: %v\n%s", err, removed)
	}
	for _, dev := range hostIfs {
		if !strings.Contains(removed, "detached "+dev) {
			t.Errorf("dpkg -r did not detach %s:\n%s", dev, removed)
		}
		if link := host.Run("ip", "link", "show", "dev", dev); strings.Contains(link, "xdp") {
			t.Errorf("%s keeps an XDP program after dpkg -r:\n%s", dev, link)
		}
	}
	for _, gone := range []string{"/usr/sbin/gannet", "/lib/systemd/system/gannet.service", "/usr/share/man/man8/gannet.8.gz", "/usr/share/gannet", "/usr/share/doc/gannet"} {
		if _, err := os.Lstat(gone); err == nil {
			t.Errorf("%s is left after dpkg -r", gone)
		}
	}
	if _, err := os.Stat("/etc/gannet/gannet.yaml"); err != nil {
		t.Errorf("dpkg -r removed the configuration (only a purge may): %v", err)
	}
	run(t, "dpkg", "--purge", "gannet")
	for _, gone := range []string{"/etc/gannet", "/var/lib/gannet"} {
		if _, err := os.Lstat(gone); err == nil {
			t.Errorf("%s is left after dpkg --purge", gone)
		}
	}
	if exec.Command("getent", "passwd", "gannet").Run() == nil {
		t.Error("user gannet is left after dpkg --purge")
	}
	if exec.Command("getent", "group", "gannet").Run() == nil {
		t.Error("group gannet is left after dpkg --purge")
	}
	if out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", "gannet").CombinedOutput(); err == nil && strings.Contains(string(out), "installed") {
		t.Errorf("dpkg still lists gannet: %s", out)
	}
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

// dpkgExcluded reports whether dpkg leaves path out on this machine:
// minimal images (Debian's container images) exclude documentation with
// path-exclude lines in /etc/dpkg/dpkg.cfg.d.
func dpkgExcluded() func(path string) bool {
	var excludes, includes []string
	cfgs, _ := filepath.Glob("/etc/dpkg/dpkg.cfg.d/*")
	for _, cfg := range cfgs {
		data, _ := os.ReadFile(cfg)
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "path-exclude"); ok {
				excludes = append(excludes, strings.TrimSpace(strings.TrimLeft(v, "= ")))
			}
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "path-include"); ok {
				includes = append(includes, strings.TrimSpace(strings.TrimLeft(v, "= ")))
			}
		}
	}
	match := func(pattern, path string) bool {
		ok, _ := filepath.Match(pattern, path)
		return ok || (strings.HasSuffix(pattern, "/*") && strings.HasPrefix(path, strings.TrimSuffix(pattern, "*")))
	}
	return func(path string) bool {
		for _, p := range includes {
			if match(p, path) {
				return false
			}
		}
		for _, p := range excludes {
			if match(p, path) {
				return true
			}
		}
		return false
	}
}

// runService runs the installed gannet as the unit would and returns the
// interfaces it left pinned programs on.
func runService(t *testing.T, host *netnstest.NS, pw []string) []string {
	t.Helper()
	netnstest.Require(t, "ip", "ping", "ethtool", "setpriv")
	unit, err := os.ReadFile("/lib/systemd/system/gannet.service")
	if err != nil {
		t.Fatal(err)
	}
	var prepare, caps string
	for _, line := range strings.Split(string(unit), "\n") {
		if v, ok := strings.CutPrefix(line, "ExecStartPre=+/bin/sh -c '"); ok {
			prepare = strings.TrimSuffix(v, "'")
		}
		if v, ok := strings.CutPrefix(line, "AmbientCapabilities="); ok {
			for _, c := range strings.Fields(v) {
				caps += ",+" + strings.ToLower(strings.TrimPrefix(c, "CAP_"))
			}
		}
	}
	if prepare == "" || caps == "" {
		t.Fatalf("the installed unit has no ExecStartPre=+/bin/sh -c '...' or no AmbientCapabilities=:\n%s", unit)
	}
	run(t, "sh", "-c", prepare)
	t.Cleanup(func() {
		if exec.Command("mountpoint", "-q", "/var/lib/gannet/bpf").Run() == nil {
			exec.Command("umount", "/var/lib/gannet/bpf").Run()
		}
	})
	if fi, err := os.Stat("/var/lib/gannet/bpf"); err != nil || itoa(fi.Sys().(*syscall.Stat_t).Uid) != pw[2] {
		t.Fatalf("the unit's ExecStartPre left /var/lib/gannet/bpf %v, %v; want the gannet user's bpffs", fi, err)
	}

	wls, endpoints := plugWorkloads(t, host, "198.18.18.10", "198.18.18.11")
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o711) // the test's temporary directories are 0700
	os.Chmod(dir, 0o755)
	run(t, "chown", "gannet:gannet", dir)
	config := filepath.Join(dir, "gannet.yaml")
	if err := os.WriteFile(config, []byte("node:\n  name: svc\n  routerIPv4: 198.18.0.1\ndataplane:\n  cores: [0]\n  frames: 4096\n  pinPath: /var/lib/gannet/bpf\n"+
		"api:\n  socket: "+dir+"/run/gannet.sock\n  group: gannet\nworkloadEndpoints:\n"+endpoints), 0o644); err != nil {
		t.Fatal(err)
	}
	set := "-all" + caps
	cmd := host.Command("setpriv", "--reuid=gannet", "--regid=gannet", "--clear-groups", "--inh-caps="+set, "--ambient-caps="+set,
		"--bounding-set="+set, "--no-new-privs", "/usr/sbin/gannet", "run", "--config", config)
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("gannet run exited with %v after SIGTERM:\n%s", err, log.String())
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Errorf("gannet run did not stop within 10s of SIGTERM")
		}
	}
	t.Cleanup(stop)
	if err := pingThrough(wls[0], wls[1]); err != nil {
		stop()
		t.Fatalf("through the installed gannet running as user gannet: %v\n%s", err, log.String())
	}
	stop()
	var ifs []string
	for _, w := range wls {
		if link := host.Run("ip", "link", "show", "dev", w.hostIf); !strings.Contains(link, "xdp") {
			t.Errorf("%s has no XDP program after gannet stopped (pinned programs keep ports failing closed):\n%s", w.hostIf, link)
		}
		ifs = append(ifs, w.hostIf)
	}
	return ifs
}
