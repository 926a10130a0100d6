package postgres

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// The insert statement is the ingest hot path: the whole batch in one
// statement (then the roll-ups, rollups.go, in the same transaction), which also adds what it stored to each
// device's count and last-seen time, registering the devices it has not
// seen before. It comes in two forms:
//
//   - insertNewReadings, tried first, assumes every reading is new: a plain
//     INSERT, which skips ON CONFLICT's speculative insertion (an extra
//     probe of the key, a lock and a WAL record per row: ~2.5 µs of the
//     ~13 µs of PostgreSQL CPU per reading), and it answers with a count,
//     not with the rows. A reading already stored (or being stored by a
//     concurrent batch, which it waits for) makes it fail with a unique
//     violation before it commits anything.
//   - insertReadings, run when that happens, skips the readings already
//     stored and returns those it stored.
//
// Repeats are the exception (a device resending after a lost answer), so a
// batch holding one pays for both; every other batch pays for the first.
//
// The readings arrive sorted and without repeats (store.Batch), so
// concurrent batches wait on each other's uncommitted rows in the same
// order and a reading two batches race to store is stored by exactly one:
// the other waits for its commit and then sees the conflict. The device
// rows are updated in id order for the same reason.
const (
	insertNewReadings = `
WITH inserted AS (` + insertRows + `
	RETURNING ` + insertedColumns + `
)` + countStored + `
SELECT count(*) FROM inserted`

	insertReadings = `
WITH inserted AS (` + insertRows + `
	ON CONFLICT (device_id, recorded_at) DO NOTHING
	RETURNING ` + insertedColumns + `
)` + countStored + `
SELECT device_id, recorded_at FROM inserted`

	insertRows = `
	INSERT INTO device_measurements
		(device_id, recorded_at, received_at, server_time,
		 temperature, humidity, voltage_v, current_ma, power_mw, payload)
	SELECT r.device_id, r.recorded_at, $1, r.server_time,
		r.temperature, r.humidity, r.voltage_v, r.current_ma, r.power_mw, r.payload::jsonb
	FROM unnest($2::text[], $3::timestamptz[], $4::boolean[],
		$5::float8[], $6::float8[], $7::float8[], $8::float8[], $9::float8[], $10::text[])
		AS r(device_id, recorded_at, server_time,
		     temperature, humidity, voltage_v, current_ma, power_mw, payload)`

	insertedColumns = `device_id, recorded_at,
		-- The device's report on itself (firmware, queue depth, ...):
		-- kept only when it is an object, so no payload can fail the batch.
		CASE WHEN jsonb_typeof(payload->'device') = 'object' THEN payload->'device' END AS health`

	countStored = `, accepted AS (
	SELECT device_id, count(*) AS n,
		-- the health of the newest stored reading that carried one
		(array_agg(health ORDER BY recorded_at DESC) FILTER (WHERE health IS NOT NULL))[1] AS health,
		max(recorded_at) FILTER (WHERE health IS NOT NULL) AS health_at
	FROM inserted GROUP BY device_id
), counted AS (
	-- An upsert rather than UPDATE ... FROM: it registers a device on its
	-- first reading, and it locks the device rows in the order of its
	-- SELECT, whereas a join's order is up to the planner. A device none of
	-- whose readings is stored is left alone: it is registered already,
	-- since its readings were stored before (devices are never deleted).
	INSERT INTO devices AS d (id, created_at, last_seen_at, reading_count, health, health_at)
	SELECT device_id, $1, $1, n, health, health_at FROM accepted ORDER BY device_id
	ON CONFLICT (id) DO UPDATE
	SET last_seen_at = GREATEST(d.last_seen_at, EXCLUDED.last_seen_at),
	    reading_count = d.reading_count + EXCLUDED.reading_count,
	    -- a backfill of older readings does not replace newer health
	    health = CASE WHEN EXCLUDED.health_at > coalesce(d.health_at, '-infinity') THEN EXCLUDED.health ELSE d.health END,
	    health_at = GREATEST(d.health_at, EXCLUDED.health_at)
)`
)

