package ctl

// The local API: HTTP/JSON on a unix socket (never TCP). Requests flow
// from the socket through the peer check (server_linux.go) to these
// handlers, which call the Daemon's methods and write its answers as
// JSON. Every write goes through the same validation as the file; every
// error is an api.ErrorBody naming the field.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"

	"github.com/gannet-net/gannet/ctl/api"
	"github.com/gannet-net/gannet/ctl/config"
)

// maxBody bounds a request body (an endpoint, a trace frame).
const maxBody = 1 << 20

// handler returns the API's routes over d.
func (d *Daemon) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) { reply(w, http.StatusOK, d.Status()) })
	mux.HandleFunc("GET /v1/endpoints", func(w http.ResponseWriter, r *http.Request) {
		eps := d.Endpoints()
		if eps == nil {
			eps = []api.Endpoint{}
		}
		reply(w, http.StatusOK, eps)
	})
	mux.HandleFunc("GET /v1/endpoints/{name}", func(w http.ResponseWriter, r *http.Request) {
		ep, ok := d.Endpoint(r.PathValue("name"))
		if !ok {
			fail(w, http.StatusNotFound, api.FieldError{Field: "name", Message: fmt.Sprintf("no endpoint %q", r.PathValue("name"))})
			return
		}
		reply(w, http.StatusOK, ep)
	})
	mux.HandleFunc("PUT /v1/endpoints/{name}", d.putEndpoint)
	mux.HandleFunc("DELETE /v1/endpoints/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		_, err := d.DeleteEndpoint(name)
		switch {
		case errors.Is(err, ErrNotFound):
			fail(w, http.StatusNotFound, api.FieldError{Field: "name", Message: fmt.Sprintf("no endpoint %q made through the API", name)})
		case err != nil:
			failErr(w, http.StatusConflict, err)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
	mux.HandleFunc("GET /v1/routes", func(w http.ResponseWriter, r *http.Request) {
		var space *uint16
		if s := r.URL.Query().Get("space"); s != "" {
			v, ok := spaceParam(w, s)
			if !ok {
				return
			}
			space = &v
		}
		routes := d.Routes(space)
		if routes == nil {
			routes = []api.Route{}
		}
		reply(w, http.StatusOK, routes)
	})
	mux.HandleFunc("GET /v1/routes/lookup", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var space uint16
		if s := q.Get("space"); s != "" {
			v, ok := spaceParam(w, s)
			if !ok {
				return
			}
			space = v
		}
		a, err := netip.ParseAddr(q.Get("addr"))
		if err != nil {
			fail(w, http.StatusBadRequest, api.FieldError{Field: "addr", Message: fmt.Sprintf("%q is not an IP address", q.Get("addr"))})
			return
		}
		reply(w, http.StatusOK, d.Lookup(space, a.Unmap()))
	})
	mux.HandleFunc("GET /v1/sessions", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var match netip.Addr
		if s := q.Get("addr"); s != "" {
			a, err := netip.ParseAddr(s)
			if err != nil {
				fail(w, http.StatusBadRequest, api.FieldError{Field: "addr", Message: fmt.Sprintf("%q is not an IP address", s)})
				return
			}
			match = a.Unmap()
		}
		limit := 100
		if s := q.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 1000000 {
				fail(w, http.StatusBadRequest, api.FieldError{Field: "limit", Message: fmt.Sprintf("%q: want a number in 1-1000000", s)})
				return
			}
			limit = n
		}
		reply(w, http.StatusOK, d.Sessions(match, limit))
	})
	mux.HandleFunc("GET /v1/counters", func(w http.ResponseWriter, r *http.Request) { reply(w, http.StatusOK, d.Counters()) })
	mux.HandleFunc("GET /v1/policy/{endpoint}", func(w http.ResponseWriter, r *http.Request) {
		p, ok := d.Policy(r.PathValue("endpoint"))
		if !ok {
			fail(w, http.StatusNotFound, api.FieldError{Field: "endpoint", Message: fmt.Sprintf("no endpoint %q", r.PathValue("endpoint"))})
			return
		}
		reply(w, http.StatusOK, p)
	})
	mux.HandleFunc("POST /v1/capture", d.captureHandler)
	mux.HandleFunc("POST /v1/reload", func(w http.ResponseWriter, r *http.Request) {
		res := d.Reload()
		code := http.StatusOK
		if !res.OK {
			code = http.StatusUnprocessableEntity
		}
		reply(w, code, res)
	})
	mux.HandleFunc("POST /v1/trace", func(w http.ResponseWriter, r *http.Request) {
		var req api.TraceRequest
		if !decode(w, r, &req) {
			return
		}
		tr, err := d.Trace(req)
		if err != nil {
			failErr(w, http.StatusBadRequest, err)
			return
		}
		reply(w, http.StatusOK, tr)
	})
	mux.HandleFunc("GET /v1/bgp/peers", func(w http.ResponseWriter, r *http.Request) {
		peers, err := d.BGPPeers(r.Context())
		if err != nil {
			failErr(w, bgpCode(err), err)
			return
		}
		reply(w, http.StatusOK, peers)
	})
	mux.HandleFunc("GET /v1/bgp/routes", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var peer netip.Addr
		var prefix netip.Prefix
		if s := q.Get("peer"); s != "" {
			a, err := netip.ParseAddr(s)
			if err != nil {
				fail(w, http.StatusBadRequest, api.FieldError{Field: "peer", Message: fmt.Sprintf("%q is not an IP address", s)})
				return
			}
			peer = a
		}
		if s := q.Get("prefix"); s != "" {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				a, err2 := netip.ParseAddr(s)
				if err2 != nil {
					fail(w, http.StatusBadRequest, api.FieldError{Field: "prefix", Message: fmt.Sprintf("%q is not a prefix or an address", s)})
					return
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			prefix = p.Masked()
		}
		routes, err := d.BGPRoutes(r.Context(), peer, prefix)
		if err != nil {
			failErr(w, bgpCode(err), err)
			return
		}
		reply(w, http.StatusOK, routes)
	})
	return mux
}

