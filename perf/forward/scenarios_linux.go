// The scenarios: what runs in the DUT namespace for each row, set up on
// the common topology (see build). Kernel scenarios turn forwarding on and
// load their rules; userspace DUTs (TAYGA, dpdk-testpmd, gannet) run as
// background processes pinned to the DUT CPU; the XDP ceiling is a
// redirect program loaded from this process.

package forward

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"github.com/gannet-net/gannet/fwd"
	"github.com/gannet-net/gannet/internal/sdnotify"
	"github.com/gannet-net/gannet/lab/namespace"
	"github.com/gannet-net/gannet/perf/lpmbench"
)

// Scenarios returns every scenario in report order.
func Scenarios() []Scenario {
	return []Scenario{
		{Name: "linux-forward", Role: RoleBaseline, Detail: "Linux ip_forward, static route and neighbour",
			Setup: kernelForward("")},
		{Name: "nft-acl-1k", Role: RolePeer, Needs: []string{"nft"},
			Detail: "ip_forward + nftables forward chain: ClassBench acl1_1k (941 drop rules, catch-all accept; the packets walk them all)",
			Setup:  nftACL(false)},
		{Name: "nft-acl-1k-ct", Role: RolePeer, Needs: []string{"nft"},
			Detail: "as nft-acl-1k behind 'ct state established,related accept' (one-way UDP stays NEW, so every packet still walks the rules)",
			Setup:  nftACL(true)},
		{Name: "nft-masquerade", Role: RolePeer, Needs: []string{"nft"},
			Detail: "ip_forward + nftables masquerade on the egress (conntrack + SNAT, 256 flows)",
			Setup:  kernelForwardNft(func(e *env) string { return NftMasquerade(e.do) })},
		{Name: "tayga-4to6", Role: RolePeer, Needs: []string{"tayga"},
			Detail: "TAYGA NAT64 over TUN, IPv4 in, IPv6 out (sources in 2001:db8:64::/96, 198.19.1.2 mapped to 2001:db8:2::2), pinned to the DUT CPU",
			Setup:  tayga},
		{Name: "dpdk-testpmd-io", Role: RolePeer, Needs: []string{"dpdk-testpmd"},
			Detail: "dpdk-testpmd --forward-mode=io over net_af_xdp (copy mode), forwarding lcore on the DUT CPU; io mode does not rewrite MACs",
			Setup:  testpmd},
		{Name: "xdp-redirect", Role: RoleCeiling,
			Detail: "in-kernel XDP program on the DUT ingress: rewrite MACs, bpf_redirect to the egress (no TTL, no lookup): the ceiling for AF_XDP",
			Setup:  xdpRedirect},
		{Name: "gannet-route", Role: RoleGannet,
			Detail: "gannet run: two uplink ports, static routes, neighbours from the kernel; one worker on the DUT CPU",
			Setup:  gannetScenario(GannetRoute, false)},
		{Name: "gannet-route-fast", Role: RoleGannet,
			Detail: "as gannet-route with dataplane.fastPath on: the pipeline decides each flow, the XDP program forwards its later packets",
			Setup:  gannetScenario(GannetRoute, true)},
		{Name: "gannet-acl1k-bgp", Role: RoleGannet,
			Detail: "gannet run: generator as a workload endpoint, acl1_1k as its egress policy (stateful, conntrack on), a full IPv4+IPv6 table of routes via the sink",
			Setup:  gannetScenario(GannetACLBGP, false)},
		{Name: "gannet-acl1k-bgp-fast", Role: RoleGannet,
			Detail: "as gannet-acl1k-bgp with dataplane.fastPath on",
			Setup:  gannetScenario(GannetACLBGP, true)},
		{Name: "gannet-snat", Role: RoleGannet,
			Detail: "gannet run: natOutgoing from 198.18.0.0/24 to 198.19.0.1 (conntrack on)",
			Setup:  gannetScenario(GannetSNAT, false)},
		{Name: "gannet-snat-fast", Role: RoleGannet,
			Detail: "as gannet-snat with dataplane.fastPath on",
			Setup:  gannetScenario(GannetSNAT, true)},
		{Name: "gannet-4to6", Role: RoleGannet,
			Detail: "gannet run: generator as a workload in translated space 7; IPv4 in, IPv6 (64:ff9b:1:7::/96) out",
			Setup:  gannetScenario(GannetXlat, false)},
		{Name: "gannet-4to6-fast", Role: RoleGannet,
			Detail: "as gannet-4to6 with dataplane.fastPath on: the XDP program swaps the IPv4 header for the IPv6 one (bpf_xdp_adjust_head) and redirects",
			Setup:  gannetScenario(GannetXlat, true)},
	}
}

