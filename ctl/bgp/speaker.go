package bgp

// Speaker: the lifetime of the embedded GoBGP server — start, apply a new
// config (peers added, removed or changed; policies replaced), stop. Peer
// state changes arrive from GoBGP's watch and leave as one log line each.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/server"

	"github.com/gannet-net/gannet/ctl/config"
)

// Options are what a Speaker needs besides its config.
type Options struct {
	// Logger gets one line per peer state change (peer=...); nil: slog.Default.
	Logger *slog.Logger
	// OnRoutes receives every change of the learned best paths, in order,
	// one call per GoBGP event, from one goroutine. It must not call back
	// into the Speaker and should hand the batch on quickly (to the
	// daemon's loop).
	OnRoutes func([]Route)
	// Restarting announces this start as a graceful restart of the
	// previous run (RFC 4724 restart state): peers keep the routes they
	// had from us until we send End-of-RIB.
	Restarting bool
	// GoBGPLevel is the level of GoBGP's own log lines; default Warn.
	GoBGPLevel slog.Level
}

// Speaker is the embedded BGP speaker. Start, Apply, Stop, Announce and
// Withdraw are meant to be called from one goroutine (the daemon's loop);
// Peers and Routes may be called from any.
type Speaker struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex // guards the fields below
	srv     *server.BgpServer
	cfg     *config.PlanBGP
	cancel  context.CancelFunc // the watch
	done    chan struct{}      // closed when Serve returns
	local   map[netip.Prefix]announcement
	learned *learnedRIB
}

type announcement struct {
	nextHop     netip.Addr
	communities []config.Community
}

// New returns a stopped Speaker.
func New(opts Options) *Speaker {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	if opts.GoBGPLevel == 0 {
		opts.GoBGPLevel = slog.LevelWarn
	}
	return &Speaker{opts: opts, log: log, local: map[netip.Prefix]announcement{}}
}

// ErrNotRunning is returned by calls on a Speaker that is not started.
var ErrNotRunning = errors.New("bgp: speaker not running")

// Start runs the speaker with cfg: the GoBGP server (no gRPC listener),
// its listener (unless cfg.ListenPort is 0), the policies and the peers.
// Routes announced before a Start are announced by it.
func (s *Speaker) Start(ctx context.Context, cfg *config.PlanBGP) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return errors.New("bgp: speaker already running")
	}
	return s.startLocked(ctx, cfg)
}

func (s *Speaker) startLocked(ctx context.Context, cfg *config.PlanBGP) error {
	lv := new(slog.LevelVar)
	lv.Set(s.opts.GoBGPLevel)
	srv := server.NewBgpServer(server.LoggerOption(s.log.With("component", "gobgp"), lv))
	done := make(chan struct{})
	go func() { srv.Serve(); close(done) }()
	fail := func(err error) error {
		srv.Stop()
		<-done
		return err
	}
	port := int32(cfg.ListenPort)
	if port == 0 {
		port = -1 // GoBGP: 0 is the default port, negative no listener
	}
	if err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn:              cfg.ASN,
		RouterId:         cfg.RouterID.String(),
		ListenPort:       port,
		UseMultiplePaths: true,
	}}); err != nil {
		return fail(fmt.Errorf("bgp: start: %w", err))
	}
	wctx, cancel := context.WithCancel(context.Background())
	learned := newLearnedRIB()
	err := srv.WatchEvent(wctx, server.WatchEventMessageCallbacks{
		OnBestPath: func(paths []*apiutil.Path, _ time.Time) {
			if rs := learned.apply(paths); len(rs) > 0 && s.opts.OnRoutes != nil {
				s.opts.OnRoutes(rs)
			}
		},
		OnPeerUpdate: func(ev *apiutil.WatchEventMessage_PeerEvent, _ time.Time) { s.logPeer(ev) },
	}, server.WatchBestPath(true), server.WatchPeer())
	if err != nil {
		cancel()
		return fail(fmt.Errorf("bgp: watch: %w", err))
	}
	s.srv, s.cfg, s.cancel, s.done, s.learned = srv, cfg, cancel, done, learned
	if err := s.setPolicies(ctx, cfg, false); err != nil {
		s.stopLocked()
		return err
	}
	for i := range cfg.Peers {
		if err := s.addPeer(ctx, &cfg.Peers[i]); err != nil {
			s.stopLocked()
			return err
		}
	}
	for p, a := range s.local {
		if err := s.addPath(p, a); err != nil {
			s.stopLocked()
			return err
		}
	}
	s.log.Info("bgp: speaker started", "asn", cfg.ASN, "routerID", cfg.RouterID, "listenPort", cfg.ListenPort, "peers", len(cfg.Peers))
	return nil
}

// Stop ends every session (a Cease NOTIFICATION to each peer) and the
// server. The routes announced stay remembered for the next Start.
func (s *Speaker) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

func (s *Speaker) stopLocked() {
	if s.srv == nil {
		return
	}
	s.srv.Stop()
	<-s.done
	s.cancel()
	s.srv, s.cfg, s.cancel, s.done, s.learned = nil, nil, nil, nil, nil
	s.log.Info("bgp: speaker stopped")
}

