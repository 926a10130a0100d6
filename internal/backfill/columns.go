package backfill

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/thermowatt/thermowatt"
)

// field is one thing a CSV column can hold.
type field int

const (
	fRecordedAt field = iota
	fDeviceID
	fTemperature
	fHumidity
	fPressure
	fVoltage
	fCurrent
	fPower
	nFields
)

// fieldNames are the names --map uses on its left-hand side.
var fieldNames = [nFields]string{"recordedAt", "deviceId", "temperature", "humidity", "pressure", "voltage", "current", "power"}

// aliases are the column names recognised without --map: the firmware's
// (esp32/lib/app.py TEMP_HEADER, ELECT_HEADER), the API's, and common ones.
var aliases = map[string]field{
	"recorded_at": fRecordedAt, "recordedat": fRecordedAt, "timestamp": fRecordedAt, "time": fRecordedAt, "ts": fRecordedAt, "datetime": fRecordedAt,
	"deviceid": fDeviceID, "device_id": fDeviceID, "device": fDeviceID,
	"temperature_c": fTemperature, "temperature": fTemperature, "temp_c": fTemperature, "temp": fTemperature,
	"humidity": fHumidity, "humidity_pct": fHumidity, "humidity_rh": fHumidity,
	"pressure_hpa": fPressure, "pressure": fPressure,
	"voltage_v": fVoltage, "voltage": fVoltage,
	"current_ma": fCurrent, "current": fCurrent,
	"power_mw": fPower, "power": fPower,
}

// Mapping names, per field, the column that holds it (--map).
type Mapping map[field]string

// ParseMapping reads "recordedAt=ts,temperature=temp_c,...". The left side
// is a field name (recordedAt, deviceId, temperature, humidity, pressure,
// voltage, current, power) or one of the firmware's column names.
func ParseMapping(s string) (Mapping, error) {
	m := Mapping{}
	if strings.TrimSpace(s) == "" {
		return m, nil
	}
	for _, pair := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(pair, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("--map: %q is not FIELD=COLUMN (e.g. recordedAt=ts,temperature=temp_c)", pair)
		}
		f, ok := fieldByName(k)
		if !ok {
			return nil, fmt.Errorf("--map: unknown field %q; the fields are %s", k, strings.Join(fieldNames[:], ", "))
		}
		m[f] = v
	}
	return m, nil
}

func fieldByName(k string) (field, bool) {
	for f, n := range fieldNames {
		if strings.EqualFold(n, k) {
			return field(f), true
		}
	}
	f, ok := aliases[strings.ToLower(k)]
	return f, ok
}

// layout says which column of a file holds which field (-1: none).
type layout struct {
	col     [nFields]int
	columns int // fields in the header
	header  []string
}

// newLayout resolves a header line: a --map entry wins when the file has
// that column; otherwise the usual names are recognised. Unknown columns
// (the firmware's boot, uptime_s) are ignored.
func newLayout(header []string, m Mapping) (layout, error) {
	l := layout{columns: len(header), header: header}
	for i := range l.col {
		l.col[i] = -1
	}
	index := func(name string) int {
		return slices.IndexFunc(header, func(h string) bool { return strings.EqualFold(h, name) })
	}
	for f := range nFields {
		if name, ok := m[f]; ok {
			if i := index(name); i >= 0 {
				l.col[f] = i
				continue
			}
		}
		for i, h := range header {
			if a, ok := aliases[strings.ToLower(h)]; ok && a == f && l.col[f] < 0 {
				l.col[f] = i
			}
		}
	}
	if l.col[fRecordedAt] < 0 {
		hint := ""
		if name, ok := m[fRecordedAt]; ok {
			hint = fmt.Sprintf(" (--map names %q, which this file does not have)", name)
		}
		return l, fmt.Errorf("no time column in header %q%s: name it with --map recordedAt=COLUMN", strings.Join(header, ","), hint)
	}
	values := 0
	for f := fTemperature; f < nFields; f++ {
		if l.col[f] >= 0 {
			values++
		}
	}
	if values == 0 {
		return l, fmt.Errorf("no value column in header %q: expected e.g. temperature_c, pressure_hpa, voltage_v, current_ma, power_mw, or name them with --map temperature=COLUMN", strings.Join(header, ","))
	}
	return l, nil
}

// row is one parsed CSV line.
type row struct {
	at     time.Time
	device string
	vals   [nFields]float64
	set    uint16 // bit f set when vals[f] holds a value
}

func (r *row) has(f field) bool { return r.set&(1<<f) != 0 }

// parseRow turns a line's fields into a row, or says what is wrong.
func (l layout) parseRow(fields []string, tz *time.Location) (row, string) {
	var r row
	if len(fields) != l.columns {
		return r, fmt.Sprintf("%d fields where the header has %d", len(fields), l.columns)
	}
	at := fields[l.col[fRecordedAt]]
	if at == "" {
		return r, fmt.Sprintf("%s is empty: the device's clock was not set yet (the firmware delivers such readings itself once NTP sets it)", l.header[l.col[fRecordedAt]])
	}
	t, err := parseTime(at, tz)
	if err != nil {
		return r, fmt.Sprintf("%s %q: %v", l.header[l.col[fRecordedAt]], at, err)
	}
	r.at = t.Truncate(thermowatt.Precision)
	if c := l.col[fDeviceID]; c >= 0 {
		r.device = fields[c]
	}
	for f := fTemperature; f < nFields; f++ {
		c := l.col[f]
		if c < 0 || fields[c] == "" {
			continue // an empty cell: that sensor did not answer
		}
		v, err := strconv.ParseFloat(fields[c], 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return r, fmt.Sprintf("%s %q is not a number", l.header[c], fields[c])
		}
		r.vals[f] = v
		r.set |= 1 << f
	}
	return r, ""
}

// Naive layouts, read in the --tz zone.
var naiveLayouts = []string{
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999",
	"2006/01/02 15:04:05.999999999",
	"2006-01-02T15:04",
	"2006-01-02 15:04",
}

// parseTime reads RFC 3339 with an offset, a naive date-time in tz, or
// unix seconds.
func parseTime(s string, tz *time.Location) (time.Time, error) {
	var firstErr error
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999Z07:00"} {
		t, err := time.Parse(layout, s)
		if err == nil {
			return t, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	for _, layout := range naiveLayouts {
		if t, err := time.ParseInLocation(layout, s, tz); err == nil {
			return t, nil
		} else if strings.Contains(err.Error(), "out of range") {
			return time.Time{}, fmt.Errorf("impossible date or time (%v)", rangeText(err))
		}
	}
	if strings.Contains(firstErr.Error(), "out of range") {
		return time.Time{}, fmt.Errorf("impossible date or time (%v)", rangeText(firstErr))
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
		if n > 1e11 { // milliseconds
			return time.UnixMilli(n), nil
		}
		return time.Unix(n, 0), nil
	}
	return time.Time{}, fmt.Errorf("not a time: use RFC 3339 (2025-02-05T09:30:00+09:00), a local time such as 2025-02-05 09:30:00 with --tz, or unix seconds")
}

func rangeText(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}
