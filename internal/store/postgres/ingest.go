package postgres

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// The ingest path, all of it. A batch (sorted by device, then time, and
// without repeats: store.Batch) is stored with three writes, in one
// transaction:
//
//  1. the readings, into device_measurements;
//  2. each device's counters (reading count, last-seen time, health) in its
//     state row (device_state, migration 00015), once per device
//     (countStored, countCopied): this locks the state rows, in id order,
//     and returns the interval each holds. A device not registered yet
//     fails the transaction (the foreign key to devices); it is registered
//     and the batch tried again (registerDevices);
//  3. the hours the readings change, marked as pending in rollup_pending,
//     once per device-hour (markStored, markCopied; store/rollups_pending.go
//     says which hours). The materializer (rollups.go) recomputes them
//     later: no roll-up arithmetic and no read of other readings happens
//     here, so no reading can fail because of it.
//
// The state rows' lock in step 2 is what keeps the marks right: the
// materializer share-locks the states of the hours it recomputes before
// it reads their readings, so a batch that found an hour already marked
// either committed before that read (and is seen) or marks the hour again
// after the materializer cleared it.
//
// It comes in three forms, by size and by whether the batch is new:
//
//   - insertNewReadings, tried first below copyMinReadings, assumes every
//     reading is new: a plain INSERT, which skips ON CONFLICT's speculative
//     insertion (an extra probe of the key, a lock and a WAL record per
//     row), answering with a count. A reading already stored (or being
//     stored by a concurrent batch, which it waits for) makes it fail with
//     a unique violation before it commits anything (isRepeat).
//   - COPY, tried first from copyMinReadings on, assumes the same and fails
//     the same way; it skips what made the statement cost twice the bulk
//     load per reading (parse and plan of a 10-array statement, per-row
//     projection, the text-to-jsonb cast, pgx's reflective array encoding).
//   - insertReadings, run when either found a repeat, skips the readings
//     stored already and returns those it stored.
//
// The two statements are each one round trip and their own transaction;
// COPY and its two follow-up statements run in one transaction (inTx). A
// batch reaching back to a day that may be compacted takes the same forms
// inside a transaction that first holds its devices' locks and reads
// their blocks (insertLocked).

var (
	insertNewReadings = `
WITH inserted AS (` + insertRows + `
	RETURNING ` + insertedColumns + `
)` + countStored + markStored + `
SELECT count(*) FROM inserted`

	insertReadings = `
WITH inserted AS (` + insertRows + `
	ON CONFLICT (device_id, recorded_at) DO NOTHING
	RETURNING ` + insertedColumns + `
)` + countStored + markStored + `
SELECT device_id, recorded_at FROM inserted`

	insertedColumns = `device_id, recorded_at, received_at,
		-- The device's report on itself (firmware, queue depth, ...):
		-- kept only when it is an object, so no payload can fail the batch.
		CASE WHEN jsonb_typeof(payload->'device') = 'object' THEN payload->'device' END AS health`

	countStored = `, accepted AS (
	SELECT device_id, count(*) AS n,
		-- when the device's readings arrived: requests sharing a commit
		-- each keep their own time
		max(received_at) AS last_received,
		-- the health of the newest stored reading that carried one
		(array_agg(health ORDER BY recorded_at DESC) FILTER (WHERE health IS NOT NULL))[1] AS health,
		max(recorded_at) FILTER (WHERE health IS NOT NULL) AS health_at
	FROM inserted GROUP BY device_id
), counted AS (
	-- An upsert rather than UPDATE ... FROM: it locks the state rows in the
	-- order of its SELECT, whereas a join's order is up to the planner, and
	-- it writes a device's first state (a device registered by SQL alone).
	-- A device not in devices fails it (the foreign key): InsertReadings
	-- registers it and tries again (registerDevices). A device none of
	-- whose readings is stored is left alone.
	INSERT INTO device_state AS d (device_id, last_seen_at, reading_count, health, health_at)
	SELECT device_id, last_received, n, health, health_at FROM accepted ORDER BY device_id
	ON CONFLICT (device_id) DO UPDATE
	SET last_seen_at = GREATEST(d.last_seen_at, EXCLUDED.last_seen_at),
	    reading_count = d.reading_count + EXCLUDED.reading_count,
	    -- a backfill of older readings does not replace newer health
	    health = CASE WHEN EXCLUDED.health_at > coalesce(d.health_at, '-infinity') THEN EXCLUDED.health ELSE d.health END,
	    health_at = GREATEST(d.health_at, EXCLUDED.health_at)
	RETURNING device_id AS id, expected_interval_s
)`

	// markStored marks the hours the stored readings change: for a reading
	// at t, every hour that [t - gap, t + gap] touches, gap being
	// rollup.MaxGap of the interval the device row holds (read from the
	// upsert, which has it locked).
	markStored = `, marked AS (` + markHours + `
	FROM (SELECT DISTINCT i.device_id, i.recorded_at, c.expected_interval_s
	      FROM inserted i JOIN counted c ON c.id = i.device_id) r` + markHoursEnd + `
)
`

	// markHours ... markHoursEnd insert the marks of rows r(device_id,
	// recorded_at, expected_interval_s), once per device-hour; $1 is when
	// (the call's receivedAt: of a group commit, its latest request's).
	markHours = `
	INSERT INTO rollup_pending (device_id, hour, marked_at)
	SELECT DISTINCT r.device_id, h.hour, $1::timestamptz`
	markHoursEnd = `
	CROSS JOIN LATERAL generate_series(
		date_bin('1 hour', r.recorded_at - make_interval(secs => 2 * greatest(r.expected_interval_s, 1)), timestamptz 'epoch'),
		date_bin('1 hour', r.recorded_at + make_interval(secs => 2 * greatest(r.expected_interval_s, 1)), timestamptz 'epoch'),
		interval '1 hour') AS h(hour)
	ORDER BY 1, 2
	ON CONFLICT (device_id, hour) DO NOTHING`
)

