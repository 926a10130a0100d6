package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// Series answers GET /api/measurements/series: one device's readings
// aggregated per time bucket (count, and avg/min/max of each field) for
// charts. A chart asks for a few hundred points whatever its range, so a
// month of a device reporting every few seconds loads as fast as an hour.
const (
	// targetPoints is what the default bucket aims at: enough for a curve
	// across a desktop screen, few enough to draw at once.
	targetPoints = 500
	// maxBuckets bounds what one request may ask for.
	maxBuckets = 5000
	// defaultSeriesRange is used when from is not given.
	defaultSeriesRange = 24 * time.Hour
)

// niceBuckets are the default bucket widths: round numbers a person reads
// easily off an axis, and each a divisor of the next larger unit so that
// buckets line up with hours and days.
var niceBuckets = []time.Duration{
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// DefaultBucket is the bucket width for a range when the client names
// none: the smallest nice width giving at most targetPoints buckets.
func DefaultBucket(span time.Duration) time.Duration {
	for _, b := range niceBuckets {
		if span/b <= targetPoints {
			return b
		}
	}
	// Over ~500 days: whole days.
	days := (span/targetPoints + 24*time.Hour - 1) / (24 * time.Hour)
	return days * 24 * time.Hour
}

// parseBucket accepts a Go duration ("5m", "1h30m") or whole seconds ("300").
func parseBucket(s string) (time.Duration, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > int64(maxBucketWidth/time.Second) {
			return 0, errors.New("too large")
		}
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(s)
}

// maxBucketWidth keeps bucket arithmetic far from overflow.
const maxBucketWidth = 10 * 365 * 24 * time.Hour

func handleSeries(readings store.Readings, devices store.Devices, now func() time.Time) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		v := r.URL.Query()
		q := store.SeriesQuery{DeviceID: v.Get("deviceId")}
		if q.DeviceID == "" {
			return errorf(http.StatusBadRequest, "deviceId is required: GET /api/measurements/series?deviceId=esp32-node-01")
		}
		q.To = now()
		if err := parseTimeBounds(v, &q.From, &q.To); err != nil {
			return err
		}
		if v.Get("from") == "" {
			q.From = q.To.Add(-defaultSeriesRange)
		}
		if !q.From.Before(q.To) {
			return errorf(http.StatusBadRequest, "from must be before to")
		}
		// The span may exceed what a time.Duration holds (span.go).
		q.Bucket = defaultBucketFor(q.From, q.To)
		if s := v.Get("bucket"); s != "" {
			b, err := parseBucket(s)
			if err != nil || b < time.Second || b > maxBucketWidth {
				return errorf(http.StatusBadRequest, fmt.Sprintf("bucket=%q must be a duration from 1s to 10 years, such as 300 (seconds), 5m or 1h", s))
			}
			if n := bucketsIn(q.From, q.To, b); n > maxBuckets {
				return errorf(http.StatusBadRequest, fmt.Sprintf("bucket=%s over %s makes %d buckets; at most %d are allowed: use a bucket of at least %s",
					s, spanText(q.From, q.To), n, maxBuckets, minBucketFor(q.From, q.To)))
			}
			q.Bucket = b
		}
		if _, err := devices.GetDevice(r.Context(), q.DeviceID); errors.Is(err, thermowatt.ErrNotFound) {
			return errorf(http.StatusNotFound, fmt.Sprintf("no device %q (GET /api/devices lists them)", q.DeviceID))
		} else if err != nil {
			return storeError(err)
		}
		pts, err := readings.Series(r.Context(), q)
		if err != nil {
			return storeError(err)
		}
		writeJSONBytes(w, http.StatusOK, appendSeries(make([]byte, 0, 256+320*len(pts)), q, pts))
		return nil
	})
}
