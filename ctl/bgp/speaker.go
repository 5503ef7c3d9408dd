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
	"slices"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"

	"github.com/gannet-net/gannet/ctl/config"
)

// Options are what a Speaker needs besides its config.
type Options struct {
	// Logger gets one line per peer state change (peer=...); nil: slog.Default.
	Logger *slog.Logger
	// OnRoutes receives the changes of the learned best paths in
	// batches (deliver.go), from one goroutine: a prefix that changed
	// several times since the last batch comes once, with its latest
	// next hops. It must not call back into the Speaker. It may block
	// (handing the batch to the daemon's busy loop): changes meanwhile
	// collect, at most one per prefix, and GoBGP is never held up.
	OnRoutes func([]Route)
	// Restarting announces this start as a graceful restart of the
	// previous run (RFC 4724 restart state): peers keep the routes they
	// had from us until we send End-of-RIB.
	Restarting bool
	// GoBGPLevel is the level of GoBGP's own log lines; default Warn.
	GoBGPLevel slog.Level
	// LimitCheck is how often a peer that sent routes has its received
	// prefixes counted against maxPrefixes (default 1s); every peer is
	// counted at least every 30 checks.
	LimitCheck time.Duration
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
	// enh: peers whose established session negotiated the Extended Next
	// Hop capability (policyOf's RFC 8950 guard), as applied.
	enh map[netip.Addr]bool

	enhMu   sync.Mutex          // guards enhWant; never held while calling GoBGP
	enhWant map[netip.Addr]bool // enh as the latest peer event says it should be

	actMu  sync.Mutex          // guards active; never held while calling GoBGP
	active map[netip.Addr]bool // peers whose routes changed since the last limit check
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
	if opts.LimitCheck <= 0 {
		opts.LimitCheck = time.Second
	}
	return &Speaker{opts: opts, log: log, local: map[netip.Prefix]announcement{}, enh: map[netip.Addr]bool{}, enhWant: map[netip.Addr]bool{}, active: map[netip.Addr]bool{}}
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
	learned, queue := newLearnedRIB(), newRouteQueue()
	err := srv.WatchEvent(wctx, server.WatchEventMessageCallbacks{
		OnBestPath: func(paths []*apiutil.Path, _ time.Time) {
			s.markPaths(paths)
			if rs := learned.apply(paths); s.opts.OnRoutes != nil {
				queue.put(rs)
			}
		},
		OnPeerUpdate: func(ev *apiutil.WatchEventMessage_PeerEvent, _ time.Time) { s.logPeer(ev) },
	}, server.WatchBestPath(true), server.WatchPeer())
	if err != nil {
		cancel()
		return fail(fmt.Errorf("bgp: watch: %w", err))
	}
	s.srv, s.cfg, s.cancel, s.done, s.learned = srv, cfg, cancel, done, learned
	if s.opts.OnRoutes != nil {
		go deliver(wctx, queue, s.opts.OnRoutes)
	}
	go s.guardPrefixes(wctx, srv)
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
	s.stopped()
	s.log.Info("bgp: speaker stopped")
}

// stopped forgets the stopped server once its Serve has returned; a
// peer's Extended Next Hop wish from the old sessions must not mark a
// new one.
func (s *Speaker) stopped() {
	<-s.done
	s.cancel()
	s.srv, s.cfg, s.cancel, s.done, s.learned = nil, nil, nil, nil, nil
	s.enh = map[netip.Addr]bool{}
	s.enhMu.Lock()
	s.enhWant = map[netip.Addr]bool{}
	s.enhMu.Unlock()
}

// StopForRestart ends every session the way a restarting speaker does
// (RFC 4724 section 4.1): a peer that negotiated graceful restart gets no
// NOTIFICATION, only the connection closed, so it keeps our routes,
// marked stale, until the next Start (with Options.Restarting) sends
// End-of-RIB or its timer — our maxRestartTime — runs out; a peer
// without it gets a Cease as from Stop.
func (s *Speaker) StopForRestart() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.srv.StopBgp(ctx, &api.StopBgpRequest{AllowGracefulRestart: true}); err != nil {
		s.log.Warn("bgp: stopping for a restart", "err", err)
		s.srv.Stop()
	}
	s.stopped()
	s.log.Info("bgp: speaker stopped for a restart: peers with graceful restart keep our routes")
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
	policiesChanged := !reflect.DeepEqual(policyOf(old, s.enh), policyOf(cfg, s.enh))
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
	if err := s.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: peerOf(p, s.opts.Restarting, false)}); err != nil {
		return fmt.Errorf("bgp: add peer %s: %w", p.Addr, err)
	}
	return nil
}

