package thermowatt

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Settings are device settings that an admin may change remotely: a fleet
// default, and each device's own on top of it. Values are what JSON
// decodes to: float64 for numbers, bool, string. A key that is absent is
// not managed remotely: the device keeps its config.json value.
type Settings map[string]any

// SettingKind is the type of a remote setting's value.
type SettingKind int

const (
	SettingInt    SettingKind = iota // whole number within [Min, Max]
	SettingNumber                    // any number within [Min, Max]
	SettingBool
	SettingChoice // one of Choices
)

// SettingRule says what one remote setting may be. The ranges are those
// esp32/lib/config.py checks config.json against, so that the server never
// hands out a value the device would refuse.
type SettingRule struct {
	Key      string
	Kind     SettingKind
	Min, Max float64
	Choices  []string
	Help     string
}

// SettingRules lists every setting that may be changed remotely. Wi-Fi,
// api_key, device_id and base_url are absent on purpose: a wrong value
// there cuts the device off from the server that could correct it.
var SettingRules = []SettingRule{
	{Key: "interval_s", Kind: SettingInt, Min: 10, Max: 86400, Help: "seconds between measurements"},
	{Key: "batch_size", Kind: SettingInt, Min: 1, Max: 500, Help: "readings per request"},
	{Key: "http_timeout_s", Kind: SettingNumber, Min: 1, Max: 120, Help: "seconds one HTTP read or write may take"},
	{Key: "connect_timeout_s", Kind: SettingNumber, Min: 1, Max: 120, Help: "seconds to connect to the server"},
	{Key: "backoff_base_s", Kind: SettingNumber, Min: 0.1, Max: 3600, Help: "first retry delay in seconds"},
	{Key: "backoff_cap_s", Kind: SettingNumber, Min: 1, Max: 86400, Help: "longest retry delay in seconds"},
	{Key: "led", Kind: SettingBool, Help: "whether the status LED is used"},
	{Key: "log_level", Kind: SettingChoice, Choices: []string{"DEBUG", "INFO", "WARN", "ERROR"}, Help: "what the device logs"},
	{Key: "update_deadline_cycles", Kind: SettingInt, Min: 1, Max: 100, Help: "cycles within which a new firmware must deliver a batch, or it is rolled back"},
}

// SettingRuleFor returns the rule of key; ok is false for a key that may
// not be set remotely.
func SettingRuleFor(key string) (SettingRule, bool) {
	i := slices.IndexFunc(SettingRules, func(r SettingRule) bool { return r.Key == key })
	if i < 0 {
		return SettingRule{}, false
	}
	return SettingRules[i], true
}

// SettingKeys lists the keys that may be set remotely, for messages.
func SettingKeys() string {
	keys := make([]string, len(SettingRules))
	for i, r := range SettingRules {
		keys[i] = r.Key
	}
	return strings.Join(keys, ", ")
}

// Check returns why v is not a valid value of the rule's setting, or nil.
func (r SettingRule) Check(v any) error {
	switch r.Kind {
	case SettingInt, SettingNumber:
		f, ok := v.(float64)
		if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("%s must be a number, got %v", r.Key, show(v))
		}
		if r.Kind == SettingInt && f != math.Trunc(f) {
			return fmt.Errorf("%s must be a whole number, got %v", r.Key, f)
		}
		if f < r.Min || f > r.Max {
			return fmt.Errorf("%s must be between %g and %g, got %g", r.Key, r.Min, r.Max, f)
		}
	case SettingBool:
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s must be true or false, got %v", r.Key, show(v))
		}
	case SettingChoice:
		s, ok := v.(string)
		if !ok || !slices.Contains(r.Choices, s) {
			return fmt.Errorf("%s must be one of %s, got %v", r.Key, strings.Join(r.Choices, ", "), show(v))
		}
	}
	return nil
}

func show(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	if v == nil {
		return "null"
	}
	return fmt.Sprint(v)
}

// Parse reads a value of the rule's setting from text, as typed on the
// command line (key=value).
func (r SettingRule) Parse(text string) (any, error) {
	var v any = text
	switch r.Kind {
	case SettingInt, SettingNumber:
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return nil, fmt.Errorf("%s must be a number, got %q", r.Key, text)
		}
		v = f
	case SettingBool:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return nil, fmt.Errorf("%s must be true or false, got %q", r.Key, text)
		}
		v = b
	}
	return v, r.Check(v)
}

