package e2e

// The harness: build the binary once, start `gannet run` inside a host
// namespace, plug workloads in (a veth pair whose far end lives in the
// workload's own namespace, addressed as Calico addresses workloads: a /32
// and a /128 with the gateway 169.254.1.1 / fe80::1 on-link), and open
// sockets inside workloads.

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gannet-net/gannet/internal/netnstest"
	"github.com/gannet-net/gannet/internal/sdnotify"
)

// gannetBin is the binary under test, built by TestMain when root.
var gannetBin string

func TestMain(m *testing.M) {
	if os.Geteuid() == 0 {
		dir, err := os.MkdirTemp("", "gannet-e2e")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		// Other users run it too (the API permission tests).
		os.Chmod(dir, 0o755)
		gannetBin = filepath.Join(dir, "gannet")
		build := exec.Command("go", "build", "-o", gannetBin, "github.com/gannet-net/gannet/cmd/gannet")
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building gannet: %v\n%s", err, out)
			os.Exit(1)
		}
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// require skips the test unless it can build its lab.
func require(t *testing.T, tools ...string) {
	t.Helper()
	netnstest.Require(t, append([]string{"ethtool", "ping"}, tools...)...)
	if gannetBin == "" {
		t.Skip("gannet binary not built (needs root)")
	}
}

// daemon is one `gannet run` process in a host namespace.
type daemon struct {
	t      *testing.T
	ns     *netnstest.NS
	config string        // the configuration file
	socket string        // the API socket
	pins   string        // the bpffs the XDP programs are pinned on
	state  string        // the state directory (connection table), kept across restarts
	as     *unprivileged // nil: root with every capability
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    bytes.Buffer
	done   chan error
}

// lockedWriter lets the process's output be read while it runs.
type lockedWriter struct{ d *daemon }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	return w.d.out.Write(p)
}

// output returns everything the daemon printed so far.
func (d *daemon) output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.out.String()
}

// unprivileged runs the daemon the way deploy/systemd/gannet.service does:
// as user uid:gid (no supplementary groups) holding exactly caps —
// ambient, inheritable and the whole bounding set — with no_new_privs
// (User=, AmbientCapabilities=, CapabilityBoundingSet=, NoNewPrivileges=).
type unprivileged struct {
	uid, gid int
	caps     []string // setpriv's names: net_admin, bpf, ...
	limits   []string // prlimit's options, e.g. --memlock=SOFT:HARD
}

// commandPrefix runs a command as u: prlimit sets its limits, setpriv drops
// to its user and capabilities, then the command is exec'd.
func (u *unprivileged) commandPrefix() []string {
	set := "-all"
	for _, c := range u.caps {
		set += ",+" + c
	}
	var prefix []string
	if len(u.limits) > 0 {
		prefix = append([]string{"prlimit"}, u.limits...)
	}
	return append(prefix, "setpriv",
		"--reuid="+strconv.Itoa(u.uid), "--regid="+strconv.Itoa(u.gid), "--clear-groups",
		"--inh-caps="+set, "--ambient-caps="+set, "--bounding-set="+set,
		"--no-new-privs")
}

// own hands paths (and the directories above them up to the temporary
// root, which must be passable) to u, as the package's RuntimeDirectory=
// and pin directory are the gannet user's.
func (u *unprivileged) own(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if err := os.Chown(p, u.uid, u.gid); err != nil {
			t.Fatal(err)
		}
		for dir := filepath.Dir(p); strings.HasPrefix(dir, os.TempDir()+"/"); dir = filepath.Dir(dir) {
			if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&0o001 == 0 {
				os.Chmod(dir, fi.Mode().Perm()|0o011) // pass through, not list
			}
		}
	}
}

// daemonOption changes how startGannet runs the daemon.
type daemonOption func(*daemon)

// runAs runs the daemon as u (see unprivileged).
func runAs(u *unprivileged) daemonOption { return func(d *daemon) { d.as = u } }

