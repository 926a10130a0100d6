// Package storetest is the conformance suite for store.Store: every backend
// runs it, so the promises made in the interface's doc comments hold the
// same way on PostgreSQL and SQLite.
//
// Run it with
//
//	go test -race ./internal/store/...
//	TEST_DATABASE_URL='postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable' go test -race ./internal/store/...
//
// The PostgreSQL tests create (and drop) a database per test on the server
// of TEST_DATABASE_URL, so they run in parallel and can be rerun; without
// it they are skipped, or fail when CI is set. Benchmarks:
//
//	go test -run '^$' -bench . ./internal/store/...
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// Run runs the suite. open must return a new, empty store for the test it
// is given; Run closes it when the test ends. Subtests run in parallel.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	run(t, open, nil)
}

// run runs the suite but for the tests skip names, each with the reason.
func run(t *testing.T, open func(t *testing.T) store.Store, skip map[string]string) {
	tests := []storeTest{
		{"Ping", testPing},
		{"InsertAndQuery", testInsertAndQuery},
		{"EmptyBatch", testEmptyBatch},
		{"DuplicatesAcrossCalls", testDuplicatesAcrossCalls},
		{"DuplicatesWithinBatch", testDuplicatesWithinBatch},
		{"IdentityIsDeviceAndTime", testIdentityIsDeviceAndTime},
		{"IdentityAtMicrosecondPrecision", testIdentityAtMicrosecondPrecision},
		{"FailedBatchStoresNothing", testFailedBatchStoresNothing},
		{"ConcurrentOverlappingBatches", testConcurrentOverlappingBatches},
		{"ConcurrentSameReading", testConcurrentSameReading},
		{"LargeBatches", testLargeBatches},
		{"DeviceAutoRegistration", testDeviceAutoRegistration},
		{"CreateDevice", testCreateDevice},
		{"ListDevicesOrderedByID", testListDevicesOrderedByID},
		{"KeysetPagination", testKeysetPagination},
		{"FromToBounds", testFromToBounds},
		{"NullFields", testNullFields},
		{"ReceivedAtPerReading", testReceivedAtPerReading},
		{"PayloadRoundTrip", testPayloadRoundTrip},
		{"PayloadComesBackAsSent", testPayloadComesBackAsSent},
		{"RepeatedPayloadsComeBackAsSent", testRepeatedPayloadsComeBackAsSent},
		{"TimesComeBackInUTC", testTimesComeBackInUTC},
		{"Tokens", testTokens},
		{"TokenErrors", testTokenErrors},
		{"RawArchive", testRawArchive},
		{"CanceledContext", testCanceledContext},
		{"ClosedStoreIsUnavailable", testClosedStoreIsUnavailable},
		{"SeriesAggregates", testSeriesAggregates},
		{"SeriesGapsAndBounds", testSeriesGapsAndBounds},
		{"SeriesEpochAlignment", testSeriesEpochAlignment},
		{"SeriesPressureFromPayload", testSeriesPressureFromPayload},
		{"SeriesRejectsBadBucket", testSeriesRejectsBadBucket},
	}
	tests = append(tests, opsTests...)         // ops.go
	tests = append(tests, fleetTests...)       // fleet.go
	tests = append(tests, seriesModelTests...) // series_model.go
	tests = append(tests, rollupTests...)      // rollups.go
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if why, ok := skip[tt.name]; ok {
				t.Skip(why)
			}
			t.Parallel()
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.fn(t, s)
		})
	}
}

// storeTest is one test of the suite, on a new, empty store.
type storeTest struct {
	name string
	fn   func(t *testing.T, s store.Store)
}

// must returns what a call returned (v, err) when err is nil, and fails
// the test with what was called (format and args) and err when not.
func must[T any](t *testing.T, format string, args ...any) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf(format+": %v", append(args, err)...)
		}
		return v
	}
}

// base is a fixed instant with a sub-second part, in UTC.
var base = time.Date(2026, 11, 20, 12, 0, 0, 123456000, time.UTC)

func f(v float64) *float64 { return &v }

// rd returns a reading of device at base+offset with a temperature that
// tells readings apart.
func rd(device string, offset time.Duration, temp float64) thermowatt.Reading {
	return thermowatt.Reading{DeviceID: device, RecordedAt: base.Add(offset), Temperature: f(temp)}
}

func insert(t *testing.T, s store.Store, rs []thermowatt.Reading, receivedAt time.Time) store.InsertResult {
	t.Helper()
	res, err := s.InsertReadings(t.Context(), rs, receivedAt)
	if err != nil {
		t.Fatalf("InsertReadings(%d readings): %v", len(rs), err)
	}
	if err := checkResult(res, len(rs)); err != nil {
		t.Fatalf("InsertReadings(%d readings): %v", len(rs), err)
	}
	return res
}

// checkResult checks that res is consistent in itself: one outcome per
// reading, and as many readings inserted as accepted.
func checkResult(res store.InsertResult, n int) error {
	if len(res.Inserted) != n {
		return fmt.Errorf("result %+v has %d outcomes for %d readings", res, len(res.Inserted), n)
	}
	inserted := 0
	for _, ok := range res.Inserted {
		if ok {
			inserted++
		}
	}
	if inserted != res.Accepted || res.Accepted+res.Duplicates != n {
		return fmt.Errorf("result %+v: %d inserted, %d accepted, %d duplicates of %d readings",
			res, inserted, res.Accepted, res.Duplicates, n)
	}
	return nil
}

