package nat

// Benchmarks (product metrics) and zero-allocation tests of the hot
// paths: established lookup + translate, new-flow setup with mapping and
// port allocation, ICMP error rewriting, and the memory of a table of one
// million sessions.

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gannet-net/gannet/internal/cputime"
	"github.com/gannet-net/gannet/pkt"
	"golang.org/x/sys/unix"
)

// benchPolicy source-NATs 198.18.0.0/16 onto 64 addresses.
func benchPolicy() *Policy {
	return &Policy{
		Pools:    []Pool{{Prefix: pool4, NATOutgoing: true}},
		External: []ExternalPool{{Prefix: netip.MustParsePrefix("203.0.113.0/26")}},
	}
}

// flowGen writes flow i's outbound TCP packet into a frame and summary:
// internal host 198.18.(i>>12).(i>>4), port 10000+(i&15), to
// 198.51.100.1:443. The template is parsed once; each flow only patches
// the source address and port.
type flowGen struct {
	tmpl []byte
	sum  pkt.Summary
}

func newFlowGen(t testing.TB, flags string) *flowGen {
	f := out("tcp", "198.18.0.1", 10000, "198.51.100.1", 443)
	f.flags = flags
	g := &flowGen{tmpl: f.frame(t)}
	pkt.Parse(g.tmpl, &g.sum)
	return g
}

func (g *flowGen) gen(i int, frame []byte, s *pkt.Summary) {
	copy(frame, g.tmpl)
	*s = g.sum
	a := [4]byte{198, 18, byte(i >> 12), byte(i >> 4)}
	port := uint16(10000 + i&15)
	copy(frame[14+12:], a[:])
	binary.BigEndian.PutUint16(frame[34:], port)
	copy(s.Src[:4], a[:])
	s.SrcPort = port
}

// benchTable is a table of n established SNAT flows.
type benchTable struct {
	h   *harness
	gen *flowGen
	n   int
}

func newBenchTable(b testing.TB, n int) *benchTable {
	return fillBenchTable(b, newHarness(b, Config{Capacity: n}, benchPolicy()), n)
}

// fillBenchTable makes n established SNAT flows in h's table.
func fillBenchTable(b testing.TB, h *harness, n int) *benchTable {
	g := newFlowGen(b, "S")
	frame := make([]byte, len(g.tmpl))
	var s pkt.Summary
	for i := range n {
		g.gen(i, frame, &s)
		if r := h.w.Process(frame, &s, 0); r.State != StateNew {
			b.Fatalf("setting up flow %d: %+v", i, r)
		}
	}
	return &benchTable{h: h, gen: newFlowGen(b, "A"), n: n}
}

var (
	bench1MOnce sync.Once
	bench1M     *benchTable
	bench1MRSS  uint64
)

// rssBytes is the resident memory of the process: the table's large
// arrays live outside the Go heap, so heap statistics would not see them.
func rssBytes() uint64 {
	runtime.GC()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

func benchTable1M(b *testing.B) *benchTable {
	bench1MOnce.Do(func() {
		before := rssBytes()
		bench1M = newBenchTable(b, 1<<20)
		bench1MRSS = rssBytes() - before
	})
	return bench1M
}

func BenchmarkEstablished(b *testing.B) {
	for _, n := range []int{1 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("flows=%d", n), func(b *testing.B) {
			if n == 1<<20 {
				benchEstablished(b, benchTable1M(b))
			} else {
				benchEstablished(b, newBenchTable(b, n))
			}
		})
	}
}

// benchEstablished tracks packets of bt's established flows, one at a
// time, 64 to a batch.
func benchEstablished(b *testing.B, bt *benchTable) {
	n := bt.n
	w := bt.h.tab.NewWorker()
	frame := make([]byte, len(bt.gen.tmpl))
	var s pkt.Summary
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cputime.Thread()
	for i := range b.N {
		if i&63 == 0 {
			w.BeginBatch()
		}
		// A stride through the flows so consecutive packets
		// touch unrelated cache lines.
		bt.gen.gen((i*7919)&(n-1), frame, &s)
		if r := w.Track(frame, &s, 0); r.State != StateEstablished {
			b.Fatalf("packet %d: %+v", i, r)
		}
	}
	cpu := cputime.Thread() - cpu0
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/pkt")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/pkt")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkt/s")
}

// BenchmarkHarness is the part of BenchmarkEstablished that is not nat:
// writing each packet's frame and summary from the template. Subtract it
// to get nat's own cost per packet.
func BenchmarkHarness(b *testing.B) {
	const n = 1 << 10
	g := newFlowGen(b, "A")
	frame := make([]byte, len(g.tmpl))
	var s pkt.Summary
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cputime.Thread()
	for i := range b.N {
		g.gen((i*7919)&(n-1), frame, &s)
	}
	cpu := cputime.Thread() - cpu0
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/pkt")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/pkt")
}

