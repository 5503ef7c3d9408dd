package e2e

// gannet lab end to end, as an operator runs it: `gannet lab up`, then
// `gannet lab check` passes every cell of the matrix; a policy change on
// one host that denies a pair the design says may talk makes check fail
// and name that cell; `gannet lab down` leaves no namespace, process,
// mount, file or XDP program behind.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/gannet-net/gannet/ctl/api"
	"github.com/gannet-net/gannet/ctl/config"
	"github.com/gannet-net/gannet/lab"
	"github.com/gannet-net/gannet/lab/namespace"
)

func TestLab(t *testing.T) {
	require(t, "traceroute", "sysctl")
	// The lab under a directory of the test's own has namespaces of its
	// own (lab.NamespacePrefix): an operator's lab (gl-web, ...) or
	// another test's may be up at the same time, and neither is touched.
	dir := filepath.Join(t.TempDir(), "lab")
	paths := lab.Paths{Dir: dir}
	prefix := lab.NamespacePrefix(dir)
	if prefix == lab.Prefix {
		t.Fatalf("the test's lab under %s has the default namespace prefix %s", dir, prefix)
	}
	topo := lab.DataCenter().WithPrefix(prefix)
	defaults := map[string]bool{} // the default lab's namespaces that exist now
	for _, ns := range lab.DataCenter().Namespaces() {
		defaults[ns] = namespace.Exists(ns)
	}
	gannet := func(args ...string) (string, error) {
		// --dir right after the verb: exec passes everything after -- on.
		argv := append([]string{args[0], args[1], "--dir", dir}, args[2:]...)
		out, err := exec.Command(gannetBin, argv...).CombinedOutput()
		return string(out), err
	}
	down := func() {
		if out, err := gannet("lab", "down"); err != nil {
			t.Errorf("gannet lab down: %v\n%s", err, out)
		}
	}
	t.Cleanup(func() {
		if _, err := os.Stat(dir); err == nil {
			down()
		}
	})

	begin := time.Now()
	out, err := gannet("lab", "up")
	if err != nil {
		t.Fatalf("gannet lab up: %v\n%s", err, out)
	}
	upTook := time.Since(begin)
	t.Logf("gannet lab up (%v):\n%s", upTook.Round(time.Millisecond), out)
	for _, ns := range topo.Namespaces() {
		if !strings.HasPrefix(ns, prefix) || !namespace.Exists(ns) {
			t.Errorf("namespace %s (prefix %s) missing after gannet lab up", ns, prefix)
		}
	}
	for ns, existed := range defaults {
		if namespace.Exists(ns) != existed {
			t.Errorf("gannet lab up --dir %s changed the default lab's namespace %s (existed %v)", dir, ns, existed)
		}
	}
	// Up again: the lab is whole, so nothing changes.
	pids := daemonPIDs(t, paths)
	if out, err := gannet("lab", "up"); err != nil || !strings.Contains(out, "up already") {
		t.Errorf("a second gannet lab up: %v, want it to find the lab up already:\n%s", err, out)
	}
	if again := daemonPIDs(t, paths); fmt.Sprint(again) != fmt.Sprint(pids) {
		t.Errorf("a second gannet lab up restarted daemons: pids %v, then %v", pids, again)
	}
	if out, err := gannet("lab", "status"); err != nil || !strings.Contains(out, "t8b") || !strings.Contains(out, "64:ff9b:1:8::6440:14") {
		t.Errorf("gannet lab status: %v\n%s", err, out)
	}
	if out, err := gannet("lab", "exec", "t7a", "--", "ip", "-4", "-o", "addr", "show", "dev", lab.Dev); err != nil || !strings.Contains(out, "100.64.0.10/32") {
		t.Errorf("gannet lab exec t7a -- ip addr: %v\n%s", err, out)
	}

	// Every XDP program the hosts attached, to prove down removes them.
	var progs []ebpf.ProgramID
	for _, n := range topo.Nodes {
		if !n.Runs() {
			continue
		}
		links, _ := namespace.Run(n.Namespace(), "ip", "-d", "link", "show")
		for _, m := range regexp.MustCompile(`prog/xdp id (\d+)`).FindAllStringSubmatch(links, -1) {
			id, _ := strconv.Atoi(m[1])
			progs = append(progs, ebpf.ProgramID(id))
		}
	}
	if len(progs) == 0 {
		t.Errorf("no XDP program attached in the lab's hosts")
	}

	// The matrix as designed.
	js := filepath.Join(t.TempDir(), "check.json")
	out, err = gannet("lab", "check", "--json", js)
	checked := time.Since(begin)
	if err != nil {
		t.Fatalf("gannet lab check: %v\n%s", err, out)
	}
	t.Logf("gannet lab check:\n%s", out)
	t.Logf("from gannet lab up to a passing check: %v (up %v)", checked.Round(time.Millisecond), upTook.Round(time.Millisecond))
	rep := readReport(t, js)
	kinds := map[string]int{}
	for _, c := range rep.Cells {
		kinds[c.Kind]++
		if !c.Pass {
			t.Errorf("cell %+v did not pass", c)
		}
		// The Internet routes the non-routable range to the border: the
		// border's own drop, counted by its reason, keeps it out.
		if c.Kind == lab.KindNonRoutableIn && !strings.Contains(c.Reason, "border dropped it: "+lab.DropNonRoutable) {
			t.Errorf("cell %+v: want the border's %s drop as its reason", c, lab.DropNonRoutable)
		}
	}
	for _, k := range []string{lab.KindFlatV4, lab.KindFlatV6, lab.KindPolicyAllow, lab.KindPolicyDeny, lab.KindSNAT, lab.KindFloatingIP, lab.KindRoutableIn, lab.KindNonRoutableIn, lab.KindTenant, lab.KindTenantInet, lab.KindSameIPLocal} {
		if kinds[k] == 0 {
			t.Errorf("the matrix has no %s cell", k)
		}
	}

	// db's host now denies web on IPv4 too: the policy's allow rule keeps
	// only web's IPv6 address. check must fail, and name that cell.
	data, err := os.ReadFile(paths.Config("h2"))
	if err != nil {
		t.Fatal(err)
	}
	cfg, _, err := config.ParseConfig(data)
	if err != nil {
		t.Fatal(err)
	}
	web, _ := topo.Workload("web")
	db, _ := topo.Workload("db")
	cfg.Policy.Policies[0].Ingress[0].Source.Nets = []string{web.IPv6.String() + "/128"}
	changed, err := lab.MarshalConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(paths.Config("h2"), changed, 0o600); err != nil {
		t.Fatal(err)
	}
	if res, err := api.NewClient(paths.Socket("h2")).Reload(context.Background()); err != nil {
		t.Fatalf("reloading h2 with the narrowed policy: %v %+v", err, res)
	}
	out, err = gannet("lab", "check", "--json", js)
	if err == nil {
		t.Fatalf("gannet lab check passed with web denied on IPv4 at db:\n%s", out)
	}
	wantCell := fmt.Sprintf("FAIL %s web -> db@%s tcp/5432", lab.KindPolicyAllow, db.IPv4)
	if !strings.Contains(out, wantCell) {
		t.Errorf("gannet lab check does not name the failing cell %q:\n%s", wantCell, out)
	}
	var failed []lab.Cell
	for _, c := range readReport(t, js).Cells {
		if !c.Pass {
			failed = append(failed, c)
		}
	}
	if len(failed) != 1 || failed[0].Kind != lab.KindPolicyAllow || failed[0].To != "db@"+db.IPv4.String() || !strings.Contains(failed[0].Reason, "policy-ingress") {
		t.Errorf("failed cells %+v, want only policy-allow web -> db@%s with gannet's policy-ingress reason", failed, db.IPv4)
	} else {
		t.Logf("the failing cell: %+v", failed[0])
	}

	// The picture of it.
	svg, png := filepath.Join(t.TempDir(), "lab.svg"), filepath.Join(t.TempDir(), "lab.png")
	if out, err := gannet("lab", "diagram", "--svg", svg, "--png", png); err != nil {
		t.Errorf("gannet lab diagram: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(svg); err != nil || !strings.Contains(string(b), "FAIL  policy-allow") || !strings.Contains(string(b), "64:ff9b:1:7::6440:14") {
		t.Errorf("the SVG lacks the failing cell or a tenant's core address (%v)", err)
	}
	if b, err := os.ReadFile(png); err != nil || len(b) < 8 || string(b[1:4]) != "PNG" {
		t.Errorf("the PNG is not one (%v)", err)
	}

	// Down leaves nothing.
	down()
	for _, ns := range topo.Namespaces() {
		if namespace.Exists(ns) {
			t.Errorf("namespace %s left after gannet lab down", ns)
		}
	}
	for ns, existed := range defaults {
		if namespace.Exists(ns) != existed {
			t.Errorf("gannet lab down --dir %s changed the default lab's namespace %s (existed %v)", dir, ns, existed)
		}
	}
	for _, pid := range pids {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			if cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); strings.Contains(string(cmd), dir) {
				t.Errorf("process %d (%s) left after gannet lab down", pid, strings.ReplaceAll(string(cmd), "\x00", " "))
			}
		}
	}
	if mi, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(mi), dir) {
		t.Errorf("a mount under %s left after gannet lab down", dir)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("%s left after gannet lab down", dir)
	}
	for _, id := range progs {
		if p, err := ebpf.NewProgramFromID(id); err == nil {
			p.Close()
			t.Errorf("XDP program %d left after gannet lab down", id)
		}
	}
	if out, err := gannet("lab", "status"); err == nil {
		t.Errorf("gannet lab status after down succeeded:\n%s", out)
	}
}

// daemonPIDs reads the lab's pid files.
func daemonPIDs(t *testing.T, p lab.Paths) []int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(p.Dir, "run", "*.pid"))
	var out []int
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			out = append(out, pid)
		}
	}
	if len(out) == 0 {
		t.Errorf("no pid files under %s", p.Dir)
	}
	return out
}

func readReport(t *testing.T, path string) *lab.Report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r lab.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &r
}
