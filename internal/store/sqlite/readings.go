package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	sqlite3 "modernc.org/sqlite/lib"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// InsertReadings stores rs in one transaction; see store.Store.
//
// Statements run one row at a time: SQLite is in-process, so a statement
// costs microseconds, not a network round trip, and RowsAffected tells
// exactly which readings were new. Writers never run concurrently (the
// write pool has one connection), which makes the duplicate counts exact.
func (s *Store) InsertReadings(ctx context.Context, rs []thermowatt.Reading, receivedAt time.Time) (store.InsertResult, error) {
	if len(rs) == 0 {
		return store.InsertResult{}, nil
	}
	b := store.NewBatch(rs, receivedAt)
	stored, err := s.insertBatch(ctx, b, micros(receivedAt))
	if err != nil {
		return store.InsertResult{}, fmt.Errorf("sqlite: insert readings: %w", mapError(ctx, err))
	}
	return b.Result(stored), nil
}

// The statements of insertBatch, prepared once on the write connection
// (writeQueries): compiling them for every batch cost more than running
// them for a small one.
const (
	registerDevice = `INSERT INTO devices (id, created_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`
	// and its state row (migration 00015), which countReadings updates
	registerState = `INSERT INTO device_state (device_id) VALUES (?) ON CONFLICT (device_id) DO NOTHING`
	// One statement per device and commit: its count, its last-seen time
	// (only forward, whatever order batches commit in) and, when ?4 is
	// not NULL, its health as of ?5 unless newer health is stored. The
	// fleet profile showed a statement per device per purpose (count,
	// health) as much of a commit's cost.
	countReadings = `
		UPDATE device_state
		SET last_seen_at = max(coalesce(last_seen_at, ?1), ?1),
		    reading_count = reading_count + ?2,
		    health = CASE WHEN ?4 IS NOT NULL AND (health_at IS NULL OR health_at < ?5) THEN ?4 ELSE health END,
		    health_at = CASE WHEN ?4 IS NOT NULL AND (health_at IS NULL OR health_at < ?5) THEN ?5 ELSE health_at END
		WHERE device_id = ?3`
)

// readingColumns are the columns of device_measurements a reading is
// stored in (all but id, which SQLite fills): the one list the inserts
// and the select are written from. appendReadingArgs gives a reading's
// values in this order, scanReading reads them in it.
var readingColumns = []string{"device_id", "recorded_at", "received_at", "server_time",
	"temperature", "humidity", "voltage_v", "current_ma", "power_mw", "pressure_hpa", "folded", "payload"}

var (
	readingColumnNames = strings.Join(readingColumns, ", ")
	insertRowsPrefix   = "INSERT INTO device_measurements (" + readingColumnNames + ") VALUES "
	readingValues      = "(" + strings.TrimSuffix(strings.Repeat("?, ", len(readingColumns)), ", ") + ")"
	// One reading, skipping it when it is stored already (insertChunk).
	insertReading = insertRowsPrefix + readingValues + `
		ON CONFLICT (device_id, recorded_at) DO NOTHING`
)

// insertBatch does the work of InsertReadings and reports which of
// b.Readings it stored. Each reading is stored with its own ReceivedAt
// (set by NewBatch); received is the call's, when the hours were marked.
func (s *Store) insertBatch(ctx context.Context, b store.Batch, received int64) (_ []bool, err error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()

	// The driver watches a cancellable context with a goroutine and a
	// progress handler for every statement; for one short INSERT per
	// reading that cost as much as running it. So the statements run under
	// a context the driver need not watch (stmtCtx) and the loops check ctx
	// themselves: a cancelled batch stops before its next row and rolls
	// back (database/sql also rolls tx back when ctx ends).
	stmtCtx := context.WithoutCancel(ctx)

	register, err := s.writeStmts.inTx(ctx, tx, registerDevice)
	if err != nil {
		return nil, err
	}
	registerSt, err := s.writeStmts.inTx(ctx, tx, registerState)
	if err != nil {
		return nil, err
	}
	for _, d := range firstReceived(b.Readings) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if _, err := register.ExecContext(stmtCtx, d.id, d.at); err != nil {
			return nil, err
		}
		if _, err := registerSt.ExecContext(stmtCtx, d.id); err != nil {
			return nil, err
		}
	}

	// Readings of compacted days already in their blocks are duplicates;
	// the others are stored as rows, as any. Most batches are of days no
	// block covers, which one probe of the blocks' day index tells.
	var (
		compacted    []bool
		anyCompacted bool
	)
	if blocks, err := s.blocksMayHold(ctx, stmtCtx, tx, b.Readings); err != nil {
		return nil, err
	} else if blocks {
		if compacted, anyCompacted, err = inBlocks(ctx, tx, b.Readings); err != nil {
			return nil, err
		}
	}
	fresh, position := b.Readings, []int(nil)
	if anyCompacted {
		fresh = nil
		for i, r := range b.Readings {
			if !compacted[i] {
				fresh, position = append(fresh, r), append(position, i)
			}
		}
	}
	storedFresh := make([]bool, len(fresh))
	for start := 0; start < len(fresh); {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		end := start + chunkSize(len(fresh)-start)
		if err := s.insertChunk(ctx, stmtCtx, tx, fresh[start:end], storedFresh[start:end]); err != nil {
			return nil, err
		}
		start = end
	}
	stored := storedFresh
	if anyCompacted {
		stored = make([]bool, len(b.Readings))
		for k, i := range position {
			stored[i] = storedFresh[k]
		}
	}
	count, err := s.writeStmts.inTx(ctx, tx, countReadings)
	if err != nil {
		return nil, err
	}
	// Readings are sorted by device, then time: each device's run is
	// counted, and its newest reading with a report on itself found from
	// the end of the run.
	for end := len(b.Readings); end > 0; {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		start := end - 1
		for start > 0 && b.Readings[start-1].DeviceID == b.Readings[end-1].DeviceID {
			start--
		}
		n := 0
		var health, healthAt any // NULL unless a stored reading carries health
		var lastReceived int64   // of the device's stored readings
		for i := end - 1; i >= start; i-- {
			if !stored[i] {
				continue
			}
			n++
			lastReceived = max(lastReceived, micros(b.Readings[i].ReceivedAt))
			if health == nil {
				if d, ok := store.DeviceReport(b.Readings[i].Payload); ok {
					health, healthAt = d, micros(b.Readings[i].RecordedAt)
				}
			}
		}
		if n > 0 {
			if _, err := count.ExecContext(stmtCtx, lastReceived, n, b.Readings[start].DeviceID, health, healthAt); err != nil {
				return nil, err
			}
		}
		end = start
	}
	if err := s.markStored(stmtCtx, tx, b.Readings, stored, received); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return stored, nil
}

