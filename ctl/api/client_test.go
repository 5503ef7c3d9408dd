package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// seen is one request the fake daemon received.
type seen struct {
	Method, Path, Query, Body string
}

// serveUnix serves h on a unix socket in a temporary directory and
// returns the socket's path.
func serveUnix(t *testing.T, h http.Handler) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "gannet.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return sock
}

// fakeDaemon answers every request with the status and body answers
// holds for its "METHOD escaped-path", 404 otherwise, and records it.
func fakeDaemon(t *testing.T, answers map[string]answer) (string, *[]seen) {
	var got []seen
	sock := serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, seen{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, string(b)})
		a, ok := answers[r.Method+" "+r.URL.EscapedPath()]
		if !ok {
			a = answer{404, `{"errors":[{"field":"path","message":"no such path"}]}`}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.code)
		io.WriteString(w, a.body)
	}))
	return sock, &got
}

type answer struct {
	code int
	body string
}

func TestClientMethods(t *testing.T) {
	ep := Endpoint{Name: "web 1/a", Interface: "tap-web1", MAC: "02:00:00:00:01:05", IPNetworks: []string{"10.0.1.5/32"}}
	epJSON, _ := json.Marshal(ep)
	sock, got := fakeDaemon(t, map[string]answer{
		"GET /v1/status":                   {200, `{"version":"1.2.3","node":"n1","generation":7,"ports":[{"interface":"eth0","role":"uplink","state":"up"}]}`},
		"GET /v1/endpoints":                {200, `[` + string(epJSON) + `]`},
		"GET /v1/endpoints/web%201%2Fa":    {200, string(epJSON)},
		"PUT /v1/endpoints/web%201%2Fa":    {201, ``},
		"PUT /v1/endpoints/db-1":           {200, string(epJSON)},
		"DELETE /v1/endpoints/web%201%2Fa": {204, ``},
		"GET /v1/routes":                   {200, `{"routes":[{"space":0,"prefix":"0.0.0.0/0","kind":"gateway","via":"192.0.2.1"}]}`},
		"GET /v1/routes/lookup":            {200, `{"space":1,"addr":"10.0.1.5","found":true,"route":{"space":1,"prefix":"10.0.1.5/32","kind":"endpoint"}}`},
		"GET /v1/sessions":                 {200, `{"total":3,"capacity":1024,"sessions":[]}`},
		"GET /v1/counters":                 {200, `{"rxPackets":10,"drops":[{"stage":"parse","reason":"short","packets":1}]}`},
		"GET /v1/policy/web%201%2Fa":       {200, `{"endpoint":"web 1/a","ingress":["allow tcp"],"ingressPolicy":true}`},
		"POST /v1/reload":                  {200, `{"source":"reload","ok":true,"generation":8,"changes":[{"kind":"endpoint","name":"db-1","op":"added"}]}`},
		"POST /v1/trace":                   {200, `{"steps":[{"stage":"parse","verdict":"ok","detail":"tcp"}],"verdict":"forward","egress":"eth0"}`},
	})
	c := NewClient(sock)
	ctx := context.Background()
	space := 1

	st, err := c.Status(ctx)
	if err != nil || st.Version != "1.2.3" || st.Generation != 7 || len(st.Ports) != 1 {
		t.Errorf("Status() = %+v, %v", st, err)
	}
	eps, err := c.Endpoints(ctx)
	if err != nil || len(eps) != 1 {
		t.Errorf("Endpoints() = %+v, %v", eps, err)
	} else if diff := cmp.Diff(ep, eps[0]); diff != "" {
		t.Errorf("Endpoints() (-want +got):\n%s", diff)
	}
	one, err := c.Endpoint(ctx, "web 1/a")
	if err != nil || one.Name != "web 1/a" {
		t.Errorf("Endpoint() = %+v, %v", one, err)
	}
	if created, err := c.PutEndpoint(ctx, ep); !created || err != nil {
		t.Errorf("PutEndpoint(new) = %v, %v, want true, nil", created, err)
	}
	if created, err := c.PutEndpoint(ctx, Endpoint{Name: "db-1"}); created || err != nil {
		t.Errorf("PutEndpoint(existing) = %v, %v, want false, nil", created, err)
	}
	if err := c.DeleteEndpoint(ctx, "web 1/a"); err != nil {
		t.Errorf("DeleteEndpoint() = %v", err)
	}
	rs, err := c.Routes(ctx, nil)
	if err != nil || len(rs) != 1 || rs[0].Via != "192.0.2.1" {
		t.Errorf("Routes(nil) = %+v, %v (a list wrapped in an object)", rs, err)
	}
	if _, err := c.Routes(ctx, &space); err != nil {
		t.Errorf("Routes(1) = %v", err)
	}
	l, err := c.Lookup(ctx, 1, "10.0.1.5")
	if err != nil || !l.Found || l.Route == nil || l.Route.Prefix != "10.0.1.5/32" {
		t.Errorf("Lookup() = %+v, %v", l, err)
	}
	ss, err := c.Sessions(ctx, "10.0.1.5", 20)
	if err != nil || ss.Total != 3 || ss.Capacity != 1024 {
		t.Errorf("Sessions() = %+v, %v", ss, err)
	}
	if _, err := c.Sessions(ctx, "", 0); err != nil {
		t.Errorf("Sessions(all) = %v", err)
	}
	cs, err := c.Counters(ctx)
	if err != nil || cs.RxPackets != 10 || len(cs.Drops) != 1 {
		t.Errorf("Counters() = %+v, %v", cs, err)
	}
	p, err := c.Policy(ctx, "web 1/a")
	if err != nil || !p.IngressPolicy || len(p.Ingress) != 1 {
		t.Errorf("Policy() = %+v, %v", p, err)
	}
	rl, err := c.Reload(ctx)
	if err != nil || !rl.OK || len(rl.Changes) != 1 {
		t.Errorf("Reload() = %+v, %v", rl, err)
	}
	tr, err := c.Trace(ctx, TraceRequest{In: "tap-web1", Src: "10.0.1.5", Dst: "192.0.2.9", Proto: "tcp", DstPort: 443, Frame: []byte{1, 2}})
	if err != nil || tr.Verdict != "forward" || len(tr.Steps) != 1 {
		t.Errorf("Trace() = %+v, %v", tr, err)
	}

	want := []seen{
		{"GET", "/v1/status", "", ""},
		{"GET", "/v1/endpoints", "", ""},
		{"GET", "/v1/endpoints/web%201%2Fa", "", ""},
		{"PUT", "/v1/endpoints/web%201%2Fa", "", string(epJSON)},
		{"PUT", "/v1/endpoints/db-1", "", `{"name":"db-1","interface":"","mac":"","ipNetworks":null}`},
		{"DELETE", "/v1/endpoints/web%201%2Fa", "", ""},
		{"GET", "/v1/routes", "", ""},
		{"GET", "/v1/routes", "space=1", ""},
		{"GET", "/v1/routes/lookup", "addr=10.0.1.5&space=1", ""},
		{"GET", "/v1/sessions", "addr=10.0.1.5&limit=20", ""},
		{"GET", "/v1/sessions", "", ""},
		{"GET", "/v1/counters", "", ""},
		{"GET", "/v1/policy/web%201%2Fa", "", ""},
		{"POST", "/v1/reload", "", ""},
		{"POST", "/v1/trace", "", `{"in":"tap-web1","src":"10.0.1.5","dst":"192.0.2.9","proto":"tcp","dstPort":443,"frame":"AQI="}`},
	}
	if diff := cmp.Diff(want, *got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}

func TestClientErrorAnswers(t *testing.T) {
	sock, _ := fakeDaemon(t, map[string]answer{
		"PUT /v1/endpoints/bad":    {422, `{"errors":[{"field":"ipNetworks[0]","message":"\"10.0.1.300/32\" is not a prefix"},{"field":"mac","message":"is required"}]}`},
		"PUT /v1/endpoints/bad1":   {400, `{"errors":[{"field":"name","message":"\"bad2\" differs from the path's \"bad1\""}]}`},
		"GET /v1/status":           {500, "internal error\n"},
		"GET /v1/counters":         {403, `{"errors":[{"message":"uid 1000 is not allowed"}]}`},
		"POST /v1/reload":          {422, `{"source":"reload","ok":false,"generation":7,"errors":[{"field":"workloadEndpoints[2].mac","message":"not a MAC address"}]}`},
		"DELETE /v1/endpoints/new": {404, `{"errors":[{"field":"name","message":"no endpoint \"new\""}]}`},
	})
	c := NewClient(sock)
	ctx := context.Background()
	tests := []struct {
		name   string
		call   func() error
		status int
		want   string
	}{
		{"422 two fields", func() error {
			_, err := c.PutEndpoint(ctx, Endpoint{Name: "bad"})
			return err
		}, 422, "2 problems (422 Unprocessable Entity):\n  ipNetworks[0]: \"10.0.1.300/32\" is not a prefix\n  mac: is required"},
		{"400 one field", func() error {
			_, err := c.PutEndpoint(ctx, Endpoint{Name: "bad1"})
			return err
		}, 400, `name: "bad2" differs from the path's "bad1" (400 Bad Request)`},
		{"404", func() error { return c.DeleteEndpoint(ctx, "new") }, 404, `name: no endpoint "new" (404 Not Found)`},
		{"500 text", func() error {
			_, err := c.Status(ctx)
			return err
		}, 500, "internal error (500 Internal Server Error)"},
		{"unknown path", func() error {
			_, err := c.Sessions(ctx, "", 0)
			return err
		}, 404, "path: no such path (404 Not Found)"},
		{"empty name", func() error {
			_, err := c.PutEndpoint(ctx, Endpoint{})
			return err
		}, 400, "name: is required (400 Bad Request)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var apiErr *Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("error = %v (%T), want *Error", err, err)
			}
			if apiErr.Status != tc.status || err.Error() != tc.want {
				t.Errorf("error = %d %q, want %d %q", apiErr.Status, err.Error(), tc.status, tc.want)
			}
		})
	}

	t.Run("403", func(t *testing.T) {
		_, err := c.Counters(ctx)
		want := "permission denied on " + sock + ": run as root or as a member of the socket's group (api.group in the configuration)"
		var re *ReachError
		if !errors.As(err, &re) || !re.Denied || err.Error() != want {
			t.Errorf("Counters() error = %v, want %q", err, want)
		}
	})
	t.Run("reload 422", func(t *testing.T) {
		res, err := c.Reload(ctx)
		var apiErr *Error
		if !errors.As(err, &apiErr) || apiErr.Status != 422 {
			t.Fatalf("Reload() error = %v, want a 422 *Error", err)
		}
		want := &Reload{Source: "reload", Generation: 7, Errors: []FieldError{{Field: "workloadEndpoints[2].mac", Message: "not a MAC address"}}}
		if diff := cmp.Diff(want, res); diff != "" {
			t.Errorf("Reload() result (-want +got):\n%s", diff)
		}
		if got := err.Error(); got != "workloadEndpoints[2].mac: not a MAC address (422 Unprocessable Entity)" {
			t.Errorf("Reload() error = %q", got)
		}
	})
}

