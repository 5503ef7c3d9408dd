//go:build !linux || race

package nat

// hugeSlice is make on systems without the Linux huge-page advice, and
// under the race detector, which watches only Go heap memory.
func hugeSlice[T any](owner *Table, n int) []T { return make([]T, n) }
