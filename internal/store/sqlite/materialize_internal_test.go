package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/rollup"
	"github.com/thermowatt/thermowatt/internal/store"
)

// A pass claims hours in a snapshot and writes them in a later write
// transaction; what is stored in between must be in what it writes. Each
// case stores readings, claims, changes the device in between (more
// readings in the claimed hours, its interval, retention), writes the
// claims, and checks that no mark is left and every hour equals
// rollup.Compute over the readings now stored.
func TestMaterializeCatchesUpWithWritesAfterItsSnapshot(t *testing.T) {
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name    string
		between func(t *testing.T, s *Store)
	}{
		{"nothing", func(t *testing.T, s *Store) {}},
		{"readings into the claimed hours and the next", func(t *testing.T, s *Store) {
			insert(t, s, base.Add(30*time.Second), 7, 50*time.Second, 1000)
			insert(t, s, base.Add(2*time.Hour-20*time.Second), 5, 10*time.Second, 3000)
		}},
		{"another device only", func(t *testing.T, s *Store) {
			insert(t, s, base.Add(30*time.Second), 3, time.Minute, 10, "other")
		}},
		{"the interval changed", func(t *testing.T, s *Store) {
			insert(t, s, base.Add(45*time.Second), 3, time.Minute, 500)
			if err := s.SetExpectedInterval(t.Context(), "d", 3600); err != nil {
				t.Fatal(err)
			}
		}},
		{"retention deleted readings of a claimed hour", func(t *testing.T, s *Store) {
			insert(t, s, base.Add(90*time.Minute+15*time.Second), 2, time.Minute, 700)
			if _, err := s.DeleteReadingsBefore(t.Context(), base.Add(20*time.Minute), 1000); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := Open(t.Context(), filepath.Join(t.TempDir(), "thermowatt.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			insert(t, s, base, 100, time.Minute, 0)
			snap, _, err := s.claim(t.Context(), 100, micros(time.Now().Add(time.Hour)), store.MaterializeReadings)
			if err != nil {
				t.Fatal(err)
			}
			if len(snap.claims) == 0 {
				t.Fatal("nothing claimed: the readings marked no hour")
			}
			c.between(t, s)
			if _, err := s.replaceClaimed(t.Context(), snap); err != nil {
				t.Fatal(err)
			}
			for _, cl := range snap.claims {
				var marks int
				if err := s.read.QueryRow(`SELECT count(*) FROM rollup_pending WHERE device_id = ? AND hour = ? AND marked_at < ?`,
					cl.device, cl.hour, micros(time.Now().Add(-time.Hour))).Scan(&marks); err != nil {
					t.Fatal(err)
				}
				if marks != 0 {
					t.Errorf("hour %s of %s: still marked after its pass", fromMicros(cl.hour), cl.device)
				}
			}
			checkClaimedHours(t, s, snap)
		})
	}
}

// insert stores n readings of device ("d" unless named) from start, every
// step, with powers from power0 up.
func insert(t *testing.T, s *Store, start time.Time, n int, step time.Duration, power0 float64, device ...string) {
	t.Helper()
	id := "d"
	if len(device) > 0 {
		id = device[0]
	}
	var rs []thermowatt.Reading
	for i := range n {
		p, v := power0+float64(i), 5.0
		rs = append(rs, thermowatt.Reading{DeviceID: id, RecordedAt: start.Add(time.Duration(i) * step), PowerMW: &p, VoltageV: &v})
	}
	if _, err := s.InsertReadings(t.Context(), rs, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// checkClaimedHours compares every claimed hour that is no longer
// pending with rollup.Compute over the readings stored now.
func checkClaimedHours(t *testing.T, s *Store, snap claimed) {
	t.Helper()
	ctx := context.Background()
	err := s.snapshot(ctx, func(tx *sql.Tx) error {
		for _, cl := range snap.claims {
			var pending int
			if err := tx.QueryRow(`SELECT count(*) FROM rollup_pending WHERE device_id = ? AND hour = ?`, cl.device, cl.hour).Scan(&pending); err != nil {
				return err
			}
			if pending > 0 {
				continue // marked by the writes after the pass: reads compute it
			}
			want, err := s.computePending(ctx, tx, s.readStmts, store.PendingHours{cl.device: {cl.hour}})
			if err != nil {
				return err
			}
			got, err := storedHours(ctx, tx, store.RollupQuery{DeviceIDs: []string{cl.device},
				From: fromMicros(cl.hour), To: fromMicros(cl.hour).Add(rollup.Width)})
			if err != nil {
				return err
			}
			if fmt.Sprint(utc(got)) != fmt.Sprint(utc(want)) {
				t.Errorf("hour %s of %s:\n stored   %v\n readings %v", fromMicros(cl.hour).UTC(), cl.device, utc(got), utc(want))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func utc(rows []rollup.Row) []rollup.Row {
	out := make([]rollup.Row, len(rows))
	for i, r := range rows {
		r.Hour = r.Hour.UTC()
		out[i] = r
	}
	return out
}
