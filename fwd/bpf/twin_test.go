package bpf

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
)

// twin is the slow twin of xdp.c: the same decision written as plain Go over the frame's
// bytes, for differential tests and the fuzz target.
func twin(role Role, frame []byte, host map[netip.Addr]bool) dest {
	if len(frame) < 14 {
		return malformed
	}
	et, off := binary.BigEndian.Uint16(frame[12:]), 14
	for i := 0; i < 2 && (et == 0x8100 || et == 0x88a8); i++ {
		if len(frame) < off+4 {
			return malformed
		}
		et, off = binary.BigEndian.Uint16(frame[off+2:]), off+4
	}
	socketOr := func(d dest) dest {
		if role == RoleWorkload {
			return toSocket
		}
		return d
	}
	switch et {
	case 0x0806:
		if len(frame) < off+28 {
			return malformed
		}
		return socketOr(toARP)
	case 0x0800:
		if len(frame) < off+20 {
			return malformed
		}
		if frame[off]>>4 != 4 || frame[off]&0xf < 5 {
			return malformed
		}
		dst := netip.AddrFrom4([4]byte(frame[off+16 : off+20]))
		switch {
		case host[dst]:
			return socketOr(toHost)
		case dst.IsMulticast() || dst == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
			return socketOr(toMulticast)
		}
		return toSocket
	case 0x86dd:
		if len(frame) < off+40 {
			return malformed
		}
		if frame[off]>>4 != 6 {
			return malformed
		}
		nh, p := frame[off+6], off+40
		for i := 0; i < 3 && (nh == 0 || nh == 43 || nh == 60); i++ {
			if len(frame) < p+2 {
				return malformed
			}
			nh, p = frame[p], p+(int(frame[p+1])+1)*8
		}
		if nh == 58 {
			if len(frame) < p+1 {
				return malformed
			}
			if t := frame[p]; t >= 133 && t <= 137 {
				return socketOr(toNDP)
			}
		}
		dst := netip.AddrFrom16([16]byte(frame[off+24 : off+40]))
		// The address's own bytes, never netip's IsMulticast or
		// IsLinkLocalUnicast: those unmap an IPv4-mapped address
		// (::ffff:233.0.0.1 would be "multicast"), and an IPv6 packet to
		// one is plain IPv6 to the program (found by FuzzProgram).
		switch b := dst.As16(); {
		case host[dst]:
			return socketOr(toHost)
		case b[0] == 0xff:
			return socketOr(toMulticast)
		case b[0] == 0xfe && b[1]&0xc0 == 0x80:
			return socketOr(toLinkLocal)
		}
		return toSocket
	}
	return socketOr(toOther)
}

var twinHosts = map[netip.Addr]bool{hostIP4: true, hostIP6: true}

// twinProgs are the programs the differential test and the fuzz target compare with the
// twin: both roles, NoSocketPass, no socket bound.
var twinProgs struct {
	once  sync.Once
	progs map[Role]*Program
	err   error
}

func loadTwinProgs(t testing.TB) map[Role]*Program {
	twinProgs.once.Do(func() {
		twinProgs.progs = map[Role]*Program{}
		for _, r := range []Role{RoleUplink, RoleWorkload} {
			p, err := Load(Options{Role: r, NoSocket: NoSocketPass, HostAddrs: []netip.Addr{hostIP4, hostIP6}})
			if err != nil {
				twinProgs.err = err
				return
			}
			twinProgs.progs[r] = p // shared by the tests of this binary; freed at exit
		}
	})
	if twinProgs.err != nil {
		t.Fatalf("Load: %v", twinProgs.err)
	}
	return twinProgs.progs
}

// checkTwin runs frame through both programs and fails unless each agrees with the twin
// on the action and counted exactly the outcome the twin names.
func checkTwin(t *testing.T, progs map[Role]*Program, frame []byte) {
	t.Helper()
	if len(frame) < 14 {
		return // BPF_PROG_RUN refuses frames shorter than an Ethernet header
	}
	for role, p := range progs {
		d := twin(role, frame, twinHosts)
		wantRet, wantStats := expect(d, NoSocketPass, false)
		ret, stats := run(t, p, frame)
		if ret != wantRet || stats != wantStats {
			t.Fatalf("%v: Run(%x) = %d counting %+v, twin says %d counting %+v", role, frame, ret, stats, wantRet, wantStats)
		}
	}
}

