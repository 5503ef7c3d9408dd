package e2e

// Restarts that lose nothing: the connection table lives in a state file
// (dataplane.stateDir) that outlives the process, so an SNAT'd TCP
// connection — whose mapping no new process could guess — goes on after
// gannet is killed (SIGKILL, a crash) or stopped (SIGTERM, systemctl
// restart, an upgrade) and started again, on the same external port.

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRestartKeepsSessions(t *testing.T) {
	require(t)
	a, inet, d := borderLab(t, "02:00:00:00:17:0a", "198.18.17.10")

	// The Internet host echoes every byte on each connection and
	// remembers where each came from.
	var ln net.Listener
	if err := inet.Do(func() (err error) {
		ln, err = net.Listen("tcp", "203.0.113.2:7100")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	var peers []string
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			peers = append(peers, c.RemoteAddr().String())
			mu.Unlock()
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	if !a.waitPing(t, "203.0.113.2", 10*time.Second) {
		t.Fatal("wl-a cannot ping 203.0.113.2 through the border")
	}
	c, err := a.dial("203.0.113.2:7100", 3*time.Second)
	if err != nil {
		t.Fatalf("dial through the border: %v", err)
	}
	defer c.Close()
	// echo sends msg and waits for it to come back, up to within.
	echo := func(msg string, within time.Duration) error {
		c.SetDeadline(time.Now().Add(within))
		if _, err := io.WriteString(c, msg); err != nil {
			return err
		}
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(c, buf); err != nil {
			return err
		}
		if string(buf) != msg {
			t.Fatalf("echo %q came back as %q", msg, buf)
		}
		return nil
	}
	if err := echo("before any restart\n", 3*time.Second); err != nil {
		t.Fatalf("SNAT'd connection: %v", err)
	}
	mu.Lock()
	first := peers[0]
	mu.Unlock()
	if !strings.HasPrefix(first, "203.0.113.") {
		t.Fatalf("the Internet host saw the connection from %s, want the external pool", first)
	}

	for _, how := range []string{"SIGKILL", "SIGTERM"} {
		if how == "SIGKILL" {
			d.kill()
		} else {
			d.stop()
		}
		down := time.Now()
		d.start()
		ready := time.Now()
		if out := d.output(); !strings.Contains(out, "connection table adopted") || !strings.Contains(out, "dropped=0") {
			t.Errorf("after %s the new gannet did not adopt every session:\n%s", how, out)
		}
		for _, line := range strings.Split(d.output(), "\n") {
			if strings.Contains(line, "connection table") {
				t.Logf("%s: %s", how, line)
			}
		}
		if err := echo("after "+how+"\n", 2*time.Second); err != nil {
			t.Fatalf("after %s and a restart, the SNAT'd connection carried nothing within 2 s of READY: %v\n%s", how, err, d.output())
		}
		t.Logf("%s: gannet down to READY %v; the SNAT'd connection echoed %v after READY",
			how, ready.Sub(down).Round(time.Millisecond), time.Since(ready).Round(time.Millisecond))
	}

	// A policy change across the restart follows the reload semantics
	// (Calico's): a session the new policy would not admit is kept — it
	// is established — and only new connections are refused.
	cfg, err := os.ReadFile(d.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg = append(cfg, `
policy:
  policies:
    - name: no-7100
      selector: all()
      types: [Egress]
      egress:
        - {action: Deny, protocol: TCP, destination: {ports: ["7100"]}}
        - {action: Allow}
`...)
	if err := os.WriteFile(d.config, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	d.stop()
	d.start()
	if err := echo("after a restart into a policy that denies it\n", 2*time.Second); err != nil {
		t.Fatalf("the adopted connection was cut by the new policy: %v\n%s", err, d.output())
	}
	if c2, err := a.dial("203.0.113.2:7100", time.Second); err == nil {
		c2.Close()
		t.Errorf("a new connection to 7100 went through a policy that denies it")
	}
	out := d.stop()
	if n := counter(out, "drop/policy/policy-egress"); n < 1 {
		t.Errorf("policy-egress drops = %d, want the refused SYN counted:\n%s", n, out)
	}

	// gannet cleanup takes the state away for good, with the pins.
	if files, _ := filepath.Glob(filepath.Join(d.state, "netns-*", "conntrack")); len(files) != 1 {
		t.Errorf("state files after a stop: %v, want one", files)
	}
	if out, err := d.ns.Try(gannetBin, "cleanup", "--pin-path", d.pins, "--state-dir", d.state); err != nil || !strings.Contains(out, "removed") {
		t.Errorf("gannet cleanup = %v:\n%s\nwant the state file removed", err, out)
	}
	if files, _ := filepath.Glob(filepath.Join(d.state, "netns-*")); len(files) != 0 {
		t.Errorf("after gannet cleanup: %v left", files)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(peers) != 1 {
		t.Errorf("the Internet host saw %d connections (%v), want the one, kept", len(peers), peers)
	}
}
