package lab

// Daemons: BIRD, each host's gannet and every server run as detached
// processes inside their namespaces, each recorded in a pid file under
// the state directory, so `lab down` from any other process finds and
// ends them. A pid is only signalled while its command line still names
// the state directory: a recycled pid belongs to someone else.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gannet-net/gannet/internal/sdnotify"
)

// daemon is a process the lab runs in a namespace.
type daemon struct {
	name string   // its pid file's and log's name
	ns   string   // the namespace it runs in
	argv []string // its command line; one argument names the state directory
}

// start runs d detached (its own session, output to its log) and records
// its pid. With notify it waits for READY=1 on a NOTIFY_SOCKET of its own
// (gannet run's sd_notify), or for the process to exit.
func (p Paths) start(d daemon, notify bool, within time.Duration) (int, error) {
	logf, err := os.OpenFile(p.Log(d.name), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return 0, err
	}
	defer logf.Close()
	cmd := exec.Command("ip", append([]string{"netns", "exec", d.ns}, d.argv...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Env = os.Environ()
	var sock *sdnotify.Listener
	if notify {
		sock, err = sdnotify.Listen(filepath.Join(p.Dir, "run", d.name+".notify"))
		if err != nil {
			return 0, fmt.Errorf("lab: %s's notify socket: %w", d.name, err)
		}
		defer sock.Close()
		cmd.Env = append(cmd.Env, sock.Env())
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("lab: starting %s: %w", d.name, err)
	}
	pid := cmd.Process.Pid
	if err := os.WriteFile(p.PIDFile(d.name), []byte(strconv.Itoa(pid)+"\n"), 0o600); err != nil {
		cmd.Process.Kill()
		return 0, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	if !notify {
		// Started is enough; a daemon that dies at once says why in
		// its log, which the caller's next step shows.
		select {
		case err := <-exited:
			return 0, fmt.Errorf("lab: %s exited at once (%v):\n%s", d.name, err, p.tail(d.name))
		case <-time.After(50 * time.Millisecond):
		}
		return pid, nil
	}
	select {
	case <-sock.Ready():
		return pid, nil
	case err := <-exited:
		return 0, fmt.Errorf("lab: %s exited before it was ready (%v):\n%s", d.name, err, p.tail(d.name))
	case <-time.After(within):
		return 0, fmt.Errorf("lab: %s not ready within %v:\n%s", d.name, within, p.tail(d.name))
	}
}

// tail is the end of a daemon's log.
func (p Paths) tail(name string) string {
	b, _ := os.ReadFile(p.Log(name))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// ours returns the pid recorded for daemon name if that process is alive
// and still one of this lab's (its command line names the directory).
func (p Paths) ours(name string) (int, bool) {
	b, err := os.ReadFile(p.PIDFile(name))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte(p.Dir)) {
		return 0, false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err == nil {
		// A zombie has exited; its parent has not reaped it yet.
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			return 0, false
		}
	}
	return pid, true
}

// daemons lists the names of the pid files under the state directory.
func (p Paths) daemons() []string {
	files, _ := filepath.Glob(filepath.Join(p.Dir, "run", "*.pid"))
	var out []string
	for _, f := range files {
		out = append(out, strings.TrimSuffix(filepath.Base(f), ".pid"))
	}
	return out
}

// stop ends daemon name: SIGTERM, then SIGKILL after grace, and removes
// its pid file.
func (p Paths) stop(name string, grace time.Duration) error {
	defer os.Remove(p.PIDFile(name))
	pid, ok := p.ours(name)
	if !ok {
		return nil
	}
	proc, err := os.FindProcess(pid)
	if err != nil {
		return nil
	}
	proc.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if _, ok := p.ours(name); !ok {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	proc.Kill()
	for i := 0; i < 100; i++ {
		if _, ok := p.ours(name); !ok {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("lab: " + name + " (pid " + strconv.Itoa(pid) + ") survived SIGKILL")
}

// Daemons lists the lab's live daemons by the node or workload they run
// in, as "what pid N".
func (l *Lab) Daemons() map[string][]string {
	out := map[string][]string{}
	for _, name := range l.Paths.daemons() {
		pid, ok := l.Paths.ours(name)
		if !ok {
			continue
		}
		what, node, _ := strings.Cut(name, "-")
		if name == "bird" {
			what, node = "bird", "core"
		}
		out[node] = append(out[node], fmt.Sprintf("%s pid %d", what, pid))
	}
	return out
}
