package tscodec

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
)

func ptr(v float64) *float64 { return &v }

// sameStored reports the first difference between two readings, exact to
// the bit and byte: NaN equals NaN, -0 does not equal 0, a nil payload
// does not equal an empty one.
func sameStored(a, b thermowatt.Stored) error {
	switch {
	case a.ID != b.ID:
		return fmt.Errorf("id %d, want %d", b.ID, a.ID)
	case a.DeviceID != b.DeviceID:
		return fmt.Errorf("device %q, want %q", b.DeviceID, a.DeviceID)
	case !a.RecordedAt.Equal(b.RecordedAt):
		return fmt.Errorf("recordedAt %s, want %s", b.RecordedAt, a.RecordedAt)
	case !a.ReceivedAt.Equal(b.ReceivedAt):
		return fmt.Errorf("receivedAt %s, want %s", b.ReceivedAt, a.ReceivedAt)
	case a.ServerTime != b.ServerTime:
		return fmt.Errorf("serverTime %v, want %v", b.ServerTime, a.ServerTime)
	case (a.Payload == nil) != (b.Payload == nil) || !bytes.Equal(a.Payload, b.Payload):
		return fmt.Errorf("payload %q, want %q", b.Payload, a.Payload)
	}
	if b.RecordedAt.Location() != time.UTC || b.ReceivedAt.Location() != time.UTC {
		return fmt.Errorf("times not in UTC")
	}
	ta, tb := typedOf(&a.Reading), typedOf(&b.Reading)
	for c := range ta {
		if (ta[c] == nil) != (tb[c] == nil) {
			return fmt.Errorf("typed column %d: presence %v, want %v", c, tb[c] != nil, ta[c] != nil)
		}
		if ta[c] != nil && math.Float64bits(*ta[c]) != math.Float64bits(*tb[c]) {
			return fmt.Errorf("typed column %d: %v, want %v", c, *tb[c], *ta[c])
		}
	}
	return nil
}

func roundTrip(t testing.TB, rows []thermowatt.Stored) []byte {
	t.Helper()
	block, err := EncodeBlock(rows)
	if err != nil {
		t.Fatalf("EncodeBlock: %v", err)
	}
	got, err := DecodeBlock(rows[0].DeviceID, block)
	if err != nil {
		t.Fatalf("DecodeBlock: %v", err)
	}
	if len(got) != len(rows) {
		t.Fatalf("%d readings back, want %d", len(got), len(rows))
	}
	for i := range rows {
		if err := sameStored(rows[i], got[i]); err != nil {
			t.Fatalf("reading %d: %v", i, err)
		}
	}
	first, last, n, err := BlockTimes(block)
	if err != nil || n != len(rows) || !first.Equal(rows[0].RecordedAt) || !last.Equal(rows[len(rows)-1].RecordedAt) {
		t.Fatalf("BlockTimes = %s, %s, %d, %v; want %s, %s, %d", first, last, n, err, rows[0].RecordedAt, rows[len(rows)-1].RecordedAt, len(rows))
	}
	return block
}

