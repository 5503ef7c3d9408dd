package e2e

// Seeing the data path at work on a real `gannet run`: gannet capture
// piped into tcpdump shows the ICMP echoes two workloads exchange (frames
// the kernel never sees); a capture whose filter matches nothing writes
// a valid, empty pcap; a policy's Log rule writes log lines; gannet
// policy shows rule hits that grow.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gannet-net/gannet/ctl/api"
	"github.com/gannet-net/gannet/internal/netnstest"
)

const observePolicy = `
policy:
  profiles:
    - name: open
      ingress: [{action: Allow}]
      egress: [{action: Allow}]
  policies:
    - name: watch-b
      selector: app == 'b'
      types: [Ingress]
      ingress:
        - action: Log
          protocol: ICMP
        - action: Allow
          protocol: ICMP
`

// waitLog waits until the daemon's output contains s.
func (d *daemon) waitLog(t *testing.T, s string, within time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if strings.Contains(d.output(), s) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// captureStarted waits for the daemon's n-th "capture started" line.
func (d *daemon) captureStarted(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(d.output(), `msg="capture started"`) < n {
		if time.Now().After(deadline) {
			t.Fatalf("no capture started:\n%s", d.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCaptureAndPolicyLog(t *testing.T) {
	require(t, "tcpdump")
	host := netnstest.NewNS(t, "gh")
	a := addWorkload(t, host, "wl-a", "02:00:00:00:18:0a", "198.18.18.10", "2001:db8:18::10")
	b := addWorkload(t, host, "wl-b", "02:00:00:00:18:0b", "198.18.18.11", "2001:db8:18::11")
	d := startGannet(t, host, fmt.Sprintf(oneHostConfig, "", a.endpoint(0, "", "open")+b.endpoint(0, "app: b", "open"), observePolicy))
	if !a.waitPing(t, b.v4, 5*time.Second) {
		t.Fatal("wl-a cannot ping wl-b")
	}

	t.Run("capture into tcpdump", func(t *testing.T) {
		// gannet capture -i <wl-a's interface> -c 5 -w - | tcpdump -n -r -
		capture := exec.Command(gannetBin, "capture", "-i", a.hostIf, "-c", "5", "-w", "-", "--socket", d.socket)
		tcpdump := exec.Command("tcpdump", "-n", "-r", "-")
		pipe, err := capture.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		tcpdump.Stdin = pipe
		var capErr, tdOut strings.Builder
		capture.Stderr = &capErr
		tcpdump.Stdout, tcpdump.Stderr = &tdOut, &tdOut
		if err := tcpdump.Start(); err != nil {
			t.Fatal(err)
		}
		if err := capture.Start(); err != nil {
			t.Fatal(err)
		}
		d.captureStarted(t, 1)
		if got := a.ping(t, b.v4, 5); got != 5 {
			t.Errorf("ping during the capture: %d of 5 replies", got)
		}
		done := make(chan error, 1)
		go func() { done <- capture.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("gannet capture: %v\n%s", err, capErr.String())
			}
		case <-time.After(20 * time.Second):
			capture.Process.Kill()
			<-done
			t.Fatalf("gannet capture -c 5 did not end:\n%s", capErr.String())
		}
		if err := tcpdump.Wait(); err != nil {
			t.Errorf("tcpdump -r -: %v\n%s", err, tdOut.String())
		}
		out := tdOut.String()
		t.Logf("tcpdump:\n%s", out)
		requests := strings.Count(out, fmt.Sprintf("IP %s > %s: ICMP echo request", a.v4, b.v4))
		replies := strings.Count(out, fmt.Sprintf("IP %s > %s: ICMP echo reply", b.v4, a.v4))
		frames := 0
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if !strings.HasPrefix(line, "reading from") {
				frames++
			}
		}
		// The workload sends more than the echoes now and then (an MLD
		// report when its interface comes up): -c 5 counts every frame.
		if frames != 5 || requests == 0 || replies == 0 || requests+replies < 3 {
			t.Errorf("tcpdump shows %d frames, %d echo requests and %d replies of wl-a's; want 5 frames, mostly echoes of both kinds", frames, requests, replies)
		}
		if !strings.Contains(capErr.String(), "5 frames captured, 0 frames dropped") {
			t.Errorf("gannet capture's report = %q, want 5 frames captured, 0 dropped", capErr.String())
		}
	})

	t.Run("filter that matches nothing", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "none.pcap")
		capture := exec.Command(gannetBin, "capture", "-i", a.hostIf, "-w", file, "--socket", d.socket, "udp", "and", "port", "9")
		var capErr strings.Builder
		capture.Stderr = &capErr
		if err := capture.Start(); err != nil {
			t.Fatal(err)
		}
		d.captureStarted(t, 2)
		if got := a.ping(t, b.v4, 3); got != 3 {
			t.Errorf("ping during the capture: %d of 3 replies", got)
		}
		time.Sleep(100 * time.Millisecond) // past a drain of the rings
		capture.Process.Signal(syscall.SIGINT)
		if err := capture.Wait(); err != nil {
			t.Errorf("gannet capture after Ctrl-C: %v\n%s", err, capErr.String())
		}
		out, err := exec.Command("tcpdump", "-n", "-r", file).CombinedOutput()
		if err != nil {
			t.Fatalf("tcpdump -r %s: %v\n%s", file, err, out)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if !strings.HasPrefix(line, "reading from file") {
				t.Errorf("a capture of udp port 9 holds packets:\n%s", out)
				break
			}
		}
		if !d.waitLog(t, "capture ended", 5*time.Second) {
			t.Errorf("the daemon did not end the capture when its client went away:\n%s", d.output())
		}
	})

	t.Run("bad filter", func(t *testing.T) {
		out, err := d.cli("capture", "-i", a.hostIf, "-w", "-", "--filter", "port http")
		if err == nil || !strings.Contains(out, "filter") || !strings.Contains(out, `port "http" is not a number`) {
			t.Errorf("gannet capture --filter 'port http' = %v:\n%s", err, out)
		}
		out, err = d.cli("capture", "-i", "nosuch0", "-w", "-")
		if err == nil || !strings.Contains(out, "is not an interface of gannet's") {
			t.Errorf("gannet capture -i nosuch0 = %v:\n%s", err, out)
		}
	})

	t.Run("policy log and rule hits", func(t *testing.T) {
		hits := func() (logHits, allowHits uint64) {
			t.Helper()
			out, err := d.cli("policy", "wl-b", "-o", "json")
			if err != nil {
				t.Fatalf("gannet policy wl-b: %v\n%s", err, out)
			}
			var p api.Policy
			if err := json.Unmarshal([]byte(out), &p); err != nil {
				t.Fatalf("gannet policy -o json: %v\n%s", err, out)
			}
			if len(p.IngressHits) < 2 || !strings.Contains(p.Ingress[0], `"watch-b"`) {
				t.Fatalf("wl-b's ingress rules and hits: %v %v", p.Ingress, p.IngressHits)
			}
			return p.IngressHits[0], p.IngressHits[1]
		}
		log0, allow0 := hits()
		if got := a.ping(t, b.v4, 3); got != 3 {
			t.Errorf("ping: %d of 3 replies", got)
		}
		log1, allow1 := hits()
		// Without conntrack every echo request is evaluated: 3 more hits
		// of the Log rule and of the Allow rule.
		if log1 < log0+3 || allow1 < allow0+3 {
			t.Errorf("hits went from log %d allow %d to log %d allow %d over 3 pings: want 3 more each", log0, allow0, log1, allow1)
		}
		line := fmt.Sprintf(`msg="policy log" endpoint=wl-b direction=ingress policy=watch-b rule=0 verdict=accept decided-by="policy \"watch-b\" Ingress[1]" proto=icmp src=%s dst=%s icmp-type=8 icmp-code=0`, a.v4, b.v4)
		if !d.waitLog(t, line, 3*time.Second) {
			t.Errorf("no policy log line like\n  %s\nin the daemon's output:\n%s", line, d.output())
		}
		if out, err := d.cli("policy", "wl-b"); err != nil || !strings.Contains(out, "HITS") {
			t.Errorf("gannet policy wl-b = %v:\n%s", err, out)
		} else {
			t.Logf("gannet policy wl-b:\n%s", out)
		}
		// Only wl-b's ingress logs: replies to wl-a are not logged.
		if strings.Contains(d.output(), `msg="policy log" endpoint=wl-a`) {
			t.Errorf("a policy log line for wl-a, which has no Log rule:\n%s", d.output())
		}
	})

	// The API streams for a client of its own too: a count of 2 ends the
	// stream with the trailers.
	t.Run("api", func(t *testing.T) {
		pinged := make(chan struct{})
		go func() { defer close(pinged); a.ping(t, b.v4, 4) }()
		defer func() { <-pinged }() // it logs through t: done before t is
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		f, err := os.Create(filepath.Join(t.TempDir(), "api.pcap"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		res, err := d.client().Capture(ctx, api.CaptureRequest{Interface: b.hostIf, Direction: "rx", Filter: "icmp", Count: 2}, f)
		if err != nil || !res.Complete || res.Captured != 2 {
			t.Errorf("Capture(rx icmp, 2) = %+v, %v", res, err)
		}
		out, err := exec.Command("tcpdump", "-n", "-r", f.Name()).CombinedOutput()
		if err != nil || strings.Count(string(out), fmt.Sprintf("IP %s > %s: ICMP echo reply", b.v4, a.v4)) != 2 {
			t.Errorf("tcpdump of wl-b's rx = %v:\n%s", err, out)
		}
	})
}