// peerOf is a peer's GoBGP neighbor config. GoBGP counts a peer's whole
// adj-RIB-in on every UPDATE it receives when the peer has a prefix
// limit — quadratic in the table, minutes for a full one — so the
// limit is left to guardPrefixes, which sets it (limited) once it is
// exceeded and GoBGP then ends the session itself.
func peerOf(p *config.PlanBGPPeer, restarting, limited bool) *api.Peer {
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
			Config: &api.AfiSafiConfig{Family: fam, Enabled: true},
		}
		if limited {
			af.PrefixLimits = &api.PrefixLimit{Family: fam, MaxPrefixes: p.MaxPrefixes}
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

// markPaths notes the peers whose routes a best-path event changed:
// their received prefixes are counted at the next limit check.
func (s *Speaker) markPaths(paths []*apiutil.Path) {
	var last netip.Addr
	s.actMu.Lock()
	for _, p := range paths {
		if a := p.PeerAddress; a.IsValid() && a != last {
			s.active[a], last = true, a
		}
	}
	s.actMu.Unlock()
}

func (s *Speaker) markActive(a netip.Addr) {
	s.actMu.Lock()
	s.active[a] = true
	s.actMu.Unlock()
}

// guardPrefixes enforces maxPrefixes: every LimitCheck it counts the
// prefixes received (filtered ones too: GoBGP keeps them) from each peer
// whose routes changed since, and from every peer each 30th time (a peer
// whose routes the import filter all rejects changes no best path). A
// count walks the peer's whole adj-RIB-in, so a peer is counted again
// only after 20 times as long as its last count took (at most 5% of a
// CPU on a full table). A peer over its limit in a family gets the limit
// set in GoBGP, which sends Cease / Maximum Number of Prefixes Reached
// (RFC 4486) and keeps the session down until the config changes. A
// peer may exceed its limit by what it sends between two counts.
func (s *Speaker) guardPrefixes(ctx context.Context, srv *server.BgpServer) {
	tick := time.NewTicker(s.opts.LimitCheck)
	defer tick.Stop()
	next := map[netip.Addr]time.Time{} // a peer's earliest next count
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s.mu.Lock()
		var peers []config.PlanBGPPeer
		if s.srv == srv {
			peers = s.cfg.Peers
		}
		s.mu.Unlock()
		s.actMu.Lock()
		active := s.active
		s.active = map[netip.Addr]bool{}
		s.actMu.Unlock()
		for i := range peers {
			p := &peers[i]
			now := time.Now()
			if n%30 != 0 && !active[p.Addr] || now.Before(next[p.Addr]) {
				if active[p.Addr] {
					s.markActive(p.Addr) // count it when its turn comes
				}
				continue
			}
			fam, got, over := s.overLimit(ctx, srv, p)
			next[p.Addr] = now.Add(20 * time.Since(now))
			if over {
				s.log.Warn("bgp: prefix limit exceeded, ending the session", "peer", p.Addr, "family", fam, "received", got, "maxPrefixes", p.MaxPrefixes)
				if _, err := srv.UpdatePeer(ctx, &api.UpdatePeerRequest{Peer: peerOf(p, s.opts.Restarting, true)}); err != nil && ctx.Err() == nil {
					s.log.Warn("bgp: setting the prefix limit", "peer", p.Addr, "err", err)
				}
			}
		}
	}
}

