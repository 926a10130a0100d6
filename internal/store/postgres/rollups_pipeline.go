package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/rollup"
)

// The insert statements and the reads the roll-ups need go to the server
// together: BEGIN, the insert, each device's expected interval and the
// readings around the batch's in one round trip, then the roll-ups'
// update and COMMIT in a second. Done one after the other, as pgx.Tx
// would, they were six, which under load cost more than the commit's
// fsync.
//
// The windows read depend on each device's interval (rollup.MaxGap), so
// they are planned with the interval last seen (gapCache) and checked
// against the one read in the same round trip, after the insert has locked
// the device rows; when an interval changed in between, the transaction
// is rolled back and planned again.

// gapCache remembers each device's rollup.MaxGap. A device not seen yet
// is assumed to have the default interval, which a new device has.
type gapCache struct {
	mu sync.Mutex
	m  map[string]int64
}

const defaultIntervalS = 300 // devices.expected_interval_s's default (migration 00002)

func (c *gapCache) get(id string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if g, ok := c.m[id]; ok {
		return g
	}
	return rollup.MaxGap(defaultIntervalS)
}

func (c *gapCache) set(id string, gap int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int64{}
	}
	c.m[id] = gap
}

// errGapChanged: a device's interval was not the one planned with.
var errGapChanged = errors.New("a device's expected interval changed while its readings were stored")

// rollupReads are the reads planned for a batch: every reading of it is
// a candidate (the insert tells which it stored), so the windows cover
// the new ones whichever they are.
type rollupReads struct {
	ids     []string
	gaps    map[string]int64
	windows []rollupWindow
	// oneStatement reads every window with one statement (windowsQuery)
	// rather than a statement each: a group commit of single readings
	// from many devices has as many windows as readings. Not on Citus,
	// which cannot route a lateral join over shards by a list of devices.
	oneStatement bool
}

// windowsQuery reads the windows given as arrays of device, first and last
// time: each window's readings, by window (1-based) and time.
const windowsQuery = `
SELECT w.i, m.recorded_at, m.temperature, m.humidity, m.voltage_v, m.current_ma, m.power_mw, m.pressure_hpa
FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) WITH ORDINALITY AS w(device_id, lo, hi, i)
CROSS JOIN LATERAL (
	SELECT recorded_at, temperature, humidity, voltage_v, current_ma, power_mw, pressure_hpa
	FROM device_measurements d
	WHERE d.device_id = w.device_id AND d.recorded_at >= w.lo AND d.recorded_at <= w.hi
) m
ORDER BY w.i, m.recorded_at`

type rollupWindow struct {
	device string
	times  []int64 // ascending
}

func (s *Store) planRollupReads(rs []thermowatt.Reading) rollupReads {
	all := make([]bool, len(rs))
	for i := range all {
		all[i] = true
	}
	ids, times := rollup.NewByDevice(rs, all)
	p := rollupReads{ids: ids, gaps: make(map[string]int64, len(ids)), oneStatement: !s.citus}
	for _, id := range ids {
		gap := s.gaps.get(id)
		p.gaps[id] = gap
		for _, c := range rollup.Clusters(times[id], gap) {
			p.windows = append(p.windows, rollupWindow{id, c})
		}
	}
	return p
}

func (p rollupReads) queue(b *pgx.Batch) {
	b.Queue(`SELECT id, expected_interval_s FROM devices WHERE id = ANY($1)`, p.ids)
	if p.oneStatement {
		devices := make([]string, len(p.windows))
		lo, hi := make([]time.Time, len(p.windows)), make([]time.Time, len(p.windows))
		for i, w := range p.windows {
			gap := p.gaps[w.device]
			devices[i], lo[i], hi[i] = w.device, time.UnixMicro(w.times[0]-gap).UTC(), time.UnixMicro(w.times[len(w.times)-1]+gap).UTC()
		}
		b.Queue(windowsQuery, devices, lo, hi)
		return
	}
	for _, w := range p.windows {
		gap := p.gaps[w.device]
		b.Queue(sampleQuery, w.device, time.UnixMicro(w.times[0]-gap).UTC(), time.UnixMicro(w.times[len(w.times)-1]+gap).UTC())
	}
}