// trackBufs returns the arguments of a TrackBatch of n packets: frames of
// frameLen bytes, their summaries, spaces (all 0) and results.
func trackBufs(n, frameLen int) ([][]byte, []*pkt.Summary, []uint16, []Result) {
	frames, sums := make([][]byte, n), make([]*pkt.Summary, n)
	for i := range frames {
		frames[i] = make([]byte, frameLen)
		sums[i] = new(pkt.Summary)
	}
	return frames, sums, make([]uint16, n), make([]Result, n)
}

// BenchmarkEstablishedBatch is BenchmarkEstablished through TrackBatch,
// 64 packets a batch: the harness fills a batch of frames, then tracks it.
func BenchmarkEstablishedBatch(b *testing.B) {
	for _, n := range []int{1 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("flows=%d", n), func(b *testing.B) {
			var bt *benchTable
			if n == 1<<20 {
				bt = benchTable1M(b)
			} else {
				bt = newBenchTable(b, n)
			}
			w := bt.h.tab.NewWorker()
			const batch = 64
			frames, sums, spaces, res := trackBufs(batch, len(bt.gen.tmpl))
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cputime.Thread()
			for i := 0; i < b.N; i += batch {
				w.BeginBatch()
				m := min(batch, b.N-i)
				for j := range m {
					bt.gen.gen(((i+j)*7919)&(n-1), frames[j], sums[j])
				}
				w.TrackBatch(frames[:m], sums[:m], spaces[:m], res[:m])
				for j := range m {
					if res[j].State != StateEstablished {
						b.Fatalf("packet %d: %+v", i+j, res[j])
					}
				}
			}
			cpu := cputime.Thread() - cpu0
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/pkt")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/pkt")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkt/s")
		})
	}
}

// BenchmarkNewFlow measures session setup for flows that each need a new
// mapping and an external port: in a table of 256k sessions (arrays far
// larger than the caches, as in production) and, to separate the work
// from the memory latency, in one of 4k sessions.
func BenchmarkNewFlow(b *testing.B) {
	for _, capacity := range []int{1 << 18, 1 << 12} {
		b.Run(fmt.Sprintf("capacity=%d", capacity), func(b *testing.B) {
			h := newHarness(b, Config{Capacity: capacity, SweepPerBatch: maxSweep}, benchPolicy())
			g := newFlowGen(b, "S")
			frame := make([]byte, len(g.tmpl))
			var s pkt.Summary
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ReportAllocs()
			b.ResetTimer()
			var cpu time.Duration
			cpu0 := cputime.Thread()
			for i := range b.N {
				j := i % capacity
				if j == 0 && i > 0 {
					// Full: expire everything, off the clock.
					b.StopTimer()
					cpu += cputime.Thread() - cpu0
					h.clock.Advance(3 * time.Hour)
					for range capacity/maxSweep + 1 {
						h.w.BeginBatch()
					}
					cpu0 = cputime.Thread()
					b.StartTimer()
				}
				g.gen(j, frame, &s)
				if r := h.w.Process(frame, &s, 0); r.State != StateNew {
					b.Fatalf("flow %d: %+v", i, r)
				}
			}
			cpu += cputime.Thread() - cpu0
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "flows/s")
			b.ReportMetric(float64(b.N)/cpu.Seconds(), "flows/cpu-s")
		})
	}
}

// BenchmarkNewFlowBatch is BenchmarkNewFlow the way the data path makes
// new flows: 64 packets a batch through TrackBatch (which finds them new
// and plans them together), then Commit for each.
func BenchmarkNewFlowBatch(b *testing.B) {
	for _, capacity := range []int{1 << 18, 1 << 12} {
		b.Run(fmt.Sprintf("capacity=%d", capacity), func(b *testing.B) {
			h := newHarness(b, Config{Capacity: capacity}, benchPolicy()) // the default sweep, as in production
			g := newFlowGen(b, "S")
			const batch = 64
			frames, sums, spaces, res := trackBufs(batch, len(g.tmpl))
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ReportAllocs()
			b.ResetTimer()
			var cpu time.Duration
			cpu0 := cputime.Thread()
			j := 0
			for i := 0; i < b.N; i += batch {
				m := min(batch, b.N-i)
				if j+m > capacity {
					b.StopTimer()
					cpu += cputime.Thread() - cpu0
					h.clock.Advance(3 * time.Hour)
					for range capacity/64 + 1 {
						h.w.BeginBatch()
					}
					j = 0
					cpu0 = cputime.Thread()
					b.StartTimer()
				}
				h.w.BeginBatch()
				for k := range m {
					g.gen(j+k, frames[k], sums[k])
				}
				h.w.TrackBatch(frames[:m], sums[:m], spaces[:m], res[:m])
				for k := range m {
					if res[k].Action != Decide {
						b.Fatalf("flow %d: %+v", j+k, res[k])
					}
					if r := h.w.Commit(frames[k], sums[k], 0); r.State != StateNew {
						b.Fatalf("flow %d: %+v", j+k, r)
					}
				}
				j += m
			}
			cpu += cputime.Thread() - cpu0
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "flows/s")
			b.ReportMetric(float64(b.N)/cpu.Seconds(), "flows/cpu-s")
		})
	}
}

