// Free frames: chunk addresses that no ring and no packet in flight holds sit
// on the worker's FrameStack until they are filled or used to build a frame.

package xsk

import "fmt"

// FrameStack is a LIFO of free frame addresses (chunk starts) owned by one worker.
// Not safe for concurrent use: one owner.
//
// LIFO on purpose: the frame freed last is the one most likely still in cache.
// The backing array is sized once by NewFrameStack; Push past capacity panics
// because a worker's frames are counted exactly once, so overflow means a frame
// was freed twice.
type FrameStack struct {
	addrs []uint64 // addrs[:n] are free; cap(addrs) is the capacity
	n     int
}

// NewFrameStack returns an empty stack that holds up to capacity frames.
func NewFrameStack(capacity int) *FrameStack {
	if capacity < 0 {
		panic(fmt.Sprintf("xsk: NewFrameStack(%d): negative capacity", capacity))
	}
	return &FrameStack{addrs: make([]uint64, capacity)}
}

// Len returns the number of free frames on the stack.
func (s *FrameStack) Len() int { return s.n }

// Cap returns the capacity given to NewFrameStack.
func (s *FrameStack) Cap() int { return len(s.addrs) }

// Push puts one free frame on the stack. It panics when the stack is full:
// a frame counted twice is a bug that must not go unnoticed.
func (s *FrameStack) Push(addr uint64) {
	if s.n == len(s.addrs) {
		panic(fmt.Sprintf("xsk: FrameStack.Push(%#x): stack full (%d frames): a frame was freed twice", addr, s.n))
	}
	s.addrs[s.n] = addr
	s.n++
}

// Pop takes the most recently pushed frame; ok is false when the stack is empty.
func (s *FrameStack) Pop() (addr uint64, ok bool) {
	if s.n == 0 {
		return 0, false
	}
	s.n--
	return s.addrs[s.n], true
}

// PushBatch puts all of addrs on the stack. It panics, pushing nothing, when
// they do not all fit.
func (s *FrameStack) PushBatch(addrs []uint64) {
	if len(addrs) > len(s.addrs)-s.n {
		panic(fmt.Sprintf("xsk: FrameStack.PushBatch(%d frames): only %d free slots: a frame was freed twice", len(addrs), len(s.addrs)-s.n))
	}
	s.n += copy(s.addrs[s.n:], addrs)
}

// PopBatch fills dst with up to len(dst) free frames and returns how many it took.
func (s *FrameStack) PopBatch(dst []uint64) int {
	k := min(len(dst), s.n)
	copy(dst[:k], s.addrs[s.n-k:s.n])
	s.n -= k
	return k
}
