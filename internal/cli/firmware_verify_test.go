package cli

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// With the fleet's public keys on the server (OTA_PUBLIC_KEYS), publish
// refuses, before uploading, a release that is unsigned or whose signature
// none of them verifies, and so does the server; one signed with the
// fleet's key is published. (Before: such a release was stored, and only
// devices found out, after downloading it.)
func TestFirmwarePublishVerifiesTheSignatureAgainstTheFleetKeys(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"DATA_DIR": dir}
	fleetKey, otherKey := filepath.Join(dir, "fleet.key"), filepath.Join(dir, "other.key")
	pub, _, err := cliRun(vars, "firmware", "keygen", "--out", fleetKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := cliRun(vars, "firmware", "keygen", "--out", otherKey); err != nil {
		t.Fatal(err)
	}
	rel := filepath.Join(dir, "release")
	os.MkdirAll(filepath.Join(rel, "lib"), 0o755)
	os.WriteFile(filepath.Join(rel, "lib", "app.py"), []byte("x = 1\n"), 0o644)
	sign := func(key, version string) string {
		sig, _, err := cliRun(vars, "firmware", "sign", "--key", key, "--version", version, rel)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, filepath.Base(key)+"-"+version+".sig")
		os.WriteFile(f, []byte(sig), 0o644)
		return f
	}
	const admin = "admin-token-0123456789"
	url, _, _ := startServe(t, map[string]string{"DATA_DIR": dir, "ADMIN_TOKEN": admin, "OTA_PUBLIC_KEYS": strings.TrimSpace(pub)})
	publish := func(version string, extra ...string) error {
		args := append([]string{"firmware", "publish", "--url", url, "--token", admin, "--version", version}, extra...)
		_, _, err := cliRun(vars, append(args, rel)...)
		return err
	}
	for name, err := range map[string]error{
		"unsigned":                  publish("1.0.0"),
		"signed with another key":   publish("1.0.0", "--signature", sign(otherKey, "1.0.0")),
		"signed as another version": publish("1.0.0", "--signature", sign(fleetKey, "0.9.0")),
	} {
		if err == nil || !strings.Contains(err.Error(), "nothing was uploaded") {
			t.Errorf("%s: %v, want a refusal before the upload", name, err)
		}
	}
	if err := publish("1.0.0", "--signature", sign(fleetKey, "1.0.0")); err != nil {
		t.Fatalf("signed with the fleet's key: %v", err)
	}
	// The server refuses too, whatever client uploads.
	req, _ := http.NewRequest("POST", url+"/api/firmware", strings.NewReader(`{"version":"2.0.0","files":[{"path":"lib/a.py","content":""}]}`))
	req.Header.Set("Authorization", "Bearer "+admin)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 400 || !strings.Contains(string(body), "OTA_PUBLIC_KEYS") {
		t.Errorf("an unsigned upload: %d %s, want 400", res.StatusCode, body)
	}
}
