package store

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/thermowatt/thermowatt"
)

// A payload repeats what a reading's columns hold: the firmware sends
// voltage_v, current_ma and power_mw at its top level (copied into the
// columns of the same names) and sensor.bmp280.{temperature_c,
// pressure_hpa} (the reading's temperature, and the pressure the charts
// read). Stored as sent, each of those values was kept twice, and
// PostgreSQL's payload was 205 of a reading's 331 bytes.
//
// So the stores keep the payload without the members its columns already
// hold (FoldPayload) and put them back when the reading is read
// (UnfoldPayload). A member is left out only when putting it back gives
// exactly the text that was sent: the column holds the same number and
// formatting it (formatNumber) gives the same characters, the member's
// name is written without escapes, and no other member could be taken
// for it (a name differing in case, for the top-level fields the wire
// decoder matches case-insensitively; a second "sensor" or "bmp280").
// Anything else stays in the payload as sent, so what the API answers is
// always the object the device sent.

// Fold says which members FoldPayload left out of a payload, one bit
// each; the stores keep it with the reading (column folded). Zero: the
// payload is whole, as are rows stored before folding existed.
type Fold uint8

const (
	FoldVoltageV Fold = 1 << iota
	FoldCurrentMA
	FoldPowerMW
	FoldPressureHPa  // sensor.bmp280.pressure_hpa
	FoldTemperatureC // sensor.bmp280.temperature_c
)

// Columns are the values of a reading's columns a payload may repeat.
type Columns struct {
	Temperature, VoltageV, CurrentMA, PowerMW, PressureHPa *float64
}

// ColumnsOf returns the columns of r, with its pressure read from its
// payload (PayloadPressure).
func ColumnsOf(r thermowatt.Reading) Columns {
	return Columns{Temperature: r.Temperature, VoltageV: r.VoltageV, CurrentMA: r.CurrentMA,
		PowerMW: r.PowerMW, PressureHPa: PayloadPressure(r.Payload)}
}

// foldable lists the members a payload may repeat: where (top level or
// inside sensor.bmp280), the name, and the bit (Columns.column). The order of
// each group is the order UnfoldPayload puts them back in, at the start
// of their object: the order Go clients (wire.Payload, and a map's sorted
// keys for sensor.bmp280) send them in.
var (
	topFoldable = []foldable{
		{"voltage_v", FoldVoltageV},
		{"current_ma", FoldCurrentMA},
		{"power_mw", FoldPowerMW},
	}
	bmpFoldable = []foldable{
		{"pressure_hpa", FoldPressureHPa},
		{"temperature_c", FoldTemperatureC},
	}
)

type foldable struct {
	name string
	bit  Fold
}

// column is the value of c that the member bit names holds. (A switch,
// not a function per member: a call through a function value would move
// every Columns it is given to the heap.)
func (c *Columns) column(bit Fold) *float64 {
	switch bit {
	case FoldVoltageV:
		return c.VoltageV
	case FoldCurrentMA:
		return c.CurrentMA
	case FoldPowerMW:
		return c.PowerMW
	case FoldPressureHPa:
		return c.PressureHPa
	case FoldTemperatureC:
		return c.Temperature
	}
	return nil
}

// FoldPayload returns payload without the members c holds, and which
// ones it left out. A payload that is nil or not valid JSON is returned
// as it is (the database refuses the latter, failing its batch).
func FoldPayload(payload json.RawMessage, c Columns) (json.RawMessage, Fold) {
	if len(payload) == 0 || !json.Valid(payload) {
		return payload, 0
	}
	top, ok := objectMembers(payload, 0)
	if !ok {
		return payload, 0
	}
	bmp, hasBmp := bmp280(payload, top)
	return foldObject(payload, top, bmp, hasBmp, c)
}

