// CPU time of the receivers' control planes. On a machine shared with
// other work a phase's wall-clock time is mostly the time the receiver
// waited for a CPU: gannet's control plane is confined to the cores its
// workers leave (one of two here) while BIRD may run on any, and both
// compete with whatever else runs. The CPU time a phase cost is the
// receiver's own figure whatever the load: gannet's threads except its
// busy-polling workers; BIRD's process, whose system time includes the
// kernel installing the routes it sends over netlink (the kernel's own
// deferred work in other threads, e.g. RCU freeing, is not counted).

package bgpbench

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of utime and stime in /proc/*/stat (USER_HZ,
// 100 on Linux whatever the kernel's HZ).
const clockTick = 10 * time.Millisecond

// statCPU returns utime+stime of a /proc/.../stat line: the fields after
// the command (which may hold spaces and parentheses, so the split is at
// the last ')'), 14th and 15th of the line.
func statCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat %q: no command", stat)
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is the state, field 3 of the line: utime is field 14.
	if len(f) < 13 {
		return 0, fmt.Errorf("stat %q: too few fields", stat)
	}
	u, err := strconv.ParseUint(f[11], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat utime: %w", err)
	}
	s, err := strconv.ParseUint(f[12], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat stime: %w", err)
	}
	return time.Duration(u+s) * clockTick, nil
}

// processCPU is the CPU time pid has used, all its threads.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return statCPU(string(b))
}

// threadsCPU is the CPU time of pid's threads that may run on some CPU
// other than only; a thread pinned to only (a gannet worker) is left
// out. A thread that ended since is not counted: gannet's threads live
// as long as the process.
func threadsCPU(pid, only int) (time.Duration, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var sum time.Duration
	for _, t := range tasks {
		st, err := os.ReadFile(filepath.Join(dir, t.Name(), "stat"))
		if err != nil {
			continue // the thread ended
		}
		status, err := os.ReadFile(filepath.Join(dir, t.Name(), "status"))
		if err != nil {
			continue
		}
		if allowedOnly(string(status), only) {
			continue
		}
		d, err := statCPU(string(st))
		if err != nil {
			return 0, err
		}
		sum += d
	}
	return sum, nil
}

// allowedOnly reports whether a /proc status says the thread may run on
// CPU cpu alone (Cpus_allowed_list).
func allowedOnly(status string, cpu int) bool {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v) == strconv.Itoa(cpu)
		}
	}
	return false
}
