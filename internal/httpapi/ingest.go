package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/thermowatt/thermowatt/internal/ingest"
	"github.com/thermowatt/thermowatt/internal/metrics"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/wire"
)

// ingestPath is what the two endpoints that take readings in (POST
// /api/measurements and POST /api/raw-measurements) share: where readings
// are committed, where refusals are counted, and the metrics.
type ingestPath struct {
	writer   ingest.Writer
	failures store.FailureCounts
	metrics  *metrics.Metrics
	now      func() time.Time
}

// decodeReadings parses an ingest body and checks that the token may write
// every device it names, before anything is stored. An id that breaks the
// id rule names no device a token may write, so one rule holds: a device
// token's batch naming any id but its own is refused whole (403), valid or
// not; an admin's reading with such an id is only that reading's 400.
func decodeReadings(r *http.Request, body []byte, now time.Time) (wire.Batch, error) {
	b, err := wire.Decode(body, now)
	var be *wire.BodyError
	if errors.As(err, &be) {
		if be.TooLarge {
			return b, errorf(http.StatusRequestEntityTooLarge, be.Message)
		}
		return b, errorf(http.StatusBadRequest, be.Message)
	}
	p := principal(r)
	for _, id := range slices.Concat(b.DeviceIDs, b.InvalidIDs) {
		if !p.CanWriteDevice(id) {
			return b, errorf(http.StatusForbidden, fmt.Sprintf("this token belongs to device %q and may not write readings of device %q; nothing was stored", p.DeviceID, id))
		}
	}
	return b, nil
}

// ingestBody is the one ingest path of both POST endpoints: decode, check
// access, commit the valid readings, and count what happened. When it
// returns nil, every accepted reading is committed.
func (in ingestPath) ingestBody(r *http.Request, body []byte, now time.Time) (wire.Batch, wire.Result, error) {
	b, err := decodeReadings(r, body, now)
	if err != nil {
		in.observeRefused(r, err)
		return b, wire.Result{}, err
	}
	res, err := ingest.Commit(r.Context(), in.writer, b, now)
	if err != nil {
		return b, res, storeError(err)
	}
	in.observeIngest(r, b, res)
	return b, res, nil
}

// countTimeout bounds the extra write that records failures: it happens
// after the readings are committed and must never hold the answer long.
const countTimeout = 2 * time.Second

// observeIngest counts a stored batch's readings and charges its rejected
// readings to the device that sent them: the device of a device token, or
// the one device an admin's batch names. Counting never fails the request.
func (in ingestPath) observeIngest(r *http.Request, b wire.Batch, res wire.Result) {
	in.metrics.CountReadings(res.Accepted, res.Duplicates, len(res.Rejected))
	if len(res.Rejected) == 0 {
		return
	}
	device := principal(r).DeviceID
	if device == "" && len(b.DeviceIDs) == 1 {
		device = b.DeviceIDs[0]
	}
	if device != "" {
		in.countFailures(r, device, len(res.Rejected), 0)
	}
}

// observeRefused charges a 403 on writing readings to the device whose
// token was refused: a device flashed with another device's id shows up as
// failing. It is never charged to the device the body names, or a token
// could raise alerts (and their webhooks) for devices it does not own.
// Missing, unknown and revoked tokens (401) cannot be tied to a device and
// are only in the metrics.
func (in ingestPath) observeRefused(r *http.Request, err error) {
	var he *Error
	if !errors.As(err, &he) || he.Status != http.StatusForbidden {
		return
	}
	if p := principal(r); p.DeviceID != "" {
		in.countFailures(r, p.DeviceID, 0, 1)
	}
}

func (in ingestPath) countFailures(r *http.Request, device string, rejected, auth int) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), countTimeout)
	defer cancel()
	if err := in.failures.CountFailures(ctx, device, rejected, auth, in.now()); err != nil {
		in.metrics.DBErrors.WithLabelValues("request").Inc()
		logFrom(r).Warn("counting device failures", "device", device, "err", err)
	}
}