// FoldReading is ColumnsOf(r) and FoldPayload of r's payload with those
// columns, reading the payload once: it was validated and parsed once
// for each, a quarter of SQLite's CPU for 500-reading batches.
func FoldReading(r thermowatt.Reading) (Columns, json.RawMessage, Fold) {
	c := Columns{Temperature: r.Temperature, VoltageV: r.VoltageV, CurrentMA: r.CurrentMA, PowerMW: r.PowerMW}
	payload := r.Payload
	if len(payload) == 0 || !json.Valid(payload) {
		return c, payload, 0
	}
	top, ok := objectMembers(payload, 0)
	if !ok {
		return c, payload, 0
	}
	// The one sensor.bmp280 is read once, for the pressure and the fold;
	// pressureIn reads the last of repeated ones, as PostgreSQL does.
	bmp, hasBmp := bmp280(payload, top)
	if hasBmp {
		c.PressureHPa = pressureOf(payload, bmp)
	} else {
		c.PressureHPa = pressureIn(payload, top)
	}
	rest, fold := foldObject(payload, top, bmp, hasBmp, c)
	return c, rest, fold
}

// foldObject is FoldPayload of payload, valid JSON whose top-level
// object is top, and whose one sensor.bmp280 is bmp when hasBmp.
func foldObject(payload json.RawMessage, top, bmp object, hasBmp bool, c Columns) (json.RawMessage, Fold) {
	var (
		cutSpace [8][2]int
		cut      = cutSpace[:0] // text to leave out
		fold     Fold
	)
	leave := func(obj object, fs []foldable, caseless bool) {
		var outSpace [16]bool
		out := outSpace[:0]
		if len(obj.members) > len(outSpace) {
			out = make([]bool, len(obj.members))
		} else {
			out = out[:len(obj.members)]
		}
		for _, f := range fs {
			if i, ok := foldMember(payload, obj, f, c, caseless); ok {
				out[i], fold = true, fold|f.bit
			}
		}
		cut = appendMemberRanges(cut, obj, out)
	}
	leave(top, topFoldable, true)
	if hasBmp {
		leave(bmp, bmpFoldable, false)
	}
	if fold == 0 {
		return payload, 0
	}
	return cutRanges(payload, cut), fold
}

// UnfoldPayload puts back into payload the members fold says FoldPayload
// left out, with the values of c: the object the device sent, its
// members perhaps in another order.
func UnfoldPayload(payload json.RawMessage, fold Fold, c Columns) json.RawMessage {
	if fold == 0 || len(payload) == 0 {
		return payload
	}
	out := payload
	if bits := fold & (FoldPressureHPa | FoldTemperatureC); bits != 0 {
		top, ok := objectMembers(out, 0)
		if !ok {
			return payload
		}
		bmp, ok := bmp280(out, top)
		if !ok {
			return payload
		}
		out = insertMembers(out, bmp.open, bmpFoldable, fold, c, len(bmp.members) > 0)
	}
	if fold&(FoldVoltageV|FoldCurrentMA|FoldPowerMW) != 0 {
		top, ok := objectMembers(out, 0)
		if !ok {
			return payload
		}
		out = insertMembers(out, top.open, topFoldable, fold, c, len(top.members) > 0)
	}
	return out
}

// PayloadPressure is payload.sensor.bmp280.pressure_hpa when it is a JSON
// number a float64 holds (the last such member, as PostgreSQL's jsonb
// keeps the last of repeated names): what the series and roll-ups chart
// as pressure, stored in the reading's pressure_hpa column.
func PayloadPressure(payload json.RawMessage) *float64 {
	if len(payload) == 0 || !bytes.Contains(payload, []byte(`pressure_hpa`)) || !json.Valid(payload) {
		return nil
	}
	top, ok := objectMembers(payload, 0)
	if !ok {
		return nil
	}
	return pressureIn(payload, top)
}

// pressureIn is PayloadPressure of payload, valid JSON whose top-level
// object is top.
func pressureIn(payload []byte, top object) *float64 {
	if !bytes.Contains(payload, []byte(`pressure_hpa`)) {
		return nil
	}
	bmp, ok := lastObject(payload, top, "sensor")
	if !ok {
		return nil
	}
	if bmp, ok = lastObject(payload, bmp, "bmp280"); !ok {
		return nil
	}
	return pressureOf(payload, bmp)
}

