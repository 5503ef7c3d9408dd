package bgpbench

import (
	"os"
	"runtime"
	"testing"
	"time"
)

// TestStatCPU reads utime+stime past a command holding spaces and a ')'.
func TestStatCPU(t *testing.T) {
	line := "4242 (a b) c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 100 0 0"
	got, err := statCPU(line)
	if err != nil {
		t.Fatal(err)
	}
	if want := 300 * clockTick; got != want {
		t.Errorf("statCPU = %v, want %v (utime 250 + stime 50 ticks)", got, want)
	}
	if _, err := statCPU("4242 (x) S 1"); err == nil {
		t.Error("a short line parsed")
	}
}

// TestAllowedOnly tells a thread pinned to one CPU from one allowed more.
func TestAllowedOnly(t *testing.T) {
	for _, c := range []struct {
		list string
		cpu  int
		want bool
	}{{"1", 1, true}, {"0", 1, false}, {"0-1", 1, false}, {"0,2", 2, false}, {"11", 1, false}} {
		if got := allowedOnly("Name:\tgannet\nCpus_allowed:\t2\nCpus_allowed_list:\t"+c.list+"\n", c.cpu); got != c.want {
			t.Errorf("Cpus_allowed_list %q, cpu %d: %v, want %v", c.list, c.cpu, got, c.want)
		}
	}
}

// TestThreadsCPU: this process's threads' CPU time grows by at least
// the busy loop it runs, and processCPU by as much.
func TestThreadsCPU(t *testing.T) {
	pid := os.Getpid()
	p0, err := processCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	t0, err := threadsCPU(pid, runtime.NumCPU()+1) // no thread is pinned to a CPU that does not exist
	if err != nil {
		t.Fatal(err)
	}
	spin := func(d time.Duration) (n int) {
		for end := time.Now().Add(d); time.Now().Before(end); n++ {
		}
		return n
	}
	// Spin until this process has used 300 ms more CPU (wall time on a
	// loaded machine may be much longer).
	for {
		spin(50 * time.Millisecond)
		p1, err := processCPU(pid)
		if err != nil {
			t.Fatal(err)
		}
		if p1-p0 >= 300*time.Millisecond {
			break
		}
	}
	t1, err := threadsCPU(pid, runtime.NumCPU()+1)
	if err != nil {
		t.Fatal(err)
	}
	if t1-t0 < 250*time.Millisecond {
		t.Errorf("threads' CPU grew by %v over a spin of at least 300 ms of process CPU", t1-t0)
	}
}
