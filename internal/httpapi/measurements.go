package httpapi

import (
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/wire"
)

// readBody reads a request body of at most wire.MaxBodyBytes; 413 beyond.
//
// A body whose length is announced is read into a buffer of that size:
// io.ReadAll starts at 512 bytes and doubles, which for a batch of 100
// readings made several times the body's size in garbage.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	size := 512 // as io.ReadAll
	if n := r.ContentLength; n > 0 && n <= wire.MaxBodyBytes {
		size = int(n) + 1 // +1: room to see EOF without growing
	}
	body, err := readAll(http.MaxBytesReader(w, r.Body, wire.MaxBodyBytes), make([]byte, 0, size))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, errorf(http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes: split the batch", tooBig.Limit))
	}
	if err != nil {
		// A slow upload that hit the read timeout, or a connection cut
		// mid-body, says nothing about the readings: 408 tells the device
		// to resend, where a 400 would make it dead-letter good data.
		return nil, &Error{Status: http.StatusRequestTimeout, Message: "the body did not arrive whole; resend it", Err: err}
	}
	return body, nil
}

// readAll is io.ReadAll reading into b's spare capacity first.
func readAll(r io.Reader, b []byte) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// handlePostMeasurements takes one reading or an array of up to 500. The
// answer is sent only after the accepted readings are committed. To a
// device token it also says what the device should have (desired): the
// device learns of new settings and firmware without asking separately.
func handlePostMeasurements(in ingestPath, desired *desiredCache) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		body, err := readBody(w, r)
		if err != nil {
			return err
		}
		b, res, err := in.ingestBody(r, body, in.now())
		if err != nil {
			return err
		}
		status := http.StatusCreated
		if len(b.Readings) == 0 {
			// Every reading was invalid: resending cannot help.
			status = http.StatusBadRequest
		}
		answer := appendResult(make([]byte, 0, 128), res)
		if device := principal(r).DeviceID; device != "" && status == http.StatusCreated {
			if want, ok := desired.get(r.Context(), device); ok {
				answer = appendDesired(answer, want)
			}
		}
		writeJSONBytes(w, status, answer)
		return nil
	})
}

// recordedAtSource says where a reading's recordedAt came from: "device",
// or "server" when the device sent none.
func recordedAtSource(r thermowatt.Reading) string {
	if r.ServerTime {
		return "server"
	}
	return "device"
}

const (
	defaultLimit = 100
	maxLimit     = 1000
)

// parseTimeBounds reads the from and to parameters into from and to,
// leaving each as it is when absent.
func parseTimeBounds(v url.Values, from, to *time.Time) error {
	for _, bound := range []struct {
		name string
		dst  *time.Time
	}{{"from", from}, {"to", to}} {
		if s := v.Get(bound.name); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return errorf(http.StatusBadRequest, fmt.Sprintf("%s=%q is not an RFC 3339 time such as 2025-02-05T09:30:00Z", bound.name, s))
			}
			if y := t.UTC().Year(); y < 0 || y > 9999 {
				// Only a time zone offset gets here (0000-01-01T00:00:00+01:00);
				// answers give times in UTC, where RFC 3339 has no such year.
				return errorf(http.StatusBadRequest, fmt.Sprintf("%s=%q is outside the years 0000 to 9999 once in UTC: give it in UTC (Z)", bound.name, s))
			}
			*bound.dst = t
		}
	}
	return nil
}

// parseQuery reads deviceId, from, to, limit and cursor.
func parseQuery(r *http.Request) (store.Query, error) {
	v := r.URL.Query()
	q := store.Query{DeviceID: v.Get("deviceId"), Limit: defaultLimit}
	if err := parseTimeBounds(v, &q.From, &q.To); err != nil {
		return q, err
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			return q, errorf(http.StatusBadRequest, fmt.Sprintf("limit=%q must be a whole number from 1 to %d", s, maxLimit))
		}
		q.Limit = n
	}
	if s := v.Get("cursor"); s != "" {
		c, err := decodeCursor(s)
		if err != nil {
			return q, errorf(http.StatusBadRequest, "cursor is not one this server gave out: pass nextCursor unchanged")
		}
		q.After = &c
	}
	return q, nil
}

// maxCursorMicros is 9999-12-31T23:59:59.999999Z in microseconds.
const maxCursorMicros = 253402300799999999