// readingColumns are the columns of device_measurements a reading is
// stored in (all but id, which its sequence fills), with their types: the
// one list the insert statements, COPY, the select (readings.go) and the
// partition moves (partitions.go) are written from. storedRow gives a
// reading's values in this order.
var readingColumns = []struct{ name, sqlType string }{
	{"device_id", "text"}, {"recorded_at", "timestamptz"}, {"received_at", "timestamptz"}, {"server_time", "boolean"},
	{"temperature", "float8"}, {"humidity", "float8"}, {"voltage_v", "float8"}, {"current_ma", "float8"}, {"power_mw", "float8"},
	{"pressure_hpa", "float8"}, {"folded", "int2"}, {"payload_shape", "int4"}, {"payload", "jsonb"},
}

// storedRow returns the values r is stored with, in readingColumns'
// order: its payload without what the columns hold (store.FoldReading,
// which reads it once), which members that leaves out, the pressure read
// from it, and its shape (payload_shapes.go) in place of the payload when
// it has one.
func (p *payloadShapes) storedRow(r *thermowatt.Reading) []any {
	c, payload, fold := store.FoldReading(*r)
	var shape, rest any // nil: SQL NULL
	if id := p.shapeOf(payload); id != 0 {
		shape = id
	} else if payload != nil {
		rest = []byte(payload)
	}
	return []any{r.DeviceID, r.RecordedAt, r.ReceivedAt, r.ServerTime,
		r.Temperature, r.Humidity, r.VoltageV, r.CurrentMA, r.PowerMW,
		c.PressureHPa, int16(fold), shape, rest}
}

// readingColumnList is readingColumns' names; readingColumnNames, the
// same comma-separated.
var (
	readingColumnList = func() []string {
		names := make([]string, len(readingColumns))
		for i, c := range readingColumns {
			names[i] = c.name
		}
		return names
	}()
	readingColumnNames = strings.Join(readingColumnList, ", ")
)

// insertRows inserts the readings given as one array per column ($2 on),
// the payload as text (cast here: this keeps the JSON exactly as given,
// whatever pgx would make of bytes in an array).
var insertRows = func() string {
	var arrays, values []string
	for i, c := range readingColumns {
		t, v := c.sqlType, "r."+c.name
		if t == "jsonb" {
			t, v = "text", v+"::jsonb"
		}
		arrays = append(arrays, fmt.Sprintf("$%d::%s[]", i+2, t))
		values = append(values, v)
	}
	return `
	INSERT INTO device_measurements (` + readingColumnNames + `)
	SELECT ` + strings.Join(values, ", ") + `
	FROM unnest(` + strings.Join(arrays, ", ") + `)
		AS r(` + readingColumnNames + `)`
}()

