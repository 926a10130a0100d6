// Package ingest is where readings come in: it turns a request body into
// validated readings and a list of precise problems, and hands the valid
// ones to the store. One bad reading never blocks the good ones.
package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/thermowatt/thermowatt/internal/reading"
)

// Limits of one request, part of the API contract.
const (
	MaxBatch       = 500     // readings in one array
	MaxBodyBytes   = 1 << 20 // bytes in one request body
	MaxPayloadSize = 8 << 10 // bytes of one reading's payload object
)

// Rejection says why one reading of a request was not stored.
type Rejection struct {
	Index   int    `json:"index"`
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Batch is a decoded request body: the valid readings, with the index each
// had in the request, and the rejected ones.
type Batch struct {
	Readings []reading.Reading
	Indexes  []int // Indexes[i] is the request index of Readings[i]
	Rejected []Rejection
	// Total is the number of readings the request held.
	Total int
	// Array is true when the body was a JSON array.
	Array bool
	// DeviceIDs are the distinct device ids the body names, in valid
	// readings or not, so access can be checked before anything is stored.
	DeviceIDs []string
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
func Decode(body []byte, now time.Time) (Batch, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return Batch{}, &BodyError{Message: "empty body: send a reading object or an array of readings"}
	}
	switch body[0] {
	case '{':
		if !json.Valid(body) {
			return Batch{}, &BodyError{Message: "body is not valid JSON"}
		}
		b := Batch{Total: 1}
		b.add(0, body, now)
		return b, nil
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(body, &items); err != nil {
			return Batch{}, &BodyError{Message: "body is not valid JSON: " + jsonErrorText(err)}
		}
		if len(items) == 0 {
			return Batch{}, &BodyError{Message: "empty array: send at least one reading"}
		}
		if len(items) > MaxBatch {
			return Batch{}, &BodyError{TooLarge: true, Message: fmt.Sprintf("%d readings in one request; the maximum is %d: split the batch", len(items), MaxBatch)}
		}
		b := Batch{Total: len(items), Array: true}
		b.Readings = make([]reading.Reading, 0, len(items))
		b.Indexes = make([]int, 0, len(items))
		for i, item := range items {
			b.add(i, item, now)
		}
		return b, nil
	default:
		if !json.Valid(body) {
			return Batch{}, &BodyError{Message: "body is not valid JSON"}
		}
		return Batch{}, &BodyError{Message: "body must be a reading object or an array of readings"}
	}
}

func (b *Batch) add(index int, raw json.RawMessage, now time.Time) {
	r, field, msg := parseReading(raw, now)
	if r.DeviceID != "" && !slices.Contains(b.DeviceIDs, r.DeviceID) {
		b.DeviceIDs = append(b.DeviceIDs, r.DeviceID)
	}
	if msg != "" {
		b.Rejected = append(b.Rejected, Rejection{Index: index, Field: field, Message: msg})
		return
	}
	b.Readings = append(b.Readings, r)
	b.Indexes = append(b.Indexes, index)
}

func jsonErrorText(err error) string {
	if se, ok := err.(*json.SyntaxError); ok {
		return fmt.Sprintf("%v (at byte %d)", se, se.Offset)
	}
	return err.Error()
}
