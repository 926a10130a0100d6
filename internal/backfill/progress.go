package backfill

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// progress shows how a run is going: on a terminal one line redrawn in
// place with a bar, counts, rate and ETA; otherwise (a log, CI) a plain
// line every Every, so logs stay readable.
type progress struct {
	w        io.Writer
	terminal bool
	every    time.Duration
	total    int
	start    time.Time
	last     time.Time
	drawn    bool
}

func (p *progress) update(s *Summary, done int, force bool) {
	if p == nil || p.w == nil {
		return
	}
	now := time.Now()
	if !force {
		limit := p.every
		if p.terminal {
			limit = 100 * time.Millisecond
		}
		if now.Sub(p.last) < limit {
			return
		}
	}
	p.last = now
	elapsed := now.Sub(p.start).Seconds()
	rate := 0.0
	if elapsed > 0 {
		rate = float64(s.Sent) / elapsed
	}
	eta := "?"
	if done == p.total {
		eta = "0s"
	} else if rate > 0 {
		eta = time.Duration(float64(p.total-done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	pct := 100.0
	if p.total > 0 {
		pct = 100 * float64(done) / float64(p.total)
	}
	counts := fmt.Sprintf("%d/%d readings %3.0f%%  %.0f/s  ETA %s  accepted %d  duplicates %d  rejected %d",
		done, p.total, pct, rate, eta, s.Accepted, s.Duplicates, len(s.Refused))
	if s.Retries > 0 {
		counts += fmt.Sprintf("  retries %d", s.Retries)
	}
	if p.terminal {
		const width = 24
		n := int(pct / 100 * width)
		fmt.Fprintf(p.w, "\r[%s%s] %s\x1b[K", strings.Repeat("=", n), strings.Repeat(" ", width-n), counts)
		p.drawn = true
		return
	}
	fmt.Fprintf(p.w, "backfill: %s\n", counts)
}

// note prints a line (a retry, a warning) without garbling the bar.
func (p *progress) note(format string, a ...any) {
	if p == nil || p.w == nil {
		return
	}
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
	fmt.Fprintf(p.w, format+"\n", a...)
	p.last = time.Time{}.Add(1) // redraw the bar at the next update
}

func (p *progress) finish() {
	if p != nil && p.drawn {
		fmt.Fprintln(p.w)
	}
}
