package xsk

import (
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFrameStack(t *testing.T) {
	tests := []struct {
		name string
		ops  func(s *FrameStack) []uint64 // returns what was popped, in order
		want []uint64
		left int
	}{
		{
			name: "lifo",
			ops: func(s *FrameStack) []uint64 {
				s.Push(1)
				s.Push(2)
				s.Push(3)
				var got []uint64
				for {
					a, ok := s.Pop()
					if !ok {
						return got
					}
					got = append(got, a)
				}
			},
			want: []uint64{3, 2, 1},
		},
		{
			name: "batch round trip keeps order",
			ops: func(s *FrameStack) []uint64 {
				s.PushBatch([]uint64{10, 20, 30, 40})
				dst := make([]uint64, 3)
				n := s.PopBatch(dst)
				return dst[:n]
			},
			want: []uint64{20, 30, 40},
			left: 1,
		},
		{
			name: "pop batch larger than stack",
			ops: func(s *FrameStack) []uint64 {
				s.PushBatch([]uint64{7, 8})
				dst := make([]uint64, 5)
				n := s.PopBatch(dst)
				return dst[:n]
			},
			want: []uint64{7, 8},
		},
		{
			name: "empty pop",
			ops: func(s *FrameStack) []uint64 {
				if _, ok := s.Pop(); ok {
					return []uint64{999}
				}
				return []uint64{}
			},
			want: []uint64{},
		},
		{
			name: "fill to capacity",
			ops: func(s *FrameStack) []uint64 {
				for i := range 8 {
					s.Push(uint64(i) * 4096)
				}
				a, _ := s.Pop()
				return []uint64{a}
			},
			want: []uint64{7 * 4096},
			left: 7,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewFrameStack(8)
			got := tc.ops(s)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("popped (-want +got):\n%s", diff)
			}
			if s.Len() != tc.left {
				t.Errorf("Len() = %d, want %d", s.Len(), tc.left)
			}
		})
	}
}

func TestFrameStackOverflowPanics(t *testing.T) {
	tests := []struct {
		name    string
		prefill []uint64
		op      func(s *FrameStack)
	}{
		{"push", []uint64{1, 2}, func(s *FrameStack) { s.Push(3) }},
		{"push batch", nil, func(s *FrameStack) { s.PushBatch([]uint64{1, 2, 3}) }},
		{"push batch after push", []uint64{1}, func(s *FrameStack) { s.PushBatch([]uint64{2, 3}) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewFrameStack(2)
			s.PushBatch(tc.prefill)
			defer func() {
				if recover() == nil {
					t.Errorf("%s past capacity did not panic", tc.name)
				}
				// A refused push changes nothing.
				if s.Len() != len(tc.prefill) {
					t.Errorf("Len() after refused %s = %d, want %d", tc.name, s.Len(), len(tc.prefill))
				}
			}()
			tc.op(s)
		})
	}
}

// TestFrameStackRandom checks the stack against a slice model under random
// single and batch operations.
func TestFrameStackRandom(t *testing.T) {
	const capacity = 64
	r := rand.New(rand.NewPCG(1, 2))
	s := NewFrameStack(capacity)
	var model []uint64
	next := uint64(0)
	buf := make([]uint64, capacity)
	for i := range 20000 {
		switch r.IntN(4) {
		case 0:
			if len(model) < capacity {
				s.Push(next)
				model = append(model, next)
				next++
			}
		case 1:
			a, ok := s.Pop()
			if ok != (len(model) > 0) {
				t.Fatalf("op %d: Pop() ok = %v, want %v", i, ok, len(model) > 0)
			}
			if ok {
				want := model[len(model)-1]
				model = model[:len(model)-1]
				if a != want {
					t.Fatalf("op %d: Pop() = %d, want %d", i, a, want)
				}
			}
		case 2:
			k := r.IntN(capacity - len(model) + 1)
			for j := range k {
				buf[j] = next
				model = append(model, next)
				next++
			}
			s.PushBatch(buf[:k])
		case 3:
			k := r.IntN(capacity + 1)
			n := s.PopBatch(buf[:k])
			wantN := min(k, len(model))
			if n != wantN {
				t.Fatalf("op %d: PopBatch(%d) = %d, want %d", i, k, n, wantN)
			}
			want := model[len(model)-n:]
			if diff := cmp.Diff(want, buf[:n]); diff != "" {
				t.Fatalf("op %d: PopBatch (-want +got):\n%s", i, diff)
			}
			model = model[:len(model)-n]
		}
		if s.Len() != len(model) {
			t.Fatalf("op %d: Len() = %d, want %d", i, s.Len(), len(model))
		}
	}
}

func TestFrameStackAllocs(t *testing.T) {
	s := NewFrameStack(64)
	buf := make([]uint64, 32)
	for i := range buf {
		buf[i] = uint64(i) * 4096
	}
	allocs := testing.AllocsPerRun(100, func() {
		s.PushBatch(buf)
		s.Push(1)
		s.Pop()
		s.PopBatch(buf)
	})
	if allocs != 0 {
		t.Errorf("FrameStack ops allocate %v times per run, want 0", allocs)
	}
}

func BenchmarkFrameStack(b *testing.B) {
	s := NewFrameStack(4096)
	buf := make([]uint64, 64)
	for i := range buf {
		buf[i] = uint64(i) * 4096
	}
	b.ReportAllocs()
	for b.Loop() {
		s.PushBatch(buf)
		s.PopBatch(buf)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(buf)), "ns/frame")
}