// InsertReadings stores rs in one transaction; see store.Store.
func (s *Store) InsertReadings(ctx context.Context, rs []thermowatt.Reading, receivedAt time.Time) (store.InsertResult, error) {
	if len(rs) == 0 {
		return store.InsertResult{}, nil
	}
	b := store.NewBatch(rs)
	received := store.UTC(receivedAt)
	// Each write runs in a transaction of its own: when it returns
	// without error, the readings are durable.
	stored, err := s.insertAssumingNew(ctx, b.Readings, received)
	if isRepeat(err) {
		stored, err = s.insertOrSkip(ctx, insertArgs(b.Readings, received), b.Readings)
	}
	if err != nil {
		return store.InsertResult{}, fmt.Errorf("postgres: insert readings: %w", mapError(ctx, err))
	}
	return b.Result(stored), nil
}

// insertArgs returns the arguments of the insert statements: receivedAt,
// then one array per column.
func insertArgs(rs []thermowatt.Reading, receivedAt time.Time) []any {
	n := len(rs)
	var (
		deviceIDs   = make([]string, n)
		recordedAt  = make([]time.Time, n)
		serverTime  = make([]bool, n)
		temperature = make([]*float64, n)
		humidity    = make([]*float64, n)
		voltageV    = make([]*float64, n)
		currentMA   = make([]*float64, n)
		powerMW     = make([]*float64, n)
		payload     = make([]*string, n)
	)
	for i, r := range rs {
		deviceIDs[i] = r.DeviceID
		recordedAt[i] = r.RecordedAt
		serverTime[i] = r.ServerTime
		temperature[i] = r.Temperature
		humidity[i] = r.Humidity
		voltageV[i] = r.VoltageV
		currentMA[i] = r.CurrentMA
		powerMW[i] = r.PowerMW
		if r.Payload != nil {
			// Sent as text and cast in SQL: this keeps the JSON exactly as
			// given, whatever pgx would make of a json.RawMessage in an array.
			p := string(r.Payload)
			payload[i] = &p
		}
	}
	return []any{receivedAt, deviceIDs, recordedAt, serverTime,
		temperature, humidity, voltageV, currentMA, powerMW, payload}
}

// insertNew stores the batch assuming all of it is new (insertNewReadings)
// and updates the roll-ups, in one transaction; it fails with a unique
// violation (isRepeat) when some reading is stored already.
func (s *Store) insertNew(ctx context.Context, rs []thermowatt.Reading, args []any) ([]bool, error) {
	return s.writeWithRollups(ctx, rs,
		func(b *pgx.Batch) { b.Queue(insertNewReadings, args...) },
		func(br pgx.BatchResults) ([]bool, error) {
			var count int
			if err := br.QueryRow().Scan(&count); err != nil {
				return nil, err
			}
			if count != len(rs) {
				return nil, fmt.Errorf("the database reports storing %d of %d new readings", count, len(rs))
			}
			all := make([]bool, len(rs))
			for i := range all {
				all[i] = true
			}
			return all, nil
		})
}

// insertOrSkip stores the readings of the batch not stored yet
// (insertReadings), updates the roll-ups with them, and reports which.
func (s *Store) insertOrSkip(ctx context.Context, args []any, rs []thermowatt.Reading) ([]bool, error) {
	position := make(map[identity]int, len(rs))
	for i, r := range rs {
		position[identity{r.DeviceID, r.RecordedAt.UnixMicro()}] = i
	}
	return s.writeWithRollups(ctx, rs,
		func(b *pgx.Batch) { b.Queue(insertReadings, args...) },
		func(br pgx.BatchResults) ([]bool, error) {
			rows, err := br.Query()
			if err != nil {
				return nil, err
			}
			stored := make([]bool, len(rs))
			var (
				id identity
				at time.Time
			)
			_, err = pgx.ForEachRow(rows, []any{&id.deviceID, &at}, func() error {
				id.recordedAt = at.UnixMicro()
				i, ok := position[id]
				if !ok {
					return fmt.Errorf("the database reports storing a reading of %q at %v that was not sent", id.deviceID, at)
				}
				stored[i] = true
				return nil
			})
			return stored, err
		})
}

// isRepeat reports whether err is insertNewReadings finding a reading
// already stored: a unique violation of the readings' primary key.
func isRepeat(err error) bool {
	name, ok := violatedUnique(err)
	return ok && isReadingsKey(name)
}

