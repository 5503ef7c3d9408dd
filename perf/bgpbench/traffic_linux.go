// The established stream: gannet pktgen sends through gannet to a sink on
// a configured route the feed never touches, and the sink's received
// counter, sampled while gannet converges, gives the rate it keeps.

package bgpbench

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"time"

	"github.com/gannet-net/gannet/perf/forward"
)

// trafficPhase runs gannet's phase again with a stream of established
// traffic through it (generator -> gannet -> sink, on a configured route
// the feed never touches): the sink's rate idle, while the routes come
// and while they go.
func (e *env) trafficPhase(ctx context.Context, r receiver, want int) (*Traffic, error) {
	spec := forward.DefaultPackets()
	tr := &Traffic{Offered: e.o.Rate, Packets: fmt.Sprintf("IPv4 UDP %d B frames, %d flows, to %v over a configured route", spec.FrameSize, spec.Flows, spec.Dst)}
	gen, err := e.start(e.gen, "pktgen", "nice", "-n", "-10", "taskset", "-c", strconv.Itoa(e.o.GenCPU),
		e.o.Gannet, "pktgen", "--mode", "xsk", "--rate", strconv.FormatFloat(e.o.Rate, 'f', -1, 64),
		"--dev", e.g, "--dst-mac", e.macDI,
		"--src", spec.Src.String(), "--src-addrs", fmt.Sprint(spec.SrcAddrs), "--sport", fmt.Sprint(spec.SrcPort),
		"--dst", spec.Dst.String(), "--dport", fmt.Sprint(spec.DstPort), "--flows", fmt.Sprint(spec.Flows),
		"--size", fmt.Sprint(spec.FrameSize), "--cores", strconv.Itoa(e.o.GenCPU), "--duration", "0", "--quiet")
	if err != nil {
		return nil, err
	}
	defer gen.stop()
	var samples []rxSample
	read := func() error {
		s, err := e.sinkRx()
		if err == nil {
			samples = append(samples, s)
		}
		return err
	}
	// Warm-up: the stream reaches the sink.
	if err := waitUntil(30*time.Second, 100*time.Millisecond, gen, func() (bool, error) {
		s, err := e.sinkRx()
		return s.rx > 0, err
	}); err != nil {
		return nil, fmt.Errorf("the stream does not reach the sink: %w", err)
	}
	time.Sleep(time.Second)
	if err := read(); err != nil {
		return nil, err
	}
	time.Sleep(3 * time.Second)
	if err := read(); err != nil {
		return nil, err
	}
	tr.Idle = rate(samples[0], samples[1])
	samples = samples[:0]
	sample := func(force bool) {
		if force || len(samples) == 0 || time.Since(samples[len(samples)-1].at) >= sampleEvery {
			read()
		}
	}
	res, err := e.phase(ctx, r, want, sample)
	if err != nil {
		return nil, err
	}
	if err := gen.exited(); err != nil {
		return nil, err
	}
	tr.Established, tr.Converged, tr.Withdrawn = res.Established, res.Converged, res.Withdrawn
	tr.Converging, tr.Worst = window(samples, res.enabled, res.converged)
	tr.Withdrawing, _ = window(samples, res.disabled, res.withdrawn)
	fmt.Fprintf(e.o.Log, "  stream: idle %.0f, converging %.0f (worst %.0f), withdrawing %.0f packets/s\n", tr.Idle, tr.Converging, tr.Worst, tr.Withdrawing)
	return tr, nil
}

// sampleEvery is the shortest window of the stream's rate.
const sampleEvery = 250 * time.Millisecond

// rxSample is the sink's received-packet counter at a moment.
type rxSample struct {
	at time.Time
	rx uint64
}

func (e *env) sinkRx() (rxSample, error) {
	b, err := exec.Command("ip", "-n", e.sink, "-s", "-j", "link", "show", "dev", e.s).Output()
	at := time.Now()
	if err != nil {
		return rxSample{}, fmt.Errorf("sink counters: %w", err)
	}
	st, err := forward.ParseLinkStats(b)
	return rxSample{at: at, rx: st.RxPackets}, err
}

func rate(a, b rxSample) float64 {
	if d := b.at.Sub(a.at).Seconds(); d > 0 {
		return float64(b.rx-a.rx) / d
	}
	return 0
}

// window returns the average rate over the samples from start to end and
// the lowest rate over a stretch of at least sampleEvery there. A phase
// forces samples at its moments (converged, shut), which can come
// milliseconds after a poll's: the sink's counter has not moved between
// two such reads, and their 0 packets/s would be a blackout that never
// happened — so a stretch runs from one sample to the first one at
// least sampleEvery later.
func window(samples []rxSample, start, end time.Time) (avg, worst float64) {
	var in []rxSample
	for _, s := range samples {
		if !s.at.Before(start.Add(-sampleEvery)) && !s.at.After(end.Add(sampleEvery)) {
			in = append(in, s)
		}
	}
	if len(in) < 2 {
		return 0, 0
	}
	avg, worst = rate(in[0], in[len(in)-1]), -1
	from := in[0]
	for _, s := range in[1:] {
		if s.at.Sub(from.at) < sampleEvery {
			continue
		}
		if r := rate(from, s); worst < 0 || r < worst {
			worst = r
		}
		from = s
	}
	if worst < 0 { // shorter than one stretch
		worst = avg
	}
	return avg, worst
}
