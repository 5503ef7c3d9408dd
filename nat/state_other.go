//go:build !linux

package nat

// State files need Linux (state_linux.go); elsewhere Open makes a table
// in ordinary memory that starts empty.

type stateFile struct{}

// Open is New: without Linux the table does not outlive the process.
func Open(path string, cfg Config) (*Table, Restore, error) {
	t, err := New(cfg)
	return t, Restore{Path: path, Why: "state files need Linux"}, err
}

// Close releases nothing: a table made by New holds no file.
func (t *Table) Close() error { return nil }

func bootClock() (int64, [16]byte, bool) { return 0, [16]byte{}, false }
