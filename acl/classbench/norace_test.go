//go:build !race

package classbench

const raceEnabled = false