// startGannet writes config into a file and runs `gannet run` in ns,
// returning once the daemon says it is forwarding. At cleanup it sends
// SIGTERM and requires a clean exit.
func startGannet(t *testing.T, ns *netnstest.NS, config string, opts ...daemonOption) *daemon {
	t.Helper()
	d := newDaemon(t, ns, config, opts...)
	d.start()
	t.Cleanup(func() { d.stop() })
	return d
}

// newDaemon prepares what startGannet starts: the configuration file, the
// API socket's place and the pins.
func newDaemon(t *testing.T, ns *netnstest.NS, config string, opts ...daemonOption) *daemon {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "gannet.yaml")
	socket := filepath.Join(dir, "api", "gannet.sock")
	if !strings.Contains(config, "\napi:") {
		// Tests run in parallel: each daemon serves its own socket.
		config += fmt.Sprintf("\napi:\n  socket: %s\n", socket)
	}
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	d := &daemon{t: t, ns: ns, config: path, socket: socket, pins: testPins(t, ns), state: filepath.Join(dir, "state")}
	for _, o := range opts {
		o(d)
	}
	if d.as != nil {
		d.as.own(t, dir, path, d.pins)
	}
	return d
}

// start runs `gannet run` on d's configuration and pins, returning once
// it says READY=1 (as it would to systemd, on $NOTIFY_SOCKET). A daemon
// that was stopped or killed is started again the same way.
func (d *daemon) start() {
	t := d.t
	t.Helper()
	d.done = make(chan error, 1)
	d.mu.Lock()
	d.out.Reset()
	d.mu.Unlock()
	dir := t.TempDir()
	notify, err := sdnotify.Listen(filepath.Join(dir, "notify"))
	if err != nil {
		t.Fatal(err)
	}
	defer notify.Close()
	if d.as != nil {
		d.as.own(t, dir, notify.Path)
	}
	d.cmd = d.ns.Command(d.command()...)
	d.cmd.Env = append(os.Environ(), notify.Env())
	d.cmd.Stdout = lockedWriter{d}
	d.cmd.Stderr = lockedWriter{d}
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("starting gannet: %v", err)
	}
	go func(cmd *exec.Cmd, done chan error) { done <- cmd.Wait() }(d.cmd, d.done)
	select {
	case <-notify.Ready():
	case err := <-d.done:
		t.Fatalf("gannet run exited before forwarding: %v\n%s", err, d.output())
	case <-time.After(15 * time.Second):
		_ = d.cmd.Process.Kill()
		t.Fatalf("gannet run did not say READY=1 within 15s:\n%s", d.output())
	}
}

// command is the daemon's command line, run inside its namespace.
func (d *daemon) command() []string {
	args := []string{gannetBin, "run", "--config", d.config, "--pin-path", d.pins, "--state-dir", d.state}
	if d.as != nil {
		args = append(d.as.commandPrefix(), args...)
	}
	return args
}

// kill ends the daemon with SIGKILL, as a crash would.
func (d *daemon) kill() {
	d.t.Helper()
	_ = d.cmd.Process.Kill()
	<-d.done
}

// testPins mounts a bpffs of the test's own for ns's daemons to pin their
// programs on. It is mounted from the test's mount namespace, so pins
// outlive a daemon that `ip netns exec` ran in a private one — as
// /sys/fs/bpf does on a real host. At cleanup whatever the daemons left
// pinned is detached (gannet cleanup) and the bpffs unmounted: no program
// stays behind.
func testPins(t *testing.T, ns *netnstest.NS) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "bpf")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("bpf", dir, "bpf", 0, "mode=0700"); err != nil {
		t.Fatalf("mounting bpffs for the test: %v", err)
	}
	t.Cleanup(func() {
		if out, err := ns.Try(gannetBin, "cleanup", "--pin-path", dir); err != nil {
			t.Errorf("gannet cleanup: %v\n%s", err, out)
		}
		syscall.Unmount(dir, syscall.MNT_DETACH)
	})
	return dir
}

