package e2e

// The service's privileges: deploy/systemd/gannet.service runs gannet as
// the unprivileged user gannet holding a handful of capabilities. These
// tests run `gannet run` the same way — another user, exactly the unit's
// capability set read from the unit file, no_new_privs — and show that it
// forwards, serves BGP on port 179, reloads and adopts its pins after a
// restart, and that without any one of those capabilities it does not
// start. PID 1 here is not systemd, so setpriv stands in for it.

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gannet-net/gannet/internal/netnstest"
)

// unitPath is the systemd unit whose privileges the tests prove.
const unitPath = "../deploy/systemd/gannet.service"

// unitSetting returns the value of key= in the unit file (the last one,
// as systemd reads it).
func unitSetting(t *testing.T, key string) string {
	t.Helper()
	f, err := os.Open(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	val, found := "", false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), key+"="); ok {
			val, found = v, true
		}
	}
	if !found {
		t.Fatalf("%s has no %s=", unitPath, key)
	}
	return val
}

// unitCaps is the unit's capability set in setpriv's names (net_admin),
// after checking that the ambient and the bounding sets are the same.
func unitCaps(t *testing.T) []string {
	t.Helper()
	ambient := strings.Fields(unitSetting(t, "AmbientCapabilities"))
	bounding := strings.Fields(unitSetting(t, "CapabilityBoundingSet"))
	slices.Sort(ambient)
	slices.Sort(bounding)
	if !slices.Equal(ambient, bounding) {
		t.Fatalf("%s: AmbientCapabilities %v and CapabilityBoundingSet %v differ", unitPath, ambient, bounding)
	}
	var caps []string
	for _, c := range ambient {
		caps = append(caps, strings.ToLower(strings.TrimPrefix(c, "CAP_")))
	}
	return caps
}

// The service's user in these tests: nobody:nogroup, which exists on
// every Debian system (the package makes its own gannet user).
const nobody = 65534

// debianMemlock is RLIMIT_MEMLOCK as a Debian 12 login has it (8 MiB),
// below the 16 MiB of UMEM the test configuration asks for: the
// capabilities, not the unit's LimitMEMLOCK=infinity, must carry the run.
const debianMemlock = "--memlock=8388608:8388608"

// privilegedConfig is a one-host configuration with two workloads, BGP
// listening on its privileged port with no peer, and the API socket given
// to the service's group.
func privilegedConfig(a, b *workload, socket string) string {
	return fmt.Sprintf(oneHostConfig, "", a.endpoint(0, "", "")+b.endpoint(0, "", ""), "") +
		"bgp:\n  asNumber: 64512\n  routerID: 198.18.0.1\n" +
		fmt.Sprintf("api:\n  socket: %s\n  group: nogroup\n", socket)
}

// TestRunWithServiceCapabilities: gannet runs as an unprivileged user with
// exactly the unit's capabilities and a low memlock limit, and forwards,
// listens for BGP on 179, reloads, and after a restart adopts the programs
// it pinned.
func TestRunWithServiceCapabilities(t *testing.T) {
	require(t, "setpriv", "prlimit", "ss", "capsh")
	caps := unitCaps(t)
	host := netnstest.NewNS(t, "gh")
	a := addWorkload(t, host, "wl-a", "02:00:00:00:15:0a", "198.18.15.10", "2001:db8:15::10")
	b := addWorkload(t, host, "wl-b", "02:00:00:00:15:0b", "198.18.15.11", "2001:db8:15::11")
	socket := filepath.Join(t.TempDir(), "run", "gannet.sock")
	u := &unprivileged{uid: nobody, gid: nobody, caps: caps, limits: []string{debianMemlock}}
	u.own(t, filepath.Dir(filepath.Dir(socket)))
	d := startGannet(t, host, privilegedConfig(a, b, socket), runAs(u))
	d.socket = socket

	// It is the user it was told to be, with exactly the set.
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{fmt.Sprintf("Uid:\t%d\t%d\t%d\t%d", nobody, nobody, nobody, nobody), "NoNewPrivs:\t1"} {
		if !strings.Contains(string(status), want) {
			t.Errorf("/proc/PID/status of gannet run lacks %q:\n%s", want, status)
		}
	}
	if got := effectiveCaps(t, string(status)); !slices.Equal(got, caps) {
		t.Errorf("gannet run's effective capabilities = %v, want the unit's %v", got, caps)
	}
	t.Logf("gannet run holds %v as uid %d", caps, nobody)

	if !a.waitPing(t, b.v4, 5*time.Second) {
		t.Fatalf("wl-a cannot ping wl-b through an unprivileged gannet:\n%s", d.output())
	}
	if got := a.ping(t, b.v6, 3); got != 3 {
		t.Errorf("wl-a -> wl-b IPv6: %d/3 replies", got)
	}
	transfer(t, a, b, "198.18.15.11:7000", 1<<20)

	if out := host.Run("ss", "-Hltn", "sport = :179"); !strings.Contains(out, "LISTEN") {
		t.Errorf("nothing listens on port 179 (BGP):\n%s\n%s", out, d.output())
	}
	if fi, err := os.Stat(socket); err != nil || fi.Mode().Perm() != 0o660 {
		t.Errorf("API socket %s: %v, %v; want mode 0660", socket, fi, err)
	}
	if out, err := d.cli("reload"); err != nil {
		t.Errorf("gannet reload: %v\n%s", err, out)
	}
	if !a.waitPing(t, b.v4, 3*time.Second) {
		t.Fatalf("no forwarding after a reload:\n%s", d.output())
	}

	// A restart: the pins it left are adopted without CAP_SYS_ADMIN.
	d.stop()
	d.start()
	if !a.waitPing(t, b.v4, 5*time.Second) {
		t.Fatalf("no forwarding after a restart:\n%s", d.output())
	}
	if !strings.Contains(d.output(), "adopted=true") {
		t.Errorf("the restarted daemon did not say it adopted its pinned programs:\n%s", d.output())
	}
}

