// Package metrics is the service's Prometheus instrumentation, on a
// private registry (not the global default), served at GET /metrics.
package metrics

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// Metrics holds every series the service exports. docs/operations.md
// lists them.
type Metrics struct {
	Registry *prometheus.Registry
	// IngestRequests counts POSTs of readings by route and outcome
	// (stored, invalid, unauthorized, forbidden, too_large, rate_limited,
	// unavailable, cancelled, error).
	IngestRequests *prometheus.CounterVec
	// Readings counts readings by result: accepted, duplicate, rejected.
	Readings *prometheus.CounterVec
	// RequestDuration is the latency of every request by route and status.
	RequestDuration *prometheus.HistogramVec
	// DBErrors counts operations that failed on the database, by where
	// (request, alerts).
	DBErrors *prometheus.CounterVec
	// AuthFailures counts refused requests: unauthorized (401: missing,
	// unknown or revoked token) and forbidden (403: wrong scope or device).
	AuthFailures *prometheus.CounterVec
	// AlertNotifications counts webhook deliveries: sent, failed.
	AlertNotifications *prometheus.CounterVec
	// ConnectionsRefused counts connections refused as they were
	// accepted, by the cap that was full: total (MAX_CONNS) or address
	// (MAX_CONNS_IP).
	ConnectionsRefused *prometheus.CounterVec

	// The series every request touches, looked up once: WithLabelValues
	// hashes its labels and takes a lock on each call.
	requestSeries                 sync.Map // requestLabels → prometheus.Observer
	ingestSeries                  sync.Map // [2]string{route, outcome} → prometheus.Counter
	accepted, duplicate, rejected prometheus.Counter
	refusedConns                  sync.Map // reason → prometheus.Counter
}

type requestLabels struct {
	route  string
	status int
}

// ObserveRequest records the latency of one answered request.
func (m *Metrics) ObserveRequest(route string, status int, d time.Duration) {
	key := requestLabels{route, status}
	o, ok := m.requestSeries.Load(key)
	if !ok {
		o, _ = m.requestSeries.LoadOrStore(key, m.RequestDuration.WithLabelValues(route, strconv.Itoa(status)))
	}
	o.(prometheus.Observer).Observe(d.Seconds())
}

// CountIngest counts one request that posted readings.
func (m *Metrics) CountIngest(route, outcome string) {
	key := [2]string{route, outcome}
	c, ok := m.ingestSeries.Load(key)
	if !ok {
		c, _ = m.ingestSeries.LoadOrStore(key, m.IngestRequests.WithLabelValues(route, outcome))
	}
	c.(prometheus.Counter).Inc()
}

// CountReadings counts the readings of one stored batch.
func (m *Metrics) CountReadings(accepted, duplicate, rejected int) {
	m.accepted.Add(float64(accepted))
	m.duplicate.Add(float64(duplicate))
	m.rejected.Add(float64(rejected))
}

// CountRefusedConnection counts one connection refused by the cap named
// reason. It runs in the accept loop, once per refusal of a flood, so the
// series is looked up once.
func (m *Metrics) CountRefusedConnection(reason string) {
	c, ok := m.refusedConns.Load(reason)
	if !ok {
		c, _ = m.refusedConns.LoadOrStore(reason, m.ConnectionsRefused.WithLabelValues(reason))
	}
	c.(prometheus.Counter).Inc()
}

// WatchConnections adds the gauge of connections open now, read from
// open at each scrape.
func (m *Metrics) WatchConnections(open func() int) {
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "thermowatt_open_connections",
		Help: "Client connections open now (MAX_CONNS bounds them).",
	}, func() float64 { return float64(open()) }))
}