func encodeCursor(s thermowatt.Stored) string {
	raw := fmt.Sprintf("%d.%d", s.RecordedAt.UnixMicro(), s.ID)
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodeCursor(s string) (store.Cursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return store.Cursor{}, err
	}
	at, id, ok := strings.Cut(string(raw), ".")
	if !ok {
		return store.Cursor{}, errors.New("bad cursor")
	}
	micros, err1 := strconv.ParseInt(at, 10, 64)
	n, err2 := strconv.ParseInt(id, 10, 64)
	if err1 != nil || err2 != nil {
		return store.Cursor{}, errors.New("bad cursor")
	}
	// Cursors are made from stored readings: an id is positive and a time
	// lies between 1970 and 9999. Anything else was not given out, and
	// would overflow the databases' own time arithmetic.
	if micros < 0 || micros > maxCursorMicros || n < 0 {
		return store.Cursor{}, errors.New("cursor out of range")
	}
	return store.Cursor{RecordedAt: time.UnixMicro(micros).UTC(), ID: n}, nil
}

// handleGetMeasurements lists readings newest first with keyset
// pagination; format=csv streams every matching row (no limit unless one
// is given) as CSV.
func handleGetMeasurements(readings store.Readings) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		q, err := parseQuery(r)
		if err != nil {
			return err
		}
		switch r.URL.Query().Get("format") {
		case "", "json":
		case "csv":
			return streamCSV(w, r, readings, q)
		default:
			return errorf(http.StatusBadRequest, "format must be json or csv")
		}
		rows, err := readings.QueryReadings(r.Context(), q)
		if err != nil {
			return storeError(err)
		}
		var next *string
		if len(rows) == q.Limit {
			c := encodeCursor(rows[len(rows)-1])
			next = &c
		}
		// As writeJSON(map[string]any{"items": []measurementJSON, "nextCursor": next}) would.
		writeJSONBytes(w, http.StatusOK, appendMeasurements(make([]byte, 0, 64+400*len(rows)), rows, next))
		return nil
	})
}

// csvHeader names the columns of a CSV export: a reading's fields as its
// JSON names them.
var csvHeader = func() []string {
	h := []string{"id", "deviceId", "recordedAt", "receivedAt", "recordedAtSource"}
	for _, q := range thermowatt.ReadingFields {
		h = append(h, q.Name())
	}
	return append(h, "payload")
}()

func streamCSV(w http.ResponseWriter, r *http.Request, readings store.Readings, q store.Query) error {
	remaining := -1 // no limit
	if r.URL.Query().Get("limit") != "" {
		remaining = q.Limit
	}
	q.Limit = maxLimit
	// The first page is fetched before any byte is written, so that a
	// database error can still be answered with a proper status.
	rows, err := readings.QueryReadings(r.Context(), q)
	if err != nil {
		return storeError(err)
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="measurements.csv"`)
	cw := csv.NewWriter(w)
	_ = cw.Write(csvHeader)
	for {
		for _, s := range rows {
			if remaining == 0 {
				break
			}
			row := []string{strconv.FormatInt(s.ID, 10), s.DeviceID,
				s.RecordedAt.UTC().Format(time.RFC3339Nano), s.ReceivedAt.UTC().Format(time.RFC3339Nano), recordedAtSource(s.Reading)}
			for _, q := range thermowatt.ReadingFields {
				row = append(row, num(q.Of(&s.Reading)))
			}
			_ = cw.Write(append(row, payloadCell(s.Payload)))
			remaining--
		}
		cw.Flush()
		if cw.Error() != nil || remaining == 0 || len(rows) < q.Limit {
			return nil
		}
		last := rows[len(rows)-1]
		q.After = &store.Cursor{RecordedAt: last.RecordedAt, ID: last.ID}
		if rows, err = readings.QueryReadings(r.Context(), q); err != nil {
			// Headers are gone; all that can be done is to cut the stream
			// short so the client sees an incomplete file, and log it.
			logFrom(r).Error("csv export cut short", "err", err)
			panic(http.ErrAbortHandler)
		}
	}
}

func num(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'f', -1, 64)
}

func payloadCell(p json.RawMessage) string {
	if len(p) == 0 {
		return ""
	}
	return string(p)
}
