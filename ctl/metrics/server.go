package metrics

// The endpoint: GET /metrics on the configured address, plain HTTP (the
// examples bind loopback; Prometheus scrapes locally or through the
// operator's own proxy). Binding and serving are two steps so the daemon
// can bind a new address before it lets go of the old one: an address
// that cannot be bound is an error the change reports, and the running
// server keeps serving.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a registry with gannet's collector, the Go
// runtime's and the process's collectors, and extra (GoBGP's, when BGP
// is on).
func NewRegistry(c *Collector, extra ...prometheus.Collector) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	cs := append([]prometheus.Collector{c, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})}, extra...)
	for _, col := range cs {
		if err := reg.Register(col); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	return reg, nil
}

// Handler serves g's metrics at /metrics and nothing else.
func Handler(g prometheus.Gatherer, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorLog:            slogPrinter{log},
		ErrorHandling:       promhttp.ContinueOnError, // a failing collector costs its own metrics, not the scrape
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	}))
	return mux
}

type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.log.Warn("metrics: " + fmt.Sprint(v...)) }

// Server is one bound metrics endpoint.
type Server struct {
	addr   netip.AddrPort
	ln     net.Listener
	srv    *http.Server
	log    *slog.Logger
	served bool
	done   chan struct{}
}

// Listen binds addr; nothing is served until Serve.
func Listen(addr netip.AddrPort, h http.Handler, log *slog.Logger) (*Server, error) {
	ln, err := net.Listen("tcp", addr.String())
	if err != nil {
		return nil, err
	}
	return &Server{addr: addr, ln: ln, log: log, done: make(chan struct{}),
		srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}}, nil
}

// Addr is the address the server is bound to.
func (s *Server) Addr() netip.AddrPort { return s.addr }

// Serve answers requests on its own goroutine until Close. One caller
// (the daemon's loop) calls Serve and Close.
func (s *Server) Serve() {
	s.served = true
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("metrics: serving stopped", "listen", s.addr, "err", err)
		}
	}()
}

// Close stops the server, giving scrapes in flight a moment, and
// releases the address.
func (s *Server) Close() error {
	if !s.served {
		return s.ln.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = s.srv.Close()
	}
	<-s.done
	return err
}
