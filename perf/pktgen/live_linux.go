// Live frames: the in-kernel generator. A frame goes to the kernel with
// BPF_PROG_RUN and BPF_F_TEST_XDP_LIVE_FRAMES; the kernel runs a small XDP
// program Repeat times on recycled copies of it and transmits each copy out
// of the interface (XDP_TX), as xdp-trafficgen does. The program turns each
// copy into the next flow's packet (headers from a template map), gives it
// the flow's next sequence number and the CLOCK_MONOTONIC time, and fixes
// the transport checksum incrementally, so the receiver accounts for these
// packets exactly as for AF_XDP-generated ones.

package pktgen

import (
	"bytes"
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
	frames  *Frames
	prog    *ebpf.Program
	tmpl    *ebpf.Map // flow -> the first copyLen bytes of its template
	seqs    *ebpf.Map // flow -> next sequence number
	cursors *ebpf.Map // CPU -> liveCursor: which flow that CPU sends next
}

// liveCursor is the per-CPU flow schedule: a thread pinned to a CPU sends
// flows first, first+stride, ... (value of the cursors map).
type liveCursor struct{ Next, First, Stride, _ uint32 }

// maxCPUs bounds the CPU numbers live mode can send from.
const maxCPUs = 1024

// xdpTX is the XDP_TX action.
const xdpTX = 3

// copyLen is how many leading bytes differ between flows: headers and the
// payload header. The padding after it is the same in every template.
func (f *Frames) copyLen() int { return f.hdrOff + PayloadHeaderLen }

// liveProgram returns the XDP program. Per packet: take the next flow from
// this CPU's cursor; copy that flow's headers over the frame; seq :=
// seqs[flow]++; write seq and bpf_ktime_get_ns() into the payload header;
// add the new words to the template's checksum (RFC 1624 with the old words
// zero, as Frames.Stamp does). Words are loaded in memory order: the ones'
// complement sum does not depend on byte order.
func liveProgram(f *Frames, tmpl, seqs, cursors *ebpf.Map) asm.Instructions {
	h := int16(f.hdrOff)
	cs := int16(f.csumOff)
	n := int16(f.copyLen())
	lookup := func(m *ebpf.Map, keyReg asm.Register) asm.Instructions {
		return asm.Instructions{
			asm.StoreMem(asm.RFP, -4, keyReg, asm.Word),
			asm.LoadMapPtr(asm.R1, m.FD()),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -4),
			asm.FnMapLookupElem.Call(),
			asm.JEq.Imm(asm.R0, 0, "tx"),
		}
	}
	ins := asm.Instructions{
		asm.LoadMem(asm.R6, asm.R1, 0, asm.Word), // data
		asm.LoadMem(asm.R7, asm.R1, 4, asm.Word), // data_end
		asm.Mov.Reg(asm.R2, asm.R6),
		asm.Add.Imm(asm.R2, int32(n)),
		asm.JGT.Reg(asm.R2, asm.R7, "tx"),
		asm.FnGetSmpProcessorId.Call(),
	}
	ins = append(ins, lookup(cursors, asm.R0)...)
	ins = append(ins,
		asm.LoadMem(asm.R8, asm.R0, 0, asm.Word), // flow = cursor.Next
		asm.LoadMem(asm.R4, asm.R0, 8, asm.Word),
		asm.Mov.Reg(asm.R3, asm.R8),
		asm.Add.Reg(asm.R3, asm.R4),
		asm.JLT.Imm(asm.R3, int32(f.Flows()), "next"),
		asm.LoadMem(asm.R3, asm.R0, 4, asm.Word), // wrap to cursor.First
		asm.StoreMem(asm.R0, 0, asm.R3, asm.Word).WithSymbol("next"),
	)
	ins = append(ins, lookup(tmpl, asm.R8)...)
	off := int16(0)
	for ; off+8 <= n; off += 8 {
		ins = append(ins, asm.LoadMem(asm.R1, asm.R0, off, asm.DWord), asm.StoreMem(asm.R6, off, asm.R1, asm.DWord))
	}
	for ; off < n; off += 2 {
		ins = append(ins, asm.LoadMem(asm.R1, asm.R0, off, asm.Half), asm.StoreMem(asm.R6, off, asm.R1, asm.Half))
	}
	ins = append(ins, lookup(seqs, asm.R8)...)
	ins = append(ins,
		asm.LoadMem(asm.R9, asm.R0, 0, asm.Word),
		asm.Mov.Reg(asm.R3, asm.R9),
		asm.Add.Imm(asm.R3, 1),
		asm.StoreMem(asm.R0, 0, asm.R3, asm.Word), // one CPU sends a flow: no atomic needed
		asm.FnKtimeGetNs.Call(),
		asm.Mov.Reg(asm.R8, asm.R0),
		asm.Mov.Reg(asm.R1, asm.R9),
		asm.HostTo(asm.BE, asm.R1, asm.Word),
		asm.StoreMem(asm.R6, h+4, asm.R1, asm.Word),
		asm.Mov.Reg(asm.R1, asm.R8),
		asm.HostTo(asm.BE, asm.R1, asm.DWord),
		asm.StoreMem(asm.R6, h+8, asm.R1, asm.DWord),
		// r0 = ~checksum + the new words
		asm.LoadMem(asm.R0, asm.R6, cs, asm.Half),
		asm.Xor.Imm(asm.R0, 0xffff),
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

// NewLive loads the live-frames program and its maps for f.
func NewLive(f *Frames) (l *Live, err error) {
	l = &Live{frames: f}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	vsize := (f.copyLen() + 7) &^ 7
	if l.tmpl, err = ebpf.NewMap(&ebpf.MapSpec{Name: "pktgen_tmpl", Type: ebpf.Array, KeySize: 4,
		ValueSize: uint32(vsize), MaxEntries: uint32(f.Flows())}); err != nil {
		return nil, fmt.Errorf("pktgen live: template map: %w", err)
	}
	val := make([]byte, vsize)
	for fl := range f.Flows() {
		copy(val, f.Template(fl)[:f.copyLen()])
		if err := l.tmpl.Put(uint32(fl), val); err != nil {
			return nil, fmt.Errorf("pktgen live: template of flow %d: %w", fl, err)
		}
	}
	if l.seqs, err = ebpf.NewMap(&ebpf.MapSpec{Name: "pktgen_seq", Type: ebpf.Array, KeySize: 4, ValueSize: 4,
		MaxEntries: uint32(f.Flows())}); err != nil {
		return nil, fmt.Errorf("pktgen live: sequence map: %w", err)
	}
	if l.cursors, err = ebpf.NewMap(&ebpf.MapSpec{Name: "pktgen_cursor", Type: ebpf.Array, KeySize: 4, ValueSize: 16,
		MaxEntries: maxCPUs}); err != nil {
		return nil, fmt.Errorf("pktgen live: cursor map: %w", err)
	}
	if l.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{Name: "pktgen_live", Type: ebpf.XDP, License: "Dual MIT/GPL",
		Instructions: liveProgram(f, l.tmpl, l.seqs, l.cursors)}); err != nil {
		return nil, fmt.Errorf("pktgen live: load program: %w", err)
	}
	return l, nil
}

