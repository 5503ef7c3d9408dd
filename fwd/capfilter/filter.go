// Package capfilter is the filter language of gannet capture: an
// expression in the style of tcpdump's, parsed once by the control plane
// into a flat postfix program that a worker evaluates against the
// pkt.Summary of a frame (parsed already, or parsed once for the capture)
// with no allocation, no interface call and no recursion.
//
// # Language
//
//	expr    = and { ("or" | "||") and }
//	and     = unary { ("and" | "&&") unary }
//	unary   = ("not" | "!") unary | "(" expr ")" | primary
//	primary = [ "src" | "dst" ] "host" ADDRESS    IPv4 or IPv6 address
//	        | [ "src" | "dst" ] "net" PREFIX      e.g. 198.18.0.0/15, 2001:db8::/32
//	        | [ "src" | "dst" ] "port" NUMBER     TCP or UDP port
//	        | "proto" ( NAME | NUMBER )           tcp, udp, icmp, icmp6, sctp or 0-255
//	        | "tcp" | "udp" | "icmp" | "icmp6"    short for proto NAME
//	        | "ip" | "ip6"                        the packet's family
//
// Without src or dst, host, net and port match either side. "and" binds
// tighter than "or", as in tcpdump; juxtaposition is not an implicit and.
// A frame that is not IP (ARP) or that pkt could not parse has no address,
// port or protocol: only negations match it. An empty expression matches
// every frame.
//
// Why not cBPF compiled by tcpdump (tcpdump -ddd, run by
// golang.org/x/net/bpf): that would need tcpdump wherever the CLI runs, the
// daemon would have to check an arbitrary program it cannot explain in an
// error, and x/net/bpf's VM dispatches through an interface per
// instruction over raw bytes, while the pipeline has parsed every frame
// already: matching the summary's fields is a few compares. The subset
// above is what an operator types at a router; the language is documented
// here and in `gannet capture --help`.
package capfilter

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/gannet-net/gannet/pkt"
)

// MaxTerms bounds how many primaries and operators one filter holds, and
// so the evaluation stack; MaxDepth bounds parenthesis and "not" nesting.
const (
	MaxTerms = 64
	MaxDepth = 16
	maxLen   = 1024
)

type opKind uint8

const (
	opHost opKind = iota + 1
	opNet
	opPort
	opProto
	opFamily
	opAnd
	opOr
	opNot
)

type side uint8

const (
	sideAny side = iota
	sideSrc
	sideDst
)

// op is one step of the postfix program.
type op struct {
	kind   opKind
	side   side
	family pkt.Family
	bits   uint8    // prefix length (host: the family's full length)
	addr   [16]byte // masked to bits
	port   uint16
	proto  uint8
}

// Filter is a compiled expression. The zero value (and nil) matches
// everything.
type Filter struct {
	prog []op
	text string
}

// String returns the expression as parsed (normalized spacing).
func (f *Filter) String() string {
	if f == nil {
		return ""
	}
	return f.text
}

// Parse compiles expr. An error says where and what was expected.
func Parse(expr string) (*Filter, error) {
	if len(expr) > maxLen {
		return nil, fmt.Errorf("filter: longer than %d bytes", maxLen)
	}
	toks, err := tokenize(expr)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	f := &Filter{text: strings.Join(toks, " ")}
	if len(toks) == 0 {
		return f, nil
	}
	if err := p.expr(0); err != nil {
		return nil, err
	}
	if p.pos < len(p.toks) {
		return nil, p.errf("unexpected %q (want and, or or the end)", p.toks[p.pos])
	}
	f.prog = p.prog
	return f, nil
}

func tokenize(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n':
			i++
		case c == '(' || c == ')':
			toks = append(toks, s[i:i+1])
			i++
		case c == '!':
			toks = append(toks, "!")
			i++
		case c == '&' || c == '|':
			if i+1 >= len(s) || s[i+1] != c {
				return nil, fmt.Errorf("filter: at byte %d: %q: want %q", i, c, string([]byte{c, c}))
			}
			toks = append(toks, s[i:i+2])
			i += 2
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n()!&|", rune(s[j])) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	return toks, nil
}

type parser struct {
	toks []string
	pos  int
	prog []op
}

func (p *parser) errf(format string, args ...any) error {
	return fmt.Errorf("filter: word %d: %s", p.pos+1, fmt.Sprintf(format, args...))
}

func (p *parser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *parser) next() (string, bool) {
	if p.pos < len(p.toks) {
		p.pos++
		return p.toks[p.pos-1], true
	}
	return "", false
}

func (p *parser) emit(o op) error {
	if len(p.prog) >= MaxTerms {
		return p.errf("more than %d terms", MaxTerms)
	}
	p.prog = append(p.prog, o)
	return nil
}

func (p *parser) expr(depth int) error {
	return p.binary(depth, "or", "||", opOr, p.and)
}

func (p *parser) and(depth int) error {
	return p.binary(depth, "and", "&&", opAnd, p.unary)
}

