package cli

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store/postgres"
	"github.com/thermowatt/thermowatt/internal/testdb"
)

// thermowatt citus distribute on a fresh schema of a Citus cluster
// (CITUS_URL, make test-citus): it migrates, places every table, says
// where each went, changes nothing when run again, and the service's store
// then writes a device's readings through the worker function.
func TestCitusDistribute(t *testing.T) {
	if !testdb.CitusAvailable() {
		t.Skip("Citus test skipped: set CITUS_URL to a coordinator's database (make test-citus)")
	}
	ctx := context.Background()
	url := testdb.NewCitusSchema(t)
	vars := map[string]string{"DATABASE_URL": url}
	// Before: serve says readings take the statements, and what to run.
	if line := citusLine(t, url); !strings.Contains(line, `"level":"WARN"`) || !strings.Contains(line, "thermowatt citus distribute") {
		t.Errorf("serve's line on a Citus schema not distributed: %q, want a warning naming thermowatt citus distribute", line)
	}
	for run := 1; run <= 2; run++ {
		var out bytes.Buffer
		if err := Run(ctx, []string{"citus", "distribute", "--shards", "4"}, envOf(vars), nil, &out, io.Discard); err != nil {
			t.Fatalf("run %d: citus distribute: %v", run, err)
		}
		for _, want := range []string{
			`(?m)^devices\s+reference\s+1$`,
			`(?m)^device_state\s+distributed by device_id\s+4$`,
			`(?m)^device_measurements\s+distributed by device_id\s+4$`,
			`(?m)^rollup_pending\s+distributed by device_id\s+4$`,
		} {
			if !regexp.MustCompile(want).MatchString(out.String()) {
				t.Errorf("run %d: output lacks %s:\n%s", run, want, out.String())
			}
		}
		if regexp.MustCompile(`coordinator only`).MatchString(out.String()) {
			t.Errorf("run %d: a table left on the coordinator:\n%s", run, out.String())
		}
	}

	if line := citusLine(t, url); !strings.Contains(line, "through the insert function on the workers") {
		t.Errorf("serve's line after citus distribute: %q, want the insert function named", line)
	}
	st, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC().Truncate(time.Second)
	rs := []thermowatt.Reading{{DeviceID: "c1", RecordedAt: now}, {DeviceID: "c2", RecordedAt: now}, {DeviceID: "c1", RecordedAt: now.Add(time.Second)}}
	res, err := st.InsertReadings(ctx, rs, now)
	if err != nil || res.Accepted != 3 {
		t.Fatalf("insert after distribute: %+v %v", res, err)
	}
	res, err = st.InsertReadings(ctx, rs[:1], now)
	if err != nil || res.Duplicates != 1 {
		t.Fatalf("the same reading again: %+v %v, want a duplicate", res, err)
	}
	d, err := st.GetDevice(ctx, "c1")
	if err != nil || d.ReadingCount != 2 || d.LastSeenAt == nil {
		t.Fatalf("device c1 after its readings: %+v %v, want 2 readings and a last-seen time", d, err)
	}
}

// citusLine opens a store on url and returns what serve logs about its
// Citus ingest (logCitus).
func citusLine(t *testing.T, url string) string {
	t.Helper()
	st, err := postgres.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var out bytes.Buffer
	logCitus(slog.New(slog.NewJSONHandler(&out, nil)), st)
	return out.String()
}
