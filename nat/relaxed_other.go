//go:build !amd64 || race

package nat

// Relaxed stores and loads elsewhere are atomic: see relaxed_amd64.go.

import "sync/atomic"

func storeRelaxed(p *atomic.Uint64, v uint64) { p.Store(v) }

func loadRelaxed(p *atomic.Uint64) uint64 { return p.Load() }

func loadRelaxed32(p *atomic.Uint32) uint32 { return p.Load() }
