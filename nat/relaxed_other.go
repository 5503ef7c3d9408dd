//go:build !amd64 || race

package nat

// Relaxed stores elsewhere are atomic stores: see relaxed_amd64.go.

import "sync/atomic"

func storeRelaxed(p *atomic.Uint64, v uint64) { p.Store(v) }
