package main

import (
	"testing"
	"time"
)

// The samples of a 2-minute run sampled every minute, as printed by the
// SQLite soak of 2026-12-07 08:42: the start, the tick at 1m, the one
// taken as the load ended (the second minute's POSTs), and the idle one.
// Its second minute's p99 is 3.3 times the first's: not flat. It was
// judged flat when the sample taken as the load ended was left out.
func TestFlatnessJudgesTheLastMinute(t *testing.T) {
	s := []sample{
		{at: 0},
		{at: time.Minute, posts: 17965, p99: 102 * time.Millisecond},
		{at: 2 * time.Minute, posts: 36009, p99: 334 * time.Millisecond},
		{at: 2*time.Minute + 3*time.Second, posts: 36009},
	}
	if err := flatness(s, time.Minute); err == nil {
		t.Error("a second minute at 3.3 times the first's p99 judged flat")
	}
	s[2].p99 = 150 * time.Millisecond
	if err := flatness(s, time.Minute); err != nil {
		t.Errorf("a second minute at 1.5 times the first's p99: %v", err)
	}
	// A tick just before the end leaves the last sample a few
	// milliseconds of POSTs: not judged.
	s = append(s[:3:3], sample{at: 2*time.Minute + 20*time.Millisecond, posts: 36020, p99: time.Second}, sample{at: 2*time.Minute + 3*time.Second, posts: 36020})
	if err := flatness(s, time.Minute); err != nil {
		t.Errorf("the last few milliseconds' p99 judged: %v", err)
	}
}