func TestClientUnreachable(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "gannet.sock")
	_, err := NewClient(missing).Status(context.Background())
	want := "cannot reach " + missing + ": is gannet run running? (dial unix " + missing + ": connect: no such file or directory)"
	var re *ReachError
	if !errors.As(err, &re) || re.Denied || err == nil || err.Error() != want {
		t.Errorf("Status() on a missing socket = %v, want %q", err, want)
	}
	if !errors.Is(err, syscall.ENOENT) {
		t.Errorf("Status() error %v does not wrap ENOENT", err)
	}

	// A socket file nobody listens on: a stale socket of a gannet that died.
	stale := filepath.Join(dir, "stale.sock")
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: stale}); err != nil {
		t.Fatal(err)
	}
	syscall.Close(fd)
	_, err = NewClient(stale).Counters(context.Background())
	want = "cannot reach " + stale + ": is gannet run running? (dial unix " + stale + ": connect: connection refused)"
	if err == nil || err.Error() != want {
		t.Errorf("Counters() on a stale socket = %v, want %q", err, want)
	}

	// A daemon that never answers: the caller's deadline.
	hang := serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = NewClient(hang).Status(ctx)
	if !errors.As(err, &re) || !re.Timeout || !strings.HasPrefix(err.Error(), "no answer from "+hang+" in time: is gannet run stuck?") {
		t.Errorf("Status() on a daemon that hangs = %v, want a timeout ReachError", err)
	}
}

