package ctl

import (
	"testing"

	"github.com/gannet-net/gannet/fwd/bpf"
)

// recordNotifier keeps every state sent to the service manager.
type recordNotifier struct{ sent []string }

func (r *recordNotifier) Notify(s string) { r.sent = append(r.sent, s) }

// The STATUS= line names the ports that do not forward and why, and is
// sent again only when it changes: an operator reading `systemctl
// status` sees a daemon that is ready but not forwarding everywhere.
func TestServiceStatus(t *testing.T) {
	rec := &recordNotifier{}
	d := &Daemon{opts: Options{Notify: rec}, ports: map[string]*port{
		"up0":  {name: "up0", uplink: true, slot: 0, link: &linkInfo{up: true}, prog: &bpf.Program{}},
		"wl0":  {name: "wl0", slot: 1, link: &linkInfo{up: true}, prog: &bpf.Program{}},
		"wl1":  {name: "wl1", slot: 2},
		"wl2":  {name: "wl2", slot: 3, link: &linkInfo{up: false}, prog: &bpf.Program{}},
		"wl3x": {name: "wl3x", slot: 4, link: &linkInfo{up: true}},
	}}
	want := "forwarding on 2 of 5 ports; not forwarding: wl1 missing, wl2 down, wl3x error"
	if got, all := d.serviceStatus(); got != want || all {
		t.Fatalf("serviceStatus() = %q, %v, want %q, false", got, all, want)
	}
	d.notifyStatus()
	d.notifyStatus() // unchanged: not sent again
	d.ports["wl1"].link, d.ports["wl1"].prog = &linkInfo{up: true}, &bpf.Program{}
	d.ports["wl2"].link.up = true
	d.ports["wl3x"].prog = &bpf.Program{}
	d.notifyStatus()
	if _, all := d.serviceStatus(); !all {
		t.Error("serviceStatus says not all ports forward after every one came up")
	}
	wantSent := []string{"STATUS=" + want, "STATUS=forwarding on every port (5)"}
	if len(rec.sent) != len(wantSent) || rec.sent[0] != wantSent[0] || rec.sent[1] != wantSent[1] {
		t.Fatalf("sent %q, want %q", rec.sent, wantSent)
	}
}
