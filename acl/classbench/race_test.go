//go:build race

package classbench

const raceEnabled = true