// pressureOf is the pressure_hpa member of bmp, sensor.bmp280 (the last
// such member, as PostgreSQL's jsonb keeps), when it is a number a
// float64 holds.
func pressureOf(payload []byte, bmp object) *float64 {
	var value []byte
	for _, m := range bmp.members {
		if m.is(payload, "pressure_hpa") {
			value = payload[m.value[0]:m.value[1]]
		}
	}
	if len(value) == 0 || value[0] != '-' && (value[0] < '0' || value[0] > '9') {
		return nil
	}
	v, err := strconv.ParseFloat(string(value), 64)
	if err != nil || v == 0 && !zeroText(value) || v != 0 && math.Abs(v) < 1e-323 {
		// Beyond a float64, or below its normal range, where the value
		// read would not be the number sent (1e-400 reads as 0): none,
		// as when PostgreSQL computed the column.
		return nil
	}
	return &v
}

// zeroText reports whether the JSON number text is a zero: no digit but
// 0 before its exponent.
func zeroText(number []byte) bool {
	for _, c := range number {
		if c == 'e' || c == 'E' {
			break
		}
		if '1' <= c && c <= '9' {
			return false
		}
	}
	return true
}

// formatNumber is how a folded value is written back: as encoding/json
// writes a float64, which is what Go clients send.
func formatNumber(v float64) string {
	return string(appendNumber(nil, v))
}

// appendNumber appends formatNumber(v) to b.
func appendNumber(b []byte, v float64) []byte {
	format := byte('f')
	if a := math.Abs(v); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	start := len(b)
	b = strconv.AppendFloat(b, v, format, -1, 64)
	if format == 'e' {
		// 1e-07 is written 1e-7, as encoding/json does.
		if n := len(b); n-start >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b = append(b[:n-2], b[n-1])
		}
	}
	return b
}

// foldMember returns the span of the member f names in obj when it can be
// left out: see the comment at the top of this file. caseless says that
// a name differing only in case would be taken for it.
func foldMember(payload []byte, obj object, f foldable, c Columns, caseless bool) (int, bool) {
	col := c.column(f.bit)
	if col == nil || *col == 0 && math.Signbit(*col) || math.IsInf(*col, 0) || math.IsNaN(*col) {
		return 0, false
	}
	found := -1
	for i, m := range obj.members {
		if m.is(payload, f.name) || caseless && m.isFold(payload, f.name) {
			if found >= 0 {
				return 0, false // repeated: which one a reader takes varies
			}
			found = i
		}
	}
	if found < 0 {
		return 0, false
	}
	m := obj.members[found]
	var number [32]byte
	if string(payload[m.key[0]+1:m.key[1]-1]) != f.name || !bytes.Equal(payload[m.value[0]:m.value[1]], appendNumber(number[:0], *col)) {
		return 0, false
	}
	return found, true
}

// bmp280 returns the object sensor.bmp280 when there is exactly one
// "sensor" member, an object, with exactly one "bmp280" member, an
// object.
func bmp280(payload []byte, top object) (object, bool) {
	sensor, ok := onlyObject(payload, top, "sensor")
	if !ok {
		return object{}, false
	}
	return onlyObject(payload, sensor, "bmp280")
}

// onlyObject returns the object that is the value of obj's member name
// when it is the only member of that name.
func onlyObject(payload []byte, obj object, name string) (object, bool) {
	found := -1
	for i, m := range obj.members {
		if m.is(payload, name) {
			if found >= 0 {
				return object{}, false
			}
			found = i
		}
	}
	if found < 0 {
		return object{}, false
	}
	return objectMembers(payload, obj.members[found].value[0])
}

// lastObject returns the object that is the value of obj's last member
// named name, if it is an object.
func lastObject(payload []byte, obj object, name string) (object, bool) {
	for i := len(obj.members) - 1; i >= 0; i-- {
		if obj.members[i].is(payload, name) {
			return objectMembers(payload, obj.members[i].value[0])
		}
	}
	return object{}, false
}