// deviceReceived is when a device's first reading of a batch was received.
type deviceReceived struct {
	id string
	at int64 // unix microseconds
}

// firstReceived returns, per device of rs (sorted by device: store.Batch),
// in that order, the earliest ReceivedAt of its readings: its created_at
// if the batch registers it.
func firstReceived(rs []thermowatt.Reading) []deviceReceived {
	out := make([]deviceReceived, 0, 4)
	for _, r := range rs {
		at := micros(r.ReceivedAt)
		if n := len(out); n > 0 && out[n-1].id == r.DeviceID {
			out[n-1].at = min(out[n-1].at, at)
			continue
		}
		out = append(out, deviceReceived{r.DeviceID, at})
	}
	return out
}

// chunkSizes are the numbers of readings a multi-row INSERT takes (12
// parameters each, far below SQLite's limit of 32,766), largest first: a
// batch is stored in chunks of these sizes, whose statements are prepared
// when the store opens (insertRowsQueries). A statement of any other size
// was compiled in the transaction, every time: 12 % of the server's CPU
// for 500-reading batches (their last chunk), and a commit of single
// readings (a group of any size) compiled one each time too.
var chunkSizes = []int{100, 64, 32, 16, 8, 4, 2, 1}

// chunkSize is the size of the next chunk of n readings left to store.
func chunkSize(n int) int {
	for _, size := range chunkSizes {
		if size <= n {
			return size
		}
	}
	return n
}

// insertRowsQueries are the INSERTs of chunkSizes, prepared at open.
func insertRowsQueries() []string {
	qs := make([]string, len(chunkSizes))
	for i, n := range chunkSizes {
		qs[i] = insertRowsSQL(n)
	}
	return qs
}

// blocksAround asks whether any compacted day lies in a span of time:
// through the blocks' day index, for the whole batch at once.
const blocksAround = `SELECT EXISTS (SELECT 1 FROM reading_blocks WHERE day >= ? AND day <= ?)`

// blocksMayHold reports whether a compacted day may hold readings of rs:
// some block's day lies within their times. When none does (ingest of
// recent readings), no device's blocks need be read.
func (s *Store) blocksMayHold(ctx, stmtCtx context.Context, tx *sql.Tx, rs []thermowatt.Reading) (bool, error) {
	from, to := micros(rs[0].RecordedAt), micros(rs[0].RecordedAt)
	for _, r := range rs[1:] {
		at := micros(r.RecordedAt)
		from, to = min(from, at), max(to, at)
	}
	st, err := s.writeStmts.inTx(ctx, tx, blocksAround)
	if err != nil {
		return false, err
	}
	var found bool
	err = st.QueryRowContext(stmtCtx, dayStart(from), to).Scan(&found)
	return found, err
}

