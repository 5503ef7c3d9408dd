package lab

// The lab's servers: every workload and the Internet run one (`gannet lab
// serve`, a hidden verb, so the lab needs no other package). Each answers
// with its own name and the source address and port it saw, so a check
// proves who answered and what the path did to the source (SNAT, a
// floating IP, translation) — not only that someone answered.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Answer is what a server says to every request.
type Answer struct {
	Responder  string `json:"responder"`
	SeenSource string `json:"seenSource"` // address:port as the server saw it
}

// Serve answers on every address of the current network namespace: HTTP
// on HTTPPort, a TCP greeting on DBPort, UDP echo on EchoPort, until ctx
// ends.
func Serve(ctx context.Context, name string) error {
	answer := func(remote string) []byte {
		b, _ := json.Marshal(Answer{Responder: name, SeenSource: remote})
		return append(b, '\n')
	}
	var lc net.ListenConfig
	httpLn, err := lc.Listen(ctx, "tcp", ":"+strconv.Itoa(HTTPPort))
	if err != nil {
		return fmt.Errorf("lab serve: %w", err)
	}
	tcpLn, err := lc.Listen(ctx, "tcp", ":"+strconv.Itoa(DBPort))
	if err != nil {
		return fmt.Errorf("lab serve: %w", err)
	}
	udp, err := lc.ListenPacket(ctx, "udp", ":"+strconv.Itoa(EchoPort))
	if err != nil {
		return fmt.Errorf("lab serve: %w", err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(answer(r.RemoteAddr))
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	errc := make(chan error, 3)
	go func() { errc <- srv.Serve(httpLn) }()
	go func() {
		for {
			c, err := tcpLn.Accept()
			if err != nil {
				errc <- err
				return
			}
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			c.Write(answer(c.RemoteAddr().String()))
			c.Close()
		}
	}()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := udp.ReadFrom(buf)
			if err != nil {
				errc <- err
				return
			}
			_ = n
			udp.WriteTo(answer(from.String()), from)
		}
	}()
	select {
	case <-ctx.Done():
		srv.Close()
		tcpLn.Close()
		udp.Close()
		return nil
	case err := <-errc:
		srv.Close()
		tcpLn.Close()
		udp.Close()
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("lab serve: %w", err)
	}
}
