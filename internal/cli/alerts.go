package cli

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/thermowatt/thermowatt/internal/alerts"
	"github.com/thermowatt/thermowatt/internal/apiclient"
	"github.com/thermowatt/thermowatt/internal/config"
	"github.com/thermowatt/thermowatt/internal/metrics"
	"github.com/thermowatt/thermowatt/internal/store"
)

func init() {
	commands["alerts"] = command{summary: "missing-data, failure and value alerts: alerts check (for the cron job) | alerts list [--all] | alerts rule add|list|rm", run: runAlerts,
		subs: []subcommand{
			{"check", "", "open and resolve missing-data, failure and value alerts (the alert rules) once, and notify ALERT_WEBHOOK_URL: on the server with THERMOWATT_URL, else on the database (what the cron job runs; serve also checks every ALERT_CHECK_INTERVAL)"},
			{"list", "[--all]", "open alerts (with --all, resolved ones too)"},
			{"rule", "add|list|rm ...", "alert rules on measured values: thermowatt alerts rule -h lists add, list and rm (docs/operations.md, Alert rules)"},
		}}
}

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

func newChecker(cfg config.Config, st store.Store, logger *slog.Logger) *alerts.Checker {
	c := &alerts.Checker{Store: st, Policy: policyOf(cfg), Log: logger}
	if cfg.Ops.AlertWebhookURL != "" {
		c.Webhook = &alerts.Webhook{URL: cfg.Ops.AlertWebhookURL}
	}
	return c
}

func runAlerts(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		return usagef("usage: thermowatt alerts check | alerts list [--all]")
	}
	if isHelp(args[0]) {
		return groupHelp(e, "alerts")
	}
	switch args[0] {
	case "rule":
		return runAlertRule(ctx, e, args[1:])
	case "check":
		fs := subFlags(e, "alerts", "check")
		url := serverFlag(fs)
		if err := parseNoArgs(fs, args[1:]); err != nil {
			return err
		}
		return withServerOrStore(ctx, e, "alerts check", *url, func(c *apiclient.Admin) error {
			r, err := c.CheckAlerts(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, describeReport(alerts.Report{Devices: r.Devices, Opened: r.Opened, Resolved: r.Resolved,
				Notified: r.Notified, Failed: r.Failed, Undeliver: r.Undelivered}, r.Webhook))
			return nil
		}, func() error {
			if err := requireDatabase(e); err != nil {
				return err
			}
			cfg, err := config.Load(e.getenv)
			if err != nil {
				return err
			}
			return withStore(ctx, e, func(st store.Store) error {
				logger := slog.New(slog.NewJSONHandler(e.stderr, nil))
				r, err := newChecker(cfg, st, logger).Check(ctx)
				fmt.Fprintln(e.stdout, describeReport(r, cfg.Ops.AlertWebhookURL != ""))
				return err
			})
		})
	case "list":
		fs := subFlags(e, "alerts", "list")
		url := serverFlag(fs)
		all := fs.Bool("all", false, "also list resolved alerts")
		if err := parseNoArgs(fs, args[1:]); err != nil {
			return err
		}
		c, err := adminClient(e, "alerts list", *url)
		if err != nil {
			return err
		}
		as, err := c.Alerts(ctx, *all)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tDEVICE\tKIND\tOPENED\tRESOLVED\tMESSAGE")
		for _, a := range as {
			resolved := "-"
			if a.ResolvedAt != nil {
				resolved = a.ResolvedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.DeviceID, a.Kind, a.OpenedAt.UTC().Format(time.RFC3339), resolved, a.Message)
		}
		return tw.Flush()
	}
	return usagef("unknown alerts command %q; `thermowatt alerts -h` lists them", args[0])
}

func describeReport(r alerts.Report, webhook bool) string {
	list := func(xs []string) string {
		if len(xs) == 0 {
			return ""
		}
		return " (" + strings.Join(xs, ", ") + ")"
	}
	s := fmt.Sprintf("checked %d devices: opened %d%s, resolved %d%s; ", r.Devices,
		len(r.Opened), list(r.Opened), len(r.Resolved), list(r.Resolved))
	if !webhook {
		return s + fmt.Sprintf("no ALERT_WEBHOOK_URL: %d transitions recorded, not sent", r.Undeliver)
	}
	return s + fmt.Sprintf("notifications: %d sent, %d failed (retried later)", r.Notified, r.Failed)
}

// runAlertTicker runs the check every interval until ctx ends, in its own
// goroutine: ingest never waits for it, and a slow webhook delays only
// the next check. The first check runs at once.
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

// startAlerts starts serve's alert check when ALERT_CHECK_INTERVAL > 0 and
// returns a function that stops it and waits, to be called before the
// store closes.
func startAlerts(ctx context.Context, cfg config.Config, st store.Store, m *metrics.Metrics, logger *slog.Logger) (stop func()) {
	if cfg.Ops.AlertCheckInterval <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		runAlertTicker(ctx, newChecker(cfg, st, logger), cfg.Ops.AlertCheckInterval, m, logger)
	}()
	return func() { cancel(); <-done }
}