// insertChunk stores rs and marks in stored which were new. It first
// inserts them all in one statement that assumes every reading is new:
// the common case, and one statement instead of one per reading (the
// per-statement overhead of database/sql and the driver was most of a
// reading's cost outside SQLite's b-trees). A repeat makes SQLite abort
// that statement alone, undoing its rows while the transaction goes on;
// the chunk then goes row by row with ON CONFLICT DO NOTHING, which
// tells exactly which readings were new.
func (s *Store) insertChunk(ctx, stmtCtx context.Context, tx *sql.Tx, rs []thermowatt.Reading, stored []bool) error {
	all, err := s.writeStmts.inTx(ctx, tx, insertRowsSQL(len(rs)))
	if err != nil {
		return err
	}
	args := make([]any, 0, len(readingColumns)*len(rs))
	for _, r := range rs {
		args = appendReadingArgs(args, r)
	}
	_, err = all.ExecContext(stmtCtx, args...)
	if err == nil {
		for i := range stored {
			stored[i] = true
		}
		return nil
	}
	if !isConstraint(err, sqlite3.SQLITE_CONSTRAINT_UNIQUE) {
		return err
	}
	one, err := s.writeStmts.inTx(ctx, tx, insertReading)
	if err != nil {
		return err
	}
	for i, r := range rs {
		if err := ctx.Err(); err != nil {
			return err
		}
		res, err := one.ExecContext(stmtCtx, appendReadingArgs(args[:0], r)...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		stored[i] = n > 0
	}
	return nil
}

// appendReadingArgs appends r's values in readingColumns' order: its
// payload without what the columns hold (store.FoldReading), which
// members that leaves out, and the pressure read from it.
func appendReadingArgs(args []any, r thermowatt.Reading) []any {
	c, rest, fold := store.FoldReading(r)
	var payload any // nil: SQL NULL
	if rest != nil {
		payload = string(rest)
	}
	return append(args, r.DeviceID, micros(r.RecordedAt), micros(r.ReceivedAt), r.ServerTime,
		nullFloat(r.Temperature), nullFloat(r.Humidity), nullFloat(r.VoltageV), nullFloat(r.CurrentMA), nullFloat(r.PowerMW),
		nullFloat(c.PressureHPa), int64(fold), payload)
}

// insertRowsSQL is a plain INSERT of n readings: without ON CONFLICT, so
// that a repeat fails it (see insertChunk).
func insertRowsSQL(n int) string {
	return insertRowsPrefix + strings.TrimSuffix(strings.Repeat(readingValues+",", n), ",")
}

var selectReadings = `
SELECT id, ` + readingColumnNames + `
FROM device_measurements`

// deviceIndex is the index one device's readings are read by: it holds
// every column in the order asked for (migration 00003), so a page of a
// device is one short range of it and no table row. It is named (INDEXED
// BY) because device_measurements_device_recorded begins with the same
// columns and is narrower: statistics (ANALYZE) could make SQLite prefer
// it and then read each row from the table.
const deviceIndex = "\nINDEXED BY device_measurements_device_rows"

// QueryReadings returns readings newest first; see store.Store.
func (s *Store) QueryReadings(ctx context.Context, q store.Query) ([]thermowatt.Stored, error) {
	if q.Limit < 1 {
		return nil, fmt.Errorf("sqlite: query readings: limit must be at least 1, got %d", q.Limit)
	}
	query, args := readingsQuery(q)
	// readingsQuery builds one of a few texts (which bounds are set), so
	// each is compiled once per connection and kept.
	rows, err := s.readStmts.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: query readings: %w", mapError(ctx, err))
	}
	defer rows.Close()
	var out []thermowatt.Stored
	for rows.Next() {
		r, err := scanReading(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: query readings: %w", mapError(ctx, err))
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: query readings: %w", mapError(ctx, err))
	}
	out, err = withBlocks(ctx, s.read, q, out)
	if err != nil {
		return nil, fmt.Errorf("sqlite: query readings: %w", mapError(ctx, err))
	}
	return out, nil
}

// readingsQuery returns the SQL and arguments for q
// (store.Query.PageSQL); one device's are read by deviceIndex.
func readingsQuery(q store.Query) (string, []any) {
	selectFrom := selectReadings
	if q.DeviceID != "" {
		selectFrom += deviceIndex
	}
	return q.PageSQL(selectFrom, func(t time.Time) any { return micros(t) })
}

func scanReading(rows *sql.Rows) (thermowatt.Stored, error) {
	var (
		r                  thermowatt.Stored
		recorded, received int64
		pressure           *float64
		fold               int64
		payload            []byte
	)
	err := rows.Scan(&r.ID, &r.DeviceID, &recorded, &received, &r.ServerTime,
		&r.Temperature, &r.Humidity, &r.VoltageV, &r.CurrentMA, &r.PowerMW, &pressure, &fold, &payload)
	if err != nil {
		return r, err
	}
	r.RecordedAt = fromMicros(recorded)
	r.ReceivedAt = fromMicros(received)
	if payload != nil {
		r.Payload = store.UnfoldPayload(payload, store.Fold(fold), store.Columns{
			Temperature: r.Temperature, VoltageV: r.VoltageV, CurrentMA: r.CurrentMA, PowerMW: r.PowerMW, PressureHPa: pressure})
	}
	return r, nil
}

// nullFloat passes an optional field to the driver as float64 or NULL.
// database/sql would otherwise convert the pointer by reflection, which
// was a tenth of a batch's CPU.
func nullFloat(v *float64) any {
	if v == nil {
		return nil
	}
	return *v
}
