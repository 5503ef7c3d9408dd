// Package classbench reads and writes the ClassBench filter format and
// traces of packet headers, and generates headers that exercise a rule
// set. It feeds acl's differential tests and `gannet bench acl`; it never
// classifies anything itself.
//
// A filter line is
//
//	@<src>/<len> <dst>/<len> <sport_lo> : <sport_hi> <dport_lo> : <dport_hi> <proto>/<mask> [<flags>/<mask>]
//
// fields separated by any whitespace, highest priority first. The TCP
// flags field is checked for form and otherwise ignored, as in most
// classifier benchmarks. A trace line is `src dst sport dport proto ...`
// with IPv4 addresses as decimal uint32 (the form dpdk-test-acl reads);
// further columns are ignored.
package classbench

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/gannet-net/gannet/acl"
)

// Parse reads a ClassBench filter file. An error names the line and the
// field; no rules are returned with it.
func Parse(r io.Reader) ([]acl.Rule, error) {
	var rules []acl.Rule
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		rule, err := ParseLine(text)
		if err != nil {
			return nil, fmt.Errorf("classbench: line %d: %w", line, err)
		}
		rules = append(rules, rule)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("classbench: line %d: %w", line+1, err)
	}
	return rules, nil
}

// ParseLine parses one filter line.
func ParseLine(text string) (acl.Rule, error) {
	var r acl.Rule
	if !strings.HasPrefix(text, "@") {
		return r, fmt.Errorf("filter does not start with '@'")
	}
	f := strings.Fields(text[1:])
	if len(f) > 2 { // ports may be written "lo:hi" or "lo : hi"
		f = append(f[:2], strings.Fields(strings.ReplaceAll(strings.Join(f[2:], " "), ":", " : "))...)
	}
	if len(f) != 9 && len(f) != 10 {
		return r, fmt.Errorf("want 9 or 10 fields (src dst sport dport proto [flags]), got %d", len(f))
	}
	var err error
	if r.Src, err = parsePrefix(f[0]); err != nil {
		return r, fmt.Errorf("source: %w", err)
	}
	if r.Dst, err = parsePrefix(f[1]); err != nil {
		return r, fmt.Errorf("destination: %w", err)
	}
	if r.SrcPorts, err = parsePorts(f[2:5]); err != nil {
		return r, fmt.Errorf("source port: %w", err)
	}
	if r.DstPorts, err = parsePorts(f[5:8]); err != nil {
		return r, fmt.Errorf("destination port: %w", err)
	}
	var v, m uint64
	if v, m, err = parseValueMask(f[8], 8); err != nil {
		return r, fmt.Errorf("protocol: %w", err)
	}
	r.Proto, r.ProtoMask = uint8(v), uint8(m)
	if len(f) == 10 {
		if _, _, err = parseValueMask(f[9], 16); err != nil {
			return r, fmt.Errorf("flags: %w", err)
		}
	}
	return r, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return p, err
	}
	if !p.Addr().Is4() {
		return netip.Prefix{}, fmt.Errorf("%q is not an IPv4 prefix", s)
	}
	return p.Masked(), nil
}

func parsePorts(f []string) (acl.PortRange, error) {
	if f[1] != ":" {
		return acl.PortRange{}, fmt.Errorf("want lo : hi, got %q", strings.Join(f, " "))
	}
	lo, err := strconv.ParseUint(f[0], 10, 16)
	if err != nil {
		return acl.PortRange{}, fmt.Errorf("low port %q: %w", f[0], err)
	}
	hi, err := strconv.ParseUint(f[2], 10, 16)
	if err != nil {
		return acl.PortRange{}, fmt.Errorf("high port %q: %w", f[2], err)
	}
	if lo > hi {
		return acl.PortRange{}, fmt.Errorf("range %d : %d is empty", lo, hi)
	}
	return acl.PortRange{Lo: uint16(lo), Hi: uint16(hi)}, nil
}

func parseValueMask(s string, bits int) (v, m uint64, err error) {
	vs, ms, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0, fmt.Errorf("want value/mask, got %q", s)
	}
	if v, err = strconv.ParseUint(vs, 0, bits); err != nil {
		return 0, 0, fmt.Errorf("value %q: %w", vs, err)
	}
	if m, err = strconv.ParseUint(ms, 0, bits); err != nil {
		return 0, 0, fmt.Errorf("mask %q: %w", ms, err)
	}
	return v, m, nil
}

// Format writes rules (IPv4 only) as ClassBench filter lines with a zero
// flags field, the form dpdk-test-acl and other tools read.
func Format(w io.Writer, rules []acl.Rule) error {
	bw := bufio.NewWriter(w)
	for i, r := range rules {
		src, dst := r.Src, r.Dst
		if !src.IsValid() {
			src = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		}
		if !dst.IsValid() {
			dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		}
		if !src.Addr().Is4() || !dst.Addr().Is4() {
			return fmt.Errorf("classbench: rule %d: only IPv4 rules can be written", i)
		}
		fmt.Fprintf(bw, "@%v\t%v\t%d : %d\t%d : %d\t0x%02X/0x%02X\t0x0000/0x0000\t\n",
			src.Masked(), dst.Masked(), r.SrcPorts.Lo, r.SrcPorts.Hi, r.DstPorts.Lo, r.DstPorts.Hi,
			r.Proto, r.ProtoMask)
	}
	return bw.Flush()
}
