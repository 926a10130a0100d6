package backfill_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt/internal/backfill"
)

func dryRun(t *testing.T, o backfill.Options) backfill.Summary {
	t.Helper()
	o.DryRun = true
	if o.Device == "" {
		o.Device = "node-1"
	}
	s, err := backfill.Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func problems(s backfill.Summary) []string {
	var out []string
	for _, p := range append(slices.Clone(s.Skipped), s.Refused...) {
		out = append(out, p.String())
	}
	return out
}

// Each malformed line is reported with its file:line and reason, and every
// valid line of the same file still becomes a reading.
func TestMalformedLinesAreReportedWithFileAndLineAndSkipped(t *testing.T) {
	for _, c := range []struct {
		file     string
		readings int
		want     []string // "file:line: reason fragment", in order
	}{
		{"bom_crlf.csv", 3, nil},
		{"blank_lines.csv", 2, nil},
		{"wrong_columns.csv", 2, []string{
			"wrong_columns.csv:3: 4 fields where the header has 5",
			"wrong_columns.csv:4: 6 fields where the header has 5"}},
		{"bad_number.csv", 1, []string{
			`bad_number.csv:2: temperature_c "2x.1" is not a number`,
			`bad_number.csv:3: pressure_hpa "NaN" is not a number`}},
		{"impossible_date.csv", 1, []string{
			`impossible_date.csv:2: recorded_at "2025-02-30T00:00:00Z": impossible date or time (day out of range)`,
			`impossible_date.csv:3: recorded_at "2025-13-01T00:00:00Z": impossible date or time (month out of range)`,
			`impossible_date.csv:4: recorded_at "2025-01-01T24:61:00Z": impossible date or time (hour out of range)`}},
		{"not_a_time.csv", 1, []string{`not_a_time.csv:2: recorded_at "yesterday": not a time`}},
		{"truncated_last_line.csv", 2, []string{
			"truncated_last_line.csv:4: 1 fields where the header has 5 (the last line has no line end: cut short while being written?)"}},
		{"clock_not_set.csv", 1, []string{"clock_not_set.csv:2: recorded_at is empty: the device's clock was not set"}},
		{"quotes.csv", 2, []string{
			"quotes.csv:3: field 4: quote opened at column 28 is never closed",
			`quotes.csv:4: field 4: stray quote in "21\"7"`}},
		{"damaged_bytes.csv", 2, []string{
			"damaged_bytes.csv:3: not UTF-8 text",
			"damaged_bytes.csv:4: contains NUL bytes"}},
		{"same_instant_twice.csv", 1, []string{
			"same_instant_twice.csv:3: the same device and time as testdata/malformed/same_instant_twice.csv:2, which already gave temperature, pressure"}},
	} {
		t.Run(c.file, func(t *testing.T) {
			s := dryRun(t, backfill.Options{Files: []string{filepath.Join("testdata", "malformed", c.file)}})
			got := problems(s)
			if len(got) != len(c.want) {
				t.Fatalf("want %d problems, got %d:\n%s", len(c.want), len(got), strings.Join(got, "\n"))
			}
			for i, w := range c.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %d:\n got %s\nwant %s", i, got[i], w)
				}
			}
			if s.Readings != c.readings {
				t.Errorf("valid lines lost: want %d readings, got %d", c.readings, s.Readings)
			}
		})
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Any CSV works through --map, and naive timestamps are read in --tz.
func TestMappedColumnsAndNaiveTimesInAZone(t *testing.T) {
	f := writeFile(t, "export.csv", "when,celsius,watts,note\n2025-02-05 09:30:00,24.3,0.6005,a\n2025-02-05 09:35:00,24.4,0.6,b\n")
	m, err := backfill.ParseMapping("recordedAt=when,temperature=celsius,power=watts")
	if err != nil {
		t.Fatal(err)
	}
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	s := dryRun(t, backfill.Options{Files: []string{f}, Map: m, TZ: tokyo})
	if s.Readings != 2 || len(problems(s)) != 0 {
		t.Fatalf("mapped file: %d readings, problems %v", s.Readings, problems(s))
	}
	// 09:30 in Tokyo is 00:30 UTC: a bound at 00:31 UTC keeps only 09:35.
	s = dryRun(t, backfill.Options{Files: []string{f}, Map: m, TZ: tokyo, Since: time.Date(2025, 2, 5, 0, 31, 0, 0, time.UTC)})
	if s.Readings != 1 || s.Outside != 1 {
		t.Fatalf("naive times must be read in --tz: %d readings, %d outside", s.Readings, s.Outside)
	}
	if _, err := backfill.ParseMapping("colour=x"); err == nil || !strings.Contains(err.Error(), "unknown field") {
		t.Fatalf("unknown field: %v", err)
	}
	if _, err := backfill.ParseMapping("recordedAt"); err == nil {
		t.Fatal("a pair without = must be refused")
	}
	// Without --map the file has no recognisable time column: one clear error.
	_, err = backfill.Run(context.Background(), backfill.Options{Files: []string{f}, Device: "n", DryRun: true})
	if err == nil || !strings.Contains(err.Error(), "--map recordedAt=COLUMN") {
		t.Fatalf("want a hint at --map, got %v", err)
	}
}

// The dry run applies the server's own validation: a reading the API would
// refuse (a 1970 date from a clock that never synced) is listed.
func TestDryRunFindsWhatTheServerWouldRefuse(t *testing.T) {
	f := writeFile(t, "temp.csv", "recorded_at,temperature_c\n1970-01-01T00:05:00Z,21\n2025-01-01T00:00:00Z,21\n2025-01-01T00:05:00Z,500\n")
	s := dryRun(t, backfill.Options{Files: []string{f}})
	got := problems(s)
	if len(got) != 2 || !strings.Contains(got[0], "temp.csv:2: would be refused: recordedAt") || !strings.Contains(got[1], "temp.csv:4: would be refused: temperature") {
		t.Fatalf("dry run problems: %q", got)
	}
}

func TestSinceAndUntilSelectATimeRange(t *testing.T) {
	f := writeFile(t, "temp.csv", "recorded_at,temperature_c\n2025-01-01T00:00:00Z,1\n2025-01-02T00:00:00Z,2\n2025-01-03T00:00:00Z,3\n")
	s := dryRun(t, backfill.Options{Files: []string{f},
		Since: time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC), Until: time.Date(2025, 1, 3, 0, 0, 0, 0, time.UTC)})
	if s.Readings != 1 || s.Outside != 2 {
		t.Fatalf("want 1 reading inside and 2 outside, got %d and %d", s.Readings, s.Outside)
	}
}

// A deviceId column lets one file hold several devices: the same instant
// of two devices is two readings.
func TestADeviceColumnSplitsReadingsByDevice(t *testing.T) {
	f := writeFile(t, "all.csv", "device_id,recorded_at,temperature_c\nnode-a,2025-01-01T00:00:00Z,20\nnode-b,2025-01-01T00:00:00Z,21\nnode-a,2025-01-01T00:05:00Z,22\n,2025-01-01T00:10:00Z,23\n")
	s, err := backfill.Run(context.Background(), backfill.Options{Files: []string{f}, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	got := problems(s)
	if s.Readings != 3 || len(got) != 1 || !strings.Contains(got[0], "all.csv:5: the deviceId column is empty and no --device was given") {
		t.Fatalf("want 3 readings and line 5 reported, got %d %q", s.Readings, got)
	}
}
