package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/wire"
)

func toAlertRuleJSON(r thermowatt.AlertRule, states []thermowatt.RuleState) wire.AlertRule {
	out := wire.AlertRule{ID: r.ID, Metric: r.Metric, Comparison: r.Comparison, Threshold: r.Threshold, RateOver: r.RateOver.String(), For: r.For.String(),
		Hysteresis: r.Hysteresis, Devices: r.Devices, All: r.All, Severity: r.Severity, Message: r.Message, Late: r.IncludeLate,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), States: []wire.AlertRuleState{}}
	if out.Devices == nil {
		out.Devices = []string{}
	}
	for _, st := range states {
		if st.RuleID == r.ID {
			out.States = append(out.States, wire.AlertRuleState{DeviceID: st.DeviceID, Firing: st.Firing, PendingSince: st.PendingSince,
				ClearSince: st.ClearSince, LastValue: st.LastValue, LastAt: st.LastAt})
		}
	}
	return out
}

// alertRuleInput is the body of POST and PATCH: every field optional in
// PATCH (absent: unchanged); in POST metric, comparison and threshold are
// required and the scope must be given.
type alertRuleInput struct {
	Metric     *string   `json:"metric"`
	Comparison *string   `json:"comparison"`
	Threshold  *float64  `json:"threshold"`
	RateOver   *string   `json:"rateOver"`
	For        *string   `json:"for"`
	Hysteresis *float64  `json:"hysteresis"`
	Devices    *[]string `json:"devices"`
	All        *bool     `json:"all"`
	Severity   *string   `json:"severity"`
	Message    *string   `json:"message"`
	Late       *bool     `json:"includeLate"`
}

// apply sets what in holds on r; problems are the fields it could not read.
func (in alertRuleInput) apply(r *thermowatt.AlertRule) map[string]string {
	problems := map[string]string{}
	if in.Metric != nil {
		r.Metric = *in.Metric
	}
	if in.Comparison != nil {
		r.Comparison = *in.Comparison
	}
	if in.Threshold != nil {
		r.Threshold = *in.Threshold
	}
	if in.RateOver != nil {
		d, err := parseDuration("rate window", *in.RateOver)
		if err != nil {
			problems["rateOver"] = err.Error()
		}
		r.RateOver = d
	}
	if in.For != nil {
		d, err := parseDuration("hold duration", *in.For)
		if err != nil {
			problems["for"] = err.Error()
		}
		r.For = d
	}
	if in.Hysteresis != nil {
		r.Hysteresis = *in.Hysteresis
	}
	if in.Devices != nil {
		r.Devices = slices.Compact(slices.Sorted(slices.Values(*in.Devices)))
		if in.All == nil {
			r.All = false
		}
	}
	if in.All != nil {
		r.All = *in.All
		if r.All && in.Devices == nil {
			r.Devices = nil
		}
	}
	if in.Severity != nil {
		r.Severity = *in.Severity
	}
	if in.Message != nil {
		r.Message = *in.Message
	}
	if in.Late != nil {
		r.IncludeLate = *in.Late
	}
	return problems
}

// parseDuration reads a hold duration or a rate window (what, for the
// error): a Go duration ("10m", "90s", "1h30m") or a plain number of
// seconds.
func parseDuration(what, s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not a duration: write it as 90s, 10m or 1h30m", what, s)
	}
	return d, nil
}

// ruleProblems is a 400 listing every problem, field by field.
func ruleProblems(problems map[string]string) error {
	fields := slices.Sorted(func(yield func(string) bool) {
		for k := range problems {
			if !yield(k) {
				return
			}
		}
	})
	msgs := make([]string, len(fields))
	for i, f := range fields {
		msgs[i] = f + ": " + problems[f]
	}
	return errorf(http.StatusBadRequest, "invalid alert rule: "+strings.Join(msgs, "; "))
}

// checkRule validates r and that the devices it names are registered.
func checkRule(r *http.Request, devices store.Devices, rule thermowatt.AlertRule, problems map[string]string) error {
	for k, v := range rule.Validate() {
		if _, ok := problems[k]; !ok {
			problems[k] = v
		}
	}
	if len(problems) > 0 {
		return ruleProblems(problems)
	}
	for _, id := range rule.Devices {
		if _, err := devices.GetDevice(r.Context(), id); errors.Is(err, thermowatt.ErrNotFound) {
			return errorf(http.StatusNotFound, fmt.Sprintf("device %q is not registered (GET /api/devices lists them); a rule names registered devices, or the whole fleet with \"all\": true", id))
		} else if err != nil {
			return storeError(err)
		}
	}
	return nil
}

