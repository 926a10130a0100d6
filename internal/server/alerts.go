package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/thermowatt/thermowatt/internal/alerts"
	"github.com/thermowatt/thermowatt/internal/config"
	"github.com/thermowatt/thermowatt/internal/metrics"
	"github.com/thermowatt/thermowatt/internal/store"
)

// policyOf is the alert policy the configuration asks for.
func policyOf(cfg config.Config) alerts.Policy {
	return alerts.Policy{
		MissedIntervals:     cfg.Ops.MissedIntervals,
		RejectedPerHour:     cfg.Ops.FailingRejected,
		AuthFailuresPerHour: cfg.Ops.FailingAuth,
		DroppedPerHour:      cfg.Ops.FailingDropped,
		QueueDepth:          cfg.Ops.FailingQueueDepth,
	}
}

// NewChecker is the alert checker the configuration asks for: serve's
// ticker, POST /api/alerts/check and `alerts check` on the database.
func NewChecker(cfg config.Config, st store.Store, logger *slog.Logger) *alerts.Checker {
	c := &alerts.Checker{Store: st, Policy: policyOf(cfg), Log: logger}
	if cfg.Ops.AlertWebhookURL != "" {
		c.Webhook = &alerts.Webhook{URL: cfg.Ops.AlertWebhookURL}
	}
	return c
}

// runAlertTicker runs the check every interval until ctx ends (a
// background job, jobs.go): ingest never waits for it, and a slow webhook
// delays only the next check. The first check runs at once.
func runAlertTicker(ctx context.Context, c *alerts.Checker, every time.Duration, m *metrics.Metrics, logger *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		cctx, cancel := context.WithTimeout(ctx, max(every, 30*time.Second))
		r, err := c.Check(cctx)
		cancel()
		m.AlertNotifications.WithLabelValues("sent").Add(float64(r.Notified))
		m.AlertNotifications.WithLabelValues("failed").Add(float64(r.Failed))
		if err != nil && ctx.Err() == nil {
			m.DBErrors.WithLabelValues("alerts").Inc()
			logger.Error("alert check failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
