package ctl

// The API's socket: a unix socket in a 0750 directory, the socket itself
// 0660 owned by the daemon's user (root, or the package's gannet user) and
// api.group, and on every connection the peer's
// credentials (SO_PEERCRED) checked again — root, or a member of the
// group — so a file mode mistake never opens the API to another user: a
// stranger gets 403 and nothing else.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gannet-net/gannet/ctl/api"
)

type credKey struct{}

// apiServer is the running API.
type apiServer struct {
	srv  *http.Server
	ln   net.Listener
	path string
}

func (s *apiServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	os.Remove(s.path)
	return err
}

// serve starts answering requests (they wait for the loop).
func (s *apiServer) serve() { go s.srv.Serve(s.ln) }

// listenAPI listens on path for d's API; serve starts it.
func (d *Daemon) listenAPI(path, group string) (*apiServer, error) {
	gid := -1
	if group != "" {
		g, err := user.LookupGroup(group)
		if err != nil {
			return nil, fmt.Errorf("api.group: %w", err)
		}
		gid, _ = strconv.Atoi(g.Gid)
	}
	ln, err := listenUnix(path, gid)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{
		Handler:           d.guard(gid, d.handler()),
		ReadHeaderTimeout: 5 * time.Second,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if cred, err := peerCred(c); err == nil {
				return context.WithValue(ctx, credKey{}, cred)
			}
			return ctx
		},
	}
	d.log.Info("api listening", "socket", path, "group", group)
	return &apiServer{srv: srv, ln: ln, path: path}, nil
}

// listenUnix makes path's directory (0750) and listens there; a socket
// file another live process serves is an error, a stale one is replaced.
func listenUnix(path string, gid int) (net.Listener, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("api.socket: %w", err)
	}
	// Only the group changes: the owner stays the daemon's user, which a
	// daemon without CAP_CHOWN (the systemd unit's gannet user) could not
	// give away, and which may hand the socket to a group it is in.
	if gid >= 0 {
		if err := os.Chown(dir, -1, gid); err != nil {
			return nil, fmt.Errorf("api.socket: %s: %w%s", dir, err, groupHint(err))
		}
	}
	if _, err := os.Lstat(path); err == nil {
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("api.socket: %s is served by another running gannet (stop it, or set api.socket to another path)", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("api.socket: removing the stale socket %s: %w", path, err)
		}
	}
	// The socket is made 0660 from the start: no moment where the
	// umask's mode lets others connect.
	old := syscall.Umask(0o117)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("api.socket: %w", err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	if gid >= 0 {
		if err := os.Chown(path, -1, gid); err != nil {
			ln.Close()
			return nil, fmt.Errorf("api.socket: %w%s", err, groupHint(err))
		}
	}
	return ln, nil
}

// groupHint says why a daemon that is not root may not give the socket
// to api.group.
func groupHint(err error) string {
	if errors.Is(err, os.ErrPermission) {
		return fmt.Sprintf(" (api.group: gannet runs as uid %d, which is not in that group: make it one (systemd SupplementaryGroups=) or choose its own group)", os.Getuid())
	}
	return ""
}

// cred is a connected peer.
type cred struct{ pid, uid, gid int }

func peerCred(c net.Conn) (cred, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return cred{}, errors.New("not a unix socket")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return cred{}, err
	}
	var (
		u    *syscall.Ucred
		gerr error
	)
	if err := raw.Control(func(fd uintptr) {
		u, gerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return cred{}, err
	}
	if gerr != nil {
		return cred{}, gerr
	}
	return cred{pid: int(u.Pid), uid: int(u.Uid), gid: int(u.Gid)}, nil
}

// guard lets root and members of gid through, and answers everyone else
// 403 without looking at the request.
func (d *Daemon) guard(gid int, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := r.Context().Value(credKey{}).(cred)
		if !ok || !allowed(c, gid) {
			d.log.Warn("api: refused", "uid", c.uid, "pid", c.pid)
			fail(w, http.StatusForbidden, api.FieldError{Message: "permission denied: the gannet API is for root and the api.group of its configuration"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func allowed(c cred, gid int) bool {
	if c.uid == 0 {
		return true
	}
	if gid < 0 {
		return false
	}
	return c.gid == gid || slices.Contains(supplementaryGroups(c.pid), gid)
}

// supplementaryGroups reads a process's groups from /proc.
func supplementaryGroups(pid int) []int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Groups:"); ok {
			var out []int
			for _, f := range strings.Fields(rest) {
				if n, err := strconv.Atoi(f); err == nil {
					out = append(out, n)
				}
			}
			return out
		}
	}
	return nil
}
