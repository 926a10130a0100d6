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
	"github.com/thermowatt/thermowatt/internal/server"
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
				r, err := server.NewChecker(cfg, st, logger).Check(ctx)
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
