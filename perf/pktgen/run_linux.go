// Run: one generator invocation. Sending threads (AF_XDP or live frames,
// one per core) and receiving threads (AF_XDP, one per queue) run pinned
// until the duration or count is reached; a reporting goroutine prints one
// line a second; the result is a Summary.

package pktgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gannet-net/gannet/fwd/xsk"
)

// Config is one generator run.
type Config struct {
	Frames *Frames
	Mode   string // "xsk" (AF_XDP) or "live" (BPF_PROG_RUN live frames)
	// TxIfindex is the sending device (0: receive only); RxIfindex the
	// receiving one (0: send only).
	TxIfindex, RxIfindex int
	TxCores              []int // one sending thread per CPU; with AF_XDP thread i uses queue i
	RxCores              []int // one receiving thread per CPU, on queue i
	Rate                 float64
	Count                uint64
	Duration             time.Duration
	XSKMode              xsk.Mode
	Burst                int           // live frames: copies per BPF_PROG_RUN
	Drain                time.Duration // how long receivers keep going after the senders stop (default 200 ms)
	Live                 io.Writer     // one line a second; nil for none
}

// Latency is a latency summary in nanoseconds.
type Latency struct {
	Samples uint64 `json:"samples"`
	Min     int64  `json:"min"`
	Mean    int64  `json:"mean"`
	P50     int64  `json:"p50"`
	P90     int64  `json:"p90"`
	P99     int64  `json:"p99"`
	P999    int64  `json:"p99_9"`
	Max     int64  `json:"max"`
}

// Summary is what a run did.
type Summary struct {
	Mode       string  `json:"mode"`
	XSKMode    string  `json:"xskMode,omitempty"`
	Packets    string  `json:"packets"`
	Seconds    float64 `json:"seconds"`
	TxPackets  uint64  `json:"txPackets"`
	TxPPS      float64 `json:"txPps"`
	RxPackets  uint64  `json:"rxPackets"`
	RxValid    uint64  `json:"rxValid"`
	RxPPS      float64 `json:"rxPps"`
	Lost       uint64  `json:"lost"`
	Reordered  uint64  `json:"reordered"`
	Duplicates uint64  `json:"duplicates"`
	// Loss is 1 - rx/tx when this run both sent and received, else the
	// receiver's sequence-based estimate lost/(received+lost).
	Loss       float64  `json:"loss"`
	Latency    *Latency `json:"latencyNs,omitempty"`
	CPUSeconds float64  `json:"cpuSeconds"` // user+system time of the process
}

// Describe says what s's frames are, in a few words.
func (s Spec) Describe() string {
	s = s.withDefaults()
	return fmt.Sprintf("%s %s %dB, %d flows (%d source addresses from %v, ports from %d) to %v port %d",
		family(s.Src), s.Proto, s.FrameSize, s.Flows, s.SrcAddrs, s.Src, s.SrcPort, s.Dst, s.DstPort)
}

