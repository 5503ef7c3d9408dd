package bgpbench

import (
	"strings"
	"testing"
	"time"
)

// TestTriePrefixes reads the main table's prefix count, not the local
// table's (a /proc/net/fib_triestat of Linux 6.18).
func TestTriePrefixes(t *testing.T) {
	const stat = `Basic info: size of leaf: 48 bytes, size of tnode: 40 bytes.
Main:
	Aver depth:     2.42
	Max depth:      3
	Leaves:         901906
	Prefixes:       901907
	Internal nodes: 5
	  1: 1  2: 3  3: 1
	Pointers: 22
Null ptrs: 11
Total size: 2  kB
Local:
	Aver depth:     2.42
	Max depth:      3
	Leaves:         7
	Prefixes:       8
	Internal nodes: 5
`
	n, err := triePrefixes(strings.NewReader(stat))
	if err != nil || n != 901907 {
		t.Errorf("triePrefixes = %d, %v; want 901907", n, err)
	}
	if _, err := triePrefixes(strings.NewReader("Local:\n\tPrefixes: 3\n")); err == nil {
		t.Errorf("triePrefixes without a Main table: no error")
	}
}

// TestRT6Entries reads fib_rt_entries, the fourth field, in hexadecimal.
func TestRT6Entries(t *testing.T) {
	n, err := rt6Entries("0009 0006 000d 2719 0000 0000 0000\n")
	if err != nil || n != 0x2719 {
		t.Errorf("rt6Entries = %d, %v; want %d", n, err, 0x2719)
	}
	if _, err := rt6Entries("0009 0006"); err == nil {
		t.Errorf("rt6Entries of two fields: no error")
	}
}

func TestRibDestinations(t *testing.T) {
	n, ok := ribDestinations("Table afi:AFI_IP safi:SAFI_UNICAST\nDestination: 901899, Path: 901899\n")
	if !ok || n != 901899 {
		t.Errorf("ribDestinations = %d, %v; want 901899", n, ok)
	}
	if _, ok := ribDestinations("rpc error"); ok {
		t.Errorf("ribDestinations of an error: ok")
	}
}

// TestWindow: the average over a window and its worst step.
func TestWindow(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int, rx uint64) rxSample {
		return rxSample{at: t0.Add(time.Duration(ms) * time.Millisecond), rx: rx}
	}
	samples := []rxSample{at(-2000, 0), at(0, 1000), at(250, 1250), at(500, 1300), at(750, 1550), at(1000, 1800), at(3000, 9000)}
	avg, worst := window(samples, t0, t0.Add(time.Second))
	if avg != 800 || worst != 200 {
		t.Errorf("window = %v, %v; want 800, 200 packets/s", avg, worst)
	}
	// A forced read 2 ms after a poll's, the counter unmoved: not a
	// blackout; the stretch runs on to the next read 250 ms later.
	samples = []rxSample{at(0, 1000), at(250, 1250), at(252, 1250), at(500, 1500), at(750, 1750), at(1000, 2000)}
	if avg, worst = window(samples, t0, t0.Add(time.Second)); avg != 1000 || worst < 990 {
		t.Errorf("window with a forced read = %v, %v; want 1000, about 1000 packets/s", avg, worst)
	}
	// A real stall: 500 ms without a packet.
	samples = []rxSample{at(0, 1000), at(250, 1250), at(500, 1250), at(750, 1250), at(1000, 1500)}
	if _, worst = window(samples, t0, t0.Add(time.Second)); worst != 0 {
		t.Errorf("window with a stall = worst %v, want 0", worst)
	}
}
