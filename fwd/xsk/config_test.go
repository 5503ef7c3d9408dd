package xsk

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestUmemConfig(t *testing.T) {
	tests := []struct {
		name    string
		in      UmemConfig
		want    UmemConfig
		wantErr string // substring naming the field
	}{
		{name: "defaults", in: UmemConfig{}, want: UmemConfig{NumFrames: 4096, FrameSize: 4096, FillSize: 2048, CompletionSize: 2048}},
		{name: "explicit", in: UmemConfig{NumFrames: 64, FrameSize: 2048, Headroom: 256, FillSize: 32, CompletionSize: 64},
			want: UmemConfig{NumFrames: 64, FrameSize: 2048, Headroom: 256, FillSize: 32, CompletionSize: 64}},
		{name: "frame size", in: UmemConfig{FrameSize: 3000}, wantErr: "UmemConfig.FrameSize 3000"},
		{name: "negative frames", in: UmemConfig{NumFrames: -1}, wantErr: "UmemConfig.NumFrames -1"},
		{name: "headroom too big", in: UmemConfig{FrameSize: 2048, Headroom: 2048 - 256}, wantErr: "UmemConfig.Headroom 1792"},
		{name: "negative headroom", in: UmemConfig{Headroom: -1}, wantErr: "UmemConfig.Headroom -1"},
		{name: "fill not power of two", in: UmemConfig{FillSize: 1000}, wantErr: "UmemConfig.FillSize 1000"},
		{name: "completion negative", in: UmemConfig{CompletionSize: -2}, wantErr: "UmemConfig.CompletionSize -2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.in.withDefaults()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("withDefaults(%+v) error = %v, want one naming %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("withDefaults(%+v) error = %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("withDefaults(%+v) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestSocketConfig(t *testing.T) {
	tests := []struct {
		name    string
		in      SocketConfig
		want    SocketConfig
		wantErr string
	}{
		{name: "defaults", in: SocketConfig{Ifindex: 3}, want: SocketConfig{Ifindex: 3, RxSize: 2048, TxSize: 2048}},
		{name: "busy poll", in: SocketConfig{Ifindex: 3, Queue: 1, BusyPollUsec: 20, BusyPollBudget: 64, PreferBusyPoll: true, Mode: ModeCopy},
			want: SocketConfig{Ifindex: 3, Queue: 1, RxSize: 2048, TxSize: 2048, BusyPollUsec: 20, BusyPollBudget: 64, PreferBusyPoll: true, Mode: ModeCopy}},
		{name: "no ifindex", in: SocketConfig{}, wantErr: "SocketConfig.Ifindex 0"},
		{name: "negative queue", in: SocketConfig{Ifindex: 1, Queue: -1}, wantErr: "SocketConfig.Queue -1"},
		{name: "mode", in: SocketConfig{Ifindex: 1, Mode: 9}, wantErr: "SocketConfig.Mode Mode(9)"},
		{name: "rx size", in: SocketConfig{Ifindex: 1, RxSize: 100}, wantErr: "SocketConfig.RxSize 100"},
		{name: "tx size", in: SocketConfig{Ifindex: 1, TxSize: 1 << 21}, wantErr: "SocketConfig.TxSize 2097152"},
		{name: "busy poll usec", in: SocketConfig{Ifindex: 1, BusyPollUsec: -5}, wantErr: "SocketConfig.BusyPollUsec -5"},
		{name: "busy poll budget", in: SocketConfig{Ifindex: 1, BusyPollBudget: 1 << 16}, wantErr: "SocketConfig.BusyPollBudget 65536"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.in.withDefaults()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("withDefaults(%+v) error = %v, want one naming %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("withDefaults(%+v) error = %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("withDefaults(%+v) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestModeString(t *testing.T) {
	for m, want := range map[Mode]string{ModeAuto: "auto", ModeCopy: "copy", ModeZeroCopy: "zerocopy", 7: "Mode(7)"} {
		if got := m.String(); got != want {
			t.Errorf("Mode(%d).String() = %q, want %q", uint8(m), got, want)
		}
	}
}