// InsertReadings stores rs in one transaction; see store.Store. On Citus
// (insertPerNode) each worker's share is a transaction of its own.
func (s *Store) InsertReadings(ctx context.Context, rs []thermowatt.Reading, receivedAt time.Time) (store.InsertResult, error) {
	if len(rs) == 0 {
		return store.InsertResult{}, nil
	}
	// The payloads earlier batches stored twice become shapes now, before
	// this batch's rows are made (payload_shapes.go).
	s.shapes.learn(ctx, s.pool)
	b := store.NewBatch(rs, receivedAt)
	received := store.UTC(receivedAt)
	stored, err := s.insert(ctx, b.Readings, received)
	if isUnknownDevice(err) {
		// A device not registered yet: registered once, then the readings
		// again. Devices are never deleted, so the second try finds them.
		// On Citus another worker's share may have been stored by the
		// first try (insertPerNode): those count as stored by this call,
		// not as the duplicates the second try finds.
		before := stored
		if err = s.registerDevices(ctx, b.Readings); err == nil {
			stored, err = s.insert(ctx, b.Readings, received)
		}
		for i := range before {
			if err == nil && before[i] {
				stored[i] = true
			}
		}
	}
	if err != nil {
		return store.InsertResult{}, fmt.Errorf("postgres: insert readings: %w", mapError(ctx, err))
	}
	return b.Result(stored), nil
}

// insert stores rs (sorted by device, then time, no repeats) in the form
// that fits them and reports which it stored.
func (s *Store) insert(ctx context.Context, rs []thermowatt.Reading, received time.Time) (stored []bool, err error) {
	// Each write is a transaction of its own: when it returns without
	// error, the readings are durable.
	if reachesCompactable(rs) {
		// A day of these may be compacted: see compaction.go.
		stored, err = s.insertLocked(ctx, rs, received, true)
		if isRepeat(err) {
			stored, err = s.insertLocked(ctx, rs, received, false)
		}
		return stored, err
	}
	switch {
	case len(rs) >= copyMinReadings:
		stored, err = s.insertNewByCopy(ctx, rs, received)
	case s.citusIngest:
		return s.insertPerNode(ctx, rs, received)
	default:
		stored, err = s.onPool(ctx, s.insertNewIn, rs, received)
	}
	if isRepeat(err) {
		stored, err = s.onPool(ctx, s.insertOrSkipIn, rs, received)
	}
	return stored, err
}

// reachesCompactable reports whether a batch has a reading old enough
// that its day may be compacted: it is then stored under the deviceLock
// of its devices (insertLocked).
func reachesCompactable(rs []thermowatt.Reading) bool {
	horizon := time.Now().Add(-lockedIngestAge)
	for _, r := range rs {
		if r.RecordedAt.Before(horizon) {
			return true
		}
	}
	return false
}

// insertLocked stores the readings of rs (sorted by device, then time)
// not stored yet, in one transaction holding the deviceLock of each of
// their devices, in id order: those a block holds already are
// duplicates, the others are stored as insert stores a batch that
// reaches no compactable day: assumed new (by COPY from copyMinReadings
// on, failing with a repeat as they do), or, with assumeNew false,
// through insertReadings. A backfill of old readings so costs one round
// trip more than new ones (the locks and the blocks' read), not a
// statement per device and the statement form for every size.
func (s *Store) insertLocked(ctx context.Context, rs []thermowatt.Reading, received time.Time, assumeNew bool) ([]bool, error) {
	var stored []bool
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		inBlock, err := s.lockReadingsInBlocks(ctx, tx, rs)
		if err != nil {
			return err
		}
		var (
			fresh    []thermowatt.Reading
			position []int
		)
		for i, r := range rs {
			if !inBlock[i] {
				fresh, position = append(fresh, r), append(position, i)
			}
		}
		stored = make([]bool, len(rs))
		if len(fresh) == 0 {
			return nil
		}
		var freshStored []bool
		switch {
		case !assumeNew || s.citus && len(fresh) < copyMinReadings:
			// (On Citus small batches keep the statement form the Citus
			// tests have run here: their fast path is the insert
			// function, which cannot join this transaction.)
			freshStored, err = s.insertOrSkipIn(ctx, tx, fresh, received)
		case len(fresh) >= copyMinReadings:
			freshStored, err = s.copyNewIn(ctx, tx, fresh, received)
		default:
			freshStored, err = s.insertNewIn(ctx, tx, fresh, received)
		}
		if err != nil {
			return err
		}
		for k, i := range position {
			stored[i] = freshStored[k]
		}
		return nil
	})
	return stored, err
}