// overLimit reports whether p's established session has received more
// than maxPrefixes prefixes in a family, and which.
func (s *Speaker) overLimit(ctx context.Context, srv *server.BgpServer, p *config.PlanBGPPeer) (string, uint64, bool) {
	fam, got, over := "", uint64(0), false
	_ = srv.ListPeer(ctx, &api.ListPeerRequest{Address: p.Addr.String()}, func(ap *api.Peer) {
		if ap.State == nil || ap.State.SessionState != api.PeerState_SESSION_STATE_ESTABLISHED {
			return
		}
		for _, af := range ap.AfiSafis {
			if af.State != nil && af.Config != nil && af.Config.Family != nil && af.State.Received > uint64(p.MaxPrefixes) {
				fam, got, over = config.IPv4.String(), af.State.Received, true
				if af.Config.Family.Afi == api.Family_AFI_IP6 {
					fam = config.IPv6.String()
				}
			}
		}
	})
	return fam, got, over
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
	if st.SessionState == bgp.BGP_FSM_ESTABLISHED && st.NeighborAddress.Is6() && carriesIPv4(st.LocalCap) && carriesIPv4(st.RemoteCap) {
		// RFC 8950: an IPv6 session carrying IPv4 unicast needs the
		// peer's Extended Next Hop capability (gannet's tuple is always
		// in its OPEN): without it the peer cannot take gannet's IPv4
		// routes, whose next hop is the session's IPv6 address.
		enh := slices.ContainsFunc(st.RemoteCap, offersIPv4OverIPv6)
		attrs = append(attrs, "extendedNextHop", enh)
		if !enh {
			s.log.Warn("bgp: the peer did not offer the extended next hop (RFC 8950): it gets none of our IPv4 routes over this IPv6 session; enable it there or drop ipv4 from families", "peer", st.NeighborAddress)
		}
		if enh {
			s.wantENH(st.NeighborAddress, true)
		}
	} else if st.SessionState != bgp.BGP_FSM_ESTABLISHED && st.NeighborAddress.Is6() {
		s.wantENH(st.NeighborAddress, false)
	}
	s.log.Info("bgp: peer state", attrs...)
}

// wantENH records, in event order, whether peer's session has the
// Extended Next Hop capability, and has applyENH apply it off GoBGP's
// event goroutine, which must not wait on the speaker. The goroutines
// may run in any order; each applies the latest wish, so a session that
// came up and dropped at once cannot be left marked as having it.
func (s *Speaker) wantENH(peer netip.Addr, on bool) {
	s.enhMu.Lock()
	s.enhWant[peer] = on
	s.enhMu.Unlock()
	go s.applyENH(peer)
}

// applyENH brings peer's place in the RFC 8950 guard in line with the
// latest wish and, when it changes, re-applies the export policy and
// re-sends the peer our routes (soft reset out): its IPv4 routes flow
// once it has the capability and stop before a session that may not.
func (s *Speaker) applyENH(peer netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.enhMu.Lock()
	on := s.enhWant[peer]
	s.enhMu.Unlock()
	if s.srv == nil || s.enh[peer] == on {
		return
	}
	if on {
		s.enh[peer] = true
	} else {
		delete(s.enh, peer)
	}
	ctx := context.Background()
	if err := s.setPolicies(ctx, s.cfg, false); err != nil {
		s.log.Warn("bgp: extended next hop policy", "peer", peer, "err", err)
		return
	}
	if on {
		if err := s.srv.ResetPeer(ctx, &api.ResetPeerRequest{Address: peer.String(), Soft: true, Direction: api.ResetPeerRequest_DIRECTION_OUT}); err != nil {
			s.log.Warn("bgp: re-sending routes after extended next hop", "peer", peer, "err", err)
		}
	}
}

// offersIPv4OverIPv6 reports whether c is an Extended Next Hop
// capability with the tuple (IPv4, unicast, next hop IPv6): RFC 8950
// section 3.
func offersIPv4OverIPv6(c bgp.ParameterCapabilityInterface) bool {
	e, ok := c.(*bgp.CapExtendedNexthop)
	if !ok {
		return false
	}
	for _, t := range e.Tuples {
		if t.NLRIAFI == bgp.AFI_IP && t.NLRISAFI == uint16(bgp.SAFI_UNICAST) && t.NexthopAFI == bgp.AFI_IP6 {
			return true
		}
	}
	return false
}

// carriesIPv4 reports whether an OPEN's capabilities carry the
// multiprotocol capability for IPv4 unicast.
func carriesIPv4(caps []bgp.ParameterCapabilityInterface) bool {
	return slices.ContainsFunc(caps, func(c bgp.ParameterCapabilityInterface) bool {
		mp, ok := c.(*bgp.CapMultiProtocol)
		return ok && mp.CapValue == bgp.RF_IPv4_UC
	})
}
