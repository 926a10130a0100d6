package bench

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// figure is one line of the report. Ratio is the share of the ceiling
// reached: value/ceiling for rates, ceiling/value for latencies (the
// ceiling there is the fastest possible time).
type figure struct {
	Backend string
	Name    string
	Value   string
	Ceiling string
	Ratio   float64 // 0: none
	Target  string
	Met     string // "yes", "NO", or "" when there is no target
}

func rate(v float64, unit string) string { return fmt.Sprintf("%.0f %s", v, unit) }

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }

func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/1e6) }

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

func printTable(w io.Writer, figs []figure) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "backend\tfigure\tvalue\tceiling\tratio\ttarget\tmet")
	fmt.Fprintln(tw, "-------\t------\t-----\t-------\t-----\t------\t---")
	for _, f := range figs {
		ratio := "—"
		if f.Ratio > 0 {
			ratio = fmt.Sprintf("%.2f", f.Ratio)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Backend, f.Name, f.Value,
			orDash(f.Ceiling), ratio, orDash(f.Target), orDash(f.Met))
	}
	tw.Flush()
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "—"
	}
	return s
}