// seedFrames are well-formed frames of every kind the program tells apart.
func seedFrames(tt testing.TB) [][]byte {
	return [][]byte{
		arpFrame(tt, 1),
		udp4(tt, hostIP4, hostMAC),
		udp4(tt, transitIP4, hostMAC),
		udp4(tt, netip.MustParseAddr("224.0.0.5"), hostMAC),
		udp6(tt, hostIP6),
		udp6(tt, transitIP6),
		udp6(tt, netip.MustParseAddr("ff02::1")),
		icmp6(tt, peerLL, netip.MustParseAddr("fe80::1"), 135, false),
		icmp6(tt, peerIP6, transitIP6, 135, true),
		icmp6(tt, peerLL, netip.MustParseAddr("fe80::1"), 128, false),
		icmp6(tt, peerLL, netip.MustParseAddr("ff02::16"), 143, true),
	}
}

// mutate changes frame the ways that move decisions: VLAN tags in front, another
// EtherType, next header, ICMPv6 type, destination, a cut, random bytes.
func mutate(r *rand.Rand, frame []byte) []byte {
	f := append([]byte(nil), frame...)
	for range 1 + r.IntN(3) {
		switch r.IntN(8) {
		case 0: // insert a tag
			tpid := []uint16{0x8100, 0x88a8}[r.IntN(2)]
			tag := []byte{byte(tpid >> 8), byte(tpid), 0, byte(r.IntN(8))}
			f = append(f[:12:12], append(tag, f[12:]...)...)
		case 1: // EtherType
			types := []uint16{0x0800, 0x86dd, 0x0806, 0x8100, 0x88a8, 0x88cc, uint16(r.Uint32())}
			binary.BigEndian.PutUint16(f[12:], types[r.IntN(len(types))])
		case 2: // IPv6 next header
			if len(f) > 14+6 {
				f[14+6] = []byte{0, 43, 60, 58, 44, 17, byte(r.Uint32())}[r.IntN(7)]
			}
		case 3: // ICMPv6 type (behind no extension header)
			if len(f) > 14+40 {
				f[14+40] = byte(128 + r.IntN(12))
			}
		case 4: // a destination from a small set
			dsts := []netip.Addr{hostIP4, hostIP6, transitIP4, transitIP6, netip.MustParseAddr("224.1.2.3"),
				netip.MustParseAddr("255.255.255.255"), netip.MustParseAddr("ff05::2"), netip.MustParseAddr("fe80::9"), netip.MustParseAddr("fec0::1")}
			d := dsts[r.IntN(len(dsts))]
			if d.Is4() && len(f) >= 14+20 {
				copy(f[14+16:], d.AsSlice())
			} else if d.Is6() && len(f) >= 14+40 {
				copy(f[14+24:], d.AsSlice())
			}
		case 5: // cut
			f = f[:14+r.IntN(len(f)-13)]
		case 6: // a random byte
			f[r.IntN(len(f))] = byte(r.Uint32())
		case 7: // the first header byte (version, IHL)
			if len(f) > 14 {
				f[14] = byte(r.Uint32())
			}
		}
	}
	return f
}

func TestTwinDifferential(t *testing.T) {
	requireRoot(t)
	progs := loadTwinProgs(t)
	r := rand.New(rand.NewPCG(7, 9))
	seeds := seedFrames(t)
	n := 3000
	if testing.Short() {
		n = 300
	}
	for range n {
		checkTwin(t, progs, mutate(r, seeds[r.IntN(len(seeds))]))
	}
}

// FuzzProgram runs arbitrary frames through the program of each role and checks it
// against the twin: same action, exactly one counter, frame unchanged.
func FuzzProgram(f *testing.F) {
	for _, s := range seedFrames(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		requireRoot(t)
		checkTwin(t, loadTwinProgs(t), frame)
	})
}
