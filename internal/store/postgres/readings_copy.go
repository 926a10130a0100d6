package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/rollup"
	"github.com/thermowatt/thermowatt/internal/store"
)

// copyMinReadings is the size from which a batch assumed new goes through
// binary COPY rather than insertNewReadings. COPY skips what made the
// unnest statement cost twice the bulk load per reading in PostgreSQL
// (parse and plan of a 10-array statement, the executor's per-row
// projection and the text-to-jsonb cast) and, in this server, pgx's
// reflective encoding of ten arrays (40 % of the batch profile). It needs
// one more round trip than the statement (COPY and the device counters
// are two statements), so small groups of single readings keep the
// statement.
const copyMinReadings = 100

// copyReadingColumns are the columns COPY fills, in copyRow's order.
var copyReadingColumns = []string{"device_id", "recorded_at", "received_at", "server_time",
	"temperature", "humidity", "voltage_v", "current_ma", "power_mw", "payload"}

// countCopied adds what a COPY stored to each device's counters and
// health, registering devices not seen before: countStored's work for
// readings that arrive by COPY, with the per-device figures computed in
// Go (copiedDevices). Rows are locked in id order, as countStored does.
const countCopied = `
INSERT INTO devices AS d (id, created_at, last_seen_at, reading_count, health, health_at)
SELECT u.id, $1, $1, u.n, u.health::jsonb, u.health_at
FROM unnest($2::text[], $3::int8[], $4::text[], $5::timestamptz[]) AS u(id, n, health, health_at)
ORDER BY u.id
ON CONFLICT (id) DO UPDATE
SET last_seen_at = GREATEST(d.last_seen_at, EXCLUDED.last_seen_at),
    reading_count = d.reading_count + EXCLUDED.reading_count,
    health = CASE WHEN EXCLUDED.health_at > coalesce(d.health_at, '-infinity') THEN EXCLUDED.health ELSE d.health END,
    health_at = GREATEST(d.health_at, EXCLUDED.health_at)`

// insertNewByCopy stores rs (sorted and without repeats, store.Batch)
// assuming all are new, in one transaction: COPY into device_measurements,
// then the device counters and the roll-ups. A reading already stored (or being stored by
// a concurrent transaction, which COPY waits for) fails the COPY with the
// same unique violation as insertNewReadings (isRepeat), and nothing is
// committed.
func (s *Store) insertNewByCopy(ctx context.Context, rs []thermowatt.Reading, receivedAt time.Time) ([]bool, error) {
	ids, counts, health, healthAt := copiedDevices(rs)
	stored := make([]bool, len(rs))
	for i := range stored {
		stored[i] = true
	}
	err := s.withRetryRollups(ctx, func() error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			row := make([]any, len(copyReadingColumns))
			n, err := tx.CopyFrom(ctx, pgx.Identifier{"device_measurements"}, copyReadingColumns,
				pgx.CopyFromSlice(len(rs), func(i int) ([]any, error) {
					r := &rs[i]
					row[0], row[1], row[2], row[3] = r.DeviceID, r.RecordedAt, receivedAt, r.ServerTime
					row[4], row[5], row[6], row[7], row[8] = r.Temperature, r.Humidity, r.VoltageV, r.CurrentMA, r.PowerMW
					if r.Payload != nil {
						row[9] = []byte(r.Payload)
					} else {
						row[9] = nil
					}
					return row, nil
				}))
			if err != nil {
				return err
			}
			if int(n) != len(rs) {
				return fmt.Errorf("the database reports copying %d of %d new readings", n, len(rs))
			}
			// The counters, which lock the device rows, then the roll-ups'
			// reads in the same round trip, as the insert statements do.
			var b pgx.Batch
			b.Queue(countCopied, receivedAt, ids, counts, health, healthAt)
			plan := s.planRollupReads(rs)
			plan.queue(&b)
			br := tx.SendBatch(ctx, &b)
			if _, err := br.Exec(); err != nil {
				br.Close()
				return err
			}
			deltas, err := plan.deltas(s, br, rs, stored)
			if cerr := br.Close(); err == nil {
				err = cerr
			}
			if err != nil || len(deltas) == 0 {
				return err
			}
			_, err = tx.Exec(ctx, addRollups, rollupArgs(rollup.MergeRows(deltas))...)
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	return stored, nil
}

// copiedDevices returns, per device of rs (sorted by device, then time),
// its number of readings and the device's report on itself
// (payload.device, when an object) of its newest reading carrying one.
func copiedDevices(rs []thermowatt.Reading) (ids []string, counts []int64, health []*string, healthAt []*time.Time) {
	for end := len(rs); end > 0; {
		start := end - 1
		for start > 0 && rs[start-1].DeviceID == rs[end-1].DeviceID {
			start--
		}
		var h *string
		var at *time.Time
		for i := end - 1; i >= start; i-- { // newest first
			if d, ok := store.DeviceReport(rs[i].Payload); ok {
				h, at = &d, &rs[i].RecordedAt
				break
			}
		}
		ids = append(ids, rs[start].DeviceID)
		counts = append(counts, int64(end-start))
		health = append(health, h)
		healthAt = append(healthAt, at)
		end = start
	}
	return ids, counts, health, healthAt
}

// insertAssumingNew stores rs assuming all are new, by COPY from
// copyMinReadings readings on and by insertNewReadings below; either fails
// with a unique violation (isRepeat) when one is not.
func (s *Store) insertAssumingNew(ctx context.Context, rs []thermowatt.Reading, receivedAt time.Time) ([]bool, error) {
	if len(rs) >= copyMinReadings {
		return s.insertNewByCopy(ctx, rs, receivedAt)
	}
	return s.insertNew(ctx, rs, insertArgs(rs, receivedAt))
}
