package storetest

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// opsTests check the operations concerns (store.Devices health, store.FailureCounts, store.Alerts, store.Retention): device health,
// failure counts, alert state and retention.
var opsTests = []storeTest{
	{"HealthIsNewestDeviceReport", testHealthIsNewestDeviceReport},
	{"HealthNear", testHealthNear},
	{"ExpectedInterval", testExpectedInterval},
	{"FailureCounts", testFailureCounts},
	{"AlertOpensOnceAndResolves", testAlertOpensOnceAndResolves},
	{"AlertStaleCheckerCannotFlip", testAlertStaleCheckerCannotFlip},
	{"AlertClaimAndNotify", testAlertClaimAndNotify},
	{"RetentionDeletesExactlyExpired", testRetentionDeletesExactlyExpired},
	{"RetentionConcurrentRuns", testRetentionConcurrentRuns},
	{"DeviceStatusInTheDatabase", testDeviceStatusInTheDatabase},
}

// The status counted by the database is thermowatt.Device.Status, device
// by device, and the devices listed carry their open alerts.
func testDeviceStatusInTheDatabase(t *testing.T, s store.Store) {
	ctx := t.Context()
	const missed = 3
	received := base.Add(time.Hour)
	now := received.Add(20 * time.Minute) // silent after 3 x 300 s, the default interval
	for _, id := range []string{"new-1", "new-failing"} {
		if _, err := s.CreateDevice(ctx, id, base); err != nil {
			t.Fatal(err)
		}
	}
	// ok-1 sends at now; the others' last reading is an hour older.
	insert(t, s, []thermowatt.Reading{rd("ok-1", 0, 1), rd("ok-failing", 0, 1)}, now)
	insert(t, s, []thermowatt.Reading{rd("silent-1", 0, 1), rd("silent-failing", 0, 1), rd("edge", 0, 1)}, received)
	// edge: silent at received + 3 x 400 s = now exactly: not yet (After is strict).
	if err := s.SetExpectedInterval(ctx, "edge", 400); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"new-failing", "ok-failing", "silent-failing"} {
		if _, err := s.OpenAlert(ctx, thermowatt.NewAlert{DeviceID: id, Kind: thermowatt.KindFailing, Message: "x", At: now}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.OpenAlert(ctx, thermowatt.NewAlert{DeviceID: "silent-1", Kind: thermowatt.KindSilent, Message: "x", At: now}); err != nil {
		t.Fatal(err)
	}
	want := map[string]thermowatt.DeviceStatus{
		"new-1": thermowatt.StatusNew, "new-failing": thermowatt.StatusFailing, "ok-1": thermowatt.StatusOK,
		"ok-failing": thermowatt.StatusFailing, "silent-1": thermowatt.StatusSilent,
		"silent-failing": thermowatt.StatusSilent, "edge": thermowatt.StatusOK,
	}
	counted := map[thermowatt.DeviceStatus]int{}
	err := store.EachDevice(ctx, s, func(d thermowatt.Device) error {
		if got := d.Status(now, missed); got != want[d.ID] {
			t.Errorf("%s: status %s, want %s", d.ID, got, want[d.ID])
		}
		if d.Failing != strings.HasSuffix(d.ID, "-failing") {
			t.Errorf("%s: Failing = %v", d.ID, d.Failing)
		}
		if d.SilentAlertOpen != (d.ID == "silent-1") {
			t.Errorf("%s: SilentAlertOpen = %v", d.ID, d.SilentAlertOpen)
		}
		counted[d.Status(now, missed)]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.CountDevicesByStatus(ctx, now, missed)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range thermowatt.Statuses {
		if got[st] != counted[st] {
			t.Errorf("CountDevicesByStatus[%s] = %d, device by device %d", st, got[st], counted[st])
		}
	}
	open, err := s.CountOpenAlerts(ctx)
	if err != nil || open[thermowatt.KindFailing] != 3 || open[thermowatt.KindSilent] != 1 {
		t.Errorf("CountOpenAlerts = %v, %v; want 3 failing, 1 silent", open, err)
	}
}

func withHealth(r thermowatt.Reading, health string) thermowatt.Reading {
	r.Payload = json.RawMessage(`{"power_mw":1,"device":` + health + `}`)
	return r
}

func testHealthIsNewestDeviceReport(t *testing.T, s store.Store) {
	// Readings arrive out of order in one batch; the newest by recordedAt wins.
	insert(t, s, []thermowatt.Reading{
		withHealth(rd("n1", 2*time.Minute, 20), `{"queue_depth":2,"dropped":0}`),
		withHealth(rd("n1", 5*time.Minute, 21), `{"queue_depth":5,"dropped":1}`),
		withHealth(rd("n1", 1*time.Minute, 22), `{"queue_depth":1,"dropped":0}`),
		rd("n1", 6*time.Minute, 23), // newer, but says nothing about the device
	}, base.Add(time.Hour))
	d := getDevice(t, s, "n1")
	if got := string(normalizeJSON(t, d.Health)); got != `{"dropped":1,"queue_depth":5}` {
		t.Errorf("health = %s, want the report of the newest reading that carried one", got)
	}
	if d.HealthAt == nil || !d.HealthAt.Equal(store.UTC(base.Add(5*time.Minute))) {
		t.Errorf("healthAt = %v, want %v", d.HealthAt, base.Add(5*time.Minute))
	}
	// A backfill of older readings does not replace it; a non-object is ignored.
	insert(t, s, []thermowatt.Reading{
		withHealth(rd("n1", -time.Hour, 20), `{"queue_depth":99}`),
		withHealth(rd("n1", 10*time.Minute, 20), `"not an object"`),
	}, base.Add(2*time.Hour))
	d = getDevice(t, s, "n1")
	if got := string(normalizeJSON(t, d.Health)); got != `{"dropped":1,"queue_depth":5}` {
		t.Errorf("after older and malformed reports: health = %s, want it unchanged", got)
	}
	if h := getDevice(t, s, "n1"); h.ReadingCount != 6 {
		t.Errorf("reading count = %d, want 6 (health never fails a batch)", h.ReadingCount)
	}
}

func testHealthNear(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, ok, err := s.HealthNear(ctx, "n1", base); err != nil || ok {
		t.Fatalf("HealthNear with no readings = ok %v, err %v; want false, nil", ok, err)
	}
	insert(t, s, []thermowatt.Reading{
		withHealth(rd("n1", 0, 20), `{"dropped":3}`),
		withHealth(rd("n1", time.Hour, 20), `{"dropped":7}`),
		rd("n1", 2*time.Hour, 20),
	}, base.Add(3*time.Hour))
	for _, c := range []struct {
		at   time.Duration
		want string
	}{
		{-time.Minute, `{"dropped":3}`}, // none before: the oldest after
		{30 * time.Minute, `{"dropped":3}`},
		{time.Hour, `{"dropped":7}`},
		{3 * time.Hour, `{"dropped":7}`}, // the newest reading carries none
	} {
		h, ok, err := s.HealthNear(ctx, "n1", base.Add(c.at))
		if err != nil || !ok || string(normalizeJSON(t, h)) != c.want {
			t.Errorf("HealthNear(base%+v) = %s, %v, %v; want %s", c.at, h, ok, err, c.want)
		}
	}
}

func testExpectedInterval(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.CreateDevice(ctx, "n1", base); err != nil {
		t.Fatal(err)
	}
	if d := getDevice(t, s, "n1"); d.ExpectedIntervalS != 300 {
		t.Errorf("default interval = %d s, want 300", d.ExpectedIntervalS)
	}
	if err := s.SetExpectedInterval(ctx, "n1", 60); err != nil {
		t.Fatal(err)
	}
	if d := getDevice(t, s, "n1"); d.ExpectedIntervalS != 60 {
		t.Errorf("interval = %d s, want 60", d.ExpectedIntervalS)
	}
	if err := s.SetExpectedInterval(ctx, "nowhere", 60); !errors.Is(err, thermowatt.ErrNotFound) {
		t.Errorf("SetExpectedInterval(unknown) = %v, want ErrNotFound", err)
	}
	if err := s.SetExpectedInterval(ctx, "n1", 0); err == nil {
		t.Errorf("SetExpectedInterval(0) succeeded")
	}
}

func testFailureCounts(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, id := range []string{"n1", "n2"} {
		if _, err := s.CreateDevice(ctx, id, base); err != nil {
			t.Fatal(err)
		}
	}
	count := func(id string, rej, auth int, at time.Time) {
		t.Helper()
		if err := s.CountFailures(ctx, id, rej, auth, at); err != nil {
			t.Fatalf("CountFailures: %v", err)
		}
	}
	count("n1", 2, 0, base.Add(-2*time.Hour)) // outside the window
	count("n1", 3, 1, base.Add(-30*time.Minute))
	count("n1", 4, 0, base.Add(-30*time.Minute+time.Second)) // same minute
	count("n2", 0, 5, base)
	count("unknown", 9, 9, base) // ignored, no error
	got, err := s.FailuresSince(ctx, base.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]thermowatt.Failures{"n1": {Rejected: 7, AuthFailures: 1}, "n2": {AuthFailures: 5}}
	if len(got) != len(want) || got["n1"] != want["n1"] || got["n2"] != want["n2"] {
		t.Errorf("FailuresSince = %+v, want %+v", got, want)
	}
	if d := getDevice(t, s, "n1"); d.Failures != (thermowatt.Failures{Rejected: 9, AuthFailures: 1}) {
		t.Errorf("lifetime counts of n1 = %+v, want 9 rejected, 1 auth failure", d.Failures)
	}
	if n, err := s.DeleteOpsBefore(ctx, base.Add(-time.Hour)); err != nil || n != 1 {
		t.Errorf("DeleteOpsBefore = %d, %v; want the 1 old bucket", n, err)
	}
}

func openAlert(t *testing.T, s store.Store, a thermowatt.NewAlert) bool {
	t.Helper()
	return must[bool](t, "OpenAlert")(s.OpenAlert(t.Context(), a))
}

func resolveAlert(t *testing.T, s store.Store, id, kind string, at time.Time, needData bool) bool {
	t.Helper()
	return must[bool](t, "ResolveAlert")(s.ResolveAlert(t.Context(), id, kind, at, needData))
}

func listAlerts(t *testing.T, s store.Store, q store.AlertQuery) []thermowatt.Alert {
	t.Helper()
	if q.Limit == 0 {
		q.Limit = 100
	}
	return must[[]thermowatt.Alert](t, "ListAlerts")(s.ListAlerts(t.Context(), q))
}

func testAlertOpensOnceAndResolves(t *testing.T, s store.Store) {
	insert(t, s, []thermowatt.Reading{rd("n1", 0, 20)}, base)
	seen := getDevice(t, s, "n1").LastSeenAt
	at := base.Add(20 * time.Minute)
	a := thermowatt.NewAlert{DeviceID: "n1", Kind: thermowatt.KindSilent, Message: "n1 silent", At: at, IfLastSeen: seen}

	// Many openers at once: exactly one opens it.
	var wg sync.WaitGroup
	var mu sync.Mutex
	opened := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.OpenAlert(t.Context(), a)
			if err != nil {
				t.Errorf("OpenAlert: %v", err)
			}
			if ok {
				mu.Lock()
				opened++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if opened != 1 {
		t.Fatalf("%d of 8 racing OpenAlert calls opened the alert, want exactly 1", opened)
	}
	if openAlert(t, s, thermowatt.NewAlert{DeviceID: "n1", Kind: thermowatt.KindFailing, Message: "n1 failing", At: at}) != true {
		t.Errorf("a failing alert could not open beside the silent one")
	}
	if openAlert(t, s, thermowatt.NewAlert{DeviceID: "nowhere", Kind: thermowatt.KindSilent, Message: "x", At: at}) {
		t.Errorf("an alert opened for an unknown device")
	}
	open := listAlerts(t, s, store.AlertQuery{OpenOnly: true, DeviceID: "n1"})
	if len(open) != 2 {
		t.Fatalf("open alerts = %+v, want silent and failing", open)
	}

	// Resolving a silent alert needs data newer than its opening.
	if resolveAlert(t, s, "n1", thermowatt.KindSilent, at.Add(time.Minute), true) {
		t.Errorf("silent alert resolved with no new data")
	}
	insert(t, s, []thermowatt.Reading{rd("n1", 21*time.Minute, 20)}, at.Add(time.Minute))
	if !resolveAlert(t, s, "n1", thermowatt.KindSilent, at.Add(2*time.Minute), true) {
		t.Errorf("silent alert not resolved after data returned")
	}
	if resolveAlert(t, s, "n1", thermowatt.KindSilent, at.Add(3*time.Minute), true) {
		t.Errorf("silent alert resolved twice")
	}
	// A new episode may open after the last one resolved.
	if !openAlert(t, s, thermowatt.NewAlert{DeviceID: "n1", Kind: thermowatt.KindSilent, Message: "again", At: at.Add(time.Hour)}) {
		t.Errorf("a second episode could not open")
	}
	all := listAlerts(t, s, store.AlertQuery{})
	if len(all) != 3 || all[0].Message != "again" || all[0].ResolvedAt != nil {
		t.Errorf("alerts = %+v, want 3, newest first", all)
	}
	if got := listAlerts(t, s, store.AlertQuery{OpenOnly: true}); len(got) != 2 {
		t.Errorf("open alerts = %d, want 2", len(got))
	}
}

// A checker that read the device before new data arrived must not open a
// silent alert on that stale view.
func testAlertStaleCheckerCannotFlip(t *testing.T, s store.Store) {
	insert(t, s, []thermowatt.Reading{rd("n1", 0, 20)}, base)
	stale := getDevice(t, s, "n1").LastSeenAt
	insert(t, s, []thermowatt.Reading{rd("n1", time.Minute, 20)}, base.Add(time.Minute))
	if openAlert(t, s, thermowatt.NewAlert{DeviceID: "n1", Kind: thermowatt.KindSilent, Message: "x", At: base.Add(time.Hour), IfLastSeen: stale}) {
		t.Errorf("silent alert opened although data arrived after the checker looked")
	}
}

func testAlertClaimAndNotify(t *testing.T, s store.Store) {
	ctx := t.Context()
	insert(t, s, []thermowatt.Reading{rd("n1", 0, 20)}, base)
	now := base.Add(time.Hour)
	openAlert(t, s, thermowatt.NewAlert{DeviceID: "n1", Kind: thermowatt.KindSilent, Message: "m", At: now})

	first, err := s.ClaimAlerts(ctx, now, 30*time.Second, 10)
	if err != nil || len(first) != 1 || first[0].Pending() != thermowatt.TransitionOpened || first[0].Claim == "" {
		t.Fatalf("ClaimAlerts = %+v, %v; want the opened alert, claimed", first, err)
	}
	if again, _ := s.ClaimAlerts(ctx, now.Add(time.Second), 30*time.Second, 10); len(again) != 0 {
		t.Errorf("a claimed alert was claimed again within its lease")
	}
	// Delivery failed: not claimable before next attempt, then claimable.
	if err := s.NotifyFailed(ctx, first[0].ID, first[0].Claim, "503 from webhook", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ClaimAlerts(ctx, now.Add(30*time.Second), 30*time.Second, 10); len(got) != 0 {
		t.Errorf("claimed before its next attempt")
	}
	retry, err := s.ClaimAlerts(ctx, now.Add(time.Minute), 30*time.Second, 10)
	if err != nil || len(retry) != 1 || retry[0].NotifyAttempts != 1 || retry[0].LastError != "503 from webhook" {
		t.Fatalf("retry claim = %+v, %v", retry, err)
	}
	// The old claim is void: marking with it does nothing.
	if err := s.MarkNotified(ctx, first[0].ID, first[0].Claim, thermowatt.TransitionOpened, now); err != nil {
		t.Fatal(err)
	}
	if a := listAlerts(t, s, store.AlertQuery{})[0]; a.OpenedNotifiedAt != nil {
		t.Errorf("a stale claim marked the alert notified")
	}
	if err := s.MarkNotified(ctx, retry[0].ID, retry[0].Claim, thermowatt.TransitionOpened, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ClaimAlerts(ctx, now.Add(time.Hour), 30*time.Second, 10); len(got) != 0 {
		t.Errorf("a notified open alert was claimed again: %+v", got)
	}
	// Resolving makes the next transition pending.
	insert(t, s, []thermowatt.Reading{rd("n1", 2*time.Hour, 20)}, now.Add(2*time.Hour))
	resolveAlert(t, s, "n1", thermowatt.KindSilent, now.Add(2*time.Hour), true)
	res, err := s.ClaimAlerts(ctx, now.Add(2*time.Hour), 30*time.Second, 10)
	if err != nil || len(res) != 1 || res[0].Pending() != thermowatt.TransitionResolved {
		t.Fatalf("claim after resolve = %+v, %v", res, err)
	}
	if err := s.MarkNotified(ctx, res[0].ID, res[0].Claim, thermowatt.TransitionResolved, now.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ClaimAlerts(ctx, now.Add(3*time.Hour), 30*time.Second, 10); len(got) != 0 {
		t.Errorf("nothing should be pending, got %+v", got)
	}
	if n, err := s.DeleteOpsBefore(ctx, now.Add(3*time.Hour)); err != nil || n != 1 {
		t.Errorf("DeleteOpsBefore = %d, %v; want the resolved, notified alert", n, err)
	}
}

// retentionFixture stores readings on both sides of cutoff and raw rows
// on both sides of rawCutoff; it returns how many of each are expired.
func retentionFixture(t *testing.T, s store.Store, cutoff time.Time) (expired, kept int) {
	var rs []thermowatt.Reading
	for i := range 300 {
		// Every minute from 150 minutes before the cutoff; the one
		// exactly at the cutoff is kept (older than means strictly before).
		dev := []string{"a", "b", "c"}[i%3]
		rs = append(rs, thermowatt.Reading{DeviceID: dev, RecordedAt: cutoff.Add(time.Duration(i-150) * time.Minute), Temperature: f(20)})
	}
	rs = append(rs, thermowatt.Reading{DeviceID: "a", RecordedAt: cutoff.Add(-time.Microsecond), Temperature: f(1)})
	insert(t, s, rs, cutoff)
	return 151, 150
}

func testRetentionDeletesExactlyExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	cutoff := base
	expired, kept := retentionFixture(t, s, cutoff)
	var total int64
	for {
		n, err := s.DeleteReadingsBefore(ctx, cutoff, 40)
		if err != nil {
			t.Fatal(err)
		}
		if n > 40 {
			t.Fatalf("a batch deleted %d rows, more than its limit 40", n)
		}
		total += n
		if n < 40 {
			break
		}
	}
	if total != int64(expired) {
		t.Errorf("deleted %d readings, want %d", total, expired)
	}
	left := query(t, s, store.Query{})
	if len(left) != kept {
		t.Errorf("%d readings left, want %d", len(left), kept)
	}
	for _, r := range left {
		if r.RecordedAt.Before(cutoff) {
			t.Errorf("expired reading %s survived", show(r.Reading))
		}
	}
	var counted int64
	for _, d := range []string{"a", "b", "c"} {
		counted += getDevice(t, s, d).ReadingCount
	}
	if counted != int64(kept) {
		t.Errorf("device reading counts sum to %d, want %d", counted, kept)
	}

	// Raw archive: by received time.
	for _, at := range []time.Time{cutoff.Add(-time.Hour), cutoff.Add(-time.Microsecond), cutoff, cutoff.Add(time.Hour)} {
		if _, err := s.ArchiveRaw(ctx, store.RawRecord{ReceivedAt: at, Body: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.DeleteRawBefore(ctx, cutoff, 1000); err != nil || n != 2 {
		t.Errorf("DeleteRawBefore = %d, %v; want 2", n, err)
	}
	if n, err := s.DeleteRawBefore(ctx, cutoff, 1000); err != nil || n != 0 {
		t.Errorf("DeleteRawBefore again = %d, %v; want 0", n, err)
	}
}

func testRetentionConcurrentRuns(t *testing.T, s store.Store) {
	cutoff := base
	expired, kept := retentionFixture(t, s, cutoff)
	var wg sync.WaitGroup
	totals := make([]int64, 2)
	for w := range totals {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n, err := s.DeleteReadingsBefore(t.Context(), cutoff, 10)
				if err != nil {
					t.Errorf("run %d: %v", w, err)
					return
				}
				totals[w] += n
				if n == 0 {
					return
				}
			}
		}()
	}
	wg.Wait()
	if totals[0]+totals[1] != int64(expired) {
		t.Errorf("two runs deleted %d + %d readings, want %d in all", totals[0], totals[1], expired)
	}
	if left := query(t, s, store.Query{}); len(left) != kept {
		t.Errorf("%d readings left, want %d", len(left), kept)
	}
}
