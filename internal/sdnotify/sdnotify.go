// Package sdnotify is the service-manager side of sd_notify for the
// programs that start gannet run themselves (the lab, the benchmarks, the
// e2e tests): a datagram socket to name in NOTIFY_SOCKET, and a channel
// closed when the daemon says READY=1. The daemon's side is ctl.Notifier.
package sdnotify

import (
	"bytes"
	"net"
	"os"
)

// Listener receives one daemon's notifications.
type Listener struct {
	Path  string // the socket: NOTIFY_SOCKET=Path
	conn  *net.UnixConn
	ready chan struct{}
}

// Listen makes the socket at path (replacing a stale one) and starts
// reading it.
func Listen(path string) (*Listener, error) {
	os.Remove(path)
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, err
	}
	l := &Listener{Path: path, conn: conn, ready: make(chan struct{})}
	go l.read()
	return l, nil
}

func (l *Listener) read() {
	buf := make([]byte, 4096)
	for {
		n, err := l.conn.Read(buf)
		if err != nil {
			return
		}
		if bytes.Contains(buf[:n], []byte("READY=1")) {
			close(l.ready)
			return
		}
	}
}

// Env is the environment entry that points a daemon at the socket.
func (l *Listener) Env() string { return "NOTIFY_SOCKET=" + l.Path }

// Ready is closed once the daemon has said READY=1.
func (l *Listener) Ready() <-chan struct{} { return l.ready }

// Close stops reading and removes the socket.
func (l *Listener) Close() error {
	err := l.conn.Close()
	os.Remove(l.Path)
	return err
}