// gannetScenario runs `gannet run` in the DUT namespace with the
// scenario's configuration, pinned to the DUT CPU; fast turns the kernel
// fast path on (the sink's veth has an XDP program, so frames redirected
// into the DUT's end of it are received).
func gannetScenario(kind GannetKind, fast bool) func(e *env) (func() error, error) {
	return func(e *env) (func() error, error) {
		o := e.opts
		l := GannetLab{In: e.di, Out: e.do, GenMAC: e.macG, DUTCPU: o.DUTCPU, Idle: o.GannetIdle, FastPath: fast}
		a := o.Packets.Src
		for range o.Packets.SrcAddrs {
			l.Sources = append(l.Sources, a)
			a = a.Next()
		}
		if kind == GannetACLBGP || kind == GannetXlat {
			// The generator is a workload: it sends to the gateway, and
			// gannet drops a frame for any other MAC (not-for-router).
			e.genDst = net.HardwareAddr(fwd.DefaultGatewayMAC[:]).String()
		}
		if kind == GannetACLBGP {
			var err error
			if l.Rules, err = ACLRules(); err != nil {
				return nil, err
			}
			ps, err := lpmbench.Default()
			if err != nil {
				return nil, err
			}
			l.Table = FullTable(ps)
		}
		if kind == GannetXlat {
			if err := e.run(e.sink, "ip", "-6", "route", "add", "blackhole", XlatCore.String()); err != nil {
				return nil, err
			}
		}
		b, err := GannetConfig(kind, l)
		if err != nil {
			return nil, err
		}
		path := filepath.Join(e.dir, "gannet.yaml")
		// The benchmark's daemon serves its API beside its files, never on
		// the host's default socket (another gannet may be running).
		b = append(b, fmt.Sprintf("\napi:\n  socket: %s\n", filepath.Join(e.dir, "api", "gannet.sock"))...)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return nil, err
		}
		// No taskset: the worker pins itself to dataplane.cores. Its
		// connection table's state file lives beside its files too,
		// never in the host's /run/gannet.
		// Ready when gannet says READY=1 (sd_notify): its programs are
		// attached (failing closed) before its tables are loaded, and a
		// full table takes a while, so an attached program is not yet
		// forwarding.
		notify, err := sdnotify.Listen(filepath.Join(e.dir, "notify"))
		if err != nil {
			return nil, err
		}
		defer notify.Close()
		p, err := e.background(e.dut, "gannet.log", "nice", "-n", strconv.Itoa(benchNice),
			"env", notify.Env(), o.Gannet, "run", "--config", path,
			"--state-dir", filepath.Join(e.dir, "state"))
		if err != nil {
			return nil, err
		}
		ready := func() bool {
			select {
			case <-notify.Ready():
				return true
			default:
				return false
			}
		}
		if err := waitFor(p, ready, 5*time.Minute); err != nil {
			p.Stop()
			return nil, err
		}
		if fast {
			// The XDP program forwards most packets itself: as for
			// xdp-redirect, the ingress NAPI runs in a kthread that
			// pinNAPI moves to the DUT CPU, so its work is the DUT's.
			if err := e.run(e.dut, "sh", "-c", "echo 1 > /sys/class/net/"+e.di+"/threaded"); err != nil {
				p.Stop()
				return nil, err
			}
		}
		return p.Stop, nil
	}
}

// kernelForward turns on forwarding with the common routes, then loads
// the nftables ruleset nft (if any).
func kernelForward(nft string) func(e *env) (func() error, error) {
	return kernelForwardNft(func(*env) string { return nft })
}

