package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/ota"
)

// cliRun runs one command with vars and returns stdout, stderr and the error.
func cliRun(vars map[string]string, args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	err := Run(context.Background(), args, envOf(vars), nil, &out, &errOut)
	return out.String(), errOut.String(), err
}

// device add --config-out writes a config.json a board runs with: the
// device's id and working token, the server, the networks, the defaults.
func TestDeviceAddWritesConfig(t *testing.T) {
	dir := t.TempDir()
	vars := laptop(t, t.TempDir())
	vars["PUBLIC_URL"] = "https://tw.example.com/"
	cfg := filepath.Join(dir, "config.json")
	if _, _, err := cliRun(vars, "device", "add", "n1", "--config-out", cfg); ExitCode(err) != 2 {
		t.Fatalf("without --wifi: %v, want a usage error", err)
	}
	if _, err := os.Stat(cfg); err == nil {
		t.Fatal("a refused command wrote the file")
	}
	out, errOut, err := cliRun(vars, "device", "add", "n1", "--config-out", cfg, "--wifi", "home:secret", "--wifi", "cafe:pa:ss")
	if err != nil {
		t.Fatalf("device add: %v\n%s", err, errOut)
	}
	if printedToken.MatchString(out) {
		t.Errorf("the token was printed although it went to the file: %q", out)
	}
	info, err := os.Stat(cfg)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("config.json: %v %v, want mode 0600", err, info)
	}
	var c map[string]any
	raw, _ := os.ReadFile(cfg)
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	wifi, _ := json.Marshal(c["wifi"])
	if c["device_id"] != "n1" || c["base_url"] != "https://tw.example.com" || string(wifi) != `[{"password":"secret","ssid":"home"},{"password":"pa:ss","ssid":"cafe"}]` ||
		c["interval_s"] != 300.0 || c["allow_http"] != nil || c["ota_public_key"] != nil {
		t.Fatalf("config.json = %s", raw)
	}
	if !printedToken.MatchString(c["api_key"].(string)) {
		t.Fatalf("api_key %q is not a token", c["api_key"])
	}
	// The token works: it is the device's.
	req, _ := http.NewRequest("POST", vars["THERMOWATT_URL"]+"/api/measurements", strings.NewReader(`{"deviceId":"n1","temperature":20}`))
	req.Header.Set("Authorization", "Bearer "+c["api_key"].(string))
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 201 {
		t.Fatalf("the written token does not work: %v %v", err, res)
	}
	res.Body.Close()
	if _, _, err := cliRun(vars, "device", "add", "n2", "--config-out", cfg, "--wifi", "home:x"); err == nil || !strings.Contains(err.Error(), "never overwritten") {
		t.Fatalf("writing over an existing config.json: %v", err)
	}
	if out, _, _ := cliRun(vars, "device", "list"); strings.Contains(out, "n2") {
		t.Errorf("a refused device add registered the device:\n%s", out)
	}
	// Without PUBLIC_URL the board is pointed at the server the command
	// talked to.
	delete(vars, "PUBLIC_URL")
	cfg3 := filepath.Join(dir, "n3.json")
	if _, errOut, err := cliRun(vars, "device", "add", "n3", "--config-out", cfg3, "--wifi", "home:x"); err != nil {
		t.Fatalf("device add without PUBLIC_URL: %v\n%s", err, errOut)
	}
	raw, _ = os.ReadFile(cfg3)
	if err := json.Unmarshal(raw, &c); err != nil || c["base_url"] != vars["THERMOWATT_URL"] {
		t.Fatalf("config.json base_url = %v, want the server %s", c["base_url"], vars["THERMOWATT_URL"])
	}
}

func TestSettingsCommand(t *testing.T) {
	vars := laptop(t, t.TempDir())
	if _, errOut, err := cliRun(vars, "device", "add", "n1"); err != nil {
		t.Fatal(err, errOut)
	}
	if _, _, err := cliRun(vars, "settings", "set", "interval_s=5"); ExitCode(err) != 2 || !strings.Contains(err.Error(), "between 10 and 86400") {
		t.Fatalf("out of range: %v", err)
	}
	if _, _, err := cliRun(vars, "settings", "set", "api_key=x"); ExitCode(err) != 2 {
		t.Fatalf("a key that cannot be set remotely: %v", err)
	}
	out, _, err := cliRun(vars, "settings", "set", "interval_s=600", "led=true", "log_level=INFO")
	if err != nil || out != "fleet default: rev 1 {\"interval_s\":600,\"led\":true,\"log_level\":\"INFO\"}\n" {
		t.Fatalf("settings set: %q %v", out, err)
	}
	if out, _, err = cliRun(vars, "settings", "set", "log_level=null"); err != nil || !strings.Contains(out, `rev 2 {"interval_s":600,"led":true}`) {
		t.Fatalf("removing a key: %q %v", out, err)
	}
	if out, _, err = cliRun(vars, "settings", "set", "--device", "n1", "interval_s=60"); err != nil {
		t.Fatal(err)
	}
	want := "own: rev 3 {\"interval_s\":60}\neffective (fleet default + own): rev 3 {\"interval_s\":60,\"led\":true}\n"
	if out != want {
		t.Fatalf("settings set --device = %q, want %q", out, want)
	}
	if out, _, _ := cliRun(vars, "settings", "show", "--device", "n1"); out != want {
		t.Fatalf("settings show --device = %q", out)
	}
	if _, _, err := cliRun(vars, "settings", "set", "--device", "ghost", "led=false"); err == nil || !strings.Contains(err.Error(), `no device "ghost"`) {
		t.Fatalf("unknown device: %v", err)
	}
}

