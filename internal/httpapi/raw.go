package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/thermowatt/thermowatt/internal/store"
)

// handlePostRaw archives any JSON body verbatim. When the body is a reading
// or an array of readings it is also ingested exactly as POST
// /api/measurements does, and the archive row records the outcome so that
// an archived batch can be reconciled against device_measurements.
//
// The readings are committed before the archive row: should archiving
// fail, the client gets a 503, resends, and the readings come back as
// duplicates while the archive row is written then.
func handlePostRaw(in ingestPath, archive store.Archive) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		body, err := readBody(w, r)
		if err != nil {
			return err
		}
		if !json.Valid(body) {
			return errorf(http.StatusBadRequest, "body is not valid JSON")
		}
		now := in.now()
		p := principal(r)
		rec := store.RawRecord{DeviceID: p.DeviceID, ReceivedAt: now, Body: body}

		answer := map[string]any{}
		if looksLikeReadings(body) {
			_, res, err := in.ingestBody(r, body, now)
			if err != nil {
				return err
			}
			rec.Ingested, rec.Accepted, rec.Duplicates, rec.Rejected = true, res.Accepted, res.Duplicates, len(res.Rejected)
			answer["accepted"], answer["duplicates"], answer["rejected"] = res.Accepted, res.Duplicates, res.Rejected
		}
		id, err := archive.ArchiveRaw(r.Context(), rec)
		if err != nil {
			return storeError(err)
		}
		answer["id"] = id
		answer["ingested"] = rec.Ingested
		writeJSON(w, http.StatusAccepted, answer)
		return nil
	})
}

// looksLikeReadings says whether a body is meant as readings: an object
// with a deviceId, or an array whose first element has one.
func looksLikeReadings(body []byte) bool {
	var probe struct {
		DeviceID json.RawMessage `json:"deviceId"`
	}
	var arr []json.RawMessage
	if json.Unmarshal(body, &arr) == nil {
		if len(arr) == 0 {
			return false
		}
		body = arr[0]
	}
	return json.Unmarshal(body, &probe) == nil && probe.DeviceID != nil
}