// TestClientReachErrors classifies the dial errors a test running as root
// cannot provoke (EACCES on a socket of mode 0660).
func TestClientReachErrors(t *testing.T) {
	const sock = "/run/gannet/gannet.sock"
	dial := func(errno syscall.Errno) error {
		return &url.Error{Op: "Get", URL: "http://gannet/v1/status", Err: &net.OpError{
			Op: "dial", Net: "unix", Addr: &net.UnixAddr{Name: sock, Net: "unix"},
			Err: os.NewSyscallError("connect", errno)}}
	}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"EACCES", dial(syscall.EACCES), "permission denied on /run/gannet/gannet.sock: run as root or as a member of the socket's group (api.group in the configuration)"},
		{"ENOENT", dial(syscall.ENOENT), "cannot reach /run/gannet/gannet.sock: is gannet run running? (dial unix /run/gannet/gannet.sock: connect: no such file or directory)"},
		{"ECONNREFUSED", dial(syscall.ECONNREFUSED), "cannot reach /run/gannet/gannet.sock: is gannet run running? (dial unix /run/gannet/gannet.sock: connect: connection refused)"},
		{"ENOTDIR", dial(syscall.ENOTDIR), "cannot reach /run/gannet/gannet.sock: is gannet run running? (dial unix /run/gannet/gannet.sock: connect: not a directory)"},
	}
	c := NewClient(sock)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.reachError(tc.err).Error(); got != tc.want {
				t.Errorf("reachError(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}
