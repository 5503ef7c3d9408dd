package aclbench

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gannet-net/gannet/acl/classbench"
)

func TestRunAgreesAndWritesIndices(t *testing.T) {
	rulesPath := filepath.Join("..", "..", "acl", "testdata", "classbench", "ipc1_1k")
	rules, hs, err := Load(rulesPath, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != PerRule*len(rules) {
		t.Fatalf("Load generated %d headers, want %d", len(hs), PerRule*len(rules))
	}
	hs = hs[:2000]
	// The same headers through a trace file must give the same answers.
	trace := filepath.Join(t.TempDir(), "trace")
	var buf bytes.Buffer
	if err := classbench.WriteTrace(&buf, hs); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(trace, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	_, ths, err := Load(rulesPath, trace)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(Config{Rules: rules, Headers: ths, MinTime: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Agree != len(ths) || res.Gannet <= 0 || res.Linear <= 0 {
		t.Fatalf("Run: agree %d of %d, gannet %v/s, linear %v/s", res.Agree, len(ths), res.Gannet, res.Linear)
	}
	var out bytes.Buffer
	if err := WriteIndices(&out, res.Indices); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(out.String(), "\n"); lines != len(ths) {
		t.Errorf("WriteIndices wrote %d lines, want %d", lines, len(ths))
	}
	var table bytes.Buffer
	if err := res.Print(&table, "ipc1_1k"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "answers equal to the linear scan: 2000 of 2000") {
		t.Errorf("Print:\n%s\nwant the agreement line", table.String())
	}
}
