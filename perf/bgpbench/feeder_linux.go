// The feeder: gobgpd in its namespace with six sessions (IPv4 and IPv6
// to each receiver), administratively down until a phase enables its
// receiver's two, and the table loaded from an MRT file.

package bgpbench

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gannet-net/gannet/lab/namespace"
)

// startFeeder starts gobgpd with its four sessions down, loads the table
// from an MRT file and waits until its RIB holds all of it; it returns
// how long the load took.
func (e *env) startFeeder(table []netip.Prefix, n4, n6 int) (time.Duration, error) {
	mrtPath := filepath.Join(e.dir, "table.mrt")
	f, err := os.Create(mrtPath)
	if err != nil {
		return 0, err
	}
	// `gobgp mrt inject` streams one gRPC message per record and exits
	// without closing the stream: the last few hundred records may never
	// reach gobgpd. The file ends with the table's tail once more (a
	// route sent again replaces itself), and an inject that still falls
	// short is run again.
	tail := table[len(table)-min(len(table), injectTail):]
	err = WriteMRT(f, Feed{AS: feederAS, RouterID: feedGannet4.Addr(), OriginAS: originAS, Time: time.Now()}, append(slices.Clip(table), tail...))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	conf := fmt.Sprintf(`
[global.config]
  as = %d
  router-id = "%s"
`, feederAS, feedGannet4.Addr())
	for _, n := range []struct {
		addr netip.Addr
		as   int
	}{{gannetFeed4.Addr(), gannetAS}, {gannetFeed6.Addr(), gannetAS}, {birdFeed4.Addr(), birdAS}, {birdFeed6.Addr(), birdAS},
		{speakerFeed4.Addr(), speakerAS}, {speakerFeed6.Addr(), speakerAS}} {
		fam := "ipv4-unicast"
		if n.addr.Is6() {
			fam = "ipv6-unicast"
		}
		conf += fmt.Sprintf(`
[[neighbors]]
  [neighbors.config]
    neighbor-address = "%s"
    peer-as = %d
    admin-down = true
  [neighbors.timers.config]
    connect-retry = 1
    hold-time = 90
    keepalive-interval = 30
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "%s"
`, n.addr, n.as, fam)
	}
	confPath := filepath.Join(e.dir, "gobgpd.toml")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return 0, err
	}
	p, err := e.start(e.feed, "gobgpd", "gobgpd", "-f", confPath, "--api-hosts", "127.0.0.1:50051", "--pprof-disable", "-l", "warn")
	if err != nil {
		return 0, err
	}
	if err := waitUntil(10*time.Second, 100*time.Millisecond, p, func() (bool, error) {
		_, err := namespace.Run(e.feed, "gobgp", "global")
		return err == nil, nil
	}); err != nil {
		return 0, fmt.Errorf("gobgpd API: %w", err)
	}
	start := time.Now()
	for try := 1; ; try++ {
		if _, err := namespace.Run(e.feed, "gobgp", "mrt", "inject", "global", mrtPath); err != nil {
			return 0, err
		}
		// Loaded when both families are complete; stalled when the
		// counts stop growing for a while.
		prev, still := -1, time.Now()
		err = waitUntil(e.o.Timeout, 200*time.Millisecond, p, func() (bool, error) {
			total := 0
			for _, fam := range []string{"ipv4", "ipv6"} {
				out, err := namespace.Run(e.feed, "gobgp", "global", "rib", "summary", "-a", fam)
				if err != nil {
					return false, err
				}
				n, ok := ribDestinations(out)
				if !ok {
					return false, fmt.Errorf("gobgp global rib summary: %q", out)
				}
				total += n
			}
			if total >= n4+n6 {
				return true, nil
			}
			if total != prev {
				prev, still = total, time.Now()
			} else if time.Since(still) > 5*time.Second {
				return false, errStalled
			}
			return false, nil
		})
		if err != errStalled || try == 3 {
			return time.Since(start), err
		}
		fmt.Fprintf(e.o.Log, "feeder: %d of %d routes loaded; injecting again\n", prev, n4+n6)
	}
}

// injectTail is how many routes the MRT file repeats at its end.
const injectTail = 20000

var errStalled = errors.New("the feeder's RIB stopped growing")

// ribDestinations reads "Destination: N, Path: M" of `gobgp global rib
// summary`.
func ribDestinations(out string) (int, bool) {
	i := strings.Index(out, "Destination: ")
	if i < 0 {
		return 0, false
	}
	s := out[i+len("Destination: "):]
	if j := strings.IndexByte(s, ','); j >= 0 {
		s = s[:j]
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	return n, err == nil
}

// feeder turns the feeder's sessions to peers on or off.
func (e *env) feeder(enable bool, peers ...netip.Addr) error {
	verb := "disable"
	if enable {
		verb = "enable"
	}
	for _, p := range peers {
		if _, err := namespace.Run(e.feed, "gobgp", "neighbor", p.String(), verb); err != nil {
			return err
		}
	}
	return nil
}