func wantInserted(t *testing.T, got store.InsertResult, want ...bool) {
	t.Helper()
	if !slices.Equal(got.Inserted, want) {
		t.Errorf("InsertReadings Inserted = %v, want %v", got.Inserted, want)
	}
}

func wantResult(t *testing.T, got store.InsertResult, accepted, duplicates int) {
	t.Helper()
	if got.Accepted != accepted || got.Duplicates != duplicates {
		t.Errorf("InsertReadings = %+v, want {Accepted:%d Duplicates:%d}", got, accepted, duplicates)
	}
}

func query(t *testing.T, s store.Store, q store.Query) []thermowatt.Stored {
	t.Helper()
	if q.Limit == 0 {
		q.Limit = 10000
	}
	return must[[]thermowatt.Stored](t, "QueryReadings(%+v)", q)(s.QueryReadings(t.Context(), q))
}

func getDevice(t *testing.T, s store.Store, id string) thermowatt.Device {
	t.Helper()
	return must[thermowatt.Device](t, "GetDevice(%q)", id)(s.GetDevice(t.Context(), id))
}

// key is the identity of a reading, for comparing sets of readings.
func key(r thermowatt.Reading) string {
	return r.DeviceID + "@" + r.RecordedAt.UTC().Format(time.RFC3339Nano)
}

func keys(rs []thermowatt.Stored) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = key(r.Reading)
	}
	return out
}

// checkNewestFirst fails unless rs is strictly decreasing in (RecordedAt, ID).
func checkNewestFirst(t *testing.T, rs []thermowatt.Stored) {
	t.Helper()
	for i := 1; i < len(rs); i++ {
		a, b := rs[i-1], rs[i]
		if c := a.RecordedAt.Compare(b.RecordedAt); c < 0 || c == 0 && a.ID <= b.ID {
			t.Fatalf("readings %d and %d out of newest-first order: (%v, %d) then (%v, %d)",
				i-1, i, a.RecordedAt, a.ID, b.RecordedAt, b.ID)
		}
	}
}

