package postgres_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/store/postgres"
)

// A payload the firmware repeats in every reading is stored once, in
// payload_shapes, from its second batch on; a device's report on itself
// (never repeated: it carries the uptime) stays in its row. Another
// instance, which has not seen the shape made, reads it back too.
func TestRepeatedPayloadsAreStoredOnce(t *testing.T) {
	ctx := t.Context()
	s, dbURL := openFresh(t)
	f := func(v float64) *float64 { return &v }
	base := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	const perDevice = 40
	var sent []thermowatt.Reading
	for i := range perDevice {
		for _, device := range []string{"a", "b"} {
			payload := `{"voltage_v":4.98,"sensor":{"bmp280":{"temperature_c":21.5},"ina219":{"shunt_ohms":0.1,"max_current_a":3.2}}}`
			if i%10 == 0 {
				payload = fmt.Sprintf(`{"voltage_v":4.98,"sensor":{"bmp280":{"temperature_c":21.5}},"device":{"uptime_s":%d}}`, i*300)
			}
			r := thermowatt.Reading{DeviceID: device, RecordedAt: base.Add(time.Duration(i) * 5 * time.Minute),
				Temperature: f(21.5), VoltageV: f(4.98), Payload: json.RawMessage(payload)}
			sent = append(sent, r)
			if _, err := s.InsertReadings(ctx, []thermowatt.Reading{r}, r.RecordedAt); err != nil {
				t.Fatal(err)
			}
		}
	}

	conn := connect(t, dbURL)
	var shapes, shaped, whole, reports int
	err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM payload_shapes),
		count(*) FILTER (WHERE payload_shape IS NOT NULL AND payload IS NULL),
		count(*) FILTER (WHERE payload IS NOT NULL),
		count(*) FILTER (WHERE payload ? 'device')
		FROM device_measurements`).Scan(&shapes, &shaped, &whole, &reports)
	if err != nil {
		t.Fatal(err)
	}
	// Device a's first repeat is stored whole once; b's first one too
	// (seen a second time, it is made a shape after its batch), then all
	// repeats are shapes.
	if shapes != 1 || reports != 2*perDevice/10 || whole != reports+2 || shaped != 2*perDevice-whole {
		t.Errorf("%d shapes, %d rows naming one, %d whole payloads of which %d reports; want 1 shape, %d reports, and whole only those and the first two repeats",
			shapes, shaped, whole, reports, 2*perDevice/10)
	}

	other, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for _, device := range []string{"a", "b"} {
		got, err := other.QueryReadings(ctx, store.Query{DeviceID: device, Limit: perDevice})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != perDevice {
			t.Fatalf("%s: %d readings, want %d", device, len(got), perDevice)
		}
		for _, g := range got {
			var want json.RawMessage
			for _, r := range sent {
				if r.DeviceID == device && r.RecordedAt.Equal(g.RecordedAt) {
					want = r.Payload
				}
			}
			if !jsonEqual(t, g.Payload, want) {
				t.Errorf("%s at %v: payload %s, want %s", device, g.RecordedAt, g.Payload, want)
			}
		}
	}
}

// jsonEqual reports whether a and b decode to the same value.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

// Going back before payload shapes (migration 00016's Down) writes each
// shape back into the rows that name it.
func TestPayloadShapesDown(t *testing.T) {
	ctx := t.Context()
	s, dbURL := openFresh(t)
	at := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	// Registered first: a first contact's batch is tried twice, which
	// counts as storing its payload twice.
	if _, err := s.CreateDevice(ctx, "a", at); err != nil {
		t.Fatal(err)
	}
	payload := `{"sensor":{"ina219":{"shunt_ohms":0.1}}}`
	for i := range 4 {
		r := thermowatt.Reading{DeviceID: "a", RecordedAt: at.Add(time.Duration(i) * time.Minute), Payload: json.RawMessage(payload)}
		if _, err := s.InsertReadings(ctx, []thermowatt.Reading{r}, r.RecordedAt); err != nil {
			t.Fatal(err)
		}
	}
	s.Close() // stopped, as a server is for a downgrade
	conn := connect(t, dbURL)
	var shaped int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM device_measurements WHERE payload_shape IS NOT NULL AND payload IS NULL`).Scan(&shaped); err != nil || shaped != 2 {
		t.Fatalf("%d rows name a shape (%v), want the last 2 of 4", shaped, err)
	}
	if err := postgres.MigrateDownTo(ctx, dbURL, 15); err != nil {
		t.Fatalf("down to 15: %v", err)
	}
	rows, err := conn.Query(ctx, `SELECT payload::text FROM device_measurements ORDER BY recorded_at`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(got) != 4 {
		t.Fatalf("payloads after down = %q, %v; want 4", got, err)
	}
	for i, p := range got {
		if !jsonEqual(t, []byte(p), []byte(payload)) {
			t.Errorf("reading %d's payload after down = %s, want %s", i, p, payload)
		}
	}
}