// randomRows are readings that vary every field the format has a case
// for: gaps, jitter, batches, absent values, odd floats and odd literals.
func randomRows(rng *rand.Rand, n int) []thermowatt.Stored {
	oddFloats := []float64{0, math.Copysign(0, -1), math.NaN(), math.Inf(1), math.Inf(-1), math.MaxFloat64, math.SmallestNonzeroFloat64, 1.0 / 3, -1e300, 21.37}
	oddLits := []string{"0", "-0", "-0.0", "0.0", "1e-3", "1E+5", "12345678901234567890", "3.300", "-12.5", "007", "1.", ".5", "--1", "-", "9223372036854775807", "0.000000000000000001"}
	at := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.IntN(1e9)) * time.Microsecond)
	id := rng.Int64N(1 << 40)
	received := at.Add(time.Second)
	rows := make([]thermowatt.Stored, n)
	for i := range rows {
		switch rng.IntN(10) {
		case 0:
			at = at.Add(time.Duration(1+rng.Int64N(1e12)) * time.Microsecond)
		case 1:
			at = at.Add(time.Microsecond)
		default:
			at = at.Add(5*time.Minute + time.Duration(rng.IntN(3)-1)*time.Second)
		}
		id += rng.Int64N(5) - 1
		if rng.IntN(8) == 0 {
			received = at.Add(time.Duration(rng.Int64N(1e9)) * time.Microsecond)
		}
		r := thermowatt.Stored{ID: id, Reading: thermowatt.Reading{DeviceID: "dev-1", RecordedAt: at, ReceivedAt: received, ServerTime: rng.IntN(4) == 0}}
		if rng.IntN(50) == 0 {
			r.ReceivedAt = time.Time{}
		}
		val := func(base float64, places int) *float64 {
			switch rng.IntN(20) {
			case 0:
				return nil
			case 1:
				return ptr(oddFloats[rng.IntN(len(oddFloats))])
			}
			f := math.Pow(10, float64(places))
			return ptr(math.Round((base+rng.NormFloat64())*f) / f)
		}
		r.Temperature, r.Humidity, r.VoltageV, r.CurrentMA, r.PowerMW = val(21, 2), val(50, 1), val(5, 3), val(40, 2), val(200, 1)
		if rng.IntN(3) == 0 {
			r.Humidity = nil
		}
		switch rng.IntN(12) {
		case 0:
			r.Payload = nil
		case 1:
			r.Payload = []byte{}
		case 2:
			b := make([]byte, rng.IntN(40))
			for j := range b {
				b[j] = byte(rng.IntN(256))
			}
			r.Payload = b
		case 3:
			r.Payload = fmt.Appendf(nil, `{"x":%s,"s":"a\"1.5\\","y":[%s, 2]}`, oddLits[rng.IntN(len(oddLits))], oddLits[rng.IntN(len(oddLits))])
		default:
			p := `{"sensor":{"bmp280":{"temperature_c":`
			if r.Temperature != nil && rng.IntN(5) > 0 {
				p += strconv.FormatFloat(*r.Temperature, 'f', -1, 64)
			} else {
				p += "21.5"
			}
			p += fmt.Sprintf(`,"pressure_hpa":%.2f},"ina219":{"shunt_ohms":0.1,"max_current_a":3.2}}}`, 1013+rng.NormFloat64())
			r.Payload = []byte(p)
		}
		rows[i] = r
	}
	return rows
}

func TestRoundTripRandom(t *testing.T) {
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 7))
		n := 1 + rng.IntN(300)
		if seed%50 == 0 {
			n = 5000
		}
		roundTrip(t, randomRows(rng, n))
	}
}

func TestRoundTripOneReading(t *testing.T) {
	at := time.Date(2025, 1, 1, 0, 0, 0, 1000, time.UTC)
	roundTrip(t, []thermowatt.Stored{{ID: 1, Reading: thermowatt.Reading{DeviceID: "a", RecordedAt: at}}})
	roundTrip(t, []thermowatt.Stored{{ID: -5, Reading: thermowatt.Reading{DeviceID: "a", RecordedAt: time.UnixMicro(-1).UTC(), Temperature: ptr(-0.0), Payload: []byte(`{}`)}}})
}

func TestEncodeBlockRefuses(t *testing.T) {
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	row := func(dev string, at time.Time) thermowatt.Stored {
		return thermowatt.Stored{Reading: thermowatt.Reading{DeviceID: dev, RecordedAt: at}}
	}
	for name, rows := range map[string][]thermowatt.Stored{
		"none":         nil,
		"two devices":  {row("a", at), row("b", at.Add(time.Minute))},
		"unsorted":     {row("a", at.Add(time.Minute)), row("a", at)},
		"same instant": {row("a", at), row("a", at)},
		"nanoseconds":  {row("a", at.Add(time.Nanosecond))},
	} {
		if _, err := EncodeBlock(rows); err == nil {
			t.Errorf("%s: EncodeBlock accepted it", name)
		}
	}
}

func TestDecodeBlockRefusesCorruption(t *testing.T) {
	rows := randomRows(rand.New(rand.NewPCG(1, 2)), 200)
	block, err := EncodeBlock(rows)
	if err != nil {
		t.Fatal(err)
	}
	for cut := 0; cut < len(block); cut++ {
		if _, err := DecodeBlock("dev-1", block[:cut]); err == nil {
			t.Fatalf("a block cut at %d of %d bytes decoded", cut, len(block))
		} else if !errors.Is(err, errCorrupt) {
			t.Fatalf("cut at %d: error %v is not errCorrupt", cut, err)
		}
	}
	bad := bytes.Clone(block)
	bad[0] = Version + 1
	if _, err := DecodeBlock("dev-1", bad); err == nil {
		t.Fatal("a block of another version decoded")
	}
}