// BenchmarkMemory reports the memory of a table holding one million
// sessions (2^20), each with its own mapping: the table's own count of its
// arrays, and the growth of the process's resident memory while it was
// built and filled.
func BenchmarkMemory(b *testing.B) {
	bt := benchTable1M(b)
	for range b.N {
		if bt.h.tab.Len() != 1<<20 {
			b.Fatalf("%d sessions", bt.h.tab.Len())
		}
	}
	b.ReportMetric(float64(bench1MRSS), "rss-bytes")
	b.ReportMetric(float64(bt.h.tab.MemoryBytes()), "table-bytes")
	b.ReportMetric(float64(bt.h.tab.MemoryBytes())/float64(1<<20), "table-bytes/session")
}

func BenchmarkICMPError(b *testing.B) {
	h := newHarness(b, Config{}, testPolicy())
	f := out("udp", "198.18.1.1", 5000, "198.51.100.1", 53)
	fr := f.frame(b)
	h.send(fr, 0)
	var s pkt.Summary
	pkt.Parse(fr, &s)
	tmpl := icmpError(b, "198.51.100.254", s.SrcAddr().String(), 3, 3, ipOf(fr))
	frame := make([]byte, len(tmpl))
	b.ReportAllocs()
	for range b.N {
		copy(frame, tmpl)
		pkt.Parse(frame, &s)
		if r := h.w.Track(frame, &s, 0); r.State != StateRelated {
			b.Fatalf("%+v", r)
		}
	}
}

func TestZeroAlloc(t *testing.T) {
	bt := newBenchTable(t, 1<<10)
	w := bt.h.w
	frame := make([]byte, len(bt.gen.tmpl))
	var s pkt.Summary
	i := 0
	check := func(name string, f func()) {
		t.Helper()
		if n := testing.AllocsPerRun(200, f); n != 0 {
			t.Errorf("%s: %v allocations per run, want 0", name, n)
		}
	}
	check("established lookup+translate", func() {
		bt.gen.gen(i&1023, frame, &s)
		i++
		if r := w.Track(frame, &s, 0); r.State != StateEstablished {
			t.Fatalf("%+v", r)
		}
	})
	miss := newFlowGen(t, "S")
	check("lookup miss", func() {
		miss.gen(1<<16+i, frame, &s)
		i++
		if r := w.Track(frame, &s, 0); r.State != StateNew {
			t.Fatalf("%+v", r)
		}
	})
	h2 := newHarness(t, Config{Capacity: 4096}, benchPolicy())
	check("new flow setup", func() {
		miss.gen(i&4095, frame, &s)
		i++
		if r := h2.w.Process(frame, &s, 0); r.State != StateNew {
			t.Fatalf("%+v", r)
		}
	})
	check("batch start with expiry", func() {
		h2.clock.Advance(time.Hour)
		h2.w.BeginBatch()
	})
	h3 := newHarness(t, Config{Capacity: 1}, testPolicy())
	h3.establish("198.18.7.1", 5000)
	refused := out("udp", "198.18.7.9", 5000, "198.51.100.1", 53).frame(t)
	check("refusal with ICMP error", func() {
		copy(frame, refused)
		pkt.Parse(frame[:len(refused)], &s)
		h3.clock.Advance(time.Second)
		h3.w.BeginBatch()
		if r := h3.w.Process(frame[:len(refused)], &s, 0); r.Action != DropAndReply {
			t.Fatalf("%+v", r)
		}
	})
	h4 := newHarness(t, Config{}, testPolicy())
	f := out("udp", "198.18.1.1", 5000, "198.51.100.1", 53)
	fr := f.frame(t)
	h4.send(fr, 0)
	pkt.Parse(fr, &s)
	tmpl := icmpError(t, "198.51.100.254", s.SrcAddr().String(), 3, 3, ipOf(fr))
	ebuf := make([]byte, len(tmpl))
	check("ICMP error rewrite", func() {
		copy(ebuf, tmpl)
		pkt.Parse(ebuf, &s)
		if r := h4.w.Track(ebuf, &s, 0); r.State != StateRelated {
			t.Fatalf("%+v", r)
		}
	})
	ff := out("udp", "198.18.3.9", 4000, "198.51.100.7", 53)
	ff.payload = fragPayload
	h4.sendOut(ff)
	frags := fragment(t, ff.ip(t), fragSize, 77)
	fbuf := make([]byte, len(frags[0]))
	check("first fragment recorded", func() {
		copy(fbuf, frags[0])
		pkt.Parse(fbuf, &s)
		if r := h4.w.Track(fbuf, &s, 0); r.State != StateEstablished {
			t.Fatalf("%+v", r)
		}
	})
	check("later fragment translated", func() {
		copy(fbuf, frags[2])
		pkt.Parse(fbuf[:len(frags[2])], &s)
		if r := h4.w.Track(fbuf[:len(frags[2])], &s, 0); r.State != StateEstablished || !r.Translated {
			t.Fatalf("%+v", r)
		}
	})
}