// registerDevices registers the devices of rs (sorted by device) not
// registered yet, each with its state row, created when its first reading
// of rs was received.
func (s *Store) registerDevices(ctx context.Context, rs []thermowatt.Reading) error {
	cd := copiedDevices(rs)
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var b pgx.Batch
		b.Queue(`INSERT INTO devices (id, created_at) SELECT * FROM unnest($1::text[], $2::timestamptz[]) ORDER BY 1
			ON CONFLICT (id) DO NOTHING`, cd.ids, cd.firstReceived)
		b.Queue(`INSERT INTO device_state (device_id) SELECT * FROM unnest($1::text[]) ORDER BY 1
			ON CONFLICT (device_id) DO NOTHING`, cd.ids)
		return tx.SendBatch(ctx, &b).Close()
	})
}

// isUnknownDevice reports whether err is a foreign key violation: a
// reading's or a state row's device not in devices. Citus relays a
// worker's error without the constraint's name, so the code decides.
func isUnknownDevice(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "23503" ||
		pgErr.Code == "XX000" && strings.Contains(pgErr.Message, "violates foreign key constraint"))
}

// inTx runs fn in a transaction, retried as withRetry says: the one
// transaction helper of the write path.
func (s *Store) inTx(ctx context.Context, fn func(pgx.Tx) error) error {
	return s.withRetry(ctx, func() error { return pgx.BeginFunc(ctx, s.pool, fn) })
}

// insertForm is one of the insert statements' forms (insertNewIn,
// insertOrSkipIn), run by q: the pool, or a transaction (insertLocked).
type insertForm func(ctx context.Context, q querier, rs []thermowatt.Reading, received time.Time) ([]bool, error)

// onPool runs form as a transaction of its own, retried as withRetry says.
func (s *Store) onPool(ctx context.Context, form insertForm, rs []thermowatt.Reading, received time.Time) (stored []bool, err error) {
	err = s.withRetry(ctx, func() error {
		stored, err = form(ctx, s.pool, rs, received)
		return err
	})
	return stored, err
}

// insertNewIn stores rs assuming all of it is new (insertNewReadings).
func (s *Store) insertNewIn(ctx context.Context, q querier, rs []thermowatt.Reading, received time.Time) ([]bool, error) {
	var count int
	if err := q.QueryRow(ctx, insertNewReadings, insertArgs(&s.shapes, rs, received)...).Scan(&count); err != nil {
		return nil, err
	}
	if count != len(rs) {
		return nil, fmt.Errorf("the database reports storing %d of %d new readings", count, len(rs))
	}
	return allStored(len(rs)), nil
}

// insertOrSkipIn stores the readings of rs not stored yet
// (insertReadings) and reports which.
func (s *Store) insertOrSkipIn(ctx context.Context, q querier, rs []thermowatt.Reading, received time.Time) ([]bool, error) {
	position := make(map[identity]int, len(rs))
	for i, r := range rs {
		position[identity{r.DeviceID, r.RecordedAt.UnixMicro()}] = i
	}
	rows, err := q.Query(ctx, insertReadings, insertArgs(&s.shapes, rs, received)...)
	if err != nil {
		return nil, err
	}
	stored := make([]bool, len(rs))
	return stored, setStored(rows, position, stored)
}

// setStored sets stored[i] for each reading rows (device_id,
// recorded_at) reports stored, i its position.
func setStored(rows pgx.Rows, position map[identity]int, stored []bool) error {
	var (
		id identity
		at time.Time
	)
	_, err := pgx.ForEachRow(rows, []any{&id.deviceID, &at}, func() error {
		id.recordedAt = at.UnixMicro()
		i, ok := position[id]
		if !ok {
			return fmt.Errorf("the database reports storing a reading of %q at %v that was not sent", id.deviceID, at)
		}
		stored[i] = true
		return nil
	})
	return err
}