// Run runs cfg until done or ctx ends.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	if cfg.TxIfindex == 0 && cfg.RxIfindex == 0 {
		return nil, errors.New("pktgen: nothing to do: neither a sending nor a receiving device")
	}
	if cfg.Mode != "xsk" && cfg.Mode != "live" {
		return nil, fmt.Errorf("pktgen: mode %q: want xsk or live", cfg.Mode)
	}
	if len(cfg.TxCores) == 0 {
		cfg.TxCores = []int{0}
	}
	if len(cfg.RxCores) == 0 {
		cfg.RxCores = []int{0}
	}
	if cfg.Mode == "live" {
		seen := map[int]bool{}
		for _, c := range cfg.TxCores {
			if seen[c] {
				return nil, fmt.Errorf("pktgen: live mode needs distinct sending CPUs, %d is listed twice", c)
			}
			seen[c] = true
		}
	}
	if cfg.Drain == 0 {
		cfg.Drain = 200 * time.Millisecond
	}
	f := cfg.Frames
	sum := &Summary{Mode: cfg.Mode, Packets: f.Spec().Describe()}

	// Receivers first, so nothing sent is missed.
	var rxs []*XSKReceiver
	var rxProg *RxProgram
	defer func() {
		for _, r := range rxs {
			r.Close()
		}
		if rxProg != nil {
			rxProg.Close()
		}
	}()
	if cfg.RxIfindex != 0 {
		var err error
		if rxProg, err = AttachRx(cfg.RxIfindex); err != nil {
			return nil, err
		}
		for q := range cfg.RxCores {
			r, err := NewXSKReceiver(rxProg, cfg.RxIfindex, q, f.Flows(), cfg.XSKMode)
			if err != nil {
				return nil, err
			}
			rxs = append(rxs, r)
			sum.XSKMode = r.sock.Mode().String()
		}
	}

	// Senders: flows are split between threads (flow i on thread i mod n).
	type sender interface {
		Send(context.Context, SendConfig, *Counter) error
	}
	var senders []sender
	var live *Live
	var xsenders []*XSKSender
	defer func() {
		for _, s := range xsenders {
			s.Close()
		}
		if live != nil {
			live.Close()
		}
	}()
	if cfg.TxIfindex != 0 {
		if cfg.Mode == "live" {
			var err error
			if live, err = NewLive(f); err != nil {
				return nil, err
			}
			for range cfg.TxCores {
				senders = append(senders, live)
			}
		} else {
			for q := range cfg.TxCores {
				s, err := NewXSKSender(f, cfg.TxIfindex, q, cfg.XSKMode)
				if err != nil {
					return nil, err
				}
				xsenders = append(xsenders, s)
				senders = append(senders, s)
				sum.XSKMode = s.Mode().String()
			}
		}
	}

	txCtx, txCancel := context.WithCancel(ctx)
	defer txCancel()
	if cfg.Duration > 0 {
		txCtx, txCancel = context.WithTimeout(ctx, cfg.Duration)
		defer txCancel()
	}
	rxCtx, rxCancel := context.WithCancel(context.Background())
	defer rxCancel()

	var ru0 unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru0)
	start := time.Now()
	sent := make([]Counter, len(senders))
	errs := make(chan error, len(senders)+len(rxs))
	var txWG, rxWG sync.WaitGroup
	for i, r := range rxs {
		rxWG.Add(1)
		go func() {
			defer rxWG.Done()
			if err := PinThread(cfg.RxCores[i]); err != nil {
				errs <- err
				return
			}
			if err := r.Receive(rxCtx); err != nil {
				errs <- err
			}
		}()
	}
	n := len(senders)
	for i, s := range senders {
		sc := SendConfig{Ifindex: cfg.TxIfindex, Burst: cfg.Burst, CPU: cfg.TxCores[i]}
		for fl := i; fl < f.Flows(); fl += n {
			sc.Flows = append(sc.Flows, fl)
		}
		if len(sc.Flows) == 0 {
			continue
		}
		sc.Rate = cfg.Rate / float64(n)
		if cfg.Count > 0 {
			sc.Count = cfg.Count / uint64(n)
			if uint64(i) < cfg.Count%uint64(n) {
				sc.Count++
			}
		}
		txWG.Add(1)
		go func() {
			defer txWG.Done()
			if err := PinThread(cfg.TxCores[i]); err != nil {
				errs <- err
				return
			}
			if err := s.Send(txCtx, sc, &sent[i]); err != nil {
				errs <- err
				txCancel()
			}
		}()
	}
	txDone := make(chan struct{})
	go func() { txWG.Wait(); close(txDone) }()

	// Report once a second until the senders finish.
	total := func() (tx, rx uint64) {
		for i := range sent {
			tx += sent[i].Load()
		}
		for _, r := range rxs {
			rx += r.Valid.Load()
		}
		return tx, rx
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastT, lastTx, lastRx, lastCPU := start, uint64(0), uint64(0), cpuSeconds(&ru0)
	wait := txDone
	if len(senders) == 0 {
		wait = nil
	}
loop:
	for {
		select {
		case <-wait:
			break loop
		case <-txCtx.Done():
			if len(senders) == 0 {
				break loop
			}
		case <-tick.C:
			now := time.Now()
			tx, rx := total()
			c := cpuSeconds(&ru0)
			dt := now.Sub(lastT).Seconds()
			if cfg.Live != nil {
				line := fmt.Sprintf("%6.1fs  tx %7.3f Mpps  rx %7.3f Mpps", now.Sub(start).Seconds(),
					float64(tx-lastTx)/dt/1e6, float64(rx-lastRx)/dt/1e6)
				if len(senders) > 0 && len(rxs) > 0 && tx > lastTx {
					line += fmt.Sprintf("  loss %5.1f%%", 100*max(0, 1-float64(rx-lastRx)/float64(tx-lastTx)))
				}
				line += fmt.Sprintf("  cpu %4.0f%%\n", 100*(c-lastCPU)/dt)
				io.WriteString(cfg.Live, line)
			}
			lastT, lastTx, lastRx, lastCPU = now, tx, rx, c
		}
	}
	txCancel()
	txWG.Wait()
	txEnd := time.Now()
	if len(rxs) > 0 && len(senders) > 0 {
		time.Sleep(cfg.Drain)
	}
	rxCancel()
	rxWG.Wait()
	close(errs)
	var runErr []error
	for err := range errs {
		runErr = append(runErr, err)
	}
	if err := errors.Join(runErr...); err != nil {
		return nil, err
	}

	sum.Seconds = txEnd.Sub(start).Seconds()
	sum.CPUSeconds = cpuSeconds(&ru0)
	tx, _ := total()
	if live != nil {
		tx = 0
		for fl := range f.Flows() {
			v, err := live.Sent(fl)
			if err != nil {
				return nil, err
			}
			tx += uint64(v) // the program's count is exact even if a run was restarted
		}
	}
	sum.TxPackets = tx
	if sum.Seconds > 0 {
		sum.TxPPS = float64(tx) / sum.Seconds
	}
	if len(rxs) > 0 {
		tr := NewTracker(f.Flows())
		var h Histogram
		for _, r := range rxs {
			sum.RxPackets += r.Packets.Load()
			sum.RxValid += r.Valid.Load()
			tr.Merge(r.Tracker)
			h.Merge(&r.Latency)
		}
		sum.RxPPS = float64(sum.RxValid) / sum.Seconds
		sum.Lost, sum.Reordered, sum.Duplicates = tr.Lost(), tr.Reordered, tr.Duplicates
		switch {
		case len(senders) > 0 && tx > 0:
			sum.Loss = max(0, 1-float64(sum.RxValid-tr.Duplicates)/float64(tx))
		case sum.RxValid+sum.Lost > 0:
			sum.Loss = float64(sum.Lost) / float64(sum.RxValid-tr.Duplicates+sum.Lost)
		}
		if h.Count() > 0 {
			sum.Latency = &Latency{Samples: h.Count(), Min: int64(h.Min()), Mean: int64(h.Mean()),
				P50: int64(h.Percentile(50)), P90: int64(h.Percentile(90)), P99: int64(h.Percentile(99)),
				P999: int64(h.Percentile(99.9)), Max: int64(h.Max())}
		}
	}
	return sum, nil
}

