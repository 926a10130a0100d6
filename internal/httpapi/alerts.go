package httpapi

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/wire"
)

// handleListAlerts lists alerts newest first: state=open for open ones
// only, state=all (the default) for open and recent; deviceId and limit
// (1-1000, default 100) narrow it.
func handleListAlerts(alerts store.Alerts) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		v := r.URL.Query()
		q := store.AlertQuery{DeviceID: v.Get("deviceId"), Limit: defaultLimit}
		switch v.Get("state") {
		case "", "all":
		case "open":
			q.OpenOnly = true
		default:
			return errorf(http.StatusBadRequest, "state must be open or all")
		}
		if s := v.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > maxLimit {
				return errorf(http.StatusBadRequest, fmt.Sprintf("limit=%q must be a whole number from 1 to %d", s, maxLimit))
			}
			q.Limit = n
		}
		as, err := alerts.ListAlerts(r.Context(), q)
		if err != nil {
			return storeError(err)
		}
		items := make([]wire.Alert, len(as))
		for i, a := range as {
			items[i] = wire.Alert{ID: a.ID, DeviceID: a.DeviceID, Kind: a.Kind, OpenedAt: a.OpenedAt, ResolvedAt: a.ResolvedAt,
				Message: a.Message, Notified: a.Pending() == "", NotifyError: a.LastError}
		}
		writeJSON(w, http.StatusOK, map[string]any{"items": items})
		return nil
	})
}
