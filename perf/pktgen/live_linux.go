// Live frames: the in-kernel generator. A flow's stamped frame goes to the
// kernel with BPF_PROG_RUN and BPF_F_TEST_XDP_LIVE_FRAMES; the kernel runs
// a small XDP program Repeat times on copies of it and transmits each copy
// out of the interface (XDP_TX), as xdp-trafficgen does. The program gives
// every copy the flow's next sequence number and the CLOCK_MONOTONIC time,
// and fixes the transport checksum incrementally, so the receiver accounts
// for these packets exactly as for AF_XDP-generated ones.

package pktgen

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"golang.org/x/sys/unix"
)

// Live is a loaded live-frames generator for one set of frames.
type Live struct {
	frames *Frames
	prog   *ebpf.Program
	seqs   *ebpf.Map // flow -> next sequence number
}

// xdpTX is the XDP_TX action.
const xdpTX = 3

// liveProgram returns the XDP program: seq := seqs[flow]++; write seq and
// bpf_ktime_get_ns() into the payload header; adjust the checksum by the
// difference of the old and new words (RFC 1624 eqn. 3). Words are loaded
// in memory order: the ones' complement sum does not depend on byte order.
func liveProgram(f *Frames, seqs *ebpf.Map) asm.Instructions {
	h := int16(f.hdrOff)
	cs := int16(f.csumOff)
	ins := asm.Instructions{
		asm.LoadMem(asm.R6, asm.R1, 0, asm.Word), // data
		asm.LoadMem(asm.R7, asm.R1, 4, asm.Word), // data_end
		asm.Mov.Reg(asm.R2, asm.R6),
		asm.Add.Imm(asm.R2, int32(h)+PayloadHeaderLen),
		asm.JGT.Reg(asm.R2, asm.R7, "tx"),
		// key = flow (big-endian in the packet)
		asm.LoadMem(asm.R2, asm.R6, h+2, asm.Half),
		asm.HostTo(asm.BE, asm.R2, asm.Half),
		asm.StoreMem(asm.RFP, -4, asm.R2, asm.Word),
		asm.LoadMapPtr(asm.R1, seqs.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "tx"),
		asm.LoadMem(asm.R8, asm.R0, 0, asm.Word),
		asm.Mov.Reg(asm.R3, asm.R8),
		asm.Add.Imm(asm.R3, 1),
		asm.StoreMem(asm.R0, 0, asm.R3, asm.Word), // one CPU sends a flow: no atomic needed
		asm.FnKtimeGetNs.Call(),
		asm.Mov.Reg(asm.R9, asm.R0),
		// r0 = ~checksum + sum of ~old words
		asm.LoadMem(asm.R0, asm.R6, cs, asm.Half),
		asm.Xor.Imm(asm.R0, 0xffff),
	}
	for off := h + 4; off < h+PayloadHeaderLen; off += 2 {
		ins = append(ins,
			asm.LoadMem(asm.R1, asm.R6, off, asm.Half),
			asm.Xor.Imm(asm.R1, 0xffff),
			asm.Add.Reg(asm.R0, asm.R1))
	}
	ins = append(ins,
		asm.Mov.Reg(asm.R1, asm.R8),
		asm.HostTo(asm.BE, asm.R1, asm.Word),
		asm.StoreMem(asm.R6, h+4, asm.R1, asm.Word),
		asm.Mov.Reg(asm.R1, asm.R9),
		asm.HostTo(asm.BE, asm.R1, asm.DWord),
		asm.StoreMem(asm.R6, h+8, asm.R1, asm.DWord),
	)
	for off := h + 4; off < h+PayloadHeaderLen; off += 2 {
		ins = append(ins,
			asm.LoadMem(asm.R1, asm.R6, off, asm.Half),
			asm.Add.Reg(asm.R0, asm.R1))
	}
	for range 3 { // fold to 16 bits
		ins = append(ins,
			asm.Mov.Reg(asm.R1, asm.R0),
			asm.RSh.Imm(asm.R1, 16),
			asm.And.Imm(asm.R0, 0xffff),
			asm.Add.Reg(asm.R0, asm.R1))
	}
	ins = append(ins, asm.Xor.Imm(asm.R0, 0xffff))
	if f.udp {
		ins = append(ins,
			asm.JNE.Imm(asm.R0, 0, "store"),
			asm.Mov.Imm(asm.R0, 0xffff))
	}
	ins = append(ins,
		asm.StoreMem(asm.R6, cs, asm.R0, asm.Half).WithSymbol("store"),
		asm.Mov.Imm(asm.R0, xdpTX).WithSymbol("tx"),
		asm.Return(),
	)
	return ins
}