// TestRunWithoutEachCapability: take any one capability away from the
// unit's set and gannet cannot do its job, and says why: it exits (BGP's
// port) or reports every port's attach failing as not permitted, or over
// the memlock limit without CAP_IPC_LOCK (the
// daemon stays up with its ports in state error, retrying, as it does for
// any port it cannot attach). So the set is no larger than it must be.
func TestRunWithoutEachCapability(t *testing.T) {
	require(t, "setpriv", "prlimit")
	caps := unitCaps(t)
	host := netnstest.NewNS(t, "gh")
	a := addWorkload(t, host, "wl-a", "02:00:00:00:16:0a", "198.18.16.10", "")
	b := addWorkload(t, host, "wl-b", "02:00:00:00:16:0b", "198.18.16.11", "")
	for _, missing := range caps {
		t.Run(missing, func(t *testing.T) {
			socket := filepath.Join(t.TempDir(), "run", "gannet.sock")
			u := &unprivileged{uid: nobody, gid: nobody, caps: slices.DeleteFunc(slices.Clone(caps), func(c string) bool { return c == missing }), limits: []string{debianMemlock}}
			u.own(t, filepath.Dir(filepath.Dir(socket)))
			d := newDaemon(t, host, privilegedConfig(a, b, socket), runAs(u))
			d.cmd = host.Command(d.command()...)
			d.cmd.Stdout, d.cmd.Stderr = lockedWriter{d}, lockedWriter{d}
			d.done = make(chan error, 1)
			if err := d.cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { d.done <- d.cmd.Wait() }()
			defer d.stop()
			refused := regexp.MustCompile(`(?i)operation not permitted|permission denied|memlock limit`)
			deadline := time.After(15 * time.Second)
			for {
				select {
				case err := <-d.done:
					d.done <- err // for stop
					out := d.output()
					if err == nil || !refused.MatchString(out) {
						t.Fatalf("gannet run without %s exited with %v, want a failure saying it was not permitted:\n%s", missing, err, out)
					}
					t.Logf("without %s: %v: %s", missing, err, lastLine(out))
					return
				case <-deadline:
					t.Fatalf("gannet run without %s neither failed nor reported a refused attach within 15s:\n%s", missing, d.output())
				case <-time.After(100 * time.Millisecond):
				}
				out := d.output()
				if n := strings.Count(out, `msg="attach failed"`); n >= 2 && refused.MatchString(out) {
					line := out[strings.Index(out, `msg="attach failed"`):]
					line, _, _ = strings.Cut(line, "\n")
					t.Logf("without %s: %s", missing, line)
					if a.ping(t, b.v4, 1) != 0 {
						t.Errorf("wl-a reached wl-b although gannet could not attach without %s", missing)
					}
					return
				}
			}
		})
	}
}

// effectiveCaps decodes CapEff from a /proc/PID/status (capsh --decode)
// into sorted setpriv names.
func effectiveCaps(t *testing.T, status string) []string {
	t.Helper()
	var hex string
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:\t"); ok {
			hex = v
		}
	}
	out, err := exec.Command("capsh", "--decode="+hex).Output()
	if err != nil {
		t.Fatalf("capsh --decode=%s: %v", hex, err)
	}
	_, names, _ := strings.Cut(strings.TrimSpace(string(out)), "=")
	var caps []string
	for _, n := range strings.Split(names, ",") {
		caps = append(caps, strings.TrimPrefix(n, "cap_"))
	}
	slices.Sort(caps)
	return caps
}

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