// Close frees the program and its maps.
func (l *Live) Close() error {
	var errs []error
	for _, c := range []interface{ Close() error }{l.prog, l.tmpl, l.seqs, l.cursors} {
		if c != nil && !isNilPtr(c) {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}

func isNilPtr(c interface{ Close() error }) bool {
	switch v := c.(type) {
	case *ebpf.Program:
		return v == nil
	case *ebpf.Map:
		return v == nil
	}
	return false
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
	// Flows are the flows this thread sends, in turn. Live mode needs an
	// arithmetic progression (first, first+stride, ...) and the CPU the
	// thread is pinned to; threads on one CPU must not share it.
	Flows []int
	CPU   int
	Rate  float64 // packets per second for this thread; 0: as fast as possible
	Count uint64  // stop after this many packets; 0: until ctx ends
	// Burst is how many packets one BPF_PROG_RUN sends (default 1<<18).
	// Each call costs milliseconds of setup in the kernel (a page pool),
	// so bursts are large; the program itself cycles through the flows.
	Burst, Batch int
}

// Send runs on the calling goroutine's OS thread until ctx ends or Count
// packets are sent, adding to *sent after every burst (read it with
// atomic loads from another goroutine). Pin the thread to cfg.CPU first.
func (l *Live) Send(ctx context.Context, cfg SendConfig, sent *Counter) error {
	if len(cfg.Flows) == 0 {
		return errors.New("pktgen live: no flows to send")
	}
	stride := l.frames.Flows() // one flow: wrap to it every time
	if len(cfg.Flows) > 1 {
		stride = cfg.Flows[1] - cfg.Flows[0]
	}
	for i, fl := range cfg.Flows {
		if fl != cfg.Flows[0]+i*stride && len(cfg.Flows) > 1 {
			return fmt.Errorf("pktgen live: flows %v are not evenly spaced", cfg.Flows)
		}
	}
	if cfg.CPU < 0 || cfg.CPU >= maxCPUs {
		return fmt.Errorf("pktgen live: CPU %d outside 0..%d", cfg.CPU, maxCPUs-1)
	}
	first := uint32(cfg.Flows[0])
	if err := l.cursors.Put(uint32(cfg.CPU), liveCursor{Next: first, First: first, Stride: uint32(stride)}); err != nil {
		return fmt.Errorf("pktgen live: cursor of CPU %d: %w", cfg.CPU, err)
	}
	burst := cfg.Burst
	if burst <= 0 {
		burst = 1 << 18
	}
	if cfg.Rate > 0 {
		// At most a tenth of a second per call keeps a limited rate smooth.
		burst = max(1, min(burst, int(cfg.Rate/10)))
	}
	batch := cfg.Batch
	if batch <= 0 {
		batch = 64
	}
	data := bytes.Clone(l.frames.Template(cfg.Flows[0]))
	md := &xdpMD{DataEnd: uint32(len(data)), IngressIfindex: uint32(cfg.Ifindex)}
	opts := &ebpf.RunOptions{Data: data, Context: md, Flags: unix.BPF_F_TEST_XDP_LIVE_FRAMES,
		BatchSize: uint32(batch)}
	start := time.Now()
	var n uint64
	for {
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
		if cfg.Rate == 0 {
			// Stop near the deadline: a call cannot be interrupted.
			if dl, ok := ctx.Deadline(); ok && n > 0 {
				per := time.Since(start) / time.Duration(n)
				left := time.Until(dl)
				if left <= 0 {
					return nil
				}
				r = int(min(int64(r), max(1, int64(left/max(per, 1)))))
			}
		}
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
