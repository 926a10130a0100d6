package httpapi

import (
	"net/http"

	"github.com/thermowatt/thermowatt/internal/dashboard"
)

// addRoutes is the whole API surface in one place, and the one place that
// hands each handler the parts of d it uses, and of caps, what the store
// does beyond store.Store. authed admits requests by
// token (authenticate, with its per-token rate limit).
//
// desired caches what each device should have, for the answer to its
// readings; the endpoints that change it invalidate it.
func addRoutes(mux *http.ServeMux, d Deps, caps capabilities, authed guard, desired *desiredCache) {
	reader, admin, writer := authed(requireRead), authed(requireAdmin), authed(requireWrite)
	device, fetcher := authed(requireDevice), authed(requireFetch)
	// /metrics stays behind a token even with PUBLIC_READ: it describes
	// the service, not the readings a LAN dashboard is meant to show.
	metricsReader := reader
	if d.PublicRead {
		reader = publicRead(reader)
	}

	st, now := d.Store, d.Now
	in := ingestPath{writer: d.Writer, failures: st, metrics: d.Metrics, now: now}
	iss := tokenIssuer{tokens: st, now: now}
	view := deviceView{now: now, missed: d.Policy.MissedIntervals}

	mux.Handle("GET /healthz", handleHealthz())
	mux.Handle("GET /readyz", handleReadyz(st))

	mux.Handle("POST /api/measurements", writer(handlePostMeasurements(in, desired)))
	mux.Handle("GET /api/measurements", reader(handleGetMeasurements(st)))
	mux.Handle("GET /api/measurements/series", reader(handleSeries(st, st, now)))
	mux.Handle("GET /api/measurements/energy", reader(handleEnergy(st, st, now)))
	mux.Handle("POST /api/raw-measurements", writer(handlePostRaw(in, st)))

	mux.Handle("GET /api/devices", reader(handleListDevices(st, view)))
	mux.Handle("POST /api/devices", admin(handleCreateDevice(st, iss)))
	mux.Handle("POST /api/devices/{id}/tokens", admin(handleCreateDeviceToken(st, iss)))

	// The fleet: remote settings, firmware releases, rollouts (admin), and
	// what a device fetches with its own token.
	mux.Handle("GET /api/settings", admin(handleGetFleetSettings(st)))
	mux.Handle("PUT /api/settings", admin(handlePutFleetSettings(st, desired, now)))
	mux.Handle("GET /api/devices/{id}/settings", admin(handleGetDeviceSettings(st)))
	mux.Handle("PUT /api/devices/{id}/settings", admin(handlePutDeviceSettings(st, desired, now)))
	mux.Handle("GET /api/firmware", admin(handleListFirmware(st)))
	mux.Handle("POST /api/firmware", admin(handlePostFirmware(st, d.OTAPublicKeys, now)))
	mux.Handle("GET /api/firmware/keys", admin(handleFirmwareKeys(d.OTAPublicKeys)))
	mux.Handle("GET /api/rollouts", admin(handleListRollouts(st)))
	mux.Handle("POST /api/rollouts", admin(handleCreateRollout(st, desired, now)))
	mux.Handle("PATCH /api/rollouts/{id}", admin(handlePatchRollout(st, desired)))
	mux.Handle("GET /api/device/settings", device(handleOwnSettings(st)))
	mux.Handle("GET /api/device/firmware/{version}", fetcher(handleDeviceRelease(st)))
	mux.Handle("GET /api/device/firmware/{version}/files/{path...}", fetcher(handleDeviceFirmwareFile(st)))

	mux.Handle("GET /api/alerts", reader(handleListAlerts(st)))
	// The cron jobs' work, on demand (jobs.go).
	mux.Handle("POST /api/alerts/check", admin(handleCheckAlerts(d.Alerts)))
	// Alert rules on measured values (alertrules.go), with their state:
	// readers see them (the dashboard's device page), admins change them.
	mux.Handle("GET /api/alert-rules", reader(handleListAlertRules(st)))
	mux.Handle("POST /api/alert-rules", admin(handleCreateAlertRule(st, st, now)))
	mux.Handle("PATCH /api/alert-rules/{id}", admin(handlePatchAlertRule(st, st, now)))
	mux.Handle("DELETE /api/alert-rules/{id}", admin(handleDeleteAlertRule(st, now)))
	mux.Handle("POST /api/retention/run", admin(handleRunRetention(st, d.Retention, now)))
	mux.Handle("GET /metrics", handleMetrics(d.Metrics, d.MetricsToken, metricsReader))

	mux.Handle("GET /api/tokens", admin(handleListTokens(st)))
	mux.Handle("POST /api/tokens", admin(handleCreateToken(iss)))
	mux.Handle("DELETE /api/tokens/{id}", admin(handleRevokeToken(st, caps.revocations, now)))

	mux.Handle("/api/", handleAPINotFound())
	addDebugRoutes(mux, d.Limits.Pprof, admin)
	mux.Handle("/", dashboard.Handler()) // the web UI, static files that talk only to /api/
}