// binary parses operand { (word | sym) operand }, emitting kind after
// each right operand (left associative).
func (p *parser) binary(depth int, word, sym string, kind opKind, operand func(int) error) error {
	if err := operand(depth); err != nil {
		return err
	}
	for t := p.peek(); t == word || t == sym; t = p.peek() {
		p.pos++
		if err := operand(depth); err != nil {
			return err
		}
		if err := p.emit(op{kind: kind}); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) unary(depth int) error {
	if depth >= MaxDepth {
		return p.errf("nested deeper than %d", MaxDepth)
	}
	switch p.peek() {
	case "not", "!":
		p.pos++
		if err := p.unary(depth + 1); err != nil {
			return err
		}
		return p.emit(op{kind: opNot})
	case "(":
		p.pos++
		if err := p.expr(depth + 1); err != nil {
			return err
		}
		if t, _ := p.next(); t != ")" {
			p.pos--
			return p.errf("want ) to close (")
		}
		return nil
	}
	return p.primary()
}

var protoNames = map[string]uint8{"tcp": pkt.ProtoTCP, "udp": pkt.ProtoUDP, "icmp": pkt.ProtoICMP, "icmp6": pkt.ProtoICMPv6, "sctp": 132}

func (p *parser) primary() error {
	t, ok := p.next()
	if !ok {
		return p.errf("expression ends early: want host, net, port, proto, tcp, udp, icmp, icmp6, ip, ip6, not or (")
	}
	o := op{}
	if t == "src" || t == "dst" {
		o.side = sideSrc
		if t == "dst" {
			o.side = sideDst
		}
		if t, ok = p.next(); !ok || t != "host" && t != "net" && t != "port" {
			if ok {
				p.pos--
			}
			return p.errf("want host, net or port after %s", map[side]string{sideSrc: "src", sideDst: "dst"}[o.side])
		}
	}
	if n, ok := protoNames[t]; ok && o.side == sideAny {
		return p.emit(op{kind: opProto, proto: n})
	}
	switch t {
	case "ip":
		return p.emit(op{kind: opFamily, family: pkt.FamilyIPv4})
	case "ip6":
		return p.emit(op{kind: opFamily, family: pkt.FamilyIPv6})
	case "host", "net", "port", "proto":
	default:
		p.pos--
		return p.errf("unknown word %q: want host, net, port, proto, tcp, udp, icmp, icmp6, ip, ip6, not or (", t)
	}
	arg, ok := p.next()
	if !ok || arg == "(" || arg == ")" || arg == "!" || arg == "&&" || arg == "||" {
		if ok {
			p.pos--
		}
		return p.errf("%s wants a value", t)
	}
	switch t {
	case "host":
		a, err := netip.ParseAddr(arg)
		if err != nil || a.Zone() != "" {
			p.pos--
			return p.errf("host %q is not an IP address", arg)
		}
		o.kind = opHost
		o.setAddr(netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	case "net":
		pf, err := netip.ParsePrefix(arg)
		if err != nil {
			p.pos--
			return p.errf("net %q is not a prefix like 198.18.0.0/15", arg)
		}
		o.kind = opNet
		o.setAddr(pf.Masked())
	case "port":
		n, err := strconv.ParseUint(arg, 10, 16)
		if err != nil {
			p.pos--
			return p.errf("port %q is not a number in 0-65535", arg)
		}
		o.kind, o.port = opPort, uint16(n)
	case "proto":
		if n, ok := protoNames[arg]; ok {
			o.kind, o.proto = opProto, n
			break
		}
		n, err := strconv.ParseUint(arg, 10, 8)
		if err != nil {
			p.pos--
			return p.errf("proto %q is not tcp, udp, icmp, icmp6, sctp or a number in 0-255", arg)
		}
		o.kind, o.proto = opProto, uint8(n)
	}
	return p.emit(o)
}

func (o *op) setAddr(pf netip.Prefix) {
	o.bits = uint8(pf.Bits())
	if pf.Addr().Is4() {
		o.family = pkt.FamilyIPv4
		a := pf.Addr().As4()
		copy(o.addr[:], a[:])
	} else {
		o.family = pkt.FamilyIPv6
		o.addr = pf.Addr().As16()
	}
}

// Match reports whether the frame s summarizes passes the filter. It
// allocates nothing.
func (f *Filter) Match(s *pkt.Summary) bool {
	if f == nil || len(f.prog) == 0 {
		return true
	}
	var st [MaxTerms]bool
	n := 0
	ok := s.Verdict == pkt.OK && (s.Family == pkt.FamilyIPv4 || s.Family == pkt.FamilyIPv6)
	for i := range f.prog {
		o := &f.prog[i]
		var v bool
		switch o.kind {
		case opAnd:
			n--
			st[n-1] = st[n-1] && st[n]
			continue
		case opOr:
			n--
			st[n-1] = st[n-1] || st[n]
			continue
		case opNot:
			st[n-1] = !st[n-1]
			continue
		case opFamily:
			v = ok && s.Family == o.family
		case opProto:
			v = ok && s.Proto == o.proto
		case opHost, opNet:
			v = ok && s.Family == o.family &&
				(o.side != sideDst && prefixHas(&o.addr, o.bits, &s.Src) || o.side != sideSrc && prefixHas(&o.addr, o.bits, &s.Dst))
		case opPort:
			v = ok && s.Flags&pkt.FlagPorts != 0 &&
				(o.side != sideDst && s.SrcPort == o.port || o.side != sideSrc && s.DstPort == o.port)
		}
		st[n] = v
		n++
	}
	return st[0]
}

// prefixHas reports whether a's first bits equal p's (p masked).
func prefixHas(p *[16]byte, bits uint8, a *[16]byte) bool {
	full := int(bits / 8)
	for i := range full {
		if p[i] != a[i] {
			return false
		}
	}
	if rem := bits % 8; rem != 0 {
		m := byte(0xff << (8 - rem))
		return a[full]&m == p[full]
	}
	return true
}