// BenchmarkEstablishedStateFile is BenchmarkEstablished at one million
// flows with the table in a state file (Open) instead of anonymous
// memory: the same lookups on pages of a shared tmpfs file. On /dev/shm
// the pages are 4 KiB unless shmem huge pages are enabled
// (/sys/kernel/mm/transparent_hugepage/shmem_enabled); on a tmpfs mounted
// with huge=within_size (made here when the benchmark may mount) they
// are 2 MiB, as the anonymous table's are.
func BenchmarkEstablishedStateFile(b *testing.B) {
	const n = 1 << 20
	dirs := []struct{ name, dir string }{{"shm", "/dev/shm"}}
	huge := b.TempDir()
	if err := unix.Mount("tmpfs", huge, "tmpfs", 0, "huge=within_size,mode=0700"); err == nil {
		b.Cleanup(func() { unix.Unmount(huge, unix.MNT_DETACH) })
		dirs = append(dirs, struct{ name, dir string }{"tmpfs-huge", huge})
	}
	for _, d := range dirs {
		if _, err := os.Stat(d.dir); err != nil {
			b.Logf("no %s: %v", d.dir, err)
			continue
		}
		dir, err := os.MkdirTemp(d.dir, "gannet-bench-")
		if err != nil {
			b.Fatal(err)
		}
		var bt *benchTable // made once, for every b.N the benchmark tries
		b.Run("memory="+d.name, func(b *testing.B) {
			if bt == nil {
				clock := &ManualClock{}
				tab, _, err := Open(dir+"/conntrack", Config{Capacity: n, Clock: clock, Seed: 42})
				if err != nil {
					b.Fatal(err)
				}
				if err := tab.SetPolicy(benchPolicy()); err != nil {
					b.Fatal(err)
				}
				bt = fillBenchTable(b, &harness{t: b, tab: tab, clock: clock, w: tab.NewWorker()}, n)
			}
			benchEstablished(b, bt)
		})
		if bt != nil {
			bt.h.tab.Close()
		}
		os.RemoveAll(dir)
	}
}

// BenchmarkAdopt measures what a restart costs the connection table: a
// state file of one million sessions, each with its own mapping, checked
// and taken over (every session checked, the indexes, mapping lists and
// port bitmaps rebuilt).
func BenchmarkAdopt(b *testing.B) {
	const n = 1 << 20
	dir, err := os.MkdirTemp("/dev/shm", "gannet-bench-")
	if err != nil {
		b.Skipf("no /dev/shm: %v", err)
	}
	defer os.RemoveAll(dir)
	path := dir + "/conntrack"
	clock := &ManualClock{}
	cfg := Config{Capacity: n, Clock: clock, Seed: 42}
	tab, _, err := Open(path, cfg)
	if err != nil {
		b.Fatal(err)
	}
	tab.SetPolicy(benchPolicy())
	fillBenchTable(b, &harness{t: b, tab: tab, clock: clock, w: tab.NewWorker()}, n)
	tab.Close()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ResetTimer()
	var took, cpu time.Duration
	for range b.N {
		cpu0 := cputime.Thread()
		tab, r, err := Open(path, cfg)
		cpu += cputime.Thread() - cpu0
		if err != nil || !r.Adopted || r.Sessions != n {
			b.Fatalf("Open = %+v, %v; want %d sessions adopted", r, err, n)
		}
		took += r.Took
		tab.Close()
	}
	b.ReportMetric(float64(took.Milliseconds())/float64(b.N), "adopt-ms")
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "open-cpu-ms")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/n, "cpu-ns/session")
}
