// Measurement inputs: interface counters from `ip -s -j link` and per-CPU
// times from /proc/stat, read at the edges of each run; a Sample is made
// from two readings.

package forward

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// LinkStats are one interface's packet counters.
type LinkStats struct {
	RxPackets, RxDropped, TxPackets, TxDropped uint64
}

// ParseLinkStats reads the output of `ip -s -j link show dev X`.
func ParseLinkStats(b []byte) (LinkStats, error) {
	var v []struct {
		Stats64 *struct {
			Rx struct{ Packets, Dropped uint64 } `json:"rx"`
			Tx struct{ Packets, Dropped uint64 } `json:"tx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return LinkStats{}, fmt.Errorf("ip -s -j link: %w", err)
	}
	if len(v) != 1 || v[0].Stats64 == nil {
		return LinkStats{}, fmt.Errorf("ip -s -j link: want one interface with stats64, got %d entries", len(v))
	}
	s := v[0].Stats64
	return LinkStats{RxPackets: s.Rx.Packets, RxDropped: s.Rx.Dropped, TxPackets: s.Tx.Packets, TxDropped: s.Tx.Dropped}, nil
}

// CPUTimes are one CPU's /proc/stat times in clock ticks.
type CPUTimes struct {
	Busy, Total uint64 // busy: user, nice, system, irq, softirq, steal; total adds idle and iowait
	IRQ         uint64 // irq and softirq
}

// ParseTaskTicks returns utime+stime from the text of /proc/PID/stat
// (the command name in parentheses may hold spaces).
func ParseTaskTicks(stat string) uint64 {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(stat[i+1:])
	// After the name: state is field 3 of the line, utime 14, stime 15.
	if len(f) < 13 {
		return 0
	}
	u, err1 := strconv.ParseUint(f[11], 10, 64)
	s, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return u + s
}

// ParseProcStat reads the per-CPU lines ("cpuN ...") of /proc/stat.
func ParseProcStat(r io.Reader) (map[int]CPUTimes, error) {
	out := map[int]CPUTimes{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") || f[0] == "cpu" {
			continue
		}
		n, err := strconv.Atoi(f[0][3:])
		if err != nil {
			continue
		}
		var v [8]uint64
		for i := range v {
			if v[i], err = strconv.ParseUint(f[1+i], 10, 64); err != nil {
				return nil, fmt.Errorf("/proc/stat %s field %d: %w", f[0], i+1, err)
			}
		}
		// user nice system idle iowait irq softirq steal
		busy := v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
		out[n] = CPUTimes{Busy: busy, Total: busy + v[3] + v[4], IRQ: v[5] + v[6]}
	}
	return out, sc.Err()
}

// Reading is everything read at one edge of a run.
type Reading struct {
	At       time.Time
	Gen      LinkStats // the generator's interface (tx)
	Sink     LinkStats // the sink's interface (rx)
	CPUs     map[int]CPUTimes
	GenCPU   int
	DUTCPU   int
	DUTTicks uint64 // CPU time of the DUT's processes and NAPI kthreads
}

// SampleOf makes a Sample from the readings before and after a run.
func SampleOf(a, b Reading) Sample {
	dt := b.At.Sub(a.At).Seconds()
	if dt <= 0 {
		return Sample{}
	}
	// Offered: what the generator's veth sent or dropped because the DUT's
	// receive ring was full (veth counts the latter as tx_dropped).
	tx := float64(b.Gen.TxPackets + b.Gen.TxDropped - a.Gen.TxPackets - a.Gen.TxDropped)
	rx := float64(b.Sink.RxPackets - a.Sink.RxPackets)
	s := Sample{TxPPS: tx / dt, RxPPS: rx / dt}
	if tx > 0 {
		s.Loss = max(0, 1-rx/tx)
	}
	// The DUT's share: its tasks plus interrupt work on its CPU, so that
	// other load on a shared machine does not count. Without
	// CONFIG_IRQ_TIME_ACCOUNTING a softirq tick that lands in a DUT task
	// counts in both, so the sum is capped by the CPU's busy time.
	ca, cb := a.CPUs[a.DUTCPU], b.CPUs[b.DUTCPU]
	if cb.Total > ca.Total {
		used := float64(b.DUTTicks-a.DUTTicks) + float64(cb.IRQ-ca.IRQ)
		s.DUTCPU = min(used, float64(cb.Busy-ca.Busy)) / float64(cb.Total-ca.Total)
	}
	s.GenCPU = busyShare(a.CPUs[a.GenCPU], b.CPUs[b.GenCPU])
	return s
}

func busyShare(a, b CPUTimes) float64 {
	if b.Total <= a.Total {
		return 0
	}
	return float64(b.Busy-a.Busy) / float64(b.Total-a.Total)
}