// bgpCode is the status of a BGP read that failed.
func bgpCode(err error) int {
	if errors.Is(err, ErrNoBGP) {
		return http.StatusNotFound
	}
	return http.StatusServiceUnavailable
}

func (d *Daemon) putEndpoint(w http.ResponseWriter, r *http.Request) {
	var ep api.Endpoint
	if !decode(w, r, &ep) {
		return
	}
	name := r.PathValue("name")
	if ep.Name == "" {
		ep.Name = name
	}
	if ep.Name != name {
		fail(w, http.StatusBadRequest, api.FieldError{Field: "name", Message: fmt.Sprintf("%q differs from the path's %q", ep.Name, name)})
		return
	}
	if ep.Source != "" || ep.State != "" {
		fail(w, http.StatusBadRequest, api.FieldError{Field: "source", Message: "source and state are read only"})
		return
	}
	created, _, err := d.PutEndpoint(ep)
	if err != nil {
		failErr(w, http.StatusUnprocessableEntity, err)
		return
	}
	got, _ := d.Endpoint(name)
	if created {
		reply(w, http.StatusCreated, got)
	} else {
		reply(w, http.StatusOK, got)
	}
}

// decode reads a JSON body strictly: unknown fields are errors.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		fail(w, http.StatusBadRequest, api.FieldError{Message: "body: " + err.Error()})
		return false
	}
	return true
}

func spaceParam(w http.ResponseWriter, s string) (uint16, bool) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		fail(w, http.StatusBadRequest, api.FieldError{Field: "space", Message: fmt.Sprintf("%q is not an address space id", s)})
		return 0, false
	}
	return uint16(n), true
}

func reply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func fail(w http.ResponseWriter, code int, errs ...api.FieldError) {
	reply(w, code, api.ErrorBody{Errors: errs})
}

func failErr(w http.ResponseWriter, code int, err error) {
	var fe config.Errors
	if errors.As(err, &fe) {
		fail(w, code, fe...)
		return
	}
	fail(w, code, api.FieldError{Message: err.Error()})
}
