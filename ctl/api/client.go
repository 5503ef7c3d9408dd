// The client: one method per path of the API, over the daemon's unix
// socket. Requests flow out as JSON; answers come back as the types of
// types.go, and every failure as an error that says what to do next —
// the daemon not running, the caller not allowed on the socket, or the
// daemon's own field-by-field answer (*Error).

package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultTimeout bounds one request unless the caller's context is
// shorter: every path answers from the daemon's memory, so anything
// slower is a stuck daemon, not a busy one.
const DefaultTimeout = 15 * time.Second

// Client talks to gannet run's API on its unix socket. It is safe for
// concurrent use.
type Client struct {
	socket string
	hc     *http.Client
	stream *http.Client // no overall timeout: a capture runs until stopped
}

// NewClient returns a client for the API served on socket.
func NewClient(socket string) *Client {
	var d net.Dialer
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", socket)
		},
		MaxIdleConns:          2,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: DefaultTimeout,
	}
	return &Client{socket: socket, hc: &http.Client{Transport: tr, Timeout: DefaultTimeout}, stream: &http.Client{Transport: tr}}
}

// Socket returns the socket path the client dials.
func (c *Client) Socket() string { return c.socket }

// Error is the daemon's error answer: the HTTP status and each problem,
// by field.
type Error struct {
	Status int
	Errors []FieldError
}

// Error lists every field problem: one on a line of its own after a
// summary when there are several.
func (e *Error) Error() string {
	status := strconv.Itoa(e.Status)
	if t := http.StatusText(e.Status); t != "" {
		status += " " + t
	}
	switch len(e.Errors) {
	case 0:
		return status
	case 1:
		return e.Errors[0].Error() + " (" + status + ")"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d problems (%s):", len(e.Errors), status)
	for _, fe := range e.Errors {
		b.WriteString("\n  ")
		b.WriteString(fe.Error())
	}
	return b.String()
}

// ReachError is a request that never got an answer from the daemon, or
// got a 403: the socket is missing or refuses connections (Denied false:
// gannet run is not running there), the caller may not use it (Denied),
// or the daemon did not answer in time (Timeout).
type ReachError struct {
	Socket  string
	Denied  bool
	Timeout bool
	Err     error // the dial error, or the *Error of a 403
}

func (e *ReachError) Error() string {
	switch {
	case e.Denied:
		return "permission denied on " + e.Socket +
			": run as root or as a member of the socket's group (api.group in the configuration)"
	case e.Timeout:
		return "no answer from " + e.Socket + " in time: is gannet run stuck? (" + e.Err.Error() + ")"
	}
	return "cannot reach " + e.Socket + ": is gannet run running? (" + e.Err.Error() + ")"
}

func (e *ReachError) Unwrap() error { return e.Err }

// reachError classifies what http.Client.Do returned.
func (c *Client) reachError(err error) error {
	// Report the dial's own words ("dial unix /run/...: connect: no such
	// file or directory"), not the URL wrapped around them.
	var op *net.OpError
	inner := err
	if errors.As(err, &op) {
		inner = op
	}
	switch {
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return &ReachError{Socket: c.socket, Denied: true, Err: inner}
	case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ENOTSOCK), errors.Is(err, syscall.ENOTDIR):
		return &ReachError{Socket: c.socket, Err: inner}
	case errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, syscall.ETIMEDOUT):
		return &ReachError{Socket: c.socket, Timeout: true, Err: inner}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &ReachError{Socket: c.socket, Timeout: true, Err: inner}
	}
	if op != nil && op.Op == "dial" {
		return &ReachError{Socket: c.socket, Err: inner}
	}
	return fmt.Errorf("%s: %w", c.socket, inner)
}

