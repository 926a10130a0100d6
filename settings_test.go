package thermowatt_test

import (
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/thermowatt/thermowatt"
)

// The server checks a remote setting with the same ranges as the firmware
// checks config.json (esp32/lib/config.py), or a device would refuse a
// revision the server accepted. This reads the firmware's rules and holds
// the two to each other.
func TestSettingRulesMatchTheFirmware(t *testing.T) {
	src, err := os.ReadFile("esp32/lib/config.py")
	if err != nil {
		t.Fatal(err)
	}
	text := string(src)
	keys := regexp.MustCompile(`(?s)SETTINGS_KEYS = \((.*?)\)`).FindStringSubmatch(text)
	if keys == nil {
		t.Fatal("config.py: SETTINGS_KEYS not found")
	}
	var firmwareKeys []string
	for _, m := range regexp.MustCompile(`"(\w+)"`).FindAllStringSubmatch(keys[1], -1) {
		firmwareKeys = append(firmwareKeys, m[1])
	}
	var serverKeys []string
	for _, r := range thermowatt.SettingRules {
		serverKeys = append(serverKeys, r.Key)
	}
	if strings.Join(firmwareKeys, ",") != strings.Join(serverKeys, ",") {
		t.Errorf("remotely settable keys: firmware %v, server %v", firmwareKeys, serverKeys)
	}
	num := regexp.MustCompile(`_num\(cfg, "(\w+)", ([0-9.* ]+), ([0-9.* ]+), p`)
	for _, m := range num.FindAllStringSubmatch(text, -1) {
		rule, ok := thermowatt.SettingRuleFor(m[1])
		if !ok {
			continue // a setting only config.json holds
		}
		if lo, hi := product(t, m[2]), product(t, m[3]); rule.Min != lo || rule.Max != hi {
			t.Errorf("%s: firmware %v..%v, server %v..%v", m[1], lo, hi, rule.Min, rule.Max)
		}
	}
	levels := regexp.MustCompile(`LOG_LEVELS = \(([^)]*)\)`).FindStringSubmatch(text)
	rule, _ := thermowatt.SettingRuleFor("log_level")
	if levels == nil || strings.ReplaceAll(strings.ReplaceAll(levels[1], `"`, ""), " ", "") != strings.Join(rule.Choices, ",") {
		t.Errorf("log levels: firmware %v, server %v", levels, rule.Choices)
	}
}

// The rules that tie settings together, and the defaults the server
// assumes for what a device keeps in config.json, are config.py's: the
// server refuses a change that makes any device's effective settings
// break one (ValidateEffective), so each rule of config.py's validate
// must be one of the server's, with the same numbers.
func TestCrossFieldRulesMatchTheFirmware(t *testing.T) {
	src, err := os.ReadFile("esp32/lib/config.py")
	if err != nil {
		t.Fatal(err)
	}
	text := string(src)
	defaults := regexp.MustCompile(`(?s)DEFAULTS = \{(.*?)\n\}`).FindStringSubmatch(text)
	if defaults == nil {
		t.Fatal("config.py: DEFAULTS not found")
	}
	for k, want := range thermowatt.FirmwareDefaults {
		m := regexp.MustCompile(`"` + k + `": ([^,#\n]+),`).FindStringSubmatch(defaults[1])
		if m == nil {
			t.Errorf("config.py DEFAULTS has no %s", k)
			continue
		}
		got := strings.TrimSpace(m[1])
		switch w := want.(type) {
		case float64:
			if product(t, got) != w {
				t.Errorf("default %s: firmware %s, server %v", k, got, w)
			}
		case bool:
			if got != map[bool]string{true: "True", false: "False"}[w] {
				t.Errorf("default %s: firmware %s, server %v", k, got, w)
			}
		case string:
			if got != strconv.Quote(w) {
				t.Errorf("default %s: firmware %s, server %q", k, got, w)
			}
		}
	}
	// The cross-field rules config.py's validate applies, each with the
	// server's counterpart.
	rules := regexp.MustCompile(`if cfg\["(\w+)"\] < (need|cfg\["(\w+)"\])`).FindAllStringSubmatch(text, -1)
	if len(rules) != 2 {
		t.Fatalf("config.py: %d rules between settings, the server knows 2 (watchdog, queue_cap): add the new one to Settings.ValidateEffective", len(rules))
	}
	watchdog := regexp.MustCompile(`need = (\d+) \* cfg\["http_timeout_s"\] \+ (\d+)`).FindStringSubmatch(text)
	if watchdog == nil || watchdog[1] != strconv.Itoa(thermowatt.WatchdogRequests) || watchdog[2] != strconv.Itoa(thermowatt.WatchdogMarginS) {
		t.Errorf("watchdog rule: firmware %v, server wdt_timeout_s >= %d * http_timeout_s + %d", watchdog, thermowatt.WatchdogRequests, thermowatt.WatchdogMarginS)
	}
	if rules[0][1] != "wdt_timeout_s" || rules[1][1] != "queue_cap" || rules[1][3] != "batch_size" {
		t.Errorf("rules between settings: firmware %q", rules)
	}
	// And the server applies them over the defaults.
	for s, ok := range map[string]bool{
		`{"http_timeout_s":36.6}`: true, `{"http_timeout_s":36.7}`: false,
		`{"batch_size":500}`: true, `{"backoff_base_s":601}`: false, `{"backoff_base_s":601,"backoff_cap_s":601}`: true,
	} {
		var v thermowatt.Settings
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatal(err)
		}
		if err := v.ValidateEffective(); (err == nil) != ok {
			t.Errorf("ValidateEffective(%s) = %v, want valid %v", s, err, ok)
		}
	}
}

// product evaluates a bound as config.py writes it: a number or a product.
func product(t *testing.T, expr string) float64 {
	v := 1.0
	for _, f := range strings.Split(expr, "*") {
		x, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			t.Fatalf("bound %q: %v", expr, err)
		}
		v *= x
	}
	return v
}
