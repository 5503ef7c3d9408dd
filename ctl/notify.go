package ctl

// Readiness: gannet tells its service manager when it forwards, reloads
// and stops, with sd_notify's datagrams on $NOTIFY_SOCKET (systemd's
// Type=notify-reload), so neither systemd nor a test polls for it.

import (
	"net"
	"os"
	"strings"
)

// Notifier sends sd_notify state lines.
type Notifier interface{ Notify(state string) }

// NotifyFromEnv returns a Notifier on $NOTIFY_SOCKET, or one that does
// nothing when it is unset.
func NotifyFromEnv() Notifier {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nopNotifier{}
	}
	if strings.HasPrefix(path, "@") {
		path = "\x00" + path[1:] // abstract namespace
	}
	return sdNotifier{addr: &net.UnixAddr{Name: path, Net: "unixgram"}}
}

type nopNotifier struct{}

func (nopNotifier) Notify(string) {}

type sdNotifier struct{ addr *net.UnixAddr }

// Notify sends one datagram; a failure is not the daemon's problem (the
// manager may be gone), so it is dropped.
func (n sdNotifier) Notify(state string) {
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return
	}
	defer c.Close()
	_, _ = c.Write([]byte(state))
}