// stop sends SIGTERM and waits for a clean exit; it returns the output.
func (d *daemon) stop() string {
	d.t.Helper()
	if d.cmd.ProcessState != nil {
		return d.output()
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-d.done:
		if err != nil {
			d.t.Errorf("gannet run exited with %v after SIGTERM:\n%s", err, d.output())
		}
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		d.t.Errorf("gannet run did not stop within 10s of SIGTERM:\n%s", d.output())
	}
	return d.output()
}

// counter reads a final counter line "  name  N" from the output of a
// stopped daemon; it returns -1 when the counter is absent.
func counter(out, name string) int64 {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == name {
			var n int64
			if _, err := fmt.Sscan(f[1], &n); err == nil {
				return n
			}
		}
	}
	return -1
}

// workload is a namespace plugged into a gannet host by a veth pair.
type workload struct {
	name   string
	ns     *netnstest.NS
	hostIf string // the host side, named in the gannet config
	dev    string // the workload side
	mac    string
	v4, v6 string
}

// addWorkload creates the workload namespace and its veth pair into host,
// and configures it like a Calico workload. v6 may be empty.
func addWorkload(t *testing.T, host *netnstest.NS, name, mac, v4, v6 string, linkOpts ...string) *workload {
	t.Helper()
	w := &workload{name: name, ns: netnstest.NewNS(t, "wl"), hostIf: netnstest.Name("gw"), dev: netnstest.Name("eth"), mac: mac, v4: v4, v6: v6}
	// No DAD: the workload's addresses are usable at once.
	w.ns.Run("sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0")
	host.Run("sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0")
	w.plug(t, host, linkOpts...)
	return w
}

// plug creates w's veth pair into host (again, after the host side was
// deleted: the same names and addresses) and configures the workload
// side like a Calico workload.
func (w *workload) plug(t *testing.T, host *netnstest.NS, linkOpts ...string) {
	t.Helper()
	netnstest.Veth(t, w.dev, w.ns, w.hostIf, host, linkOpts...)
	mac, v4, v6 := w.mac, w.v4, w.v6
	// The host side carries no address: gannet is the workload's only
	// neighbour. Checksum offload is off on the workload side because
	// frames leaving a veth with a partial checksum would reach the other
	// workload unfinished once gannet, not the kernel, forwards them.
	w.ns.Run("ethtool", "-K", w.dev, "tx", "off")
	w.ns.Run("ip", "link", "set", w.dev, "address", mac)
	w.ns.Run("ip", "addr", "add", v4+"/32", "dev", w.dev)
	w.ns.Run("ip", "route", "add", "169.254.1.1", "dev", w.dev, "scope", "link")
	w.ns.Run("ip", "route", "add", "default", "via", "169.254.1.1", "dev", w.dev)
	if v6 != "" {
		w.ns.Run("ip", "-6", "addr", "add", v6+"/128", "dev", w.dev, "nodad")
		w.ns.Run("ip", "-6", "route", "add", "default", "via", "fe80::1", "dev", w.dev)
	}
}

// addInternet puts an "Internet" host, 203.0.113.2/24, behind a new
// uplink of border (203.0.113.1/24), routing each of pools (the border's
// external addresses) back to the border, as its upstream would. It
// returns the border's side of the link and the host's namespace.
func addInternet(t *testing.T, border *netnstest.NS, pools ...string) (up string, inet *netnstest.NS) {
	t.Helper()
	inet = netnstest.NewNS(t, "gi")
	up, far := netnstest.Name("up"), netnstest.Name("far")
	netnstest.Veth(t, up, border, far, inet)
	border.Run("ip", "addr", "add", "203.0.113.1/24", "dev", up)
	inet.Run("ip", "addr", "add", "203.0.113.2/24", "dev", far)
	// Like a workload, the far host's frames must carry finished checksums
	// (on a NIC the hardware would finish them before the wire).
	inet.Run("ethtool", "-K", far, "tx", "off")
	for _, p := range pools {
		inet.Run("ip", "route", "add", p, "via", "203.0.113.1")
	}
	return up, inet
}

