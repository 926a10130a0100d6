package thermowatt_test

import (
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
