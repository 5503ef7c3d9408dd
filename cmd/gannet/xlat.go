package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/spf13/cobra"

	"github.com/gannet-net/gannet/internal/pcapio"
	"github.com/gannet-net/gannet/pkt"
	"github.com/gannet-net/gannet/xlat"
)

// gannet xlat: the stateless translator offline. Every packet of a capture
// goes through xlat.To6 (IPv4) or xlat.To4 (IPv6) and whatever comes out —
// the translation, its fragments, or the ICMP error for the sender — is
// written, in order, as raw IP packets.
func newXlatCmd() *cobra.Command {
	var cfgPath, inPath, outPath string
	var space uint16
	var hop bool
	cmd := &cobra.Command{
		Use:   "xlat --config FILE --in IN.pcap --out OUT.pcap",
		Short: "translate every packet of a capture between IPv4 and IPv6 (RFC 7915)",
		Long: `Reads a pcap or pcapng capture (raw IP, IPv4, IPv6, Ethernet or Linux cooked
link types) and translates each packet statelessly with the translation
section given by --config (YAML: pool6, addressSpaces, eam, rfc6791v4,
rfc6791v6, lowestIPv6MTU, ipv4MTU, ipv6MTU, amendUDPZeroChecksum,
translatorIPv4, translatorIPv6 — the translator's own addresses, the
source of the ICMP errors it sends). IPv4 packets are taken to be in
address space --space. An IPv6 packet whose IPv4 form is addressed to a
host an EAM puts on the IPv6 side is hairpinned: translated back to IPv6
(RFC 7757 section 4). Writes every resulting packet in order to --out as a
raw-IP pcap (LINKTYPE_RAW): the translation, its fragments, or the ICMP
error sent back toward the source. With --hop the translator acts as the
data plane does, as one router hop: a packet with TTL or hop limit 1 or
less gets Time Exceeded from the translator's address, and every
translated packet leaves with its TTL or hop limit one lower, so the output
compares byte for byte with other translators'. Prints the count per
verdict and drop reason.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := os.ReadFile(cfgPath)
			if err != nil {
				return err
			}
			cfg, err := xlat.ParseConfig(data)
			if err != nil {
				return fmt.Errorf("%s: %w", cfgPath, err)
			}
			tr, err := xlat.New(cfg)
			if err != nil {
				return fmt.Errorf("%s: %w", cfgPath, err)
			}
			r, err := pcapio.Open(inPath)
			if err != nil {
				return err
			}
			defer r.Close()
			f, err := os.Create(outPath)
			if err != nil {
				return err
			}
			st, err := translateCapture(r, f, tr, xlatOptions{space: space, hop: hop, cfg: cfg})
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			return printXlatStats(cmd.OutOrStdout(), &st)
		},
	}
	cmd.Flags().StringVar(&cfgPath, "config", "", "translation section (YAML)")
	cmd.Flags().StringVar(&inPath, "in", "", "capture to translate")
	cmd.Flags().StringVar(&outPath, "out", "", "raw-IP pcap to write")
	cmd.Flags().Uint16Var(&space, "space", 0, "address space of the IPv4 packets")
	cmd.Flags().BoolVar(&hop, "hop", false, "act as a router hop like the data plane: Time Exceeded for TTL/hop limit <= 1, decrement it on translated packets")
	for _, f := range []string{"config", "in", "out"} {
		_ = cmd.MarkFlagRequired(f)
	}
	return cmd
}

// xlatHeadroom is the room before each packet: the frame headroom the
// data path guarantees (DESIGN.md section 3).
const xlatHeadroom = 256

// xlatOptions are gannet xlat's settings besides the translator.
type xlatOptions struct {
	space uint16
	hop   bool // act as a router hop (--hop)
	cfg   xlat.Config
}

// translateCapture translates every packet of r and writes the results to
// w as a raw-IP pcap.
func translateCapture(r *pcapio.Reader, w io.Writer, tr *xlat.Translator, o xlatOptions) (xlatStats, error) {
	var st xlatStats
	cfg := o.cfg
	var self4 [4]byte
	var self6 [16]byte
	has4, has6 := cfg.TranslatorIPv4 != "", cfg.TranslatorIPv6 != ""
	if has4 {
		self4 = netip.MustParseAddr(cfg.TranslatorIPv4).As4() // validated by xlat.New
	}
	if has6 {
		self6 = netip.MustParseAddr(cfg.TranslatorIPv6).As16()
	}
	bw := bufio.NewWriter(w)
	pw := pcapgo.NewWriter(bw)
	if err := pw.WriteFileHeader(65535, layers.LinkTypeRaw); err != nil {
		return st, err
	}
	// Fragment buffers: enough for a 64 KiB packet cut for the smallest
	// MTU in play.
	mtu := max(cfg.IPv4MTU, cfg.IPv6MTU, xlat.DefaultMTU)
	smallest := min(nonZero(cfg.IPv4MTU, xlat.DefaultMTU), nonZero(cfg.LowestIPv6MTU, pkt.IPv6MinMTU))
	frags := make([][]byte, 65536/max(8, (smallest-48)&^7)+2)
	for i := range frags {
		frags[i] = make([]byte, mtu)
	}
	buf := make([]byte, xlatHeadroom+65536)
	var s pkt.Summary
	for {
		cp, err := r.Next()
		if err == io.EOF {
			break
		}
		st.packets++
		if errors.Is(err, pcapio.ErrLinkType) {
			st.skipped++
			continue
		}
		if err != nil {
			return st, err
		}
		data := cp.Data
		if cp.Link == pcapio.LinkEthernet {
			if pkt.Parse(data, &s); s.Family == pkt.FamilyNone {
				st.skipped++
				continue
			}
			data = data[s.L3Off:]
		}
		n := copy(buf[xlatHeadroom:], data)
		write := func(b []byte) error {
			return pw.WritePacket(gopacket.CaptureInfo{Timestamp: cp.Time, CaptureLength: len(b), Length: len(b)}, b)
		}
		six := n > 0 && data[0]>>4 == 6
		if o.hop && pkt.ParseIP(buf[xlatHeadroom:xlatHeadroom+n], &s) == pkt.OK && s.TTL <= 1 {
			// The data plane's hop check, before translation: Time
			// Exceeded from the router, in the packet's own family.
			st.timeExceeded++
			orig := buf[xlatHeadroom : xlatHeadroom+n]
			start := xlatHeadroom - headerLen(six)
			m, err := 0, errNoTranslatorAddr
			if six && has6 {
				m, err = pkt.BuildICMPv6Error(buf[start:], orig, self6, pkt.ICMPv6TimeExceeded, pkt.ICMPv6HopLimitExceeded, 0)
			} else if !six && has4 {
				m, err = pkt.BuildICMPv4Error(buf[start:], orig, self4, pkt.ICMPv4TimeExceeded, pkt.ICMPv4TTLExceeded, 0)
			}
			if err == nil { // else dropped, as the data plane does without an address or for an error about an error
				if err = write(buf[start : start+m]); err != nil {
					return st, err
				}
			}
			continue
		}
		p := xlat.Packet{Buf: buf, Off: xlatHeadroom, Len: n, Space: o.space, Frags: frags}
		var v xlat.Verdict
		if six {
			v = tr.To4(&p, &st.Stats)
			if v == xlat.Forward && p.Hairpin {
				st.hairpinned++
				v = tr.Hairpin(&p, &st.Stats)
			}
		} else {
			v = tr.To6(&p, &st.Stats)
		}
		switch v {
		case xlat.Forward, xlat.Reply:
			out := buf[p.Off : p.Off+p.Len]
			if o.hop && v == xlat.Forward {
				decHop(out)
			}
			err = write(out)
		case xlat.Fragments:
			for _, f := range p.Frags[:p.NFrags] {
				if o.hop {
					decHop(f)
				}
				if err = write(f); err != nil {
					break
				}
			}
		}
		if err != nil {
			return st, err
		}
	}
	return st, bw.Flush()
}

var errNoTranslatorAddr = errors.New("no translator address for a Time Exceeded")

// headerLen is what an ICMP error of the family puts before its quote.
func headerLen(six bool) int {
	if six {
		return pkt.ICMPv6ErrorHeaderLen
	}
	return pkt.ICMPv4ErrorHeaderLen
}

// decHop takes one from the TTL (with the IPv4 header checksum) or the
// hop limit of the IP packet b: what the data plane does to every
// packet it forwards.
func decHop(b []byte) {
	if b[0]>>4 == 4 {
		pkt.IPv4(b).DecTTL()
		return
	}
	b[7]--
}

func nonZero(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

type xlatStats struct {
	xlat.Stats
	packets, skipped int
	timeExceeded     int // --hop: TTL or hop limit expired before translation
	hairpinned       int // translated back to IPv6 (RFC 7757 section 4)
}

func printXlatStats(out io.Writer, st *xlatStats) error {
	w := bufio.NewWriter(out)
	fmt.Fprintf(w, "packets %d\n", st.packets)
	if st.skipped > 0 {
		fmt.Fprintf(w, "skipped %d (not IP)\n", st.skipped)
	}
	if st.timeExceeded > 0 {
		fmt.Fprintf(w, "time-exceeded %d\n", st.timeExceeded)
	}
	if st.hairpinned > 0 {
		fmt.Fprintf(w, "hairpinned %d\n", st.hairpinned)
	}
	for _, v := range []xlat.Verdict{xlat.Forward, xlat.Fragments, xlat.Reply, xlat.Drop} {
		if n := st.Verdict(v); n > 0 {
			fmt.Fprintf(w, "%s %d\n", v, n)
		}
	}
	for r := range xlat.NumReasons {
		if n := st.Reasons[r]; n > 0 {
			fmt.Fprintf(w, "  %s %d\n", xlat.Reason(r), n)
		}
	}
	for r := range pkt.NumReasons {
		if n := st.Parse[r]; n > 0 {
			fmt.Fprintf(w, "    %s %d\n", pkt.Reason(r), n)
		}
	}
	return w.Flush()
}