// Sign offline, publish to a running server, roll out through it, and the
// device's answer says which version to run.
func TestFirmwareAndRolloutCommands(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"DATA_DIR": dir}
	key := filepath.Join(dir, "fleet.key")
	pub, _, err := cliRun(vars, "firmware", "keygen", "--out", key)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := cliRun(vars, "firmware", "keygen", "--out", key); err == nil {
		t.Fatal("keygen overwrote a key")
	}
	rel := filepath.Join(dir, "release")
	os.MkdirAll(filepath.Join(rel, "lib"), 0o755)
	os.WriteFile(filepath.Join(rel, "main.py"), []byte("import app\n"), 0o644)
	os.WriteFile(filepath.Join(rel, "lib", "app.py"), []byte("x = 1\n"), 0o644)
	// Staged as the board's whole flash: devices would refuse main.py, so
	// neither sign nor publish takes it.
	if _, _, err := cliRun(vars, "firmware", "sign", "--key", key, "--version", "1.0.0", rel); err == nil || !strings.Contains(err.Error(), "main.py: a release may hold only") {
		t.Fatalf("sign a release with main.py: %v", err)
	}
	os.Remove(filepath.Join(rel, "main.py"))
	sig, _, err := cliRun(vars, "firmware", "sign", "--key", key, "--version", "1.0.0", rel)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := ota.ReadDir(rel)
	if err := thermowatt.VerifyManifest(strings.TrimSpace(pub), strings.TrimSpace(sig), thermowatt.Manifest("1.0.0", files)); err != nil {
		t.Fatalf("the printed signature does not verify with the printed key: %v", err)
	}
	sigFile := filepath.Join(dir, "1.0.0.sig")
	os.WriteFile(sigFile, []byte(sig), 0o644)

	vars = laptop(t, dir)
	url := vars["THERMOWATT_URL"]
	// THERMOWATT_URL and THERMOWATT_TOKEN: no token on the command line.
	if _, errOut, err := cliRun(vars, "firmware", "publish", "--version", "1.0.0", "--signature", sigFile, rel); err != nil {
		t.Fatalf("publish: %v\n%s", err, errOut)
	}
	if _, _, err := cliRun(vars, "firmware", "publish", "--version", "1.0.0", rel); err == nil || !strings.Contains(err.Error(), "already published") {
		t.Fatalf("publish again: %v", err)
	}
	if _, _, err := cliRun(vars, "firmware", "publish", "--url", url, "--token", "wrong-token-0123456789", "--version", "1.0.1", rel); err == nil {
		t.Fatal("publish with a wrong token succeeded")
	}

	devTok, _, err := cliRun(vars, "device", "add", "n1")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := cliRun(vars, "rollout", "start", "--version", "2.0.0", "--all"); err == nil {
		t.Fatal("a rollout of an unpublished version started")
	}
	if _, _, err := cliRun(vars, "rollout", "start", "--version", "1.0.0"); ExitCode(err) != 2 {
		t.Fatalf("neither --device nor --all: %v", err)
	}
	out, _, err := cliRun(vars, "rollout", "start", "--version", "1.0.0", "--device", "n1")
	if err != nil || out != "rollout 1: 1.0.0 to n1\n" {
		t.Fatalf("rollout start: %q %v", out, err)
	}
	if out, _, err = cliRun(vars, "rollout", "pause", "1"); err != nil || out != "rollout 1 (1.0.0 to n1) paused\n" {
		t.Fatalf("rollout pause: %q %v", out, err)
	}
	if out, _, _ = cliRun(vars, "rollout", "list"); !regexp.MustCompile(`(?m)^1\s+1\.0\.0\s+n1\s+paused\s`).MatchString(out) {
		t.Fatalf("rollout list:\n%s", out)
	}
	if _, _, err = cliRun(vars, "rollout", "resume", "1"); err != nil {
		t.Fatal(err)
	}
	// The device's next answer says so.
	req, _ := http.NewRequest("POST", url+"/api/measurements", strings.NewReader(`{"deviceId":"n1","temperature":20}`))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(devTok))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if !strings.Contains(string(body), `"desired":{"settingsRev":0,"firmware":"1.0.0"}`) {
		t.Fatalf("ingest answer = %d %s", res.StatusCode, body)
	}
}
