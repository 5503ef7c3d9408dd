// Configuration: what a caller asks for (UmemConfig, SocketConfig), checked
// and defaulted here before any syscall, so bad input changes nothing.

package xsk

import (
	"errors"
	"fmt"
)

// PacketHeadroom is XDP_PACKET_HEADROOM: the kernel places a received packet
// this far past the chunk start plus the registered UmemConfig.Headroom.
const PacketHeadroom = 256

// Defaults for zero fields of UmemConfig and SocketConfig.
const (
	DefaultNumFrames = 4096
	DefaultFrameSize = 4096
	DefaultRingSize  = 2048
)

// UmemConfig sizes the frame area and its fill and completion rings.
type UmemConfig struct {
	NumFrames      int // default 4096
	FrameSize      int // 2048 or 4096 (default 4096); aligned chunk mode
	Headroom       int // registered with the kernel, default 0; the kernel adds XDP_PACKET_HEADROOM (256) itself on rx
	FillSize       int // ring entries, power of two, default 2048
	CompletionSize int // default 2048
}

// withDefaults returns c with zero fields set to their defaults, or an error
// naming the first bad field.
func (c UmemConfig) withDefaults() (UmemConfig, error) {
	if c.NumFrames == 0 {
		c.NumFrames = DefaultNumFrames
	}
	if c.FrameSize == 0 {
		c.FrameSize = DefaultFrameSize
	}
	if c.FillSize == 0 {
		c.FillSize = DefaultRingSize
	}
	if c.CompletionSize == 0 {
		c.CompletionSize = DefaultRingSize
	}
	switch {
	case c.NumFrames < 0 || c.NumFrames > 1<<24:
		return c, fmt.Errorf("xsk: UmemConfig.NumFrames %d: want 1..%d", c.NumFrames, 1<<24)
	case c.FrameSize != 2048 && c.FrameSize != 4096:
		return c, fmt.Errorf("xsk: UmemConfig.FrameSize %d: want 2048 or 4096", c.FrameSize)
	case c.Headroom < 0 || c.Headroom+PacketHeadroom >= c.FrameSize:
		return c, fmt.Errorf("xsk: UmemConfig.Headroom %d: want 0..%d for frame size %d", c.Headroom, c.FrameSize-PacketHeadroom-1, c.FrameSize)
	}
	if err := checkRingSize("UmemConfig.FillSize", c.FillSize); err != nil {
		return c, err
	}
	if err := checkRingSize("UmemConfig.CompletionSize", c.CompletionSize); err != nil {
		return c, err
	}
	return c, nil
}

// Mode is how a socket moves frames between the device and the UMEM.
type Mode uint8

const (
	// ModeAuto tries zero-copy and falls back to copy mode.
	ModeAuto Mode = iota
	// ModeCopy (XDP_COPY): the kernel copies each frame; works on any device.
	ModeCopy
	// ModeZeroCopy (XDP_ZEROCOPY): the driver DMAs into the UMEM directly.
	ModeZeroCopy
)

func (m Mode) String() string {
	switch m {
	case ModeAuto:
		return "auto"
	case ModeCopy:
		return "copy"
	case ModeZeroCopy:
		return "zerocopy"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

// SocketConfig names the device queue a socket binds to and how.
type SocketConfig struct {
	Ifindex, Queue int
	RxSize, TxSize int  // ring entries, power of two, default 2048
	Mode           Mode // Auto tries zero-copy then copy
	NoNeedWakeup   bool // need_wakeup is on unless set
	BusyPollUsec   int  // SO_BUSY_POLL, 0 = off
	BusyPollBudget int  // SO_BUSY_POLL_BUDGET, 0 = kernel default
	PreferBusyPoll bool // SO_PREFER_BUSY_POLL
}

func (c SocketConfig) withDefaults() (SocketConfig, error) {
	if c.RxSize == 0 {
		c.RxSize = DefaultRingSize
	}
	if c.TxSize == 0 {
		c.TxSize = DefaultRingSize
	}
	switch {
	case c.Ifindex <= 0:
		return c, fmt.Errorf("xsk: SocketConfig.Ifindex %d: want > 0", c.Ifindex)
	case c.Queue < 0:
		return c, fmt.Errorf("xsk: SocketConfig.Queue %d: want >= 0", c.Queue)
	case c.Mode > ModeZeroCopy:
		return c, fmt.Errorf("xsk: SocketConfig.Mode %v: want auto, copy or zerocopy", c.Mode)
	case c.BusyPollUsec < 0:
		return c, fmt.Errorf("xsk: SocketConfig.BusyPollUsec %d: want >= 0", c.BusyPollUsec)
	case c.BusyPollBudget < 0 || c.BusyPollBudget > 0xffff:
		return c, fmt.Errorf("xsk: SocketConfig.BusyPollBudget %d: want 0..65535", c.BusyPollBudget)
	}
	if err := checkRingSize("SocketConfig.RxSize", c.RxSize); err != nil {
		return c, err
	}
	if err := checkRingSize("SocketConfig.TxSize", c.TxSize); err != nil {
		return c, err
	}
	return c, nil
}

func checkRingSize(field string, n int) error {
	if n <= 0 || n > 1<<20 || n&(n-1) != 0 {
		return fmt.Errorf("xsk: %s %d: want a power of two up to %d", field, n, 1<<20)
	}
	return nil
}

// ErrSharedUmem is wrapped by NewSocket's error when the kernel refuses to
// let a socket share the UMEM (for example a zero-copy UMEM on a device that
// has no zero-copy support). The caller then gives that socket a Umem of its
// own and copies frames between the two.
var ErrSharedUmem = errors.New("xsk: kernel refused to share the UMEM")

// ErrClosed is returned by operations on a closed Umem or Socket.
var ErrClosed = errors.New("xsk: closed")

// Stats are the kernel's XDP_STATISTICS counters for one socket.
type Stats struct {
	RxDropped            uint64 // dropped for reasons other than invalid descriptors (e.g. no fill frame)
	RxInvalidDescs       uint64 // dropped because of invalid descriptors
	TxInvalidDescs       uint64 // tx descriptors the kernel rejected
	RxRingFull           uint64 // dropped because the rx ring was full
	RxFillRingEmptyDescs uint64 // times the fill ring was found empty
	TxRingEmptyDescs     uint64 // times the tx ring was found empty on a kick
}
