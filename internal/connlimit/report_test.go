package connlimit

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

type logLines struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines are the "connections refused" lines so far, decoded.
func (l *logLines) lines(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, s := range strings.Split(strings.TrimSpace(l.b.String()), "\n") {
		if s == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("log line %q: %v", s, err)
		}
		if m["msg"] == "connections refused" {
			out = append(out, m)
		}
	}
	return out
}

func count(m map[string]any, key string) int { f, _ := m[key].(float64); return int(f) }

// A flood of refusals is one line at once, then one line with the count
// of everything refused since: not a line per refusal.
func TestReporterLogsTheFirstRefusalAtOnceAndCountsTheRest(t *testing.T) {
	out := &logLines{}
	r := NewReporter(slog.New(slog.NewJSONHandler(out, nil)), time.Hour, func() int { return 7 })
	for range 1000 {
		r.Refused(Address)
	}
	for range 10 {
		r.Refused(Total)
	}
	lines := out.lines(t)
	if len(lines) != 1 || count(lines[0], "address_cap") != 1 || count(lines[0], "total_cap") != 0 || count(lines[0], "open") != 7 {
		t.Fatalf("after 1010 refusals within the interval: %v, want one line for the first", lines)
	}
	r.Close() // writes out what was counted
	lines = out.lines(t)
	if len(lines) != 2 || count(lines[1], "address_cap") != 999 || count(lines[1], "total_cap") != 10 {
		t.Fatalf("after Close: %v, want a second line with 999 and 10", lines)
	}
	r.Refused(Address) // after Close: nothing more
	if n := len(out.lines(t)); n != 2 {
		t.Fatalf("a line after Close: %d lines", n)
	}
}

// The counts are written when the interval runs out, and once a whole
// interval passes without refusals the next one is logged at once again.
func TestReporterWritesEachIntervalThenFallsQuiet(t *testing.T) {
	out := &logLines{}
	r := NewReporter(slog.New(slog.NewJSONHandler(out, nil)), 20*time.Millisecond, nil)
	defer r.Close()
	wait := func(n int) []map[string]any {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			if l := out.lines(t); len(l) >= n {
				return l
			}
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %d lines: %v", n, out.lines(t))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	r.Refused(Total)
	if l := out.lines(t); len(l) != 1 {
		t.Fatalf("the first refusal: %d lines", len(l))
	}
	for range 5 {
		r.Refused(Total)
	}
	lines := wait(2)
	total := 0
	for _, l := range lines {
		total += count(l, "total_cap")
	}
	if total != 6 {
		t.Fatalf("lines count %d refusals, want 6: %v", total, lines)
	}
	// Quiet for a while: the timer stops; the next refusal is logged at once.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r.mu.Lock()
		quiet := r.timer == nil
		r.mu.Unlock()
		if quiet {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the reporter kept its timer running without refusals")
		}
		time.Sleep(5 * time.Millisecond)
	}
	n := len(out.lines(t))
	r.Refused(Address)
	if l := out.lines(t); len(l) != n+1 || count(l[n], "address_cap") != 1 {
		t.Fatalf("a refusal after a quiet interval was not logged at once: %v", l)
	}
}
