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
// week (Monday to Monday, as compaction keeps them), the payload as sent
// and without the three values the typed columns hold.
func diskCodec(s *diskSet, logf func(string, ...any)) codecFigures {
	var out codecFigures
	for _, strip := range []bool{false, true} {
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
				if i > 0 && mondayOf(rs[i].RecordedAt) != mondayOf(rs[i-1].RecordedAt) {
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
		name, what := "tscodec blocks, payload as sent", "EncodeBlock's bytes"
		if strip {
			name = "tscodec blocks, payload without voltage_v, current_ma, power_mw"
		}
		what = fmt.Sprintf("%s, %d blocks (a device's week each); received times one per reading", what, blocks)
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