// New makes the metrics on a new registry, with the Go runtime and
// process collectors (memory, goroutines, open files).
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		IngestRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "thermowatt_ingest_requests_total",
			Help: "Requests that post readings, by route and outcome.",
		}, []string{"route", "outcome"}),
		Readings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "thermowatt_readings_total",
			Help: "Readings received, by result: accepted (newly stored), duplicate (already stored), rejected (invalid).",
		}, []string{"result"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "thermowatt_http_request_duration_seconds",
			Help:    "Time to answer a request, by route and status code.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "code"}),
		DBErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "thermowatt_db_errors_total",
			Help: "Operations that failed on the database, by where they ran (request, alerts).",
		}, []string{"where"}),
		AuthFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "thermowatt_auth_failures_total",
			Help: "Requests refused: unauthorized (401) or forbidden (403).",
		}, []string{"reason"}),
		AlertNotifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "thermowatt_alert_notifications_total",
			Help: "Alert webhook deliveries, by result: sent, failed (retried later).",
		}, []string{"result"}),
		ConnectionsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "thermowatt_connections_refused_total",
			Help: "Connections refused as they were accepted, by the cap that was full: total (MAX_CONNS), address (MAX_CONNS_IP).",
		}, []string{"reason"}),
	}
	reg.MustRegister(m.IngestRequests, m.Readings, m.RequestDuration, m.DBErrors, m.AuthFailures, m.AlertNotifications, m.ConnectionsRefused,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Series that exist from the start, so a dashboard shows 0, not "no data".
	m.accepted = m.Readings.WithLabelValues("accepted")
	m.duplicate = m.Readings.WithLabelValues("duplicate")
	m.rejected = m.Readings.WithLabelValues("rejected")
	for _, r := range []string{"request", "alerts"} {
		m.DBErrors.WithLabelValues(r)
	}
	for _, r := range []string{"sent", "failed"} {
		m.AlertNotifications.WithLabelValues(r)
	}
	for _, r := range []string{"total", "address"} {
		m.ConnectionsRefused.WithLabelValues(r)
	}
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// Counts is what the gauges read from the database at each scrape.
type Counts interface {
	CountOpenAlerts(ctx context.Context) (map[string]int, error)
	CountDevicesByStatus(ctx context.Context, now time.Time, missed int) (map[thermowatt.DeviceStatus]int, error)
	CountRunningFirmware(ctx context.Context) ([]store.FirmwareCount, error)
	CountDeviceCAs(ctx context.Context) ([]store.CACount, error)
}

// WatchStore adds the gauges read from the database at each scrape: open
// alerts by kind, devices by status (silent after missed intervals), and
// devices by running firmware and failed update, and devices by CA
// (devicecas.go), each one aggregate query whatever the fleet's size.
func (m *Metrics) WatchStore(st Counts, missed int, now func() time.Time) {
	m.Registry.MustRegister(&storeCollector{st: st, missed: missed, now: now, dbErrors: m.DBErrors.WithLabelValues("request")})
}

var (
	openAlertsDesc = prometheus.NewDesc("thermowatt_open_alerts", "Alerts open now, by kind (silent, failing, update, value).", []string{"kind"}, nil)
	devicesDesc    = prometheus.NewDesc("thermowatt_devices", "Registered devices by status (new, ok, silent, failing).", []string{"status"}, nil)
	firmwareDesc   = prometheus.NewDesc("thermowatt_devices_by_firmware", "Registered devices by the firmware version they report running (\"\" when none reported).", []string{"version"}, nil)
	failedUpdDesc  = prometheus.NewDesc("thermowatt_devices_update_failed", "Devices whose last firmware update ended rolled_back or refused, by that state.", []string{"state"}, nil)
	pendingDesc    = prometheus.NewDesc("thermowatt_rollup_pending_hours", "Device-hours whose roll-ups wait for the materializer (reads compute them from the readings meanwhile).", nil, nil)
	pendingAgeDesc = prometheus.NewDesc("thermowatt_rollup_oldest_pending_seconds", "How long the oldest pending device-hour has waited for the materializer; 0 when none waits.", nil, nil)
)

// rollupLag is the store's side of the materializer's lag gauges
// (store.Rollups); a store without roll-ups has no such gauges.
type rollupLag interface {
	RollupLag(ctx context.Context) (store.RollupLag, error)
}

type storeCollector struct {
	st       Counts
	missed   int
	now      func() time.Time
	dbErrors prometheus.Counter
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- openAlertsDesc
	ch <- devicesDesc
	ch <- firmwareDesc
	ch <- failedUpdDesc
	ch <- caActiveDesc
	ch <- caWaitingDesc
	if _, ok := c.st.(rollupLag); ok {
		ch <- pendingDesc
		ch <- pendingAgeDesc
	}
}

// Collect queries the database; when it cannot, the two gauges are left
// out of this scrape (absent, rather than a misleading 0) and the error
// is counted.
func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	open, err := c.st.CountOpenAlerts(ctx)
	if err != nil {
		c.dbErrors.Inc()
		return
	}
	statuses, err := c.st.CountDevicesByStatus(ctx, c.now(), c.missed)
	if err != nil {
		c.dbErrors.Inc()
		return
	}
	firmware, err := c.st.CountRunningFirmware(ctx)
	if err != nil {
		c.dbErrors.Inc()
		return
	}
	cas, err := c.st.CountDeviceCAs(ctx)
	if err != nil {
		c.dbErrors.Inc()
		return
	}
	for _, k := range []string{thermowatt.KindSilent, thermowatt.KindFailing, thermowatt.KindUpdate, thermowatt.KindValue} {
		ch <- prometheus.MustNewConstMetric(openAlertsDesc, prometheus.GaugeValue, float64(open[k]), k)
	}
	for _, s := range thermowatt.Statuses {
		ch <- prometheus.MustNewConstMetric(devicesDesc, prometheus.GaugeValue, float64(statuses[s]), string(s))
	}
	byVersion := map[string]int{}
	failed := map[string]int{thermowatt.UpdateRolledBack: 0, thermowatt.UpdateRefused: 0}
	for _, f := range firmware {
		byVersion[f.Version] += f.Devices
		if _, ok := failed[f.UpdateState]; ok {
			failed[f.UpdateState] += f.Devices
		}
	}
	for v, n := range byVersion {
		ch <- prometheus.MustNewConstMetric(firmwareDesc, prometheus.GaugeValue, float64(n), v)
	}
	for state, n := range failed {
		ch <- prometheus.MustNewConstMetric(failedUpdDesc, prometheus.GaugeValue, float64(n), state)
	}
	byCA, waiting := caGauges(cas)
	for fp, n := range byCA {
		ch <- prometheus.MustNewConstMetric(caActiveDesc, prometheus.GaugeValue, float64(n), fp)
	}
	ch <- prometheus.MustNewConstMetric(caWaitingDesc, prometheus.GaugeValue, float64(waiting))
	if r, ok := c.st.(rollupLag); ok {
		lag, err := r.RollupLag(ctx)
		if err != nil {
			c.dbErrors.Inc()
			return
		}
		age := 0.0
		if !lag.Oldest.IsZero() {
			age = max(0, c.now().Sub(lag.Oldest).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(lag.Pending))
		ch <- prometheus.MustNewConstMetric(pendingAgeDesc, prometheus.GaugeValue, age)
	}
}