// insertMembers writes, right after the '{' at open, the members of fs
// that fold says were left out, and a comma when the object has others.
func insertMembers(payload []byte, open int, fs []foldable, fold Fold, c Columns, others bool) []byte {
	var add []byte
	for _, f := range fs {
		col := c.column(f.bit)
		if fold&f.bit == 0 || col == nil {
			continue
		}
		if len(add) > 0 {
			add = append(add, ',')
		}
		add = append(add, '"')
		add = append(add, f.name...)
		add = append(add, '"', ':')
		add = append(add, formatNumber(*col)...)
	}
	if len(add) == 0 {
		return payload
	}
	if others {
		add = append(add, ',')
	}
	out := make([]byte, 0, len(payload)+len(add))
	out = append(out, payload[:open+1]...)
	out = append(out, add...)
	return append(out, payload[open+1:]...)
}

// appendMemberRanges appends to ranges the text to remove from obj to
// leave out the members marked out, with the commas that separated them:
// a run of such members from the first is removed up to the next member
// kept; any other run from the end of the member kept before it.
func appendMemberRanges(ranges [][2]int, obj object, out []bool) [][2]int {
	for i := 0; i < len(out); i++ {
		if !out[i] {
			continue
		}
		j := i
		for j+1 < len(out) && out[j+1] {
			j++
		}
		switch {
		case i > 0:
			ranges = append(ranges, [2]int{obj.members[i-1].value[1], obj.members[j].value[1]})
		case j+1 < len(out):
			ranges = append(ranges, [2]int{obj.members[0].key[0], obj.members[j+1].key[0]})
		default:
			ranges = append(ranges, [2]int{obj.members[0].key[0], obj.members[j].value[1]})
		}
		i = j
	}
	return ranges
}

// cutRanges returns payload without the ranges given (which do not
// overlap).
func cutRanges(payload []byte, ranges [][2]int) json.RawMessage {
	slices.SortFunc(ranges, func(a, b [2]int) int { return a[0] - b[0] })
	out := make([]byte, 0, len(payload))
	at := 0
	for _, r := range ranges {
		out = append(out, payload[at:r[0]]...)
		at = r[1]
	}
	return append(out, payload[at:]...)
}

// object is a JSON object's members, found by objectMembers.
type object struct {
	open    int // index of '{'
	members []member
}

// member is one member of an object: the indexes of its name (quotes
// included) and of its value; the member spans key[0] to value[1].
type member struct {
	key, value [2]int
}

// name returns the member's name, its escapes decoded.
func (m member) name(payload []byte) string {
	raw := payload[m.key[0]:m.key[1]]
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1])
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// is reports whether the member's name is name (m.name(payload) ==
// name), without making a string of it when it has no escapes.
func (m member) is(payload []byte, name string) bool {
	raw := payload[m.key[0]:m.key[1]]
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1:len(raw)-1]) == name
	}
	return m.name(payload) == name
}

// isFold is strings.EqualFold(m.name(payload), name), likewise.
func (m member) isFold(payload []byte, name string) bool {
	raw := payload[m.key[0]:m.key[1]]
	if bytes.IndexByte(raw, '\\') < 0 {
		return bytes.EqualFold(raw[1:len(raw)-1], []byte(name))
	}
	return strings.EqualFold(m.name(payload), name)
}

// objectMembers lists the members of the object starting at or after
// whitespace at i in valid JSON; false if the value there is not an
// object.
func objectMembers(b []byte, i int) (object, bool) {
	i = skipSpace(b, i)
	if i >= len(b) || b[i] != '{' {
		return object{}, false
	}
	obj := object{open: i}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return obj, true
	}
	// One allocation for the objects a payload has (the firmware's have
	// 2 to 4 members), rather than one per doubling.
	obj.members = make([]member, 0, 8)
	for i < len(b) {
		var m member
		m.key[0] = i
		i = skipString(b, i)
		m.key[1] = i
		i = skipSpace(b, i) + 1 // ':'
		m.value[0] = skipSpace(b, i)
		m.value[1] = skipValue(b, m.value[0])
		obj.members = append(obj.members, m)
		i = skipSpace(b, m.value[1])
		if i >= len(b) || b[i] == '}' {
			break
		}
		i = skipSpace(b, i+1) // ','
	}
	return obj, true
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at i.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// skipValue returns the index after the value starting at i.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return i
	default: // number, true, false, null
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return i
	}
}