// Validate checks every value of s against its rule, and the rules that
// tie two settings together when both are in s. It returns every problem.
func (s Settings) Validate() error {
	var errs []error
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		r, ok := SettingRuleFor(k)
		if !ok {
			errs = append(errs, fmt.Errorf("%s cannot be set remotely (settable: %s)", k, SettingKeys()))
			continue
		}
		if err := r.Check(s[k]); err != nil {
			errs = append(errs, err)
		}
	}
	if base, ok := s["backoff_base_s"].(float64); ok {
		if limit, ok := s["backoff_cap_s"].(float64); ok && base > limit {
			errs = append(errs, fmt.Errorf("backoff_base_s (%g) must not exceed backoff_cap_s (%g)", base, limit))
		}
	}
	return errors.Join(errs...)
}

// FirmwareDefaults are esp32/lib/config.py's DEFAULTS for the settings the
// rules between settings read, remote or not (TestSettingRulesMatchTheFirmware
// holds them equal). A device applies remote settings over its own
// config.json, which the server cannot see: for what it does not manage
// (wdt_timeout_s, queue_cap) and keys no scope sets, it assumes these.
var FirmwareDefaults = Settings{
	"interval_s": 300.0, "batch_size": 20.0, "http_timeout_s": 30.0, "connect_timeout_s": 20.0,
	"backoff_base_s": 5.0, "backoff_cap_s": 600.0, "led": true, "log_level": "INFO",
	"update_deadline_cycles": 3.0, "wdt_timeout_s": 120.0, "queue_cap": 2000.0,
}

// The watchdog rule of config.py's validate: one HTTP request can block
// for a connect, a write and a read, each up to http_timeout_s, and the
// watchdog must outlast all three: wdt_timeout_s >= WatchdogRequests *
// http_timeout_s + WatchdogMarginS.
const (
	WatchdogRequests = 3
	WatchdogMarginS  = 10
)

// ValidateEffective checks the settings a device would apply, s being its
// effective remote settings (the fleet default with its own over it) laid
// over FirmwareDefaults, by the rules that tie settings together: those of
// config.py's validate, which a device refuses a revision for, and the
// server's own backoff_base_s <= backoff_cap_s. It returns every problem.
func (s Settings) ValidateEffective() error {
	m := FirmwareDefaults.Merge(s)
	num := func(k string) float64 { f, _ := m[k].(float64); return f }
	var errs []error
	if base, limit := num("backoff_base_s"), num("backoff_cap_s"); base > limit {
		errs = append(errs, fmt.Errorf("backoff_base_s (%g) must not exceed backoff_cap_s (%g)", base, limit))
	}
	if need := WatchdogRequests*num("http_timeout_s") + WatchdogMarginS; num("wdt_timeout_s") < need {
		errs = append(errs, fmt.Errorf("http_timeout_s (%g) needs a watchdog of at least %d * %g + %d = %g s, and a device's is %g s (config.json's wdt_timeout_s, not set remotely): at most %g",
			num("http_timeout_s"), WatchdogRequests, num("http_timeout_s"), WatchdogMarginS, need, num("wdt_timeout_s"),
			math.Floor((num("wdt_timeout_s")-WatchdogMarginS)/WatchdogRequests*100)/100))
	}
	if num("queue_cap") < num("batch_size") {
		errs = append(errs, fmt.Errorf("batch_size (%g) must not exceed a device's queue_cap (%g, config.json, not set remotely)", num("batch_size"), num("queue_cap")))
	}
	return errors.Join(errs...)
}

// Merge returns s with over's values on top: a device's effective
// settings are the fleet default merged with its own.
func (s Settings) Merge(over Settings) Settings {
	out := make(Settings, len(s)+len(over))
	for k, v := range s {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

// SettingsSet is one scope's settings (the fleet default or one device's)
// with the revision at which they were last changed (0: never).
type SettingsSet struct {
	Values    Settings
	Rev       int64
	UpdatedAt *time.Time
}

// EffectiveSettings are what a device should apply: the fleet default
// merged with its own. Rev is the larger of the two revisions, which come
// from one counter shared by every scope, so it changes whenever either
// does.
type EffectiveSettings struct {
	Rev    int64
	Values Settings
}