// insertArgs returns the arguments of the insert statements: receivedAt
// (when the hours were marked), then one array per column of
// readingColumns, typed for pgx to send as arrays of that type.
func insertArgs(shapes *payloadShapes, rs []thermowatt.Reading, receivedAt time.Time) []any {
	n := len(rs)
	args := []any{receivedAt}
	for _, c := range readingColumns {
		switch c.sqlType {
		case "text":
			args = append(args, make([]string, n))
		case "timestamptz":
			args = append(args, make([]time.Time, n))
		case "boolean":
			args = append(args, make([]bool, n))
		case "float8":
			args = append(args, make([]*float64, n))
		case "int2":
			args = append(args, make([]int16, n))
		case "int4":
			args = append(args, make([]*int32, n))
		case "jsonb":
			args = append(args, make([]*string, n))
		default:
			panic("postgres: no array for a column of type " + c.sqlType)
		}
	}
	for i := range rs {
		for k, v := range shapes.storedRow(&rs[i]) {
			switch a := args[k+1].(type) {
			case []string:
				a[i] = v.(string)
			case []time.Time:
				a[i] = v.(time.Time)
			case []bool:
				a[i] = v.(bool)
			case []*float64:
				a[i] = v.(*float64)
			case []int16:
				a[i] = v.(int16)
			case []*int32:
				if v != nil {
					id := v.(int32)
					a[i] = &id
				}
			case []*string:
				if v != nil {
					p := string(v.([]byte))
					a[i] = &p
				}
			}
		}
	}
	return args
}

func allStored(n int) []bool {
	all := make([]bool, n)
	for i := range all {
		all[i] = true
	}
	return all
}

// copyMinReadings is the size from which a batch assumed new goes through
// binary COPY rather than insertNewReadings. COPY needs a transaction of
// three statements where the insert statement is one, so small groups of
// single readings keep the statement.
const copyMinReadings = 100

var (
	// countCopied is countStored for readings that arrived by COPY, with
	// the per-device figures computed in Go (copiedDevices). Rows are
	// locked in id order, as countStored does.
	countCopied = `
INSERT INTO device_state AS d (device_id, last_seen_at, reading_count, health, health_at)
SELECT u.id, u.last_received, u.n, u.health::jsonb, u.health_at
FROM unnest($1::text[], $2::int8[], $3::text[], $4::timestamptz[], $5::timestamptz[])
	AS u(id, n, health, health_at, last_received)
ORDER BY u.id
ON CONFLICT (device_id) DO UPDATE
SET last_seen_at = GREATEST(d.last_seen_at, EXCLUDED.last_seen_at),
    reading_count = d.reading_count + EXCLUDED.reading_count,
    health = CASE WHEN EXCLUDED.health_at > coalesce(d.health_at, '-infinity') THEN EXCLUDED.health ELSE d.health END,
    health_at = GREATEST(d.health_at, EXCLUDED.health_at)
RETURNING device_id, expected_interval_s`

	// markCopied is markStored for readings that arrived by COPY, each
	// with its device's interval as countCopied returned it (it holds the
	// device rows locked, in the same transaction). Given rather than
	// joined: on Citus a join of device_state with the arrays is planned
	// across shards and, deparsed there, fails.
	markCopied = markHours + `
	FROM (SELECT DISTINCT u.device_id, u.recorded_at, u.expected_interval_s
	      FROM unnest($2::text[], $3::timestamptz[], $4::int4[]) AS u(device_id, recorded_at, expected_interval_s)) r` + markHoursEnd
)

// insertNewByCopy stores rs assuming all are new, in one transaction:
// COPY into device_measurements, then the device counters and the marks
// (copyNewIn). A reading already stored (or being stored by a concurrent
// transaction, which COPY waits for) fails the COPY with the same unique
// violation as insertNewReadings (isRepeat), and nothing is committed.
func (s *Store) insertNewByCopy(ctx context.Context, rs []thermowatt.Reading, received time.Time) (stored []bool, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		stored, err = s.copyNewIn(ctx, tx, rs, received)
		return err
	})
	return stored, err
}

// copyNewIn is insertNewByCopy's three statements, in tx.
func (s *Store) copyNewIn(ctx context.Context, tx pgx.Tx, rs []thermowatt.Reading, received time.Time) ([]bool, error) {
	cd := copiedDevices(rs)
	devices, times := make([]string, len(rs)), make([]time.Time, len(rs))
	for i, r := range rs {
		devices[i], times[i] = r.DeviceID, r.RecordedAt
	}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{"device_measurements"}, readingColumnList,
		pgx.CopyFromSlice(len(rs), func(i int) ([]any, error) { return s.shapes.storedRow(&rs[i]), nil }))
	if err != nil {
		return nil, err
	}
	if int(n) != len(rs) {
		return nil, fmt.Errorf("the database reports copying %d of %d new readings", n, len(rs))
	}
	rows, err := tx.Query(ctx, countCopied, cd.ids, cd.counts, cd.health, cd.healthAt, cd.lastReceived)
	if err != nil {
		return nil, err
	}
	var (
		id       string
		interval int32
	)
	byDevice := make(map[string]int32, len(cd.ids))
	if _, err := pgx.ForEachRow(rows, []any{&id, &interval}, func() error {
		byDevice[id] = interval
		return nil
	}); err != nil {
		return nil, err
	}
	intervals := make([]int32, len(rs))
	for i, r := range rs {
		intervals[i] = byDevice[r.DeviceID]
	}
	if _, err = tx.Exec(ctx, markCopied, received, devices, times, intervals); err != nil {
		return nil, err
	}
	return allStored(len(rs)), nil
}

