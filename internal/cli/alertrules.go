package cli

import (
	"context"
	"flag"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/apiclient"
	"github.com/thermowatt/thermowatt/internal/wire"
)

// The alert rules on measured values: `alerts rule add|list|rm`, over
// HTTP like every admin command (remote.go).

// ruleAddArgs is the usage of `alerts rule add`.
const ruleAddArgs = `'METRIC [rate] OP VALUE' [--over 5m] [--for 10m] [--hysteresis H] (--device ID ... | --all) [--severity info|warning|critical] [--message TEXT] [--late]`

// ruleSubs are the subcommands of `alerts rule`.
var ruleSubs = []subcommand{
	{"add", ruleAddArgs, "add an alert rule on a measured value: it opens an alert once the condition has held --for, and resolves it once the value has been back beyond the threshold by --hysteresis for as long; 'METRIC rate OP VALUE' --over 5m watches the change over 5 minutes instead (docs/operations.md, Alert rules)"},
	{"list", "", "the alert rules, with the devices each is firing for"},
	{"rm", "ID", "delete an alert rule; its open alerts resolve"},
}

// ruleFlags is the flag set of `alerts rule SUB`, whose -h prints its
// usage, summary and flags.
func ruleFlags(e env, sub string) *flag.FlagSet {
	var s subcommand
	for _, c := range ruleSubs {
		if c.name == sub {
			s = c
		}
	}
	fs := newFlags(e, "alerts rule "+sub)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: thermowatt alerts rule %s\n\n%s\n\nFlags:\n", strings.TrimSpace(sub+" "+s.args), s.summary)
		fs.PrintDefaults()
	}
	return fs
}

// ruleHelp prints the subcommands of `alerts rule`.
func ruleHelp(e env) error {
	fmt.Fprint(e.stderr, "thermowatt alerts rule: alert rules on measured values, over HTTP (THERMOWATT_URL, THERMOWATT_TOKEN)\n\nUsage:\n")
	tw := tabwriter.NewWriter(e.stderr, 0, 4, 2, ' ', 0)
	for _, s := range ruleSubs {
		fmt.Fprintf(tw, "  thermowatt alerts rule %s\t%s\n", strings.TrimSpace(s.name+" "+s.args), s.summary)
	}
	tw.Flush()
	fmt.Fprint(e.stderr, "\n`thermowatt alerts rule SUBCOMMAND -h` shows one in full.\n")
	return errHelpShown
}

var conditionRE = regexp.MustCompile(`^\s*([A-Za-z_]+)(\s+rate)?\s*(>=|<=|>|<)\s*(\S+)\s*$`)

// parseCondition reads "temperature > -10", or "temperature rate > 2" for
// a rate rule (quoted as one argument, so that a negative value is not
// taken for a flag).
func parseCondition(s string) (metric string, rate bool, op string, value float64, err error) {
	m := conditionRE.FindStringSubmatch(s)
	if m == nil {
		return "", false, "", 0, usagef("the condition %q must be 'METRIC OP VALUE' or 'METRIC rate OP VALUE' in quotes, e.g. 'temperature > -10', 'energy_wh_per_day >= 50' or 'temperature rate > 2' --over 5m", s)
	}
	value, err = strconv.ParseFloat(m[4], 64)
	if err != nil {
		return "", false, "", 0, usagef("the value %q of the condition %q is not a number", m[4], s)
	}
	return m[1], m[2] != "", m[3], value, nil
}