// Apply moves the running speaker to cfg: peers that are gone are
// deleted, new ones added, changed ones re-added (their sessions
// restart), policies replaced and re-applied to every peer's routes (a
// soft reset, no session restart). A change of asNumber, routerID or
// listenPort restarts the whole speaker.
func (s *Speaker) Apply(ctx context.Context, cfg *config.PlanBGP) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return ErrNotRunning
	}
	old := s.cfg
	if old.ASN != cfg.ASN || old.RouterID != cfg.RouterID || old.ListenPort != cfg.ListenPort {
		s.log.Info("bgp: global settings changed, restarting the speaker")
		s.stopLocked()
		return s.startLocked(ctx, cfg)
	}
	oldPeers := map[netip.Addr]*config.PlanBGPPeer{}
	for i := range old.Peers {
		oldPeers[old.Peers[i].Addr] = &old.Peers[i]
	}
	newPeers := map[netip.Addr]*config.PlanBGPPeer{}
	for i := range cfg.Peers {
		newPeers[cfg.Peers[i].Addr] = &cfg.Peers[i]
	}
	for a, p := range oldPeers {
		if n := newPeers[a]; n == nil || !sameSession(p, n) {
			if err := s.srv.DeletePeer(ctx, &api.DeletePeerRequest{Address: a.String()}); err != nil {
				return fmt.Errorf("bgp: delete peer %s: %w", a, err)
			}
		}
	}
	policiesChanged := !reflect.DeepEqual(policyOf(old), policyOf(cfg))
	s.cfg = cfg
	if policiesChanged {
		if err := s.setPolicies(ctx, cfg, true); err != nil {
			return err
		}
	}
	for a, n := range newPeers {
		if p := oldPeers[a]; p == nil || !sameSession(p, n) {
			if err := s.addPeer(ctx, n); err != nil {
				return err
			}
		}
	}
	return nil
}

// sameSession says whether two peer configs need no session restart
// between them (their filters are policies, applied by soft reset).
func sameSession(a, b *config.PlanBGPPeer) bool {
	x, y := *a, *b
	x.Import, x.Export, x.Filters = [2][]config.PlanBGPRule{}, [2][]config.PlanBGPRule{}, nil
	y.Import, y.Export, y.Filters = [2][]config.PlanBGPRule{}, [2][]config.PlanBGPRule{}, nil
	return reflect.DeepEqual(x, y)
}

func (s *Speaker) addPeer(ctx context.Context, p *config.PlanBGPPeer) error {
	if err := s.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: peerOf(p, s.opts.Restarting)}); err != nil {
		return fmt.Errorf("bgp: add peer %s: %w", p.Addr, err)
	}
	return nil
}

// peerOf is a peer's GoBGP neighbor config.
func peerOf(p *config.PlanBGPPeer, restarting bool) *api.Peer {
	ap := &api.Peer{
		Conf: &api.PeerConf{
			NeighborAddress: p.Addr.String(),
			PeerAsn:         p.ASN,
			AuthPassword:    p.Password,
		},
		Timers: &api.Timers{Config: &api.TimersConfig{
			HoldTime:          uint64(p.Hold / time.Second),
			KeepaliveInterval: uint64(p.Keepalive / time.Second),
			ConnectRetry:      5,
		}},
		Transport: &api.Transport{},
	}
	if p.Source.IsValid() {
		ap.Transport.LocalAddress = p.Source.String()
	}
	gr := p.RestartTime > 0
	if gr {
		ap.GracefulRestart = &api.GracefulRestart{
			Enabled:         true,
			RestartTime:     uint32(p.RestartTime / time.Second),
			LocalRestarting: restarting,
		}
	}
	if p.BFD {
		ap.Bfd = &api.BfdPeerConfig{Enabled: true}
	}
	for _, f := range p.Families {
		fam := apiFamily(f)
		af := &api.AfiSafi{
			Config:       &api.AfiSafiConfig{Family: fam, Enabled: true},
			PrefixLimits: &api.PrefixLimit{Family: fam, MaxPrefixes: p.MaxPrefixes},
		}
		if gr {
			af.MpGracefulRestart = &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: true}}
		}
		ap.AfiSafis = append(ap.AfiSafis, af)
	}
	return ap
}

func apiFamily(f config.Family) *api.Family {
	if f == config.IPv6 {
		return &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}
	}
	return &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
}

// logPeer turns a GoBGP peer event into one log line.
func (s *Speaker) logPeer(ev *apiutil.WatchEventMessage_PeerEvent) {
	if ev.Type != apiutil.PEER_EVENT_STATE {
		return
	}
	st := ev.Peer.State
	attrs := []any{"peer", st.NeighborAddress, "as", st.PeerASN, "state", stateName(st.SessionState)}
	if st.DisconnectMessage != "" {
		attrs = append(attrs, "reason", st.DisconnectMessage)
	}
	if st.AdminState == api.PeerState_ADMIN_STATE_PFX_CT {
		attrs = append(attrs, "admin", "prefix-limit")
	}
	s.log.Info("bgp: peer state", attrs...)
}