// violatedUnique returns the name of the unique constraint err violates.
// Citus relays a worker's error with its message but without the
// constraint field, and an error of a COPY as an internal error (XX000):
// the name is then read from the message, which quotes it (in English:
// lc_messages must be left as it is).
func violatedUnique(err error) (string, bool) {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "23505" && pgErr.Code != "XX000" {
		return "", false
	}
	if pgErr.Code == "23505" && pgErr.ConstraintName != "" {
		return pgErr.ConstraintName, true
	}
	if m := violatedConstraint.FindStringSubmatch(pgErr.Message); m != nil {
		return m[1], true
	}
	return "", false
}

var violatedConstraint = regexp.MustCompile(`^duplicate key value violates unique constraint "([^"]+)"$`)

// readingsKey matches the name of the readings' primary key (migration
// 00003) as a unique violation reports it: on a partition (migration
// 00004) the partition's own copy (device_measurements_p20261207_pkey,
// device_measurements_past_pkey, device_measurements_default_pkey), and on
// Citus, where the worker holding the shard raises it, the shard's copy:
// that name, "_", and the shard id (device_measurements_pkey_102035).
var readingsKey = regexp.MustCompile(`^device_measurements(_p[0-9]{8}|_past|_default)?_pkey(_[0-9]+)?$`)

// isReadingsKey reports whether a constraint named name is the readings'
// primary key.
func isReadingsKey(name string) bool { return readingsKey.MatchString(name) }

// identity is what makes a reading unique, as a map key.
type identity struct {
	deviceID   string
	recordedAt int64 // unix microseconds
}

const selectReadings = `
SELECT id, device_id, recorded_at, received_at, server_time,
	temperature, humidity, voltage_v, current_ma, power_mw, payload
FROM device_measurements`

// QueryReadings returns readings newest first; see store.Store.
func (s *Store) QueryReadings(ctx context.Context, q store.Query) ([]thermowatt.Stored, error) {
	if q.Limit < 1 {
		return nil, fmt.Errorf("postgres: query readings: limit must be at least 1, got %d", q.Limit)
	}
	sql, args := readingsQuery(q)
	var out []thermowatt.Stored
	err := s.withRetry(ctx, func() error {
		rows, err := s.pool.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, scanReading)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: query readings: %w", mapError(ctx, err))
	}
	return out, nil
}

// readingsQuery returns the SQL and arguments for q. Only the bounds q sets
// appear in the WHERE clause, so that the planner sees plain conditions it
// can match to an index: (device_id, recorded_at) for one device,
// (recorded_at, id) for all.
func readingsQuery(q store.Query) (string, []any) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.DeviceID != "" {
		where = append(where, "device_id = "+arg(q.DeviceID))
	}
	if !q.From.IsZero() {
		where = append(where, "recorded_at >= "+arg(store.UTC(q.From)))
	}
	if !q.To.IsZero() {
		where = append(where, "recorded_at < "+arg(store.UTC(q.To)))
	}
	if q.After != nil {
		// Spelled out rather than as a row comparison so that the bound on
		// recorded_at alone is usable by the (device_id, recorded_at) index.
		at, id := arg(store.UTC(q.After.RecordedAt)), arg(q.After.ID)
		where = append(where, fmt.Sprintf("recorded_at <= %s AND (recorded_at < %s OR id < %s)", at, at, id))
	}
	var sql strings.Builder
	sql.WriteString(selectReadings)
	if len(where) > 0 {
		sql.WriteString("\nWHERE ")
		sql.WriteString(strings.Join(where, " AND "))
	}
	sql.WriteString("\nORDER BY recorded_at DESC, id DESC\nLIMIT " + arg(q.Limit))
	return sql.String(), args
}

func scanReading(row pgx.CollectableRow) (thermowatt.Stored, error) {
	var (
		r       thermowatt.Stored
		payload []byte
	)
	err := row.Scan(&r.ID, &r.DeviceID, &r.RecordedAt, &r.ReceivedAt, &r.ServerTime,
		&r.Temperature, &r.Humidity, &r.VoltageV, &r.CurrentMA, &r.PowerMW, &payload)
	if err != nil {
		return r, err
	}
	r.RecordedAt = r.RecordedAt.UTC()
	r.ReceivedAt = r.ReceivedAt.UTC()
	if payload != nil {
		r.Payload = payload
	}
	return r, nil
}
