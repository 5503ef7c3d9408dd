package bgp

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/gannet-net/gannet/ctl/config"
)

// TestMain doubles as the Speaker helper process of the namespace tests:
// with GANNET_BGP_HELPER naming a config file it runs a Speaker and
// answers commands on stdin, one line each (announce PREFIX [NEXTHOP],
// withdraw PREFIX, peers, rib [PEER], apply YAML...), writing route
// events and answers to stdout.
func TestMain(m *testing.M) {
	if path := os.Getenv("GANNET_BGP_HELPER"); path != "" {
		if err := runHelper(path); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runHelper(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	_, plan, err := config.ParseConfig(data)
	if err != nil {
		return err
	}
	var outMu sync.Mutex
	emit := func(kind string, v any) {
		b, _ := json.Marshal(v)
		outMu.Lock()
		fmt.Printf("%s %s\n", kind, b)
		outMu.Unlock()
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := New(Options{Logger: log, OnRoutes: func(rs []Route) {
		for _, r := range rs {
			emit("route", r)
		}
	}})
	ctx := context.Background()
	if err := s.Start(ctx, plan.BGP); err != nil {
		return err
	}
	defer s.Stop()
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		verb, arg, _ := strings.Cut(sc.Text(), " ")
		var err error
		switch verb {
		case "announce":
			pfx, nh, _ := strings.Cut(arg, " ")
			var a netip.Addr
			if nh != "" {
				a = netip.MustParseAddr(nh)
			}
			p := netip.MustParsePrefix(pfx)
			err = s.Announce(p, a, plan.BGP.CommunitiesFor(p))
		case "withdraw":
			err = s.Withdraw(netip.MustParsePrefix(arg))
		case "peers":
			ps, err2 := s.Peers(ctx)
			if err = err2; err == nil {
				emit("peers", ps)
				continue
			}
		case "rib":
			var q RouteQuery
			if arg != "" {
				q.Peer = netip.MustParseAddr(arg)
			}
			rs, err2 := s.Routes(ctx, q)
			if err = err2; err == nil {
				emit("rib", rs)
				continue
			}
		case "apply":
			var p *config.Plan
			if _, p, err = config.ParseConfig([]byte(strings.ReplaceAll(arg, `\n`, "\n"))); err == nil {
				plan = p
				err = s.Apply(ctx, p.BGP)
			}
		default:
			err = fmt.Errorf("unknown command %q", verb)
		}
		if err != nil {
			emit("error", err.Error())
		} else {
			emit("ok", "")
		}
	}
	return nil
}