func kernelForwardNft(rules func(e *env) string) func(e *env) (func() error, error) {
	return func(e *env) (func() error, error) {
		if err := e.routeBehind(); err != nil {
			return nil, err
		}
		if r := rules(e); r != "" {
			path := filepath.Join(e.dir, "rules.nft")
			if err := os.WriteFile(path, []byte(r), 0o644); err != nil {
				return nil, err
			}
			if err := e.run(e.dut, "nft", "-f", path); err != nil {
				return nil, err
			}
		}
		return nil, e.forwarding(true)
	}
}

func nftACL(conntrack bool) func(e *env) (func() error, error) {
	return func(e *env) (func() error, error) {
		rules, err := ACLRules()
		if err != nil {
			return nil, err
		}
		return kernelForward(NftACL(rules, conntrack))(e)
	}
}

func tayga(e *env) (func() error, error) {
	tun := e.lab.Name("nat")
	cfg := Tayga{Tun: tun, Addr4: netip.MustParseAddr("198.18.255.1"), Addr6: netip.MustParseAddr("2001:db8:ff::1"),
		Prefix: TaygaPrefix, Map4: e.opts.Packets.Dst, Map6: XlatDst6, DataDir: filepath.Join(e.dir, "tayga")}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, err
	}
	conf := filepath.Join(e.dir, "tayga.conf")
	if err := os.WriteFile(conf, []byte(cfg.Conf()), 0o644); err != nil {
		return nil, err
	}
	if err := e.runAll(e.dut, [][]string{
		{"tayga", "-c", conf, "--mktun"},
		{"ip", "link", "set", tun, "up"},
		{"ip", "addr", "add", "198.18.255.2/32", "dev", tun},
		{"ip", "-6", "addr", "add", "2001:db8:ff::2/128", "dev", tun, "nodad"},
		{"ip", "route", "add", NetBehind4.String(), "dev", tun},
		{"ip", "-6", "route", "add", TaygaPrefix.String(), "dev", tun},
		{"ip", "-6", "route", "add", NetBehind6.String(), "via", AddrSink6.Addr().String(), "dev", e.do},
	}); err != nil {
		return nil, err
	}
	if err := e.forwarding(true); err != nil {
		return nil, err
	}
	p, err := e.background(e.dut, "tayga.log", "nice", pinned(e.opts.DUTCPU, "tayga", "-c", conf, "--nodetach")...)
	if err != nil {
		return nil, err
	}
	time.Sleep(300 * time.Millisecond) // TAYGA opens its TUN queue and reads the config
	if err := p.Exited(); err != nil {
		return nil, err
	}
	return p.Stop, nil
}

func testpmd(e *env) (func() error, error) {
	o := e.opts
	p, err := e.background(e.dut, "testpmd.log", "nice", "-n", strconv.Itoa(benchNice), "dpdk-testpmd",
		"-l", fmt.Sprintf("%d,%d", o.GenCPU, o.DUTCPU), "--main-lcore", fmt.Sprint(o.GenCPU),
		"--no-pci", "--no-huge", "-m", "1024", "--file-prefix="+e.lab.Name("tp"),
		"--vdev", fmt.Sprintf("net_af_xdp0,iface=%s,queue_count=1", e.di),
		"--vdev", fmt.Sprintf("net_af_xdp1,iface=%s,queue_count=1", e.do),
		"--", "--forward-mode=io", "--auto-start", "--total-num-mbufs=16384", "--stats-period=60")
	if err != nil {
		return nil, err
	}
	// Ready when both ports have an XDP program.
	ready := func() bool {
		for _, dev := range []string{e.di, e.do} {
			out, err := namespace.Run(e.dut, "ip", "link", "show", "dev", dev)
			if err != nil || !strings.Contains(out, "xdp") {
				return false
			}
		}
		return true
	}
	if err := waitFor(p, ready, 20*time.Second); err != nil {
		p.Stop()
		return nil, err
	}
	return p.Stop, nil
}

