// Package wire is the JSON the API speaks, each body defined once.
// Readings on the way in: the decoder and validation rules the server
// applies, the answer it gives, and the shape clients (backfill,
// simulate) encode. One bad reading never blocks the good ones: each is
// judged alone. And the admin API's bodies (devices.go, tokens.go,
// fleet.go, alerts.go, jobs.go), which the server encodes and apiclient
// decodes.
package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/thermowatt/thermowatt"
)

// Limits of one request, part of the API contract.
const (
	MaxBatch       = 500     // readings in one array
	MaxBodyBytes   = 1 << 20 // bytes in one request body
	MaxPayloadSize = 8 << 10 // bytes of one reading's payload object
)

// Batch is a decoded request body: the valid readings, with the index each
// had in the request, and the rejected ones.
type Batch struct {
	Readings []thermowatt.Reading
	Indexes  []int // Indexes[i] is the request index of Readings[i]
	Rejected []Rejection
	// Total is the number of readings the request held.
	Total int
	// Array is true when the body was a JSON array.
	Array bool
	// DeviceIDs are the distinct device ids the body names, in valid
	// readings or not, so access can be checked before anything is stored.
	DeviceIDs []string
	// InvalidIDs are the distinct deviceId strings the body names that
	// break the id rule. They name no device a token may write: a device
	// token's batch naming one is refused whole, as one naming another
	// device is.
	InvalidIDs []string
}

// BodyError means the body as a whole is not readings: not JSON, not an
// object or array, empty, or too many readings. Nothing of it is stored.
type BodyError struct {
	Message  string
	TooLarge bool // answer 413 rather than 400
}

func (e *BodyError) Error() string { return e.Message }

// Decode parses a body that holds one reading object or an array of them.
// now is the server time used for readings without recordedAt. Readings
// that fail validation are listed in Batch.Rejected; the error is non-nil
// only when the body as a whole is unusable.
//
// It reads the body in one pass with a scanner of its own (scan.go) rather
// than through encoding/json, which was most of the server's CPU per
// reading; the answers, rejections and error messages are the same
// (FuzzDecodeMatchesReference checks them against the encoding/json
// decoder it replaced). The accepted readings' payloads may share memory
// with body, which must not be changed afterwards.
func Decode(body []byte, now time.Time) (Batch, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return Batch{}, &BodyError{Message: "empty body: send a reading object or an array of readings"}
	}
	d := decoder{s: scanner{data: body}, now: now}
	switch body[0] {
	case '{':
		d.b.Total = 1
		var w wireReading
		if !d.s.reading(&w) || !d.s.atEnd() {
			return Batch{}, &BodyError{Message: "body is not valid JSON"}
		}
		d.add(0, &w)
		return d.b, nil
	case '[':
		d.b.Array = true
		n := 0
		ok := d.s.array(func(i int) bool {
			n = i + 1
			if i >= MaxBatch {
				_, ok := d.s.value() // only to tell a 400 from a 413
				return ok
			}
			return d.item(i)
		})
		if !ok || !d.s.atEnd() {
			return Batch{}, &BodyError{Message: "body is not valid JSON: " + arrayErrorText(body)}
		}
		if n == 0 {
			return Batch{}, &BodyError{Message: "empty array: send at least one reading"}
		}
		if n > MaxBatch {
			return Batch{}, &BodyError{TooLarge: true, Message: fmt.Sprintf("%d readings in one request; the maximum is %d: split the batch", n, MaxBatch)}
		}
		d.b.Total = n
		return d.b, nil
	default:
		if !json.Valid(body) {
			return Batch{}, &BodyError{Message: "body is not valid JSON"}
		}
		return Batch{}, &BodyError{Message: "body must be a reading object or an array of readings"}
	}
}

// decoder holds the state of one Decode.
type decoder struct {
	s   scanner
	now time.Time
	b   Batch
	// floats backs the readings' number fields: one allocation for many
	// readings rather than one per field.
	floats []float64
}

// item reads the array element at the scanner's position, the i-th.
func (d *decoder) item(i int) bool {
	if d.s.skipSpaceAndPeek() != '{' {
		_, ok := d.s.value()
		if ok {
			d.b.Rejected = append(d.b.Rejected, Rejection{Index: i, Message: "a reading must be a JSON object"})
		}
		return ok
	}
	if i == 0 {
		d.reserve()
	}
	var w wireReading
	if !d.s.reading(&w) {
		return false
	}
	d.add(i, &w)
	return true
}

// reserve sizes the batch for the readings the array seems to hold,
// guessing from the length of the first: a device's batch is made of
// readings of much the same size.
func (d *decoder) reserve() {
	start := d.s.pos
	probe := d.s
	if _, ok := probe.value(); !ok {
		return
	}
	n := min(len(d.s.data)/(probe.pos-start+1)+1, MaxBatch)
	d.b.Readings = make([]thermowatt.Reading, 0, n)
	d.b.Indexes = make([]int, 0, n)
	d.floats = make([]float64, 0, 5*n)
}

func (d *decoder) add(index int, w *wireReading) {
	r, field, msg := d.validate(w)
	if r.DeviceID == "" && !isNull(w.deviceID) {
		// Rejected before its id was checked: the id it names still
		// decides whether the token may send the batch at all.
		if id, ok := d.deviceID(w.deviceID); ok && thermowatt.ValidDeviceID(id) {
			r.DeviceID = id
		} else if ok && !slices.Contains(d.b.InvalidIDs, id) {
			d.b.InvalidIDs = append(d.b.InvalidIDs, id)
		}
	}
	if r.DeviceID != "" && !slices.Contains(d.b.DeviceIDs, r.DeviceID) {
		d.b.DeviceIDs = append(d.b.DeviceIDs, r.DeviceID)
	}
	if msg != "" {
		d.b.Rejected = append(d.b.Rejected, Rejection{Index: index, Field: field, Message: msg})
		return
	}
	d.b.Readings = append(d.b.Readings, r)
	d.b.Indexes = append(d.b.Indexes, index)
}

// deviceID decodes a deviceId string. A device already named in the body
// keeps the string it had, so a batch of one device makes one string.
func (d *decoder) deviceID(raw []byte) (string, bool) {
	if inner, ok := plainString(raw); ok {
		for _, id := range d.b.DeviceIDs {
			if id == string(inner) {
				return id, true
			}
		}
	}
	id, err := unquote(raw)
	return id, err == nil
}

// float returns a pointer to a copy of x, from d.floats.
func (d *decoder) float(x float64) *float64 {
	if len(d.floats) == cap(d.floats) {
		d.floats = make([]float64, 0, 5) // one reading's worth
	}
	d.floats = append(d.floats, x)
	return &d.floats[len(d.floats)-1]
}

// arrayErrorText is what encoding/json says about an invalid array body.
func arrayErrorText(body []byte) string {
	var items []json.RawMessage
	if err := json.Unmarshal(body, &items); err != nil {
		return jsonErrorText(err)
	}
	return "invalid array" // not reached: the scanner is as strict as encoding/json
}

func jsonErrorText(err error) string {
	if se, ok := err.(*json.SyntaxError); ok {
		return fmt.Sprintf("%v (at byte %d)", se, se.Offset)
	}
	return err.Error()
}