// devicesCopied is, per device of a copied batch, what countCopied sets:
// one array per column.
type devicesCopied struct {
	ids                         []string
	counts                      []int64
	health                      []*string
	healthAt                    []*time.Time
	firstReceived, lastReceived []time.Time
}

// copiedDevices returns, per device of rs (sorted by device, then time),
// its number of readings, the first and last time its readings were
// received, and the device's report on itself (payload.device, when an
// object) of its newest reading carrying one.
func copiedDevices(rs []thermowatt.Reading) devicesCopied {
	var cd devicesCopied
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
		first, last := rs[start].ReceivedAt, rs[start].ReceivedAt
		for _, r := range rs[start+1 : end] {
			first, last = minTime(first, r.ReceivedAt), maxTime(last, r.ReceivedAt)
		}
		cd.ids = append(cd.ids, rs[start].DeviceID)
		cd.counts = append(cd.counts, int64(end-start))
		cd.health = append(cd.health, h)
		cd.healthAt = append(cd.healthAt, at)
		cd.firstReceived = append(cd.firstReceived, first)
		cd.lastReceived = append(cd.lastReceived, last)
		end = start
	}
	return cd
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// isRepeat reports whether err is insertNewReadings or COPY finding a
// reading already stored: a unique violation of the readings' primary key.
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

// On Citus the statements above are planned step by step: each CTE that
// writes becomes an intermediate result on the coordinator and the
// inserts from unnest are collected there and sent on, a round trip each,
// and a commit spanning devices on different workers is a two-phase
// commit. So there the readings go to a function, citusInsertFunction,
// that Citus runs on a worker (create_distributed_function, distributed by
// its first argument, co-located with the readings: DistributeCitus): one
// round trip from the coordinator, its statements run on that worker,
// each naming one device (Citus's fast path), and its commit the worker's
// alone. insertPerNode sends each worker the readings of the devices whose
// shards it holds, so every statement of the function is local to it.
// (Should a shard have moved since, its statements still reach it, from
// the worker, only slower.) The function does what the statements above
// do: stores the readings new to the table, counts them in each device's
// state row (locked in id order, as above) and marks their hours with the
// interval that row holds.

// citusInsertFunction is the function's name, created in the schema the
// tables are in.
const citusInsertFunction = "thermowatt_insert_readings"

