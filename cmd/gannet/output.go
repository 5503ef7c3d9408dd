// Operator output of the API verbs: an API object comes in, and goes out
// as an aligned table for people or as JSON/YAML, with the API's field
// names, for machines (-o). Numbers a person reads are made short here
// (durations, bytes, rates); JSON and YAML keep them exact.

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"
)

// Output formats of -o.
const (
	outTable = "table"
	outJSON  = "json"
	outYAML  = "yaml"
)

func checkOutput(format string) error {
	switch format {
	case outTable, outJSON, outYAML:
		return nil
	}
	return fmt.Errorf("unknown output format %q: use -o table, json or yaml", format)
}

// printObject writes v as indented JSON or as YAML.
func printObject(w io.Writer, format string, v any) error {
	switch format {
	case outJSON:
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case outYAML:
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		if err := enc.Encode(v); err != nil {
			return err
		}
		return enc.Close()
	}
	return fmt.Errorf("printObject: format %q", format)
}

// printJSONLine writes v as JSON on one line (a stream of snapshots).
func printJSONLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// table is an aligned table: columns separated by two spaces, like
// kubectl's.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)}
	if len(header) > 0 {
		io.WriteString(t.tw, strings.Join(header, "\t")+"\n")
	}
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		if c == "" {
			c = "-"
		}
		if i > 0 {
			io.WriteString(t.tw, "\t")
		}
		io.WriteString(t.tw, c)
	}
	io.WriteString(t.tw, "\n")
}

func (t *table) flush() error { return t.tw.Flush() }

// displayLocation is the time zone times are shown in (tests pin it).
var displayLocation = time.Local

func showTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(displayLocation).Format("2006-01-02 15:04:05 MST")
}

// showDuration is a duration in whole seconds, with days past a day:
// 3h4m5s, 2d3h0m0s. Under a second it keeps milliseconds.
func showDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	d = d.Round(time.Second)
	if d < 24*time.Hour {
		return d.String()
	}
	days := d / (24 * time.Hour)
	return strconv.FormatInt(int64(days), 10) + "d" + (d - days*24*time.Hour).String()
}

func showSeconds(s float64) string {
	return showDuration(time.Duration(s * float64(time.Second)))
}

// showBytes is a byte count in SI units: 999 B, 1.5 kB, 12.3 MB.
func showBytes(n uint64) string {
	if n < 1000 {
		return strconv.FormatUint(n, 10) + " B"
	}
	return showSI(float64(n)) + "B"
}

// showSI is a non-negative quantity with an SI prefix and three
// significant digits: 999, 1.50 k, 12.3 M, 456 G.
func showSI(v float64) string {
	if v < 1000 {
		if v == math.Trunc(v) {
			return strconv.FormatFloat(v, 'f', 0, 64) + " "
		}
		return strconv.FormatFloat(v, 'f', 1, 64) + " "
	}
	const prefixes = "kMGTPE"
	i := -1
	for v >= 999.5 && i < len(prefixes)-1 {
		v /= 1000
		i++
	}
	prec := 2
	switch {
	case v >= 99.95:
		prec = 0
	case v >= 9.995:
		prec = 1
	}
	return strconv.FormatFloat(v, 'f', prec, 64) + " " + prefixes[i:i+1]
}

// showRate is a per-second rate with its unit: 0 pkt/s, 12.3 kpkt/s,
// 1.50 Gbit/s.
func showRate(v float64, unit string) string {
	return showSI(v) + unit + "/s"
}

// showPerSecond is a rate under a header that names its unit: 0, 500k,
// 1.50G.
func showPerSecond(v float64) string {
	return strings.ReplaceAll(showSI(v), " ", "")
}

func showInt(n int) string {
	if n == 0 {
		return "-"
	}
	return strconv.Itoa(n)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