// NewLive loads the live-frames program for f.
func NewLive(f *Frames) (*Live, error) {
	seqs, err := ebpf.NewMap(&ebpf.MapSpec{Name: "pktgen_seq", Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: uint32(f.Flows())})
	if err != nil {
		return nil, fmt.Errorf("pktgen live: sequence map: %w", err)
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "pktgen_live", Type: ebpf.XDP, License: "Dual MIT/GPL",
		Instructions: liveProgram(f, seqs)})
	if err != nil {
		seqs.Close()
		return nil, fmt.Errorf("pktgen live: load program: %w", err)
	}
	return &Live{frames: f, prog: prog, seqs: seqs}, nil
}

// Close frees the program and its map.
func (l *Live) Close() error {
	return errors.Join(l.prog.Close(), l.seqs.Close())
}

// Sent returns the sequence number the program will give flow's next
// packet, which is how many packets of the flow it has sent.
func (l *Live) Sent(flow int) (uint32, error) {
	var v uint32
	err := l.seqs.Lookup(uint32(flow), &v)
	return v, err
}

// xdpMD mirrors struct xdp_md, the context BPF_PROG_RUN takes.
type xdpMD struct {
	Data, DataEnd, DataMeta, IngressIfindex, RxQueueIndex, EgressIfindex uint32
}

// SendConfig says how one thread sends.
type SendConfig struct {
	Ifindex int
	Flows   []int   // the flows this thread sends, in turn
	Rate    float64 // packets per second for this thread; 0: as fast as possible
	Count   uint64  // stop after this many packets; 0: until ctx ends
	// Burst is how many copies of one flow's frame one BPF_PROG_RUN sends
	// (default 256). The kernel recycles Batch frames (default 64) while
	// it runs.
	Burst, Batch int
}

// Send runs on the calling goroutine's OS thread until ctx ends or Count
// packets are sent, adding to *sent after every burst (read it with
// atomic loads from another goroutine). Pin the thread before calling.
func (l *Live) Send(ctx context.Context, cfg SendConfig, sent *Counter) error {
	if len(cfg.Flows) == 0 {
		return errors.New("pktgen live: no flows to send")
	}
	burst := cfg.Burst
	if burst <= 0 {
		burst = 256
	}
	if cfg.Rate > 0 {
		// Bursts of at most a millisecond keep the rate smooth.
		burst = max(1, min(burst, int(cfg.Rate/1000)))
	}
	batch := cfg.Batch
	if batch <= 0 {
		batch = 64
	}
	data := make([]byte, l.frames.Size())
	md := &xdpMD{DataEnd: uint32(len(data)), IngressIfindex: uint32(cfg.Ifindex)}
	opts := &ebpf.RunOptions{Data: data, Context: md, Flags: unix.BPF_F_TEST_XDP_LIVE_FRAMES,
		BatchSize: uint32(batch)}
	start := time.Now()
	var n uint64
	for i := 0; ; i++ {
		if ctx.Err() != nil {
			return nil
		}
		r := burst
		if cfg.Count > 0 {
			if n >= cfg.Count {
				return nil
			}
			r = int(min(uint64(r), cfg.Count-n))
		}
		flow := cfg.Flows[i%len(cfg.Flows)]
		copy(data, l.frames.Template(flow))
		opts.Repeat = uint32(r)
		if _, err := l.prog.Run(opts); err != nil {
			return fmt.Errorf("pktgen live: BPF_PROG_RUN: %w", err)
		}
		n += uint64(r)
		sent.Add(uint64(r))
		if cfg.Rate > 0 {
			due := start.Add(time.Duration(float64(n) / cfg.Rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
		}
	}
}

// PinThread locks the calling goroutine to its OS thread and that thread
// to cpu. Call runtime.UnlockOSThread when done (or let the goroutine end).
func PinThread(cpu int) error {
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pin thread to CPU %d: %w", cpu, err)
	}
	return nil
}