// citusInsertFunctionSQL is its definition: p_route, a device whose
// worker runs it, the marks' time, then one array per column of
// readingColumns (the payload as text, as insertRows takes it), sorted by
// device then time. It returns the device and recorded_at of the readings
// it stored.
var citusInsertFunctionSQL = func() string {
	var params, literals, arrays, names []string
	for _, c := range readingColumns {
		t := c.sqlType
		if t == "jsonb" {
			t = "text"
		}
		params = append(params, "p_"+c.name+" "+t+"[]")
		arrays = append(arrays, "p_"+c.name)
		names = append(names, c.name)
		literals = append(literals, "%L")
	}
	return `CREATE OR REPLACE FUNCTION ` + citusInsertFunction + `(p_route text, p_marked timestamptz, ` + strings.Join(params, ", ") + `)
RETURNS TABLE (device_id text, recorded_at timestamptz) LANGUAGE plpgsql SET search_path FROM CURRENT AS $fn$
-- device_id and recorded_at in a statement are the tables' columns
#variable_conflict use_column
DECLARE
	stored_ids text[];
	stored_at timestamptz[];
	state_ids text[];
	intervals int[];
	values_list text;
BEGIN
	-- Three statements, each a multi-row INSERT of literal values, which
	-- Citus sends to each shard of this node as one local statement (its
	-- fast path; an INSERT ... SELECT would be collected and sent on):
	-- the readings, new ones only,
	SELECT string_agg(format('(` + strings.Join(literals, ", ") + `)', ` + strings.Join(names, ", ") + `), ', ' ORDER BY o)
	INTO values_list
	FROM unnest(` + strings.Join(arrays, ", ") + `) WITH ORDINALITY AS r(` + strings.Join(names, ", ") + `, o);
	IF values_list IS NULL THEN
		RETURN;
	END IF;
	EXECUTE 'WITH s AS (INSERT INTO device_measurements (` + readingColumnNames + `) VALUES ' || values_list ||
		' ON CONFLICT (device_id, recorded_at) DO NOTHING RETURNING device_id, recorded_at)
		SELECT array_agg(device_id), array_agg(recorded_at) FROM s'
	INTO stored_ids, stored_at;
	IF stored_ids IS NULL THEN
		RETURN;
	END IF;
	-- each device's count, last-seen time and health (of its newest
	-- stored reading carrying one), its state row locked in id order,
	SELECT string_agg(format('(%L, %L, %s, %L, %L)', a.id, a.last_received, a.n, a.health, a.health_at), ', ' ORDER BY a.id)
	INTO values_list
	FROM (SELECT r.device_id AS id, max(r.received_at) AS last_received, count(*) AS n,
			(array_agg(r.health ORDER BY r.recorded_at DESC) FILTER (WHERE r.health IS NOT NULL))[1] AS health,
			max(r.recorded_at) FILTER (WHERE r.health IS NOT NULL) AS health_at
		FROM (SELECT u.device_id, u.recorded_at, u.received_at,
				CASE WHEN jsonb_typeof(u.payload::jsonb -> 'device') = 'object' THEN u.payload::jsonb -> 'device' END AS health
			FROM unnest(p_device_id, p_recorded_at, p_received_at, p_payload) AS u(device_id, recorded_at, received_at, payload)
			JOIN unnest(stored_ids, stored_at) AS s(device_id, recorded_at)
				ON s.device_id = u.device_id AND s.recorded_at = u.recorded_at) r
		GROUP BY r.device_id) a;
	EXECUTE 'WITH s AS (INSERT INTO device_state AS d (device_id, last_seen_at, reading_count, health, health_at) VALUES ' || values_list || '
		ON CONFLICT (device_id) DO UPDATE
		SET last_seen_at = GREATEST(d.last_seen_at, EXCLUDED.last_seen_at),
		    reading_count = d.reading_count + EXCLUDED.reading_count,
		    health = CASE WHEN EXCLUDED.health_at > coalesce(d.health_at, ''-infinity'') THEN EXCLUDED.health ELSE d.health END,
		    health_at = GREATEST(d.health_at, EXCLUDED.health_at)
		RETURNING device_id, expected_interval_s)
		SELECT array_agg(device_id), array_agg(expected_interval_s) FROM s'
	INTO state_ids, intervals;
	-- and the hours markHours marks, with the interval each row holds.
	SELECT string_agg(format('(%L, %L, %L)', m.id, m.hour, p_marked), ', ' ORDER BY m.id, m.hour)
	INTO values_list
	FROM (SELECT DISTINCT s.device_id AS id, h.hour
		FROM unnest(stored_ids, stored_at) AS s(device_id, recorded_at)
		JOIN unnest(state_ids, intervals) AS i(device_id, interval_s) ON i.device_id = s.device_id
		CROSS JOIN LATERAL generate_series(
			date_bin('1 hour', s.recorded_at - make_interval(secs => 2 * greatest(i.interval_s, 1)), timestamptz 'epoch'),
			date_bin('1 hour', s.recorded_at + make_interval(secs => 2 * greatest(i.interval_s, 1)), timestamptz 'epoch'),
			interval '1 hour') AS h(hour)) m;
	EXECUTE 'INSERT INTO rollup_pending (device_id, hour, marked_at) VALUES ' || values_list ||
		' ON CONFLICT (device_id, hour) DO NOTHING';
	RETURN QUERY SELECT s.device_id, s.recorded_at FROM unnest(stored_ids, stored_at) AS s(device_id, recorded_at);
END
$fn$`
}()

// citusInsertFunctionArgs is the function's signature, for
// create_distributed_function.
var citusInsertFunctionArgs = func() string {
	types := []string{"text", "timestamptz"}
	for _, c := range readingColumns {
		t := c.sqlType
		if t == "jsonb" {
			t = "text"
		}
		types = append(types, t+"[]")
	}
	return citusInsertFunction + "(" + strings.Join(types, ", ") + ")"
}()

