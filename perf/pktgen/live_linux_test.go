package pktgen

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gannet-net/gannet/lab/namespace"
	"github.com/gannet-net/gannet/pkt"
)

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// TestLiveFrames sends with BPF_PROG_RUN live frames out of one veth end
// and captures on the other: every packet must carry valid checksums, its
// flow's next sequence number and a current CLOCK_MONOTONIC timestamp.
func TestLiveFrames(t *testing.T) {
	if ok, why := namespace.Root(); !ok {
		t.Skip(why)
	}
	for _, tc := range []struct {
		name string
		spec Spec
	}{
		{"ipv4 udp", Spec{Proto: UDP, Src: netip.MustParseAddr("198.18.0.2"), Dst: netip.MustParseAddr("198.19.0.2"), Flows: 3}},
		{"ipv6 tcp", Spec{Proto: TCPSYN, Src: netip.MustParseAddr("2001:db8::2"), Dst: netip.MustParseAddr("2001:db8:1::2"), Flows: 2, FrameSize: 100}},
		{"ipv4 icmp", Spec{Proto: ICMPEcho, Src: netip.MustParseAddr("198.18.0.2"), Dst: netip.MustParseAddr("198.19.0.2"), Flows: 2, SrcAddrs: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) { testLive(t, tc.spec) })
	}
}

func testLive(t *testing.T, spec Spec) {
	l, err := namespace.NewScratch()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ns, err := l.AddNS("lf")
	if err != nil {
		t.Fatal(err)
	}
	tx, rx := l.Name("lt"), l.Name("lr")
	if err := l.Veth(ns, tx, ns, rx, 0); err != nil {
		t.Fatal(err)
	}
	// Frames XDP sends into a veth are dropped unless its peer has XDP or GRO.
	if _, err := namespace.Run(ns, "ethtool", "-K", rx, "gro", "on"); err != nil {
		t.Skipf("ethtool: %v", err)
	}
	f, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	live, err := NewLive(f)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	const perFlow = 300
	var frames [][]byte
	start := Now()
	err = namespace.Do(ns, func() error {
		txIf, err := net.InterfaceByName(tx)
		if err != nil {
			return err
		}
		rxIf, err := net.InterfaceByName(rx)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: rxIf.Index}); err != nil {
			return err
		}
		unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
		cpu := 0
		if err := PinThread(cpu); err != nil {
			return err
		}
		flows := make([]int, f.Flows())
		for i := range flows {
			flows[i] = i
		}
		var sent Counter
		if err := live.Send(context.Background(), SendConfig{Ifindex: txIf.Index, Flows: flows, Count: uint64(perFlow * len(flows)), Burst: 100, CPU: cpu}, &sent); err != nil {
			return err
		}
		if got := sent.Load(); got != uint64(perFlow*len(flows)) {
			return fmt.Errorf("sent %d, want %d", got, perFlow*len(flows))
		}
		unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 200000})
		buf := make([]byte, 2048)
		for { // until the link has been quiet for 200 ms
			n, _, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				break
			}
			frames = append(frames, bytes.Clone(buf[:n]))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	end := Now()
	tr := NewTracker(f.Flows())
	var s pkt.Summary
	for _, fr := range frames {
		h, ok := ParseFrame(fr, &s)
		if !ok {
			continue // the kernel's own IPv6 chatter on the link
		}
		tr.Add(h.Flow, h.Seq)
		if h.TxNs < start || h.TxNs > end {
			t.Errorf("timestamp %d outside the send window [%d, %d]", h.TxNs, start, end)
		}
		if got := reserialize(t, fr); !bytes.Equal(got, fr) {
			t.Fatalf("frame %x has wrong checksums, want %x", fr, got)
		}
	}
	want := counts{Received: uint64(perFlow * f.Flows()), Expected: uint64(perFlow * f.Flows())}
	if got := countsOf(tr); got != want {
		t.Errorf("received %+v, want %+v", got, want)
	}
	for flow := range f.Flows() {
		if n, err := live.Sent(flow); err != nil || n != perFlow {
			t.Errorf("Sent(%d) = %d, %v, want %d", flow, n, err, perFlow)
		}
	}
}
