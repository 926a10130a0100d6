package bench

import (
	"bytes"
	"fmt"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/tscodec"
)

type codecFigures struct {
	rows []codecRow
}

type codecRow struct {
	name            string
	bytesPerReading float64
	what            string
}

// diskCodec encodes the set with tscodec alone, one block per device and
// week (Monday to Monday) or day, the payload as sent and without the
// three values the typed columns hold.
func diskCodec(s *diskSet, logf func(string, ...any)) codecFigures {
	var out codecFigures
	for _, v := range []struct {
		span  string
		strip bool
	}{{"week", false}, {"week", true}, {"day", false}} {
		strip := v.strip
		period := mondayOf
		if v.span == "day" {
			period = dayOf
		}
		var total, blocks int
		var id int64
		for _, rs := range s.devices {
			var week []thermowatt.Stored
			flush := func() {
				if len(week) == 0 {
					return
				}
				b, err := tscodec.EncodeBlock(week)
				if err != nil {
					panic(err) // generated readings are always encodable
				}
				total += len(b)
				blocks++
				week = week[:0]
			}
			for i := range rs {
				if i > 0 && period(rs[i].RecordedAt) != period(rs[i-1].RecordedAt) {
					flush()
				}
				id++
				st := thermowatt.Stored{ID: id, Reading: rs[i].Reading}
				if strip {
					st.Payload = withoutTyped(st.Payload)
				}
				week = append(week, st)
			}
			flush()
		}
		name := "tscodec, a device's " + v.span + " a block, payload as sent"
		if strip {
			name = "tscodec, a device's " + v.span + " a block, payload without voltage_v, current_ma, power_mw"
		}
		what := fmt.Sprintf("EncodeBlock's bytes, %d blocks; received times one per reading", blocks)
		out.rows = append(out.rows, codecRow{name: name, bytesPerReading: float64(total) / float64(s.n()), what: what})
		logf("%s: %.2f bytes per reading (%s)", name, float64(total)/float64(s.n()), what)
	}
	return out
}

// withoutTyped cuts the firmware payload's leading voltage_v, current_ma
// and power_mw (sensordata writes them first, as the firmware does).
func withoutTyped(p []byte) []byte {
	i := bytes.Index(p, []byte(`,"sensor":`))
	if !bytes.HasPrefix(p, []byte(`{"voltage_v":`)) || i < 0 {
		return p
	}
	return append([]byte{'{'}, p[i+1:]...)
}

func mondayOf(t time.Time) int64 {
	// The Unix epoch was a Thursday: weeks from Monday start 4 days later.
	return (t.Unix() - 4*86400) / (7 * 86400)
}

func dayOf(t time.Time) int64 { return t.Unix() / 86400 }