// do sends one request (in, when not nil, as its JSON body) and decodes a
// 2xx answer into out (when not nil). It returns the status code. An
// error answer becomes an *Error, or a *ReachError for a 403; when
// errBody is not nil, a 422 answer's body is also decoded into it.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out, errBody any) (int, error) {
	u := "http://gannet" + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, fmt.Errorf("%s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, c.reachError(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, c.reachError(err)
	}
	if resp.StatusCode/100 != 2 {
		apiErr := &Error{Status: resp.StatusCode}
		var eb ErrorBody
		if json.Unmarshal(data, &eb) == nil && len(eb.Errors) > 0 {
			apiErr.Errors = eb.Errors
		} else if msg := strings.TrimSpace(string(data)); msg != "" {
			if len(msg) > 300 {
				msg = msg[:300] + "..."
			}
			apiErr.Errors = []FieldError{{Message: msg}}
		}
		if errBody != nil && resp.StatusCode == http.StatusUnprocessableEntity {
			json.Unmarshal(data, errBody)
		}
		if resp.StatusCode == http.StatusForbidden {
			return resp.StatusCode, &ReachError{Socket: c.socket, Denied: true, Err: apiErr}
		}
		return resp.StatusCode, apiErr
	}
	if out != nil && len(bytes.TrimSpace(data)) > 0 {
		if err := decodeAnswer(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: cannot read the answer: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// decodeAnswer decodes data into out. A list (out points to a slice) is
// also taken wrapped in an object of one field ({"endpoints": [...]}).
func decodeAnswer(data []byte, out any) error {
	err := json.Unmarshal(data, out)
	if err == nil {
		return nil
	}
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) && ute.Value == "object" {
		var wrapped map[string]json.RawMessage
		if json.Unmarshal(data, &wrapped) == nil && len(wrapped) == 1 {
			for _, v := range wrapped {
				return json.Unmarshal(v, out)
			}
		}
	}
	return err
}

func (c *Client) get(ctx context.Context, path string, query url.Values, out any) error {
	_, err := c.do(ctx, http.MethodGet, path, query, nil, out, nil)
	return err
}

// Status is GET /v1/status.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var s Status
	if err := c.get(ctx, "/v1/status", nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Endpoints is GET /v1/endpoints.
func (c *Client) Endpoints(ctx context.Context) ([]Endpoint, error) {
	var eps []Endpoint
	if err := c.get(ctx, "/v1/endpoints", nil, &eps); err != nil {
		return nil, err
	}
	return eps, nil
}

func endpointPath(name string) string { return "/v1/endpoints/" + url.PathEscape(name) }

// Endpoint is GET /v1/endpoints/{name}.
func (c *Client) Endpoint(ctx context.Context, name string) (*Endpoint, error) {
	var ep Endpoint
	if err := c.get(ctx, endpointPath(name), nil, &ep); err != nil {
		return nil, err
	}
	return &ep, nil
}

// PutEndpoint is PUT /v1/endpoints/{ep.Name}: it creates the endpoint
// (created true) or replaces the one of that name.
func (c *Client) PutEndpoint(ctx context.Context, ep Endpoint) (created bool, err error) {
	if ep.Name == "" {
		return false, &Error{Status: http.StatusBadRequest, Errors: []FieldError{{Field: "name", Message: "is required"}}}
	}
	code, err := c.do(ctx, http.MethodPut, endpointPath(ep.Name), nil, ep, nil, nil)
	if err != nil {
		return false, err
	}
	return code == http.StatusCreated, nil
}

// DeleteEndpoint is DELETE /v1/endpoints/{name}.
func (c *Client) DeleteEndpoint(ctx context.Context, name string) error {
	_, err := c.do(ctx, http.MethodDelete, endpointPath(name), nil, nil, nil, nil)
	return err
}

// Routes is GET /v1/routes: every space's routes, or only space's when
// it is not nil.
func (c *Client) Routes(ctx context.Context, space *int) ([]Route, error) {
	var q url.Values
	if space != nil {
		q = url.Values{"space": {strconv.Itoa(*space)}}
	}
	var rs []Route
	if err := c.get(ctx, "/v1/routes", q, &rs); err != nil {
		return nil, err
	}
	return rs, nil
}

// Lookup is GET /v1/routes/lookup: the route addr takes in space.
func (c *Client) Lookup(ctx context.Context, space int, addr string) (*Lookup, error) {
	var l Lookup
	q := url.Values{"space": {strconv.Itoa(space)}, "addr": {addr}}
	if err := c.get(ctx, "/v1/routes/lookup", q, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// Sessions is GET /v1/sessions: the sessions with addr on either side
// (all when addr is empty), at most limit of them (the daemon's default
// when limit is 0).
func (c *Client) Sessions(ctx context.Context, addr string, limit int) (*Sessions, error) {
	q := url.Values{}
	if addr != "" {
		q.Set("addr", addr)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var s Sessions
	if err := c.get(ctx, "/v1/sessions", q, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Counters is GET /v1/counters.
func (c *Client) Counters(ctx context.Context) (*Counters, error) {
	var cs Counters
	if err := c.get(ctx, "/v1/counters", nil, &cs); err != nil {
		return nil, err
	}
	return &cs, nil
}

// Policy is GET /v1/policy/{endpoint}.
func (c *Client) Policy(ctx context.Context, endpoint string) (*Policy, error) {
	var p Policy
	if err := c.get(ctx, "/v1/policy/"+url.PathEscape(endpoint), nil, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Reload is POST /v1/reload. A file with errors returns the apply's
// result (OK false, Errors set) together with an *Error of status 422.
func (c *Client) Reload(ctx context.Context) (*Reload, error) {
	var ok, failed Reload
	_, err := c.do(ctx, http.MethodPost, "/v1/reload", nil, nil, &ok, &failed)
	if err != nil {
		var apiErr *Error
		if errors.As(err, &apiErr) && apiErr.Status == http.StatusUnprocessableEntity {
			if len(failed.Errors) == 0 {
				failed.Errors = apiErr.Errors
			}
			return &failed, err
		}
		return nil, err
	}
	return &ok, nil
}

// Trace is POST /v1/trace.
func (c *Client) Trace(ctx context.Context, req TraceRequest) (*Trace, error) {
	var t Trace
	if _, err := c.do(ctx, http.MethodPost, "/v1/trace", nil, req, &t, nil); err != nil {
		return nil, err
	}
	return &t, nil
}

// BGPPeers is GET /v1/bgp/peers.
func (c *Client) BGPPeers(ctx context.Context) ([]BGPPeer, error) {
	var out []BGPPeer
	if err := c.get(ctx, "/v1/bgp/peers", nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// BGPRoutes is GET /v1/bgp/routes: the best paths, or those peer sent
// (peer non-empty), for prefix (an address or a prefix; empty: all).
func (c *Client) BGPRoutes(ctx context.Context, peer, prefix string) ([]BGPRoute, error) {
	q := url.Values{}
	if peer != "" {
		q.Set("peer", peer)
	}
	if prefix != "" {
		q.Set("prefix", prefix)
	}
	var out []BGPRoute
	if err := c.get(ctx, "/v1/bgp/routes", q, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// CaptureResult is what the daemon said at the end of a capture.
type CaptureResult struct {
	Captured int    // frames written to the stream
	Dropped  uint64 // matching frames lost to a full ring
	// Complete: the daemon ended the stream (count reached, interface
	// gone, daemon stopping) and sent its counts.
	Complete bool
}

// Capture is POST /v1/capture: it copies the pcap stream to out until
// the daemon ends it or ctx does (then the result is what was seen so
// far, and no error).
func (c *Client) Capture(ctx context.Context, req CaptureRequest, out io.Writer) (CaptureResult, error) {
	var res CaptureResult
	b, err := json.Marshal(req)
	if err != nil {
		return res, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://gannet/v1/capture", bytes.NewReader(b))
	if err != nil {
		return res, err
	}
	hr.Header.Set("Content-Type", "application/json")
	resp, err := c.stream.Do(hr)
	if err != nil {
		return res, c.reachError(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		apiErr := &Error{Status: resp.StatusCode}
		var eb ErrorBody
		if json.Unmarshal(data, &eb) == nil {
			apiErr.Errors = eb.Errors
		}
		if resp.StatusCode == http.StatusForbidden {
			return res, &ReachError{Socket: c.socket, Denied: true, Err: apiErr}
		}
		return res, apiErr
	}
	if _, err := io.Copy(out, resp.Body); err != nil {
		if ctx.Err() != nil {
			return res, nil // stopped by the caller
		}
		return res, fmt.Errorf("capture: %w", err)
	}
	if n, err := strconv.Atoi(resp.Trailer.Get(TrailerCaptured)); err == nil {
		res.Captured, res.Complete = n, true
	}
	res.Dropped, _ = strconv.ParseUint(resp.Trailer.Get(TrailerDropped), 10, 64)
	return res, nil
}
