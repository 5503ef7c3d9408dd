package e2e

// The live daemon: endpoints added, changed and removed through the API
// while traffic flows, interfaces that vanish and come back, reloads good
// and bad, policy changes under established connections, and the API
// socket's permissions — each against a real `gannet run` in network
// namespaces, driven through the CLI and the API client.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gannet-net/gannet/ctl/api"
	"github.com/gannet-net/gannet/internal/netnstest"
)

// cli runs a gannet CLI verb against d's socket and returns its output.
func (d *daemon) cli(args ...string) (string, error) {
	cmd := exec.Command(gannetBin, append(args, "--socket", d.socket)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (d *daemon) client() *api.Client { return api.NewClient(d.socket) }

// reloadWith writes text as d's configuration file, reloads it by SIGHUP
// and returns the status once the apply is done (or after 5 s).
func (d *daemon) reloadWith(t *testing.T, text string) api.Status {
	t.Helper()
	if err := os.WriteFile(d.config, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	gen := d.status(t).Generation
	d.cmd.Process.Signal(syscall.SIGHUP)
	var st api.Status
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if st = d.status(t); st.Generation > gen {
			break
		}
	}
	return st
}

func (d *daemon) status(t *testing.T) api.Status {
	t.Helper()
	st, err := d.client().Status(context.Background())
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	return *st
}

// portState is the state status reports for interface iface.
func (d *daemon) portState(t *testing.T, iface string) string {
	for _, p := range d.status(t).Ports {
		if p.Interface == iface {
			return p.State
		}
	}
	return "absent"
}

// flood pings dst from w every 10 ms, count times, in the background; the
// returned function waits for it and reports transmitted and received.
func (w *workload) flood(t *testing.T, dst string, count int) func() (sent, got int) {
	t.Helper()
	cmd := w.ns.Command("ping", "-q", "-i", "0.01", "-W", "1", "-c", strconv.Itoa(count), dst)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatalf("ping: %v", err)
	}
	return func() (int, int) {
		b, _ := io.ReadAll(out)
		cmd.Wait()
		m := regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`).FindStringSubmatch(string(b))
		if m == nil {
			t.Fatalf("ping %s: no summary in\n%s", dst, b)
		}
		sent, _ := strconv.Atoi(m[1])
		got, _ := strconv.Atoi(m[2])
		return sent, got
	}
}

// TestEndpointsLive: while wl-a pings wl-b every 10 ms, a third endpoint
// is added through the API, reached, changed and deleted; the first pair
// loses nothing.
func TestEndpointsLive(t *testing.T) {
	require(t)
	host := netnstest.NewNS(t, "gh")
	a := addWorkload(t, host, "wl-a", "02:00:00:00:11:0a", "198.18.11.10", "2001:db8:11::10")
	b := addWorkload(t, host, "wl-b", "02:00:00:00:11:0b", "198.18.11.11", "2001:db8:11::11")
	d := startGannet(t, host, fmt.Sprintf(oneHostConfig, "", a.endpoint(0, "", "")+b.endpoint(0, "", ""), ""))
	if !a.waitPing(t, b.v4, 5*time.Second) {
		t.Fatal("wl-a cannot ping wl-b")
	}
	wait := a.flood(t, b.v4, 600)

	c := addWorkload(t, host, "wl-c", "02:00:00:00:11:0c", "198.18.11.12", "2001:db8:11::12")
	file := filepath.Join(t.TempDir(), "c.yaml")
	spec := fmt.Sprintf("name: wl-c\ninterface: %s\nmac: %q\nipNetworks: [%s/32]\nlabels: {app: c}\n", c.hostIf, c.mac, c.v4)
	if err := os.WriteFile(file, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := d.cli("endpoint", "apply", "-f", file); err != nil || !strings.Contains(out, "created") {
		t.Fatalf("gannet endpoint apply = %v:\n%s", err, out)
	}
	if !a.waitPing(t, c.v4, 3*time.Second) {
		t.Fatalf("wl-a cannot ping the endpoint added through the API:\n%s", d.output())
	}
	// Change it: a second address. PUT replaces: 200, not 201.
	ep := api.Endpoint{Name: "wl-c", Interface: c.hostIf, MAC: c.mac, IPNetworks: []string{c.v4 + "/32", c.v6 + "/128"}, Labels: map[string]string{"app": "c"}}
	created, err := d.client().PutEndpoint(context.Background(), ep)
	if err != nil || created {
		t.Fatalf("PUT wl-c (change) = created %v, %v; want a replace", created, err)
	}
	if !a.waitPing(t, c.v6, 3*time.Second) {
		t.Fatal("wl-a cannot ping wl-c's added IPv6 address")
	}
	// A bad write names the field and changes nothing.
	bad := ep
	bad.IPNetworks = []string{"198.18.11.0/24"}
	_, err = d.client().PutEndpoint(context.Background(), bad)
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Status != 422 || len(ae.Errors) == 0 || ae.Errors[0].Field != "ipNetworks[0]" {
		t.Fatalf("PUT with a /24 = %v, want 422 naming ipNetworks[0]", err)
	}
	if !a.waitPing(t, c.v6, 2*time.Second) {
		t.Fatal("a rejected write changed the running endpoint")
	}
	// A body whose name differs from the path is a 400.
	if out, err := d.cli("endpoint", "delete", "wl-a"); err == nil || !strings.Contains(out, "configuration file") {
		t.Errorf("deleting a file endpoint through the API = %v:\n%s", err, out)
	}
	if err := d.client().DeleteEndpoint(context.Background(), "wl-c"); err != nil {
		t.Fatalf("DELETE wl-c: %v", err)
	}
	if out, err := c.ns.Try("ping", "-c", "1", "-W", "1", a.v4); err == nil {
		t.Errorf("wl-c still reaches wl-a after its endpoint was deleted:\n%s", out)
	}
	if err := d.client().DeleteEndpoint(context.Background(), "wl-c"); !errors.As(err, &ae) || ae.Status != 404 {
		t.Errorf("DELETE wl-c again = %v, want 404", err)
	}
	sent, got := wait()
	t.Logf("wl-a -> wl-b during the changes: %d sent, %d received", sent, got)
	if sent == 0 || got != sent {
		t.Errorf("wl-a -> wl-b lost %d of %d pings while another endpoint came and went", sent-got, sent)
	}
	st := d.status(t)
	for _, w := range st.Workers {
		if w.LostFrames != 0 {
			t.Errorf("worker %d lost %d frames to detached ports", w.Index, w.LostFrames)
		}
	}
	if st.LastApply == nil || !st.LastApply.OK || st.LastApply.Source != "api" {
		t.Errorf("last apply = %+v, want the API's delete", st.LastApply)
	}
}

// TestInterfaceComesBack: a workload's veth is deleted (its VM gone) and
// re-created with the same name; traffic to it is answered unreachable
// meanwhile and resumes without anyone touching gannet.
func TestInterfaceComesBack(t *testing.T) {
	require(t)
	host := netnstest.NewNS(t, "gh")
	a := addWorkload(t, host, "wl-a", "02:00:00:00:12:0a", "198.18.12.10", "2001:db8:12::10")
	b := addWorkload(t, host, "wl-b", "02:00:00:00:12:0b", "198.18.12.11", "2001:db8:12::11")
	d := startGannet(t, host, fmt.Sprintf(oneHostConfig, "", a.endpoint(0, "", "")+b.endpoint(0, "", ""), ""))
	if !b.waitPing(t, a.v4, 5*time.Second) {
		t.Fatal("wl-b cannot ping wl-a")
	}
	for range 3 {
		host.Run("ip", "link", "del", a.hostIf)
		deadline := time.Now().Add(3 * time.Second)
		for d.portState(t, a.hostIf) != "missing" && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if s := d.portState(t, a.hostIf); s != "missing" {
			t.Fatalf("status says %s is %s after it was deleted, want missing", a.hostIf, s)
		}
		// Not a black hole: the router answers host unreachable.
		out, _ := b.ns.Try("ping", "-c", "1", "-W", "2", a.v4)
		if !strings.Contains(out, "Destination Host Unreachable") {
			t.Errorf("ping of a gone workload:\n%s\nwant Destination Host Unreachable", out)
		}
		out, _ = b.ns.Try("ping", "-6", "-c", "1", "-W", "2", a.v6)
		if !strings.Contains(out, "Address unreachable") {
			t.Errorf("ping -6 of a gone workload:\n%s\nwant Address unreachable", out)
		}
		start := time.Now()
		a.plug(t, host)
		if !b.waitPing(t, a.v4, 5*time.Second) {
			t.Fatalf("wl-b cannot ping wl-a after its interface came back:\n%s", d.output())
		}
		t.Logf("traffic resumed %v after the interface came back", time.Since(start).Round(time.Millisecond))
	}
	// MTU changes are followed: a DF packet too big for the new MTU is
	// answered with Fragmentation Needed naming it.
	host.Run("ip", "link", "set", a.hostIf, "mtu", "1400")
	waitState := func(want string, ok func(api.Port) bool) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) {
			for _, p := range d.status(t).Ports {
				if p.Interface == a.hostIf && ok(p) {
					return
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("status never showed %s %s:\n%+v", a.hostIf, want, d.status(t).Ports)
	}
	waitState("with MTU 1400", func(p api.Port) bool { return p.MTU == 1400 })
	if out, _ := b.ns.Try("ping", "-c", "1", "-W", "2", "-M", "do", "-s", "1450", a.v4); !strings.Contains(out, "mtu = 1400") {
		t.Errorf("a 1478-byte DF ping to a 1400-MTU workload:\n%s\nwant Frag needed, mtu = 1400", out)
	}
	// Link down and up are followed.
	host.Run("ip", "link", "set", a.hostIf, "down")
	waitState("down", func(p api.Port) bool { return p.State == "down" })
	if out, _ := b.ns.Try("ping", "-c", "1", "-W", "2", a.v4); !strings.Contains(out, "Destination Host Unreachable") {
		t.Errorf("ping of a workload whose link is down:\n%s\nwant Destination Host Unreachable", out)
	}
	host.Run("ip", "link", "set", a.hostIf, "up")
	waitState("up", func(p api.Port) bool { return p.State == "up" })
	if !b.waitPing(t, a.v4, 5*time.Second) {
		t.Errorf("wl-b cannot ping wl-a after its link came back up")
	}
	if s := d.portState(t, b.hostIf); s != "up" {
		t.Errorf("the untouched port %s is %s", b.hostIf, s)
	}
	for _, w := range d.status(t).Workers {
		if w.LostFrames != 0 {
			t.Errorf("worker %d lost %d frames on the vanished interface", w.Index, w.LostFrames)
		}
	}
}

// TestReload: a bad file keeps everything running and reports the field
// (in the answer, the log and status); a good one says what changed; a
// policy change denies new connections and keeps established ones
// (Calico's semantics, see README).
func TestReload(t *testing.T) {
	require(t)
	host := netnstest.NewNS(t, "gh")
	web := addWorkload(t, host, "web", "02:00:00:00:13:0a", "198.18.13.10", "")
	db := addWorkload(t, host, "db", "02:00:00:00:13:0b", "198.18.13.11", "")
	policy := func(ports string) string {
		return `
policy:
  profiles:
    - name: open
      ingress: [{action: Allow}]
      egress: [{action: Allow}]
  policies:
    - name: db-ingress
      selector: app == 'db'
      types: [Ingress]
      ingress:
        - action: Allow
          protocol: TCP
          destination: {ports: [` + ports + `]}
`
	}
	conf := func(ports string) string {
		return fmt.Sprintf(oneHostConfig, "  conntrack: {capacity: 4096}",
			web.endpoint(0, "app: web", "open")+db.endpoint(0, "app: db", "open"), policy(ports))
	}
	d := startGannet(t, host, conf(`"7000", "7001"`))
	ln := db.listen(t, "198.18.13.11:7000")
	db.listen(t, "198.18.13.11:7001")
	// An echo server on 7000: the established connection below talks
	// through it.
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go io.Copy(c, c)
		}
	}()
	var conn net.Conn
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		if conn, err = web.dial("198.18.13.11:7000", time.Second); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("web -> db:7000 before the change: %v", err)
	}
	defer conn.Close()
	echo := func(msg string) error {
		conn.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.WriteString(conn, msg+"\n"); err != nil {
			return err
		}
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err == nil && line != msg+"\n" {
			err = fmt.Errorf("echo %q, want %q", line, msg)
		}
		return err
	}
	if err := echo("before"); err != nil {
		t.Fatalf("established connection before the change: %v", err)
	}

	// A bad file: nothing changes, the field is named everywhere.
	good, _ := os.ReadFile(d.config)
	if err := os.WriteFile(d.config, []byte(strings.Replace(string(good), "frames: 4096", "frames: 4096\n  frameSize: 3000", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := d.cli("reload")
	if err == nil || !strings.Contains(out, "dataplane.frameSize") {
		t.Errorf("gannet reload of a bad file = %v:\n%s\nwant an error naming dataplane.frameSize", err, out)
	}
	if st := d.status(t); st.LastApply == nil || st.LastApply.OK || len(st.LastApply.Errors) == 0 || st.LastApply.Errors[0].Field != "dataplane.frameSize" {
		t.Errorf("status lastApply after a bad reload = %+v", st.LastApply)
	}
	if !strings.Contains(d.output(), "dataplane.frameSize") {
		t.Errorf("the log does not name the bad field:\n%s", d.output())
	}
	if err := echo("after a bad reload"); err != nil {
		t.Fatalf("a bad reload broke the established connection: %v", err)
	}

	// The policy now allows 7001 only; reload by SIGHUP.
	st := d.reloadWith(t, strings.Replace(string(good), `"7000", "7001"`, `"7001"`, 1))
	if st.LastApply == nil || !st.LastApply.OK || st.LastApply.Source != "reload" {
		t.Fatalf("SIGHUP reload: last apply %+v", st.LastApply)
	}
	found := false
	for _, c := range st.LastApply.Changes {
		found = found || c == api.Change{Kind: "policy", Name: "db-ingress", Op: "changed"}
	}
	if !found {
		t.Errorf("reload changes = %+v, want policy db-ingress changed", st.LastApply.Changes)
	}
	if err := echo("established after the policy change"); err != nil {
		t.Errorf("the established connection was cut by the policy change: %v", err)
	}
	if c, err := web.dial("198.18.13.11:7000", time.Second); err == nil {
		c.Close()
		t.Errorf("a new connection to 7000 went through after the policy denied it")
	}
	if c, err := web.dial("198.18.13.11:7001", 2*time.Second); err != nil {
		t.Errorf("a new connection to 7001 (still allowed): %v", err)
	} else {
		c.Close()
	}
	// The trace says why: the new flow to 7000 is denied by policy.
	out, err = d.cli("trace", "--in", web.hostIf, "--src", web.v4, "--dst", db.v4, "--proto", "tcp", "--dport", "7000")
	if err != nil || !strings.Contains(out, "policy-ingress") {
		t.Errorf("gannet trace web -> db:7000 = %v:\n%s\nwant a drop by policy-ingress", err, out)
	}
	out, err = d.cli("trace", "--in", web.hostIf, "--src", web.v4, "--dst", db.v4, "--proto", "tcp", "--dport", "7001")
	if err != nil || !strings.Contains(out, "forward") {
		t.Errorf("gannet trace web -> db:7001 = %v:\n%s\nwant forward", err, out)
	}
	t.Logf("gannet trace web -> db:7001:\n%s", out)
	// The compiled policy is readable.
	if out, err := d.cli("policy", "db", "-o", "json"); err != nil || !strings.Contains(out, "db-ingress") {
		t.Errorf("gannet policy db = %v:\n%s", err, out)
	}
}

// TestAPISocketPermissions: the socket answers root and members of
// api.group only. Another user is refused by the file modes, and when the
// modes are opened by mistake the peer credentials still get a 403.
func TestAPISocketPermissions(t *testing.T) {
	require(t, "setpriv")
	host := netnstest.NewNS(t, "gh")
	a := addWorkload(t, host, "wl-a", "02:00:00:00:14:0a", "198.18.14.10", "")
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755) // the test's temporary directories are 0700
	os.Chmod(dir, 0o755)
	socket := filepath.Join(dir, "run", "gannet.sock")
	d := startGannet(t, host, fmt.Sprintf(oneHostConfig, "", a.endpoint(0, "", ""), "")+
		fmt.Sprintf("api:\n  socket: %s\n  group: nogroup\n", socket))
	d.socket = socket
	if fi, err := os.Stat(socket); err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket mode = %v, %v; want 0660", fi.Mode(), err)
	}
	if fi, err := os.Stat(filepath.Dir(socket)); err != nil || fi.Mode().Perm() != 0o750 {
		t.Fatalf("socket directory mode = %v, %v; want 0750", fi.Mode(), err)
	}
	as := func(uid, gid string, args ...string) (string, error) {
		cmd := exec.Command("setpriv", append([]string{"--reuid=" + uid, "--regid=" + gid, "--clear-groups", gannetBin}, append(args, "--socket", socket)...)...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// A member of the group (nobody:nogroup) may.
	if out, err := as("65534", "65534", "status", "-o", "json"); err != nil {
		t.Errorf("a member of api.group was refused: %v\n%s", err, out)
	} else {
		var st api.Status
		if json.Unmarshal([]byte(out), &st) != nil || st.Version == "" {
			t.Errorf("status as a group member:\n%s", out)
		}
	}
	// A stranger is refused by the modes.
	out, err := as("4242", "4242", "status")
	if err == nil || !strings.Contains(out, "permission denied") {
		t.Errorf("a stranger's status = %v:\n%s\nwant permission denied", err, out)
	}
	// Modes opened by mistake: the credentials check still refuses.
	os.Chmod(filepath.Dir(socket), 0o755)
	os.Chmod(socket, 0o666)
	out, err = as("4242", "4242", "status")
	if err == nil || !strings.Contains(out, "permission denied") {
		t.Errorf("a stranger's status through open modes = %v:\n%s\nwant 403 permission denied", err, out)
	}
	// A second gannet on the same socket is refused at start.
	out, err = host.Try(gannetBin, "run", "--config", d.config)
	if err == nil || !strings.Contains(out, "served by another running gannet") {
		t.Errorf("a second gannet on a live socket = %v:\n%s", err, out)
	}
}
