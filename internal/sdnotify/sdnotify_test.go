package sdnotify

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

// Ready closes on a datagram carrying READY=1 among other states, and
// not before.
func TestReady(t *testing.T) {
	l, err := Listen(filepath.Join(t.TempDir(), "notify"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("unixgram", l.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("STATUS=starting"))
	select {
	case <-l.Ready():
		t.Fatal("ready before READY=1")
	case <-time.After(50 * time.Millisecond):
	}
	c.Write([]byte("READY=1\nSTATUS=forwarding on every port (2)"))
	select {
	case <-l.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("READY=1 not seen")
	}
}
