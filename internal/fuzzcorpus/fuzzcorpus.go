// Package fuzzcorpus writes seed-corpus files for Go fuzz targets, so that
// the seeds a package's tests build (with gopacket, from fixtures) are
// committed under testdata/fuzz/FuzzXxx and found by plain `go test` and by
// `go test -fuzz`. Tests call Write behind an -update-corpus flag.
package fuzzcorpus

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

// Write stores one corpus entry for the fuzz target named target in
// testdata/fuzz/<target>/<name> (relative to the package directory the test
// runs in), in the "go test fuzz v1" encoding. vals are the fuzz function's
// arguments after *testing.T, in order.
func Write(target, name string, vals ...any) error {
	var b bytes.Buffer
	b.WriteString("go test fuzz v1\n")
	for _, v := range vals {
		switch v := v.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case string:
			fmt.Fprintf(&b, "string(%q)\n", v)
		case byte:
			fmt.Fprintf(&b, "byte(%q)\n", v)
		case int, int8, int16, int64, uint, uint16, uint32, uint64, bool:
			fmt.Fprintf(&b, "%T(%v)\n", v, v)
		default:
			return fmt.Errorf("fuzzcorpus: %s/%s: unsupported argument type %T", target, name, v)
		}
	}
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("fuzzcorpus: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("fuzzcorpus: %w", err)
	}
	return nil
}