// endpoint is the workloadEndpoints entry for w.
func (w *workload) endpoint(space int, labels, profiles string) string {
	nets := w.v4 + "/32"
	if w.v6 != "" {
		nets += ", " + w.v6 + "/128"
	}
	s := fmt.Sprintf("  - name: %s\n    interface: %s\n    mac: %q\n    ipNetworks: [%s]\n    addressSpace: %d\n",
		w.name, w.hostIf, w.mac, nets, space)
	if labels != "" {
		s += "    labels: {" + labels + "}\n"
	}
	if profiles != "" {
		s += "    profiles: [" + profiles + "]\n"
	}
	return s
}

// ping runs ping in the workload and returns how many replies came back.
func (w *workload) ping(t *testing.T, dst string, count int, extra ...string) int {
	t.Helper()
	args := append([]string{"ping", "-c", fmt.Sprint(count), "-i", "0.2", "-W", "1"}, extra...)
	out, _ := w.ns.Try(append(args, dst)...)
	var sent, recv int
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "packets transmitted") {
			fmt.Sscanf(strings.TrimSpace(line), "%d packets transmitted, %d received", &sent, &recv)
		}
	}
	t.Logf("%s: ping %s: %d/%d", w.name, dst, recv, sent)
	return recv
}

// waitPing pings until one reply arrives (neighbours resolving, daemon
// settling) or the deadline passes; it reports whether one did.
func (w *workload) waitPing(t *testing.T, dst string, within time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if out, err := w.ns.Try("ping", "-c", "1", "-W", "1", dst); err == nil && strings.Contains(out, "1 received") {
			return true
		}
	}
	return false
}

// listen opens a TCP listener inside the workload.
func (w *workload) listen(t *testing.T, addr string) net.Listener {
	t.Helper()
	var ln net.Listener
	if err := w.ns.Do(func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatalf("%s: listen %s: %v", w.name, addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// dial connects from inside the workload.
func (w *workload) dial(addr string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := w.ns.Do(func() (err error) {
		c, err = net.DialTimeout("tcp", addr, timeout)
		return err
	})
	return c, err
}

// serveName answers every connection on ln with name and closes it.
func serveName(ln net.Listener, name string) {
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, name)
			c.Close()
		}
	}()
}

// serveSource listens on addr in ns and answers every connection with
// the source address it came from (what SNAT and floating IPs rewrite).
func serveSource(t *testing.T, ns *netnstest.NS, addr string) {
	t.Helper()
	var ln net.Listener
	if err := ns.Do(func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, c.RemoteAddr().String())
			c.Close()
		}
	}()
}

// transfer sends size random bytes from one workload to a listener on
// addr in another and checks they arrive intact (SHA-256).
func transfer(t *testing.T, from, to *workload, addr string, size int) {
	t.Helper()
	payload := make([]byte, size)
	rand.Read(payload)
	want := sha256.Sum256(payload)
	ln := to.listen(t, addr)
	got := make(chan [32]byte, 1)
	go func() {
		var sum [32]byte
		c, err := ln.Accept()
		if err == nil {
			h := sha256.New()
			io.Copy(h, c)
			c.Close()
			copy(sum[:], h.Sum(nil))
		}
		got <- sum
	}()
	c, err := from.dial(addr, 5*time.Second)
	if err != nil {
		t.Fatalf("%s: dial %s: %v", from.name, addr, err)
	}
	start := time.Now()
	// A black hole (the data never gets through) fails the test instead
	// of hanging it until TCP gives up.
	c.SetWriteDeadline(start.Add(60 * time.Second))
	if _, err := io.Copy(c, bytes.NewReader(payload)); err != nil {
		t.Fatalf("%s: sending to %s: %v", from.name, addr, err)
	}
	c.Close()
	select {
	case sum := <-got:
		if sum != want {
			t.Fatalf("%s -> %s: received data hashes to %x, sent %x", from.name, addr, sum, want)
		}
		t.Logf("%s -> %s: %d bytes intact in %v", from.name, addr, size, time.Since(start))
	case <-time.After(60 * time.Second):
		t.Fatalf("%s -> %s: transfer did not finish within 60s", from.name, addr)
	}
}