// readWindows reads what queue asked for the windows: each one's samples.
func (p rollupReads) readWindows(br pgx.BatchResults) ([][]rollup.Sample, error) {
	out := make([][]rollup.Sample, len(p.windows))
	if !p.oneStatement {
		for i := range p.windows {
			rows, err := br.Query()
			if err != nil {
				return nil, err
			}
			if out[i], err = scanSamples(rows); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	var (
		i  int
		at time.Time
		s  rollup.Sample
	)
	dst := []any{&i, &at}
	for m := range s.Values {
		dst = append(dst, &s.Values[m])
	}
	_, err = pgx.ForEachRow(rows, dst, func() error {
		if i < 1 || i > len(out) {
			return fmt.Errorf("a window numbered %d of %d", i, len(out))
		}
		s.At = at.UnixMicro()
		out[i-1] = append(out[i-1], s)
		s = rollup.Sample{}
		return nil
	})
	return out, err
}

// deltas reads the planned results and returns what the readings stored
// (stored[i] for rs[i]) add to the roll-ups.
func (p rollupReads) deltas(s *Store, br pgx.BatchResults, rs []thermowatt.Reading, stored []bool) ([]rollup.Row, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	changed := false
	var (
		id       string
		interval int
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &interval}, func() error {
		gap := rollup.MaxGap(interval)
		s.gaps.set(id, gap)
		changed = changed || gap != p.gaps[id]
		return nil
	})
	if err != nil {
		return nil, err
	}
	windows, err := p.readWindows(br)
	if err != nil {
		return nil, err
	}
	if changed {
		return nil, errGapChanged
	}
	_, news := rollup.NewByDevice(rs, stored)
	var deltas []rollup.Row
	for i, w := range p.windows {
		rollup.MarkNew(windows[i], inWindow(news[w.device], w.times))
		deltas = append(deltas, rollup.Delta(w.device, windows[i], p.gaps[w.device])...)
	}
	return deltas, nil
}

// inWindow returns the times of news (ascending) within [times[0],
// times[len-1]].
func inWindow(news, times []int64) []int64 {
	lo, hi := times[0], times[len(times)-1]
	start := 0
	for start < len(news) && news[start] < lo {
		start++
	}
	end := start
	for end < len(news) && news[end] <= hi {
		end++
	}
	return news[start:end]
}

// writeWithRollups runs one insert and the roll-ups' update in a
// transaction of two round trips, retried as withRetryRollups says.
// queueInsert queues the insert statement; readInsert reads its result and
// says which of rs it stored. An error rolls the transaction back.
func (s *Store) writeWithRollups(ctx context.Context, rs []thermowatt.Reading,
	queueInsert func(*pgx.Batch), readInsert func(pgx.BatchResults) ([]bool, error)) (stored []bool, err error) {
	err = s.withRetryRollups(ctx, func() (err error) {
		stored, err = s.writeOnce(ctx, rs, queueInsert, readInsert)
		return err
	})
	return stored, err
}

// withRetryRollups is withRetry for a write that plans its roll-up reads:
// a plan made with an interval that changed meanwhile (errGapChanged) is
// made again, with the interval the failed try read.
func (s *Store) withRetryRollups(ctx context.Context, fn func() error) error {
	for attempt := 0; ; attempt++ {
		err := s.withRetry(ctx, fn)
		if !errors.Is(err, errGapChanged) || attempt == 3 {
			return err
		}
	}
}

func (s *Store) writeOnce(ctx context.Context, rs []thermowatt.Reading,
	queueInsert func(*pgx.Batch), readInsert func(pgx.BatchResults) ([]bool, error)) (stored []bool, err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	open := false
	defer func() {
		if err != nil && open {
			rollback(ctx, conn)
		}
	}()
	plan := s.planRollupReads(rs)
	var first pgx.Batch
	first.Queue("BEGIN")
	queueInsert(&first)
	plan.queue(&first)
	br := conn.SendBatch(ctx, &first)
	open = true
	if _, err := br.Exec(); err != nil {
		br.Close()
		return nil, err
	}
	stored, err = readInsert(br)
	if err != nil {
		br.Close()
		return nil, err
	}
	deltas, err := plan.deltas(s, br, rs, stored)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	var second pgx.Batch
	if len(deltas) > 0 {
		second.Queue(addRollups, rollupArgs(rollup.MergeRows(deltas))...)
	}
	second.Queue("COMMIT")
	if err := conn.SendBatch(ctx, &second).Close(); err != nil {
		return nil, err
	}
	open = false
	return stored, nil
}

// rollback ends a failed transaction on conn; a connection that cannot
// even do that is closed, so the pool does not hand it out again.
func rollback(ctx context.Context, conn *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
		conn.Conn().Close(ctx)
	}
}
