// The floor: GoBGP v4 embedded exactly as gannet embeds it (the same
// server, StartBgp with multipath, the best-path watch gannet consumes)
// with nothing behind it but a map of the prefixes that have a best
// path. Whatever gannet does with a route, it cannot converge faster
// than this; the benchmark feeds it in turns with the other receivers
// so its column says how much of gannet's time is GoBGP's own.

package bgpbench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"
)

// SpeakerConfig configures RunSpeaker: its AS and router ID, one
// single-family session per peer (the family of the peer's address),
// and the unix socket its state is read from (GET /state).
type SpeakerConfig struct {
	ASN      uint32
	RouterID netip.Addr
	Peers    []SpeakerPeer
	Socket   string
}

// SpeakerPeer is one of RunSpeaker's sessions.
type SpeakerPeer struct {
	Addr netip.Addr
	ASN  uint32
}

// SpeakerState is what GET /state answers.
type SpeakerState struct {
	Established int `json:"established"` // sessions up
	Routes      int `json:"routes"`      // prefixes with a best path
}

// RunSpeaker runs the bare GoBGP speaker until ctx ends. It connects to
// its peers (no listener, as gannet's benchmark config), accepts every
// route and exports none (gannet's no-transit default: every learned
// route is still checked against the export policy of every peer).
func RunSpeaker(ctx context.Context, c SpeakerConfig) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	lv := new(slog.LevelVar)
	lv.Set(slog.LevelWarn)
	srv := server.NewBgpServer(server.LoggerOption(log, lv))
	done := make(chan struct{})
	go func() { srv.Serve(); close(done) }()
	defer func() { srv.Stop(); <-done }()
	if err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: c.ASN, RouterId: c.RouterID.String(), ListenPort: -1, UseMultiplePaths: true,
	}}); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	if err := srv.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: &api.PolicyAssignment{
		Name: "global", Direction: api.PolicyDirection_POLICY_DIRECTION_EXPORT, DefaultAction: api.RouteAction_ROUTE_ACTION_REJECT,
	}}); err != nil {
		return fmt.Errorf("export policy: %w", err)
	}
	// The state is kept from the watch's own events: asking GoBGP
	// (ListPeer, GetTable) goes through its management queue, which
	// waits behind a full table's processing for minutes.
	var (
		mu   sync.Mutex
		best = map[netip.Prefix]struct{}{} // one peer per family: one path per prefix
		up   = map[netip.Addr]bool{}
	)
	if err := srv.WatchEvent(ctx, server.WatchEventMessageCallbacks{
		OnBestPath: func(paths []*apiutil.Path, _ time.Time) {
			mu.Lock()
			defer mu.Unlock()
			for _, p := range paths {
				pfx, ok := p.Nlri.(*bgp.IPAddrPrefix)
				if !ok {
					continue
				}
				if p.Withdrawal {
					delete(best, pfx.Prefix)
				} else {
					best[pfx.Prefix] = struct{}{}
				}
			}
		},
		OnPeerUpdate: func(ev *apiutil.WatchEventMessage_PeerEvent, _ time.Time) {
			if ev.Type != apiutil.PEER_EVENT_STATE {
				return
			}
			mu.Lock()
			up[ev.Peer.State.NeighborAddress] = ev.Peer.State.SessionState == bgp.BGP_FSM_ESTABLISHED
			mu.Unlock()
		},
	}, server.WatchBestPath(true), server.WatchPeer()); err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	for _, p := range c.Peers {
		fam := &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
		if p.Addr.Is6() {
			fam.Afi = api.Family_AFI_IP6
		}
		if err := srv.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
			Conf:      &api.PeerConf{NeighborAddress: p.Addr.String(), PeerAsn: p.ASN},
			Timers:    &api.Timers{Config: &api.TimersConfig{HoldTime: 90, KeepaliveInterval: 30, ConnectRetry: 1}},
			Transport: &api.Transport{},
			AfiSafis:  []*api.AfiSafi{{Config: &api.AfiSafiConfig{Family: fam, Enabled: true}}},
		}}); err != nil {
			return fmt.Errorf("peer %s: %w", p.Addr, err)
		}
	}

	ln, err := net.Listen("unix", c.Socket)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /state", func(w http.ResponseWriter, r *http.Request) {
		var st SpeakerState
		mu.Lock()
		for _, u := range up {
			if u {
				st.Established++
			}
		}
		st.Routes = len(best)
		mu.Unlock()
		json.NewEncoder(w).Encode(st)
	})
	hs := &http.Server{Handler: mux}
	go func() { <-ctx.Done(); hs.Close() }()
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// speakerClient reads RunSpeaker's state over its socket.
func speakerClient(sock string) *http.Client {
	return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
}

func readSpeaker(c *http.Client) (SpeakerState, error) {
	var st SpeakerState
	resp, err := c.Get("http://speaker/state")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("speaker state: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// speakerReceiver is RunSpeaker in its own namespace (`gannet bench
// bgp-speaker`), read over its socket.
type speakerReceiver struct {
	e *env
	c *http.Client
}

func (s speakerReceiver) name() string { return "GoBGP alone" }
func (s speakerReceiver) proc() *proc  { return s.e.speaker }
func (s speakerReceiver) peers() []netip.Addr {
	return []netip.Addr{speakerFeed4.Addr(), speakerFeed6.Addr()}
}
func (s speakerReceiver) baseline() error { return nil }

// cpu is the whole process: it has no worker.
func (s speakerReceiver) cpu() (time.Duration, error) { return processCPU(s.e.speaker.cmd.Process.Pid) }

func (s speakerReceiver) established() (bool, error) {
	st, err := readSpeaker(s.c)
	if err != nil {
		return false, nil // busy or not yet listening: the phase's timeout decides
	}
	return st.Established == 2, nil
}

func (s speakerReceiver) routes() (int, error) {
	st, err := readSpeaker(s.c)
	if err != nil {
		return -1, nil
	}
	return st.Routes, nil
}

// startSpeaker runs `gannet bench bgp-speaker` with the feeder as its
// two peers.
func (e *env) startSpeaker() error {
	sock := filepath.Join(e.dir, "speaker.sock")
	var err error
	e.speaker, err = e.start(e.spk, "speaker", e.o.Gannet, "bench", "bgp-speaker", "--socket", sock,
		"--as", strconv.Itoa(speakerAS), "--router-id", speakerFeed4.Addr().String(),
		"--peer", fmt.Sprintf("%s,%d", feedSpeaker4.Addr(), feederAS), "--peer", fmt.Sprintf("%s,%d", feedSpeaker6.Addr(), feederAS))
	if err != nil {
		return err
	}
	c := speakerClient(sock)
	e.speakerC = c
	return waitUntil(30*time.Second, 100*time.Millisecond, e.speaker, func() (bool, error) {
		_, err := readSpeaker(c)
		return err == nil, nil
	})
}