func cpuSeconds(base *unix.Rusage) float64 {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	d := func(a, b unix.Timeval) float64 { return float64(a.Sec-b.Sec) + float64(a.Usec-b.Usec)/1e6 }
	return d(ru.Utime, base.Utime) + d(ru.Stime, base.Stime)
}

// WriteText prints the summary for people.
func (s *Summary) WriteText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "mode %s%s: %s\n", s.Mode, cond(s.XSKMode != "", " ("+s.XSKMode+")"), s.Packets)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "sent     %d packets in %.2fs = %.3f Mpps\n", s.TxPackets, s.Seconds, s.TxPPS/1e6)
	if s.RxPackets > 0 || s.RxValid > 0 {
		fmt.Fprintf(w, "received %d packets (%d with a payload header) = %.3f Mpps\n", s.RxPackets, s.RxValid, s.RxPPS/1e6)
		fmt.Fprintf(w, "loss     %.3f%%  (sequence gaps %d, reordered %d, duplicates %d)\n", 100*s.Loss, s.Lost, s.Reordered, s.Duplicates)
	}
	if l := s.Latency; l != nil {
		us := func(ns int64) float64 { return float64(ns) / 1e3 }
		fmt.Fprintf(w, "latency  µs: min %.1f  mean %.1f  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  (%d samples)\n",
			us(l.Min), us(l.Mean), us(l.P50), us(l.P90), us(l.P99), us(l.P999), us(l.Max), l.Samples)
	}
	_, err = fmt.Fprintf(w, "cpu      %.2fs user+system (%.0f%% of one core)\n", s.CPUSeconds, 100*s.CPUSeconds/max(s.Seconds, 1e-9))
	return err
}

// WriteJSON writes the summary as JSON.
func (s *Summary) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(s)
}

func cond(b bool, s string) string {
	if b {
		return s
	}
	return ""
}