// citusInsertCall calls the function: the route, then insertArgs'
// arguments.
var citusInsertCall = func() string {
	ps := []string{"$1", "$2"}
	for i := range readingColumns {
		ps = append(ps, fmt.Sprintf("$%d", i+3))
	}
	return "SELECT * FROM " + citusInsertFunction + "(" + strings.Join(ps, ", ") + ")"
}()

// insertPerNode stores rs (sorted by device, then time) through the
// function, one call per worker holding their devices' shards, the calls
// at once, each a transaction of its own (autocommit: Citus runs a
// function on a worker only outside a transaction block), and reports
// which it stored. A call's failure fails the whole; the other calls'
// readings are durable, and a retry finds them stored (duplicates, which a
// device treats as success).
func (s *Store) insertPerNode(ctx context.Context, rs []thermowatt.Reading, received time.Time) ([]bool, error) {
	nodes, err := s.nodes.of(ctx, s.pool, rs)
	if err != nil {
		return nil, err
	}
	groups := map[int32][]int{} // node: positions in rs, in rs's order
	var order []int32
	for i, r := range rs {
		n := nodes[r.DeviceID]
		if _, ok := groups[n]; !ok {
			order = append(order, n)
		}
		groups[n] = append(groups[n], i)
	}
	stored := make([]bool, len(rs))
	one := func(positions []int) error {
		part := make([]thermowatt.Reading, len(positions))
		index := make(map[identity]int, len(positions))
		for k, i := range positions {
			part[k] = rs[i]
			index[identity{rs[i].DeviceID, rs[i].RecordedAt.UnixMicro()}] = i
		}
		args := append([]any{part[0].DeviceID}, insertArgs(&s.shapes, part, received)...)
		return s.withRetry(ctx, func() error {
			rows, err := s.pool.Query(ctx, citusInsertCall, args...)
			if err != nil {
				return err
			}
			return setStored(rows, index, stored)
		})
	}
	if len(order) == 1 {
		return stored, one(groups[order[0]])
	}
	errs := make([]error, len(order))
	var wg sync.WaitGroup
	for k, n := range order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[k] = one(groups[n])
		}()
	}
	wg.Wait()
	return stored, errors.Join(errs...)
}

// deviceNodes remembers which Citus node holds each device's shards (of
// the readings, and so of everything co-located with them).
type deviceNodes struct {
	mu    sync.Mutex
	nodes map[string]int32
}

// maxDeviceNodes bounds what deviceNodes remembers; past it, it starts
// over (a fleet larger than that pays one more lookup per device).
const maxDeviceNodes = 1 << 20

// of returns the node of each device of rs, asking the coordinator's
// metadata for those it does not know yet.
func (dn *deviceNodes) of(ctx context.Context, q querier, rs []thermowatt.Reading) (map[string]int32, error) {
	dn.mu.Lock()
	out := make(map[string]int32, 4)
	var unknown []string
	for i, r := range rs {
		if i > 0 && r.DeviceID == rs[i-1].DeviceID {
			continue
		}
		if n, ok := dn.nodes[r.DeviceID]; ok {
			out[r.DeviceID] = n
		} else {
			unknown = append(unknown, r.DeviceID)
		}
	}
	dn.mu.Unlock()
	if len(unknown) == 0 {
		return out, nil
	}
	rows, err := q.Query(ctx, `
		SELECT d.id, p.groupid FROM unnest($1::text[]) AS d(id)
		CROSS JOIN LATERAL get_shard_id_for_distribution_column('device_measurements', d.id) AS s(shardid)
		JOIN pg_dist_placement p ON p.shardid = s.shardid`, unknown)
	if err != nil {
		return nil, err
	}
	var (
		id    string
		group int32
	)
	found := make(map[string]int32, len(unknown))
	if _, err := pgx.ForEachRow(rows, []any{&id, &group}, func() error {
		found[id] = group
		return nil
	}); err != nil {
		return nil, err
	}
	dn.mu.Lock()
	defer dn.mu.Unlock()
	if dn.nodes == nil || len(dn.nodes)+len(found) > maxDeviceNodes {
		dn.nodes = make(map[string]int32)
	}
	for id, n := range found {
		dn.nodes[id] = n
		out[id] = n
	}
	return out, nil
}