// waitFor polls ready until it holds, p exits or d passes.
func waitFor(p *proc, ready func() bool, d time.Duration) error {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if err := p.Exited(); err != nil {
			return err
		}
		if ready() {
			return nil
		}
	}
	b, _ := os.ReadFile(p.log)
	return fmt.Errorf("%s not ready after %v: %s", p.name, d, lastLines(string(b), 4))
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, " | ")
}

// redirectProgram rewrites the Ethernet addresses and redirects to egress.
func redirectProgram(dst, src net.HardwareAddr, egress int) asm.Instructions {
	le32 := func(b []byte) int64 { return int64(int32(binary.LittleEndian.Uint32(b))) }
	le16 := func(b []byte) int64 { return int64(int16(binary.LittleEndian.Uint16(b))) }
	const xdpPass = 2
	return asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),
		asm.LoadMem(asm.R3, asm.R1, 4, asm.Word),
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, 14),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.StoreImm(asm.R2, 0, le32(dst[0:4]), asm.Word),
		asm.StoreImm(asm.R2, 4, le16(dst[4:6]), asm.Half),
		asm.StoreImm(asm.R2, 6, le32(src[0:4]), asm.Word),
		asm.StoreImm(asm.R2, 10, le16(src[4:6]), asm.Half),
		asm.Mov.Imm(asm.R1, int32(egress)),
		asm.Mov.Imm(asm.R2, 0),
		asm.FnRedirect.Call(),
		asm.Return(),
		asm.Mov.Imm(asm.R0, xdpPass).WithSymbol("pass"),
		asm.Return(),
	}
}

func xdpRedirect(e *env) (func() error, error) {
	dst, err := net.ParseMAC(e.ms)
	if err != nil {
		return nil, err
	}
	src, err := net.ParseMAC(e.macDO)
	if err != nil {
		return nil, err
	}
	in, err := ifindex(e.dut, e.di)
	if err != nil {
		return nil, err
	}
	out, err := ifindex(e.dut, e.do)
	if err != nil {
		return nil, err
	}
	// Redirected frames enter the sink's veth only with XDP or GRO on it:
	// the sink has its drop program.
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "bench_redirect", Type: ebpf.XDP, License: "Dual MIT/GPL",
		Instructions: redirectProgram(dst, src, out)})
	if err != nil {
		return nil, fmt.Errorf("load redirect program: %w", err)
	}
	var l link.Link
	err = namespace.Do(e.dut, func() error {
		var err error
		l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: in, Flags: link.XDPDriverMode})
		return err
	})
	if err != nil {
		prog.Close()
		return nil, fmt.Errorf("attach redirect program to %s: %w", e.di, err)
	}
	// The program is the whole DUT: its NAPI runs in a kthread that
	// pinNAPI moves to the DUT CPU.
	if err := e.run(e.dut, "sh", "-c", "echo 1 > /sys/class/net/"+e.di+"/threaded"); err != nil {
		l.Close()
		prog.Close()
		return nil, err
	}
	return func() error { return errors.Join(l.Close(), prog.Close()) }, nil
}

// xdpDrop is the XDP_DROP action.
const xdpDrop = 1

// AttachDrop attaches an XDP program that drops everything to dev in ns
// (a sink that counts what it receives and does nothing else).
func AttachDrop(ns, dev string) (io.Closer, error) {
	idx, err := ifindex(ns, dev)
	if err != nil {
		return nil, err
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: "bench_sink", Type: ebpf.XDP, License: "Dual MIT/GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, xdpDrop), asm.Return()}})
	if err != nil {
		return nil, fmt.Errorf("load sink program: %w", err)
	}
	var l link.Link
	err = namespace.Do(ns, func() error {
		var err error
		l, err = link.AttachXDP(link.XDPOptions{Program: prog, Interface: idx, Flags: link.XDPDriverMode})
		return err
	})
	if err != nil {
		prog.Close()
		return nil, fmt.Errorf("attach sink program to %s: %w", dev, err)
	}
	return closers{l, prog}, nil
}

type closers []io.Closer

func (c closers) Close() error {
	var errs []error
	for _, x := range c {
		errs = append(errs, x.Close())
	}
	return errors.Join(errs...)
}
