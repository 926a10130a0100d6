package cli

import (
	"strings"
	"testing"
)

// settings set asks the server, which refuses a change that hands a device
// effective settings it refuses, and the command says why.
func TestSettingsSetRefusesInvalidEffectiveSettings(t *testing.T) {
	dir := t.TempDir()
	const admin = "admin-token-0123456789"
	url, _, _ := startServe(t, map[string]string{"DATA_DIR": dir, "ADMIN_TOKEN": admin})
	vars := map[string]string{"DATA_DIR": dir, "THERMOWATT_URL": url, "THERMOWATT_TOKEN": admin}
	if _, errOut, err := cliRun(vars, "device", "add", "n1"); err != nil {
		t.Fatal(err, errOut)
	}
	if _, _, err := cliRun(vars, "settings", "set", "http_timeout_s=40"); err == nil || !strings.Contains(err.Error(), "at most 36.66") {
		t.Errorf("http_timeout_s=40 with the default watchdog: %v", err)
	}
	if _, _, err := cliRun(vars, "settings", "set", "--device", "n1", "backoff_base_s=100"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := cliRun(vars, "settings", "set", "backoff_cap_s=50", "backoff_base_s=1"); err == nil || !strings.Contains(err.Error(), "n1") {
		t.Errorf("a fleet cap under a device's own base: %v", err)
	}
}