func testPing(t *testing.T, s store.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testInsertAndQuery(t *testing.T, s store.Store) {
	received := base.Add(time.Hour)
	in := []thermowatt.Reading{
		{
			DeviceID: "esp32-a", RecordedAt: base, Temperature: f(21.5), Humidity: f(40.25),
			VoltageV: f(3.3), CurrentMA: f(120.5), PowerMW: f(397.65),
			Payload: json.RawMessage(`{"current_ma":120.5,"power_mw":397.65,"voltage_v":3.3}`),
		},
		{DeviceID: "esp32-a", RecordedAt: base.Add(5 * time.Minute), Temperature: f(22)},
		{DeviceID: "esp32-b", RecordedAt: base.Add(time.Minute), ServerTime: true, Humidity: f(55)},
	}
	wantResult(t, insert(t, s, in, received), 3, 0)

	got := query(t, s, store.Query{Limit: 10})
	if len(got) != 3 {
		t.Fatalf("QueryReadings returned %d readings, want 3", len(got))
	}
	checkNewestFirst(t, got)
	wantOrder := []thermowatt.Reading{in[1], in[2], in[0]}
	seenIDs := map[int64]bool{}
	for i, g := range got {
		w := wantOrder[i]
		if g.ID <= 0 || seenIDs[g.ID] {
			t.Errorf("reading %d: ID %d, want a positive, unique id", i, g.ID)
		}
		seenIDs[g.ID] = true
		if !g.ReceivedAt.Equal(received) {
			t.Errorf("reading %d: ReceivedAt %v, want %v", i, g.ReceivedAt, received)
		}
		g.Payload = normalizeJSON(t, g.Payload)
		w.Payload = normalizeJSON(t, w.Payload)
		w.ReceivedAt = received
		if !reflect.DeepEqual(g.Reading, w) {
			t.Errorf("reading %d:\n got %s\nwant %s", i, show(g.Reading), show(w))
		}
	}

	one := query(t, s, store.Query{DeviceID: "esp32-b", Limit: 10})
	if len(one) != 1 || one[0].DeviceID != "esp32-b" || !one[0].ServerTime {
		t.Errorf("QueryReadings(device esp32-b) = %v, want the one esp32-b reading with ServerTime", keys(one))
	}
	limited := query(t, s, store.Query{Limit: 2})
	if want := keys(got[:2]); !slices.Equal(keys(limited), want) {
		t.Errorf("QueryReadings(Limit 2) = %v, want %v", keys(limited), want)
	}
	if none := query(t, s, store.Query{DeviceID: "unknown", Limit: 10}); len(none) != 0 {
		t.Errorf("QueryReadings(unknown device) = %v, want none", keys(none))
	}
}

func show(r thermowatt.Reading) string {
	p := func(v *float64) string {
		if v == nil {
			return "nil"
		}
		return fmt.Sprint(*v)
	}
	return fmt.Sprintf("{%s %s server=%v t=%s h=%s v=%s i=%s p=%s payload=%s}",
		r.DeviceID, r.RecordedAt.Format(time.RFC3339Nano), r.ServerTime,
		p(r.Temperature), p(r.Humidity), p(r.VoltageV), p(r.CurrentMA), p(r.PowerMW), r.Payload)
}

// normalizeJSON re-encodes a JSON document so that documents equal as JSON
// compare equal as bytes (PostgreSQL's jsonb reorders keys). nil stays nil.
func normalizeJSON(t *testing.T, b json.RawMessage) json.RawMessage {
	t.Helper()
	if b == nil {
		return nil
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("payload %q is not JSON: %v", b, err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func testEmptyBatch(t *testing.T, s store.Store) {
	wantResult(t, insert(t, s, nil, base), 0, 0) // insert checks len(Inserted) == 0
	wantResult(t, insert(t, s, []thermowatt.Reading{}, base), 0, 0)
	if devices, err := s.ListDevices(t.Context(), store.DeviceQuery{Limit: 10}); err != nil || len(devices) != 0 {
		t.Errorf("ListDevices after empty batches = %v, %v; want none", devices, err)
	}
}

func testDuplicatesAcrossCalls(t *testing.T, s store.Store) {
	batch := []thermowatt.Reading{rd("d1", 0, 20), rd("d1", time.Minute, 21), rd("d2", 0, 22)}
	wantResult(t, insert(t, s, batch, base), 3, 0)

	// A device retrying sends the same readings again, maybe with others.
	again := append(slices.Clone(batch), rd("d1", 2*time.Minute, 23))
	again[0].Temperature = f(99) // a duplicate does not overwrite
	res := insert(t, s, again, base.Add(time.Minute))
	wantResult(t, res, 1, 3)
	wantInserted(t, res, false, false, false, true)
	res = insert(t, s, again, base.Add(2*time.Minute))
	wantResult(t, res, 0, 4)
	wantInserted(t, res, false, false, false, false)

	got := query(t, s, store.Query{DeviceID: "d1"})
	if len(got) != 3 {
		t.Fatalf("d1 has %d readings, want 3: %v", len(got), keys(got))
	}
	first := got[len(got)-1]
	if first.Temperature == nil || *first.Temperature != 20 {
		t.Errorf("first reading's temperature is %v after a duplicate with 99, want the original 20", show(first.Reading))
	}
	if n := getDevice(t, s, "d1").ReadingCount; n != 3 {
		t.Errorf("d1 ReadingCount = %d, want 3 (duplicates are not counted)", n)
	}
	if n := getDevice(t, s, "d2").ReadingCount; n != 1 {
		t.Errorf("d2 ReadingCount = %d, want 1", n)
	}
}

func testDuplicatesWithinBatch(t *testing.T, s store.Store) {
	batch := []thermowatt.Reading{
		rd("d1", 0, 20),
		rd("d1", time.Minute, 21),
		rd("d1", 0, 30), // repeat of the first, different value
		rd("d2", 0, 22),
		rd("d1", time.Minute, 31), // repeat of the second
		rd("d1", 0, 40),           // and of the first again
	}
	res := insert(t, s, batch, base)
	wantResult(t, res, 3, 3)
	// Of equal readings only the first in the batch counts as inserted.
	wantInserted(t, res, true, true, false, true, false, false)

	got := query(t, s, store.Query{DeviceID: "d1"})
	if len(got) != 2 {
		t.Fatalf("d1 has %d readings, want 2: %v", len(got), keys(got))
	}
	// The first of the repeats in the batch is the one kept.
	if *got[0].Temperature != 21 || *got[1].Temperature != 20 {
		t.Errorf("kept temperatures %v, %v; want the first occurrences 21, 20", *got[0].Temperature, *got[1].Temperature)
	}
	if n := getDevice(t, s, "d1").ReadingCount; n != 2 {
		t.Errorf("d1 ReadingCount = %d, want 2", n)
	}
}

func testIdentityIsDeviceAndTime(t *testing.T, s store.Store) {
	// The same instant from two devices is two readings; the same device
	// at instants one microsecond apart is two readings.
	batch := []thermowatt.Reading{
		rd("d1", 0, 1), rd("d2", 0, 2), rd("d1", time.Microsecond, 3),
	}
	wantResult(t, insert(t, s, batch, base), 3, 0)
	res := insert(t, s, []thermowatt.Reading{rd("d2", time.Microsecond, 4), rd("d2", 0, 5)}, base)
	wantInserted(t, res, true, false)
	if got := query(t, s, store.Query{}); len(got) != 4 {
		t.Errorf("stored %d readings, want 4: %v", len(got), keys(got))
	}
}

func testIdentityAtMicrosecondPrecision(t *testing.T, s store.Store) {
	// Timestamps are kept to the microsecond, so two recordedAt that differ
	// only below it are the same reading, on every backend.
	at := base.Add(42 * time.Microsecond)
	a := thermowatt.Reading{DeviceID: "d1", RecordedAt: at.Add(100 * time.Nanosecond), Temperature: f(1)}
	b := thermowatt.Reading{DeviceID: "d1", RecordedAt: at.Add(900 * time.Nanosecond), Temperature: f(2)}
	wantResult(t, insert(t, s, []thermowatt.Reading{a, b}, base), 1, 1)
	wantResult(t, insert(t, s, []thermowatt.Reading{{DeviceID: "d1", RecordedAt: at}}, base), 0, 1)

	got := query(t, s, store.Query{})
	if len(got) != 1 || !got[0].RecordedAt.Equal(at) {
		t.Fatalf("stored %v, want one reading at %v", keys(got), at.Format(time.RFC3339Nano))
	}
}

func testFailedBatchStoresNothing(t *testing.T, s store.Store) {
	// One transaction: when a reading cannot be stored (here its payload
	// is not JSON, which callers must not send), neither is any other of
	// the call, nor are its devices registered.
	batch := []thermowatt.Reading{
		rd("a-new-device", 0, 1),
		rd("d1", 0, 2),
		{DeviceID: "d2", RecordedAt: base, Payload: json.RawMessage(`{"broken":`)},
	}
	insert(t, s, []thermowatt.Reading{rd("d1", -time.Minute, 0)}, base)
	res, err := s.InsertReadings(t.Context(), batch, base.Add(time.Hour))
	if err == nil {
		t.Fatalf("InsertReadings with a payload that is not JSON = %+v, want an error", res)
	}
	if errors.Is(err, thermowatt.ErrUnavailable) {
		t.Errorf("a bad payload is reported as ErrUnavailable (the client would resend it forever): %v", err)
	}
	if got := query(t, s, store.Query{}); len(got) != 1 {
		t.Errorf("after a failed batch %v are stored, want only the earlier reading", keys(got))
	}
	if _, err := s.GetDevice(t.Context(), "a-new-device"); !errors.Is(err, thermowatt.ErrNotFound) {
		t.Errorf("a failed batch registered its device: GetDevice err = %v", err)
	}
	d := getDevice(t, s, "d1")
	if d.ReadingCount != 1 || !d.LastSeenAt.Equal(base) {
		t.Errorf("a failed batch changed a device: %s", showDevice(d))
	}
}

func testConcurrentOverlappingBatches(t *testing.T, s store.Store) {
	// 8 writers, 3 devices, 60 distinct readings; each writer sends
	// batches of a window of them, overlapping the others' windows and its
	// own, in an order of its own. Every reading must be stored exactly
	// once and counted as accepted exactly once across all writers.
	const (
		writers  = 8
		distinct = 60
		window   = 25
	)
	devices := []string{"d1", "d2", "d3"}
	all := make([]thermowatt.Reading, distinct)
	for i := range all {
		all[i] = rd(devices[i%len(devices)], time.Duration(i/len(devices))*time.Minute, float64(i))
	}

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		accepted int
		dups     int
		sent     int
		errs     []error
	)
	// send stores batch and counts its outcome.
	send := func(batch []thermowatt.Reading, receivedAt time.Time) {
		res, err := s.InsertReadings(context.Background(), batch, receivedAt)
		if err == nil {
			err = checkResult(res, len(batch))
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err)
		}
		accepted += res.Accepted
		dups += res.Duplicates
		sent += len(batch)
	}
	for w := range writers {
		wg.Go(func() {
			for round := range 3 {
				start := (w*7 + round*11) % distinct
				var batch []thermowatt.Reading
				for i := range window {
					batch = append(batch, all[(start+i)%distinct])
				}
				if w%2 == 1 {
					slices.Reverse(batch)
				}
				batch = append(batch, batch[0]) // and a repeat inside the batch
				send(batch, base.Add(time.Duration(round)*time.Second))
			}
		})
	}
	// And one writer that sends everything, so that every reading is sent.
	wg.Go(func() { send(all, base) })
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent InsertReadings: %v", err)
	}

	if accepted != distinct || dups != sent-distinct {
		t.Errorf("across writers Accepted = %d, Duplicates = %d; want %d and %d", accepted, dups, distinct, sent-distinct)
	}
	got := query(t, s, store.Query{})
	if len(got) != distinct {
		t.Errorf("stored %d readings, want %d", len(got), distinct)
	}
	for _, d := range devices {
		if n := getDevice(t, s, d).ReadingCount; n != distinct/int64(len(devices)) {
			t.Errorf("%s ReadingCount = %d, want %d", d, n, distinct/len(devices))
		}
	}
}

func testConcurrentSameReading(t *testing.T, s store.Store) {
	// Racing to store one reading, exactly one writer stores it.
	const writers = 8
	for round := range 10 {
		r := rd("d1", time.Duration(round)*time.Minute, float64(round))
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			accepted int
			dups     int
			errs     []error
		)
		for range writers {
			wg.Go(func() {
				res, err := s.InsertReadings(context.Background(), []thermowatt.Reading{r}, base)
				if err == nil {
					err = checkResult(res, 1)
				}
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
				}
				accepted += res.Accepted
				dups += res.Duplicates
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if accepted != 1 || dups != writers-1 {
			t.Fatalf("round %d: Accepted %d, Duplicates %d in total; want 1 and %d", round, accepted, dups, writers-1)
		}
	}
	if n := getDevice(t, s, "d1").ReadingCount; n != 10 {
		t.Errorf("d1 ReadingCount = %d, want 10", n)
	}
}

func testDeviceAutoRegistration(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.GetDevice(ctx, "new"); !errors.Is(err, thermowatt.ErrNotFound) {
		t.Fatalf("GetDevice before any reading: err = %v, want ErrNotFound", err)
	}
	t1 := base.Add(time.Hour)
	insert(t, s, []thermowatt.Reading{rd("new", 0, 1), rd("new", time.Minute, 2)}, t1)
	d := getDevice(t, s, "new")
	if !d.CreatedAt.Equal(t1) || d.LastSeenAt == nil || !d.LastSeenAt.Equal(t1) || d.ReadingCount != 2 {
		t.Fatalf("after first batch: %s; want created and last seen %v, 2 readings", showDevice(d), t1)
	}

	t2 := t1.Add(5 * time.Minute)
	insert(t, s, []thermowatt.Reading{rd("new", 2*time.Minute, 3)}, t2)
	d = getDevice(t, s, "new")
	if !d.CreatedAt.Equal(t1) || d.LastSeenAt == nil || !d.LastSeenAt.Equal(t2) || d.ReadingCount != 3 {
		t.Fatalf("after second batch: %s; want created %v, last seen %v, 3 readings", showDevice(d), t1, t2)
	}

	// Only duplicates: nothing accepted, so nothing changes.
	t3 := t2.Add(5 * time.Minute)
	insert(t, s, []thermowatt.Reading{rd("new", 0, 1)}, t3)
	d = getDevice(t, s, "new")
	if !d.LastSeenAt.Equal(t2) || d.ReadingCount != 3 {
		t.Errorf("after a batch of duplicates: %s; want last seen still %v, 3 readings", showDevice(d), t2)
	}

	// A device registered beforehand keeps its creation time.
	created := base.Add(-24 * time.Hour)
	if _, err := s.CreateDevice(ctx, "pre", created); err != nil {
		t.Fatalf("CreateDevice: %v", err)
	}
	insert(t, s, []thermowatt.Reading{rd("pre", 0, 1)}, t1)
	d = getDevice(t, s, "pre")
	if !d.CreatedAt.Equal(created) || d.LastSeenAt == nil || !d.LastSeenAt.Equal(t1) || d.ReadingCount != 1 {
		t.Errorf("pre-registered device after a reading: %s; want created %v, last seen %v, 1 reading", showDevice(d), created, t1)
	}
}

func showDevice(d thermowatt.Device) string {
	last := "nil"
	if d.LastSeenAt != nil {
		last = d.LastSeenAt.String()
	}
	return fmt.Sprintf("{%s created=%v lastSeen=%s count=%d interval=%ds}", d.ID, d.CreatedAt, last, d.ReadingCount, d.ExpectedIntervalS)
}

func testCreateDevice(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := base.In(time.FixedZone("JST", 9*3600))
	d, err := s.CreateDevice(ctx, "esp32-kitchen", now)
	if err != nil {
		t.Fatalf("CreateDevice: %v", err)
	}
	want := thermowatt.Device{ID: "esp32-kitchen", CreatedAt: base, ExpectedIntervalS: 300}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("CreateDevice = %s, want %s", showDevice(d), showDevice(want))
	}
	if got := getDevice(t, s, "esp32-kitchen"); !reflect.DeepEqual(got, want) {
		t.Errorf("GetDevice = %s, want %s", showDevice(got), showDevice(want))
	}
	if _, err := s.CreateDevice(ctx, "esp32-kitchen", now.Add(time.Hour)); !errors.Is(err, thermowatt.ErrExists) {
		t.Errorf("CreateDevice again: err = %v, want ErrExists", err)
	}
	if got := getDevice(t, s, "esp32-kitchen"); !got.CreatedAt.Equal(base) {
		t.Errorf("a second CreateDevice changed CreatedAt to %v", got.CreatedAt)
	}
	if _, err := s.GetDevice(ctx, "esp32-nowhere"); !errors.Is(err, thermowatt.ErrNotFound) {
		t.Errorf("GetDevice(unknown): err = %v, want ErrNotFound", err)
	}
}

func testListDevicesOrderedByID(t *testing.T, s store.Store) {
	ctx := t.Context()
	if ds, err := s.ListDevices(ctx, store.DeviceQuery{Limit: 10}); err != nil || len(ds) != 0 {
		t.Fatalf("ListDevices on an empty store = %v, %v; want none", ds, err)
	}
	// Byte order, whatever the database's locale: "B" < "a", "a-1" < "a_1".
	ids := []string{"b", "a_1", "B", "a", "a-1", "esp32-10", "esp32-9"}
	for _, id := range ids[:4] {
		if _, err := s.CreateDevice(ctx, id, base); err != nil {
			t.Fatalf("CreateDevice(%q): %v", id, err)
		}
	}
	var rs []thermowatt.Reading
	for _, id := range ids[4:] {
		rs = append(rs, rd(id, 0, 1))
	}
	insert(t, s, rs, base)

	ds, err := s.ListDevices(ctx, store.DeviceQuery{Limit: 100})
	if err != nil {
		t.Fatalf("ListDevices: %v", err)
	}
	got := make([]string, len(ds))
	for i, d := range ds {
		got[i] = d.ID
	}
	want := slices.Sorted(slices.Values(ids))
	if !slices.Equal(got, want) {
		t.Errorf("ListDevices ids = %q, want %q", got, want)
	}
	// Pages of 3 walk the same ids, each once.
	var paged []string
	for q := (store.DeviceQuery{Limit: 3}); ; {
		page, err := s.ListDevices(ctx, q)
		if err != nil {
			t.Fatalf("ListDevices(%+v): %v", q, err)
		}
		for _, d := range page {
			paged = append(paged, d.ID)
		}
		if len(page) < q.Limit {
			break
		}
		q.After = page[len(page)-1].ID
	}
	if !slices.Equal(paged, want) {
		t.Errorf("ListDevices in pages of 3 = %q, want %q", paged, want)
	}
	for _, d := range ds {
		wantCount := int64(0)
		if slices.Contains(ids[4:], d.ID) {
			wantCount = 1
		}
		if d.ReadingCount != wantCount {
			t.Errorf("ListDevices: %s, want %d readings", showDevice(d), wantCount)
		}
	}
}

func testKeysetPagination(t *testing.T, s store.Store) {
	// Four devices reporting at the same instants: every recorded_at is
	// shared by several readings, so pages must break ties by id.
	var rs []thermowatt.Reading
	for i := range 9 {
		for _, d := range []string{"d1", "d2", "d3", "d4"} {
			rs = append(rs, rd(d, time.Duration(i)*time.Minute, float64(i)))
		}
	}
	// Stored in two batches so ids do not follow recorded_at.
	insert(t, s, rs[18:], base)
	insert(t, s, rs[:18], base)

	for _, q := range []store.Query{
		{},
		{DeviceID: "d3"},
		{From: base.Add(2 * time.Minute), To: base.Add(7 * time.Minute)},
	} {
		full := query(t, s, q)
		checkNewestFirst(t, full)
		for _, size := range []int{1, 3, 7, len(full), len(full) + 1} {
			var walked []thermowatt.Stored
			page := q
			page.Limit = size
			for pages := 0; ; pages++ {
				if pages > len(full)+1 {
					t.Fatalf("query %+v, pages of %d: did not end", q, size)
				}
				got := query(t, s, page)
				if len(got) > size {
					t.Fatalf("query %+v: page of %d readings with Limit %d", q, len(got), size)
				}
				walked = append(walked, got...)
				if len(got) < size {
					break
				}
				last := got[len(got)-1]
				page.After = &store.Cursor{RecordedAt: last.RecordedAt, ID: last.ID}
			}
			if !slices.Equal(keys(walked), keys(full)) {
				t.Errorf("query %+v, pages of %d:\n walked %v\n   want %v", q, size, keys(walked), keys(full))
			}
		}
	}

	// A cursor taken in the middle of a tie excludes exactly the readings
	// at or before it in the order.
	full := query(t, s, store.Query{})
	mid := full[len(full)/2+1]
	after := query(t, s, store.Query{After: &store.Cursor{RecordedAt: mid.RecordedAt, ID: mid.ID}})
	if !slices.Equal(keys(after), keys(full[len(full)/2+2:])) {
		t.Errorf("After %v/%d:\n got %v\nwant %v", mid.RecordedAt, mid.ID, keys(after), keys(full[len(full)/2+2:]))
	}
}

func testFromToBounds(t *testing.T, s store.Store) {
	var rs []thermowatt.Reading
	for i := range 10 {
		rs = append(rs, rd("d1", time.Duration(i)*time.Minute, float64(i)))
	}
	rs = append(rs, rd("d2", 5*time.Minute, 100))
	insert(t, s, rs, base)

	at := func(i int) time.Time { return base.Add(time.Duration(i) * time.Minute) }
	temps := func(got []thermowatt.Stored) []float64 {
		var out []float64
		for _, r := range got {
			out = append(out, *r.Temperature)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		q    store.Query
		want []float64
	}{
		{"From inclusive, To exclusive", store.Query{DeviceID: "d1", From: at(3), To: at(7)}, []float64{6, 5, 4, 3}},
		{"From only", store.Query{DeviceID: "d1", From: at(8)}, []float64{9, 8}},
		{"To only", store.Query{DeviceID: "d1", To: at(2)}, []float64{1, 0}},
		{"From == To", store.Query{DeviceID: "d1", From: at(4), To: at(4)}, nil},
		{"between whole instants", store.Query{DeviceID: "d1", From: at(3).Add(time.Microsecond), To: at(5).Add(time.Microsecond)}, []float64{5, 4}},
		{"every device", store.Query{From: at(5), To: at(6)}, []float64{100, 5}},
		{"bounds in another zone", store.Query{DeviceID: "d1", From: at(3).In(time.FixedZone("", -5*3600)), To: at(5).In(time.FixedZone("", 3*3600))}, []float64{4, 3}},
		{"with a limit", store.Query{DeviceID: "d1", From: at(3), Limit: 2}, []float64{9, 8}},
	} {
		got := query(t, s, tc.q)
		// Two readings share at(5); their order depends on ids.
		gotTemps := temps(got)
		if tc.name == "every device" {
			slices.Sort(gotTemps)
			slices.Reverse(gotTemps)
		}
		if !slices.Equal(gotTemps, tc.want) {
			t.Errorf("%s: temperatures %v, want %v", tc.name, gotTemps, tc.want)
		}
	}
}

func testNullFields(t *testing.T, s store.Store) {
	r := thermowatt.Reading{DeviceID: "d1", RecordedAt: base}
	insert(t, s, []thermowatt.Reading{r}, base)
	r.ReceivedAt = base
	got := query(t, s, store.Query{})
	if len(got) != 1 {
		t.Fatalf("got %d readings, want 1", len(got))
	}
	if !reflect.DeepEqual(got[0].Reading, r) {
		t.Errorf("reading without values came back as %s, want %s", show(got[0].Reading), show(r))
	}
	if got[0].Payload != nil {
		t.Errorf("Payload = %q, want nil (no payload sent)", got[0].Payload)
	}

	// Zero is a value, not an absence.
	z := thermowatt.Reading{DeviceID: "d1", RecordedAt: base.Add(time.Minute),
		Temperature: f(0), Humidity: f(0), VoltageV: f(0), CurrentMA: f(0), PowerMW: f(-0.5)}
	insert(t, s, []thermowatt.Reading{z}, base)
	z.ReceivedAt = base
	got = query(t, s, store.Query{Limit: 1})
	if !reflect.DeepEqual(got[0].Reading, z) {
		t.Errorf("reading of zeros came back as %s, want %s", show(got[0].Reading), show(z))
	}
}

func testPayloadRoundTrip(t *testing.T, s store.Store) {
	payloads := []string{
		`{"voltage_v":3.31,"current_ma":12.5,"power_mw":41.4,"firmware":"1.2.3","extra":{"nested":[1,2.5,"x",null,true]},"note":"温度 \"quoted\" \\ \u00e9"}`,
		`{}`,
		`{"big":12345678901234,"neg":-1e-7}`,
	}
	var rs []thermowatt.Reading
	for i, p := range payloads {
		rs = append(rs, thermowatt.Reading{DeviceID: "d1", RecordedAt: base.Add(time.Duration(i) * time.Minute), Payload: json.RawMessage(p)})
	}
	insert(t, s, rs, base)
	got := query(t, s, store.Query{})
	slices.Reverse(got)
	for i, p := range payloads {
		var want, have any
		if err := json.Unmarshal([]byte(p), &want); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(got[i].Payload, &have); err != nil {
			t.Fatalf("payload %d came back as %q, not JSON: %v", i, got[i].Payload, err)
		}
		if !reflect.DeepEqual(have, want) {
			t.Errorf("payload %d:\n got %s\nwant %s", i, got[i].Payload, p)
		}
	}
}

func testTimesComeBackInUTC(t *testing.T, s store.Store) {
	jst := time.FixedZone("JST", 9*3600)
	pst := time.FixedZone("PST", -8*3600)
	recorded := time.Date(2026, 11, 21, 8, 30, 15, 987654321, jst) // nanoseconds: truncated to µs
	received := time.Date(2026, 11, 20, 15, 31, 0, 1500, pst)
	insert(t, s, []thermowatt.Reading{{DeviceID: "d1", RecordedAt: recorded}}, received)

	got := query(t, s, store.Query{})
	if len(got) != 1 {
		t.Fatalf("got %d readings, want 1", len(got))
	}
	r := got[0]
	wantRecorded := recorded.Truncate(thermowatt.Precision).UTC()
	wantReceived := received.Truncate(thermowatt.Precision).UTC()
	if r.RecordedAt != wantRecorded { // == checks the location too
		t.Errorf("RecordedAt = %v (%s), want %v in UTC", r.RecordedAt, r.RecordedAt.Location(), wantRecorded)
	}
	if r.ReceivedAt != wantReceived {
		t.Errorf("ReceivedAt = %v (%s), want %v in UTC", r.ReceivedAt, r.ReceivedAt.Location(), wantReceived)
	}
	d := getDevice(t, s, "d1")
	if d.CreatedAt != wantReceived || d.LastSeenAt == nil || *d.LastSeenAt != wantReceived {
		t.Errorf("device %s, want created and last seen %v in UTC", showDevice(d), wantReceived)
	}
	// The same instant written in another zone is the same reading.
	wantResult(t, insert(t, s, []thermowatt.Reading{{DeviceID: "d1", RecordedAt: recorded.In(pst)}}, received), 0, 1)
	if got := query(t, s, store.Query{From: recorded.In(pst).Truncate(time.Microsecond), To: recorded.Add(time.Microsecond)}); len(got) != 1 {
		t.Errorf("query bounded by the same instant in PST returned %d readings, want 1", len(got))
	}
}

func testTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.CreateDevice(ctx, "esp32-a", base); err != nil {
		t.Fatalf("CreateDevice: %v", err)
	}
	hash := func(b byte) []byte { return bytes.Repeat([]byte{b, 0x00, 0xff}, 11)[:32] }
	jst := time.FixedZone("JST", 9*3600)
	tokens := []thermowatt.Token{
		{ID: "tok_admin", Hash: hash(1), Scope: thermowatt.ScopeAdmin, CreatedAt: base.In(jst)},
		{ID: "tok_dev", Hash: hash(2), Scope: thermowatt.ScopeDevice, DeviceID: "esp32-a", CreatedAt: base.Add(time.Second)},
		{ID: "tok_read1", Hash: hash(3), Scope: thermowatt.ScopeReader, CreatedAt: base.Add(2 * time.Second)},
		{ID: "tok_read2", Hash: hash(4), Scope: thermowatt.ScopeReader, CreatedAt: base.Add(3 * time.Second)},
	}
	// Created out of order: listed oldest first.
	for _, i := range []int{2, 0, 3, 1} {
		if err := s.CreateToken(ctx, tokens[i]); err != nil {
			t.Fatalf("CreateToken(%s): %v", tokens[i].ID, err)
		}
	}
	for i := range tokens {
		tokens[i].CreatedAt = tokens[i].CreatedAt.UTC()
	}
	for _, want := range tokens {
		got, err := s.TokenByID(ctx, want.ID)
		if err != nil {
			t.Fatalf("TokenByID(%s): %v", want.ID, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("TokenByID(%s) = %+v, want %+v", want.ID, got, want)
		}
	}
	counts := map[thermowatt.Scope]int{thermowatt.ScopeAdmin: 1, thermowatt.ScopeDevice: 1, thermowatt.ScopeReader: 2}
	checkCounts := func(when string) {
		t.Helper()
		for scope, want := range counts {
			n, err := s.CountTokens(ctx, scope)
			if err != nil || n != want {
				t.Errorf("%s: CountTokens(%s) = %d, %v; want %d", when, scope, n, err, want)
			}
		}
	}
	checkCounts("after create")

	revokedAt := base.Add(time.Hour).In(jst)
	if err := s.RevokeToken(ctx, "tok_read1", revokedAt); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	if _, err := s.TokenByID(ctx, "tok_read1"); !errors.Is(err, thermowatt.ErrNotFound) {
		t.Errorf("TokenByID(revoked): err = %v, want ErrNotFound", err)
	}
	if err := s.RevokeToken(ctx, "tok_read1", revokedAt); !errors.Is(err, thermowatt.ErrNotFound) {
		t.Errorf("RevokeToken(already revoked): err = %v, want ErrNotFound", err)
	}
	if err := s.RevokeToken(ctx, "tok_nope", revokedAt); !errors.Is(err, thermowatt.ErrNotFound) {
		t.Errorf("RevokeToken(unknown): err = %v, want ErrNotFound", err)
	}
	if _, err := s.TokenByID(ctx, "tok_nope"); !errors.Is(err, thermowatt.ErrNotFound) {
		t.Errorf("TokenByID(unknown): err = %v, want ErrNotFound", err)
	}
	counts[thermowatt.ScopeReader] = 1
	checkCounts("after revoke")

	list, err := s.ListTokens(ctx)
	if err != nil {
		t.Fatalf("ListTokens: %v", err)
	}
	want := slices.Clone(tokens)
	r := revokedAt.UTC()
	want[2].RevokedAt = &r
	if !reflect.DeepEqual(list, want) {
		t.Errorf("ListTokens:\n got %+v\nwant %+v", list, want)
	}
}

func testTokenErrors(t *testing.T, s store.Store) {
	ctx := t.Context()
	tok := thermowatt.Token{ID: "tok_1", Hash: []byte("h"), Scope: thermowatt.ScopeReader, CreatedAt: base}
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	tok.Hash = []byte("other")
	if err := s.CreateToken(ctx, tok); !errors.Is(err, thermowatt.ErrExists) {
		t.Errorf("CreateToken(same id): err = %v, want ErrExists", err)
	}
	// A device token names a registered device.
	dev := thermowatt.Token{ID: "tok_2", Hash: []byte("h"), Scope: thermowatt.ScopeDevice, DeviceID: "unregistered", CreatedAt: base}
	if err := s.CreateToken(ctx, dev); !errors.Is(err, thermowatt.ErrNotFound) {
		t.Errorf("CreateToken(device token, unknown device): err = %v, want ErrNotFound", err)
	}
	bad := thermowatt.Token{ID: "tok_3", Hash: []byte("h"), Scope: "superuser", CreatedAt: base}
	if err := s.CreateToken(ctx, bad); err == nil {
		t.Errorf("CreateToken(scope %q): no error", bad.Scope)
	}
	if n, _ := s.CountTokens(ctx, "superuser"); n != 0 {
		t.Errorf("a token of an unknown scope was stored")
	}
}

func testRawArchive(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.CreateDevice(ctx, "esp32-a", base); err != nil {
		t.Fatalf("CreateDevice: %v", err)
	}
	records := []store.RawRecord{
		{
			DeviceID: "esp32-a", ReceivedAt: base.In(time.FixedZone("", 3600)),
			// Not UTF-8, NUL bytes, CRLF, a lone surrogate's encoding.
			Body:     []byte("{\"a\":1}\r\n\x00\xff\xfe\xc3\x28\xed\xa0\x80 end"),
			Ingested: true, Accepted: 3, Duplicates: 2, Rejected: 1,
		},
		{DeviceID: "", ReceivedAt: base.Add(time.Second), Body: []byte("not json at all")},
		{DeviceID: "esp32-a", ReceivedAt: base.Add(2 * time.Second), Body: []byte{}},
	}
	var ids []int64
	for i, r := range records {
		id, err := s.ArchiveRaw(ctx, r)
		if err != nil {
			t.Fatalf("ArchiveRaw(%d): %v", i, err)
		}
		if id <= 0 || slices.Contains(ids, id) {
			t.Fatalf("ArchiveRaw(%d) = id %d, want a new positive id (have %v)", i, id, ids)
		}
		ids = append(ids, id)
	}
	for i, want := range records {
		got, err := s.GetRaw(ctx, ids[i])
		if err != nil {
			t.Fatalf("GetRaw(%d): %v", ids[i], err)
		}
		want.ID = ids[i]
		want.ReceivedAt = want.ReceivedAt.UTC()
		if !bytes.Equal(got.Body, want.Body) {
			t.Errorf("GetRaw(%d).Body = %q, want %q", ids[i], got.Body, want.Body)
		}
		got.Body, want.Body = nil, nil
		if !reflect.DeepEqual(got, want) {
			t.Errorf("GetRaw(%d) = %+v, want %+v", ids[i], got, want)
		}
	}
	if _, err := s.GetRaw(ctx, ids[len(ids)-1]+1000); !errors.Is(err, thermowatt.ErrNotFound) {
		t.Errorf("GetRaw(unknown): err = %v, want ErrNotFound", err)
	}
}

func testCanceledContext(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.InsertReadings(ctx, []thermowatt.Reading{rd("d1", 0, 1)}, base)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("InsertReadings with a canceled context: err = %v, want context.Canceled", err)
	}
	if errors.Is(err, thermowatt.ErrUnavailable) {
		t.Errorf("a canceled context is reported as ErrUnavailable: %v", err)
	}
	if _, err := s.QueryReadings(ctx, store.Query{Limit: 1}); !errors.Is(err, context.Canceled) {
		t.Errorf("QueryReadings with a canceled context: err = %v, want context.Canceled", err)
	}
	if got := query(t, s, store.Query{}); len(got) != 0 {
		t.Errorf("a canceled InsertReadings stored %v", keys(got))
	}
}

func testClosedStoreIsUnavailable(t *testing.T, s store.Store) {
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := t.Context()
	if err := s.Ping(ctx); !errors.Is(err, thermowatt.ErrUnavailable) {
		t.Errorf("Ping after Close: err = %v, want ErrUnavailable", err)
	}
	if _, err := s.InsertReadings(ctx, []thermowatt.Reading{rd("d1", 0, 1)}, base); !errors.Is(err, thermowatt.ErrUnavailable) {
		t.Errorf("InsertReadings after Close: err = %v, want ErrUnavailable", err)
	}
	if _, err := s.QueryReadings(ctx, store.Query{Limit: 1}); !errors.Is(err, thermowatt.ErrUnavailable) {
		t.Errorf("QueryReadings after Close: err = %v, want ErrUnavailable", err)
	}
}
