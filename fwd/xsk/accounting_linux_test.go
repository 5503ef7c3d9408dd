package xsk

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestVethFrameAccounting forwards frames both ways between two veths through
// two sockets on one UMEM, with random batch sizes and a random interleaving
// of peer sends, fills, receives, forwards, drops and completions. The worker
// tracks where it put every frame; each frame the kernel hands back must come
// from where the worker left it (a fill ring of that socket's queue, or that
// socket's tx ring), so no frame is lost or owned twice. At the end every
// frame is home again.
func TestVethFrameAccounting(t *testing.T) {
	requireRoot(t)
	for seed := range uint64(3) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { testVethFrameAccounting(t, seed) })
	}
}

func testVethFrameAccounting(t *testing.T, seed uint64) {
	n := newTestNS(t)
	links := []veth{n.veth(), n.veth()}
	u, err := NewUmem(UmemConfig{NumFrames: 96, FrameSize: 2048, Headroom: testHeadroom, FillSize: 32, CompletionSize: 32})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	var socks []*Socket
	var peers []*packetSock
	for _, l := range links {
		m := n.redirect(l.xsk)
		s, err := n.socket(u, SocketConfig{Ifindex: l.xsk, RxSize: 32, TxSize: 32})
		if err != nil {
			t.Fatalf("NewSocket: %v", err)
		}
		if err := m.Put(uint32(0), uint32(s.FD())); err != nil {
			t.Fatalf("XSKMAP put: %v", err)
		}
		p := n.packet(l.peer)
		if err := unix.SetsockoptInt(p.fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20); err != nil {
			t.Fatalf("SO_RCVBUFFORCE: %v", err)
		}
		socks, peers = append(socks, s), append(peers, p)
	}

	// Where each frame is, as the worker knows it.
	const (
		onStack = iota
		inHand
		onFill // + socket index * 2
		onTx   // + socket index * 2
	)
	loc := make([]int, u.NumFrames())
	where := func(l int) string {
		switch {
		case l == onStack:
			return "stack"
		case l == inHand:
			return "hand"
		case (l-onFill)%2 == 0:
			return fmt.Sprintf("fill ring %d", (l-onFill)/2)
		}
		return fmt.Sprintf("tx ring %d", (l-onTx)/2)
	}
	move := func(chunk uint64, from, to int, op string) {
		t.Helper()
		i := chunk / 2048
		if chunk%2048 != 0 || i >= uint64(len(loc)) {
			t.Fatalf("%s: %#x is not a chunk of the UMEM", op, chunk)
		}
		if loc[i] != from {
			t.Fatalf("%s: frame %#x is in %s, want %s", op, chunk, where(loc[i]), where(from))
		}
		loc[i] = to
	}

	stack := NewFrameStack(u.NumFrames())
	stack.PushBatch(u.Frames(nil))
	var hand []Desc
	var handSock []int // which socket each frame in hand came from
	addrs := make([]uint64, 64)
	descs := make([]Desc, 64)
	r := rand.New(rand.NewPCG(seed, 8))
	const toSend = 1500
	sent, txd := [2]int{}, [2]int{}
	seq := uint32(0)

	fill := func(i, k int) {
		k = stack.PopBatch(addrs[:k])
		put := socks[i].Fill(addrs[:k])
		for _, a := range addrs[:put] {
			move(a, onStack, onFill+2*i, "Fill")
		}
		stack.PushBatch(addrs[put:k])
	}
	receive := func(i, k int) int {
		got := socks[i].Receive(descs[:k])
		for _, d := range descs[:got] {
			move(d.Chunk(2048), onFill+2*i, inHand, fmt.Sprintf("Receive on socket %d", i))
			if off := d.Addr % 2048; off != testHeadroom+PacketHeadroom {
				t.Fatalf("received frame at chunk offset %d, want %d", off, testHeadroom+PacketHeadroom)
			}
			hand = append(hand, d)
			handSock = append(handSock, i)
		}
		return got
	}
	complete := func(i, k int) int {
		got := socks[i].Complete(addrs[:k])
		for _, a := range addrs[:got] {
			move(a, onTx+2*i, onStack, fmt.Sprintf("Complete on socket %d", i))
		}
		stack.PushBatch(addrs[:got])
		return got
	}

	for sent[0]+sent[1] < toSend {
		i := r.IntN(2)
		k := 1 + r.IntN(48)
		switch r.IntN(6) {
		case 0: // a peer sends
			for range min(k, toSend-sent[0]-sent[1]) {
				peers[i].send(testFrame(links[i].xskMAC, links[i].peerMAC, seq))
				seq++
				sent[i]++
			}
		case 1:
			fill(i, k)
		case 2:
			receive(i, k)
		case 3: // forward what is in hand out of the other link
			k = min(k, len(hand))
			var out []Desc
			var rest []Desc
			var restSock []int
			for j, d := range hand[:k] {
				if handSock[j] == i {
					rest, restSock = append(rest, d), append(restSock, i)
					continue
				}
				f := u.Mem()[d.Addr : d.Addr+uint64(d.Len)]
				if !isTestFrame(f) { // kernel chatter: drop it
					move(d.Chunk(2048), inHand, onStack, "drop")
					stack.Push(d.Chunk(2048))
					continue
				}
				copy(f[0:6], links[i].peerMAC[:])
				copy(f[6:12], links[i].xskMAC[:])
				out = append(out, d)
			}
			put := socks[i].Transmit(out)
			for _, d := range out[:put] {
				move(d.Chunk(2048), inHand, onTx+2*i, "Transmit")
			}
			txd[i] += put
			for _, d := range out[put:] {
				rest, restSock = append(rest, d), append(restSock, 1-i)
			}
			hand = append(rest, hand[k:]...)
			handSock = append(restSock, handSock[k:]...)
		case 4:
			complete(i, k)
		case 5: // drop the oldest frame in hand
			if len(hand) > 0 && r.IntN(4) == 0 {
				move(hand[0].Chunk(2048), inHand, onStack, "drop")
				stack.Push(hand[0].Chunk(2048))
				hand, handSock = hand[1:], handSock[1:]
			}
		}
	}

	// Drain: give everything in hand back, collect what is still in flight.
	for _, d := range hand {
		move(d.Chunk(2048), inHand, onStack, "drop")
		stack.Push(d.Chunk(2048))
	}
	hand, handSock = nil, nil
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); {
		busy := 0
		for i := range socks {
			busy += receive(i, 64)
			sendtoNonblock(socks[i].fd)
			busy += complete(i, 64)
		}
		for _, d := range hand {
			move(d.Chunk(2048), inHand, onStack, "drop")
			stack.Push(d.Chunk(2048))
		}
		hand, handSock = hand[:0], handSock[:0]
		inTx := 0
		for _, l := range loc {
			if l == onTx || l == onTx+2 {
				inTx++
			}
		}
		if busy == 0 && inTx == 0 {
			break
		}
		if busy == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	counts := map[string]int{}
	for _, l := range loc {
		counts[where(l)]++
	}
	if counts["stack"]+counts["fill ring 0"]+counts["fill ring 1"] != u.NumFrames() || stack.Len() != counts["stack"] {
		t.Errorf("after draining, frames are %v with %d on the stack; want all on the stack or a fill ring", counts, stack.Len())
	}
	// Every transmitted frame reached the other peer.
	for i, p := range peers {
		if got := len(p.recv(txd[i], 5*time.Second)); got != txd[i] {
			t.Errorf("peer %d received %d frames, want the %d transmitted", i, got, txd[i])
		}
	}
	for i, s := range socks {
		st, err := s.Stats()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("socket %d: peer sent %d, transmitted %d; %+v", i, sent[i], txd[i], st)
	}
}
