// Gateway answers: ARP requests for 169.254.1.1 and neighbour
// solicitations for fe80::1 from a workload flow in here and leave, in the
// same frame, as the reply with the gateway MAC, back out of the port they
// came in on. Everything else of ARP and neighbour discovery stops here.

package fwd

import (
	"github.com/gannet-net/gannet/fwd/xsk"
	"github.com/gannet-net/gannet/pkt"
)

// arp answers an ARP request for the gateway on a workload port.
func (w *Worker) arp(t *Tables, pe *portEntry, v *view, d xsk.Desc) {
	s := v.s
	if pe.role != RoleWorkload || s.ARPOp != pkt.ARPRequest || [4]byte(s.Dst[:4]) != t.gw4 {
		w.drop(v.chunk, ReasonARPIgnored)
		return
	}
	n, err := pkt.BuildARPReply(w.frame(v), w.mem[d.Addr:d.Addr+uint64(d.Len)], t.gwMAC)
	if err != nil {
		w.drop(v.chunk, ReasonARPIgnored)
		return
	}
	w.c.drops[ReasonARPAnswered]++
	w.enqueue(v.in, xsk.Desc{Addr: d.Addr, Len: uint32(n)})
}

// ndp answers a neighbour solicitation for the gateway on a workload port
// (router flag set: the gateway is the workload's router).
func (w *Worker) ndp(t *Tables, pe *portEntry, v *view, d xsk.Desc) {
	s := v.s
	if pe.role != RoleWorkload || s.ICMPType != pkt.ICMPv6NeighborSol || s.End()-int(s.L4Off) < pkt.NDPLen {
		w.drop(v.chunk, ReasonNDPIgnored)
		return
	}
	frame := w.mem[d.Addr : d.Addr+uint64(d.Len)]
	if pkt.NDP(frame[s.L4Off:s.End()]).Target() != t.gw6 {
		w.drop(v.chunk, ReasonNDPIgnored)
		return
	}
	n, err := pkt.BuildNeighborAdvert(w.frame(v), frame, t.gwMAC, true)
	if err != nil {
		w.drop(v.chunk, ReasonNDPRefused)
		return
	}
	w.c.drops[ReasonNDPAnswered]++
	w.enqueue(v.in, xsk.Desc{Addr: d.Addr, Len: uint32(n)})
}
