package httpapi

import (
	"fmt"
	"net/http"
	"time"

	"github.com/thermowatt/thermowatt/internal/alerts"
	"github.com/thermowatt/thermowatt/internal/retention"
	"github.com/thermowatt/thermowatt/internal/wire"
)

// The two jobs the cron runs, also on demand for an admin with only the
// service's URL: an alert check, and a retention run.

// handleCheckAlerts runs one alert check, as `thermowatt alerts check`
// does; running beside serve's own ticker is safe (the database decides
// who acts).
func handleCheckAlerts(checker *alerts.Checker) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		rep, err := checker.Check(r.Context())
		if err != nil {
			return storeError(err)
		}
		logFrom(r).Info("admin action", "by", principal(r).TokenID, "action", "alert check",
			"opened", len(rep.Opened), "resolved", len(rep.Resolved))
		out := wire.AlertCheck{Devices: rep.Devices, Opened: rep.Opened, Resolved: rep.Resolved, Notified: rep.Notified,
			Failed: rep.Failed, Undelivered: rep.Undeliver, Webhook: checker.Webhook != nil}
		if out.Opened == nil {
			out.Opened = []string{}
		}
		if out.Resolved == nil {
			out.Resolved = []string{}
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	})
}

// maxRetentionBatch bounds the rows one transaction of a run deletes.
const maxRetentionBatch = 100_000

// handleRunRetention deletes expired data, as `thermowatt retention run`
// does: {"batch": N} rows per transaction (default 5000).
func handleRunRetention(st retention.Store, p retention.Policy, now func() time.Time) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		in := struct {
			Batch int `json:"batch"`
		}{Batch: 5000}
		if r.ContentLength != 0 {
			if err := decodeJSON(r, &in); err != nil {
				return err
			}
		}
		if in.Batch < 1 || in.Batch > maxRetentionBatch {
			return errorf(http.StatusBadRequest, fmt.Sprintf("batch must be from 1 to %d rows", maxRetentionBatch))
		}
		rep, err := retention.Run(r.Context(), st, p, in.Batch, now())
		if err != nil {
			return storeError(err)
		}
		logFrom(r).Info("admin action", "by", principal(r).TokenID, "action", "retention run",
			"readings", rep.Readings.Removed, "raw", rep.Raw.Removed, "ops", rep.Ops.Removed)
		writeJSON(w, http.StatusOK, wire.RetentionRun{Readings: wire.RetentionPart(rep.Readings), Raw: wire.RetentionPart(rep.Raw), Ops: wire.RetentionPart(rep.Ops)})
		return nil
	})
}
