package cli

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/thermowatt/thermowatt/internal/apiclient"
)

// The alert rules on measured values: `alerts rule add|list|rm`, over
// HTTP like every admin command (remote.go).

// ruleAddArgs is the usage of `alerts rule add`.
const ruleAddArgs = `'METRIC OP VALUE' [--for 10m] [--hysteresis H] (--device ID ... | --all) [--severity info|warning|critical] [--message TEXT]`

var conditionRE = regexp.MustCompile(`^\s*([A-Za-z_]+)\s*(>=|<=|>|<)\s*(\S+)\s*$`)

// parseCondition reads "temperature > -10" (quoted as one argument, so
// that a negative value is not taken for a flag).
func parseCondition(s string) (metric, op string, value float64, err error) {
	m := conditionRE.FindStringSubmatch(s)
	if m == nil {
		return "", "", 0, usagef("the condition %q must be 'METRIC OP VALUE' in quotes, e.g. 'temperature > -10' or 'energy_wh_per_day >= 50'", s)
	}
	value, err = strconv.ParseFloat(m[3], 64)
	if err != nil {
		return "", "", 0, usagef("the value %q of the condition %q is not a number", m[3], s)
	}
	return m[1], m[2], value, nil
}

func runAlertRule(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || isHelp(args[0]) {
		return groupHelp(e, "alerts")
	}
	switch args[0] {
	case "add":
		fs := subFlags(e, "alerts", "rule add")
		url := serverFlag(fs)
		hold := fs.String("for", "", "how long the condition must hold before the alert opens, and clear before it resolves (90s, 10m, 1h30m; default 0)")
		hyst := fs.Float64("hysteresis", 0, "how far back beyond the threshold the value must come to resolve, in the metric's unit")
		all := fs.Bool("all", false, "every device, also those registered later")
		var devices repeated
		fs.Var(&devices, "device", "a device to watch; repeat for several")
		severity := fs.String("severity", "warning", "info, warning or critical: in the notification")
		message := fs.String("message", "", "added to the notification")
		pos, err := parseInterleaved(fs, args[1:])
		if err != nil {
			return flagError(err)
		}
		if len(pos) != 1 {
			return usagef("usage: thermowatt alerts rule add %s", ruleAddArgs)
		}
		metric, op, value, err := parseCondition(pos[0])
		if err != nil {
			return err
		}
		if *all == (len(devices) > 0) {
			return usagef("give --device ID (repeatable) or --all, not both or neither")
		}
		c, err := adminClient(e, "alerts rule add", *url)
		if err != nil {
			return err
		}
		r, err := c.CreateAlertRule(ctx, apiclient.NewAlertRule{Metric: metric, Comparison: op, Threshold: value, For: *hold,
			Hysteresis: *hyst, Devices: devices, All: *all, Severity: *severity, Message: *message})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "alert rule %d: %s on %s (%s)\n", r.ID, ruleCondition(r), ruleScope(r), r.Severity)
		return nil
	case "list":
		fs := subFlags(e, "alerts", "rule list")
		url := serverFlag(fs)
		if err := parseNoArgs(fs, args[1:]); err != nil {
			return err
		}
		c, err := adminClient(e, "alerts rule list", *url)
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
		fs := subFlags(e, "alerts", "rule rm")
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
	return usagef("unknown alerts rule command %q; `thermowatt alerts -h` lists them", args[0])
}

func ruleCondition(r apiclient.AlertRule) string {
	s := fmt.Sprintf("%s %s %g", r.Metric, r.Comparison, r.Threshold)
	if r.For != "" && r.For != "0s" {
		s += " for " + r.For
	}
	return s
}

func ruleScope(r apiclient.AlertRule) string {
	if r.All {
		return "all devices"
	}
	return strings.Join(r.Devices, ",")
}