// handleCreateAlertRule stores a rule: {"metric":"temperature",
// "comparison":">","threshold":-10,"for":"10m","hysteresis":1,
// "devices":["freezer-1"],"severity":"critical","message":"door open?"};
// with "rateOver":"5m" the threshold is a change over 5 minutes.
func handleCreateAlertRule(rules store.AlertRules, devices store.Devices, now func() time.Time) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		var in alertRuleInput
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
		rule := thermowatt.AlertRule{Severity: "warning"}
		problems := in.apply(&rule)
		if in.Metric == nil {
			problems["metric"] = "metric is required: one of " + strings.Join(thermowatt.AlertMetrics, ", ")
		}
		if in.Comparison == nil {
			problems["comparison"] = "comparison is required: one of " + strings.Join(thermowatt.AlertComparisons, " ")
		}
		if in.Threshold == nil {
			problems["threshold"] = "threshold is required: the value the metric is compared with, in its unit"
		}
		if err := checkRule(r, devices, rule, problems); err != nil {
			return err
		}
		out, err := rules.CreateAlertRule(r.Context(), rule, now())
		if err != nil {
			return storeError(err)
		}
		logFrom(r).Info("admin action", "by", principal(r).TokenID, "action", "alert rule created", "rule", out.ID,
			"condition", out.Condition(), "all", out.All, "devices", len(out.Devices))
		writeJSON(w, http.StatusCreated, toAlertRuleJSON(out, nil))
		return nil
	})
}

func handleListAlertRules(rules store.AlertRules) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		rs, err := rules.ListAlertRules(r.Context())
		if err != nil {
			return storeError(err)
		}
		states, err := rules.RuleStates(r.Context(), r.URL.Query().Get("deviceId"))
		if err != nil {
			return storeError(err)
		}
		items := make([]wire.AlertRule, len(rs))
		for i, rule := range rs {
			items[i] = toAlertRuleJSON(rule, states)
		}
		writeJSON(w, http.StatusOK, map[string]any{"items": items})
		return nil
	})
}

func ruleID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, errorf(http.StatusNotFound, fmt.Sprintf("no alert rule %q (GET /api/alert-rules lists them)", r.PathValue("id")))
	}
	return id, nil
}

// handlePatchAlertRule changes the fields given. The rule's evaluation
// starts over, and its open alerts resolve: they were raised under the
// old settings.
func handlePatchAlertRule(rules store.AlertRules, devices store.Devices, now func() time.Time) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		id, err := ruleID(r)
		if err != nil {
			return err
		}
		var in alertRuleInput
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
		if in == (alertRuleInput{}) {
			return errorf(http.StatusBadRequest, "nothing to change: send the fields to change, e.g. {\"threshold\": -12}")
		}
		rule, err := rules.GetAlertRule(r.Context(), id)
		if errors.Is(err, thermowatt.ErrNotFound) {
			return errorf(http.StatusNotFound, fmt.Sprintf("no alert rule %d (GET /api/alert-rules lists them)", id))
		}
		if err != nil {
			return storeError(err)
		}
		if err := checkRule(r, devices, rule, in.apply(&rule)); err != nil {
			return err
		}
		out, err := rules.UpdateAlertRule(r.Context(), rule, now())
		if errors.Is(err, thermowatt.ErrNotFound) {
			return errorf(http.StatusNotFound, fmt.Sprintf("no alert rule %d (GET /api/alert-rules lists them)", id))
		}
		if err != nil {
			return storeError(err)
		}
		logFrom(r).Info("admin action", "by", principal(r).TokenID, "action", "alert rule changed", "rule", id, "condition", out.Condition())
		writeJSON(w, http.StatusOK, toAlertRuleJSON(out, nil))
		return nil
	})
}

// handleDeleteAlertRule deletes a rule; its open alerts resolve.
func handleDeleteAlertRule(rules store.AlertRules, now func() time.Time) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		id, err := ruleID(r)
		if err != nil {
			return err
		}
		err = rules.DeleteAlertRule(r.Context(), id, now())
		if errors.Is(err, thermowatt.ErrNotFound) {
			return errorf(http.StatusNotFound, fmt.Sprintf("no alert rule %d (GET /api/alert-rules lists them)", id))
		}
		if err != nil {
			return storeError(err)
		}
		logFrom(r).Info("admin action", "by", principal(r).TokenID, "action", "alert rule deleted", "rule", id)
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}
