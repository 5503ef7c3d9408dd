package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGendocs: a man page per verb, section 8, each carrying its
// command's synopsis, and a bash completion script that registers for
// gannet; the hidden verb documents nothing of itself. SOURCE_DATE_EPOCH
// fixes the date, so two runs write the same pages.
func TestGendocs(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	gen := func() (string, string) {
		dir := t.TempDir()
		man, bash := filepath.Join(dir, "man"), filepath.Join(dir, "bash", "gannet")
		root := newRootCmd()
		root.SetArgs([]string{"gendocs", "--man", man, "--bash-completion", bash})
		if err := root.Execute(); err != nil {
			t.Fatalf("gannet gendocs: %v", err)
		}
		return man, bash
	}
	man, bash := gen()
	for page, want := range map[string]string{
		"gannet.8":         ".TH \"GANNET\" \"8\"",
		"gannet-version.8": "14-Nov-2023", // SOURCE_DATE_EPOCH
		"gannet-run.8":     `\fBgannet run --config FILE [flags]\fP`,
		"gannet-cleanup.8": "detach the XDP programs",
		"gannet-status.8":  "gannet status",
	} {
		b, err := os.ReadFile(filepath.Join(man, page))
		if err != nil {
			t.Errorf("man page %s: %v", page, err)
			continue
		}
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %q:\n%s", page, want, b)
		}
	}
	if _, err := os.Stat(filepath.Join(man, "gannet-gendocs.8")); err == nil {
		t.Error("the hidden gendocs verb got a man page")
	}
	b, err := os.ReadFile(bash)
	if err != nil || !strings.Contains(string(b), "complete -o default -F __start_gannet gannet") {
		t.Errorf("bash completion (%v) does not register for gannet:\n%.300s", err, b)
	}
	man2, _ := gen()
	for _, page := range []string{"gannet.8", "gannet-run.8"} {
		a, _ := os.ReadFile(filepath.Join(man, page))
		b, _ := os.ReadFile(filepath.Join(man2, page))
		if string(a) != string(b) {
			t.Errorf("%s differs between two runs with the same SOURCE_DATE_EPOCH", page)
		}
	}
}