func runAlertRule(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || isHelp(args[0]) {
		return ruleHelp(e)
	}
	switch args[0] {
	case "add":
		fs := ruleFlags(e, "add")
		url := serverFlag(fs)
		over := fs.String("over", "", "with 'METRIC rate OP VALUE': the window the change is measured over (30s, 5m, up to 1h); VALUE is then the change in the metric's unit, e.g. 2 for 2 °C, -2 for a fall of 2 °C")
		hold := fs.String("for", "", "how long the condition must hold before the alert opens, and clear before it resolves (90s, 10m, 1h30m; default 0)")
		hyst := fs.Float64("hysteresis", 0, "how far back beyond the threshold the value must come to resolve, in the metric's unit")
		all := fs.Bool("all", false, "every device, also those registered later")
		var devices repeated
		fs.Var(&devices, "device", "a device to watch; repeat for several")
		severity := fs.String("severity", "warning", "info, warning or critical: in the notification")
		message := fs.String("message", "", "added to the notification")
		late := fs.Bool("late", false, "judge late readings too (received long after they were recorded: a queue flushed after an outage), raising the alerts of the past now")
		pos, err := parseInterleaved(fs, args[1:])
		if err != nil {
			return flagError(err)
		}
		if len(pos) != 1 {
			return usagef("usage: thermowatt alerts rule add %s", ruleAddArgs)
		}
		metric, rate, op, value, err := parseCondition(pos[0])
		if err != nil {
			return err
		}
		if rate != (*over != "") {
			if rate {
				return usagef("the rate condition %q needs the window it is measured over: add --over 5m (for instance)", pos[0])
			}
			return usagef("--over %s measures a rate: write the condition as '%s rate %s %g'", *over, metric, op, value)
		}
		if *all == (len(devices) > 0) {
			return usagef("give --device ID (repeatable) or --all, not both or neither")
		}
		c, err := adminClient(e, "alerts rule add", *url)
		if err != nil {
			return err
		}
		r, err := c.CreateAlertRule(ctx, apiclient.NewAlertRule{Metric: metric, Comparison: op, Threshold: value, RateOver: *over, For: *hold,
			Hysteresis: *hyst, Devices: devices, All: *all, Severity: *severity, Message: *message, Late: *late})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "alert rule %d: %s on %s (%s)\n", r.ID, ruleCondition(r), ruleScope(r), r.Severity)
		return nil
	case "list":
		fs := ruleFlags(e, "list")
		c, err := flagsOnlyClient(e, fs, args[1:], "alerts rule list")
		if err != nil {
			return err
		}
		rs, err := c.AlertRules(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCONDITION\tHYSTERESIS\tSCOPE\tSEVERITY\tFIRING\tMESSAGE")
		for _, r := range rs {
			var firing []string
			for _, st := range r.States {
				if st.Firing {
					firing = append(firing, st.DeviceID)
				}
			}
			f := "-"
			if len(firing) > 0 {
				f = strings.Join(firing, ",")
			}
			fmt.Fprintf(tw, "%d\t%s\t%g\t%s\t%s\t%s\t%s\n", r.ID, ruleCondition(r), r.Hysteresis, ruleScope(r), r.Severity, f, r.Message)
		}
		return tw.Flush()
	case "rm":
		fs := ruleFlags(e, "rm")
		url := serverFlag(fs)
		pos, err := parseInterleaved(fs, args[1:])
		if err != nil {
			return flagError(err)
		}
		if len(pos) != 1 {
			return usagef("usage: thermowatt alerts rule rm ID (`thermowatt alerts rule list` shows the ids)")
		}
		id, err := strconv.ParseInt(pos[0], 10, 64)
		if err != nil || id < 1 {
			return usagef("the rule id %q must be a whole number (`thermowatt alerts rule list` shows them)", pos[0])
		}
		c, err := adminClient(e, "alerts rule rm", *url)
		if err != nil {
			return err
		}
		if err := c.DeleteAlertRule(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "alert rule %d deleted; its open alerts are resolved\n", id)
		return nil
	}
	return usagef("unknown alerts rule command %q; `thermowatt alerts rule -h` lists them", args[0])
}

func ruleCondition(r wire.AlertRule) string {
	s := fmt.Sprintf("%s %s %g", r.Metric, r.Comparison, r.Threshold)
	if r.RateOver != "" && r.RateOver != "0s" {
		over := r.RateOver
		if d, err := time.ParseDuration(over); err == nil {
			over = thermowatt.FormatDuration(d)
		}
		s = fmt.Sprintf("%s rate %s %g over %s", r.Metric, r.Comparison, r.Threshold, over)
	}
	if r.For != "" && r.For != "0s" {
		s += " for " + r.For
	}
	return s
}

func ruleScope(r wire.AlertRule) string {
	if r.All {
		return "all devices"
	}
	return strings.Join(r.Devices, ",")
}
