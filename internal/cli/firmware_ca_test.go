package cli

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/testcert"
)

// A ca.pem no device could pin is refused by firmware sign and publish
// before anything is signed or uploaded; a good one is published, its
// fingerprint printed, and `device list` shows it once a device reports
// it waiting and then active.
func TestFirmwareCAIsCheckedBeforeUpload(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"DATA_DIR": dir}
	key := filepath.Join(dir, "fleet.key")
	if _, _, err := cliRun(vars, "firmware", "keygen", "--out", key); err != nil {
		t.Fatal(err)
	}
	rel := filepath.Join(dir, "release")
	os.MkdirAll(filepath.Join(rel, "lib"), 0o755)
	os.WriteFile(filepath.Join(rel, "lib", "app.py"), []byte("x = 1\n"), 0o644)
	caFile := filepath.Join(rel, "ca.pem")

	now := time.Now()
	root := testcert.DER(t, testcert.Options{Name: "fleet root 2027"})
	rootPEM := testcert.PEM(root)
	// Nothing listens here: a refusal that names ca.pem came before any
	// upload was tried.
	const nowhere = "http://127.0.0.1:1"
	for _, c := range []struct {
		name    string
		content []byte
		want    string
	}{
		{"two certificates", testcert.PEM(root, testcert.DER(t, testcert.Options{Name: "another"})), "more than one certificate"},
		{"truncated PEM", rootPEM[:len(rootPEM)-40], "truncated or damaged"},
		{"garbage", []byte("not a certificate at all\n"), "neither PEM"},
		{"expired", testcert.PEM(testcert.DER(t, testcert.Options{NotBefore: now.Add(-72 * time.Hour), NotAfter: now.Add(-time.Hour)})), "expired on"},
		{"the server's certificate", testcert.PEM(testcert.DER(t, testcert.Options{Kind: testcert.Leaf})), "is not a CA"},
	} {
		os.WriteFile(caFile, c.content, 0o644)
		for _, args := range [][]string{
			{"firmware", "sign", "--key", key, "--version", "1.0.0", rel},
			{"firmware", "publish", "--url", nowhere, "--token", "admin-token-0123456789", "--version", "1.0.0", rel},
		} {
			out, _, err := cliRun(vars, args...)
			if err == nil || !strings.Contains(err.Error(), caFile+": ") || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "publishing to") {
				t.Errorf("%s: %s: err = %v, want a refusal naming %s saying %q", c.name, args[1], err, caFile, c.want)
			}
			if out != "" {
				t.Errorf("%s: %s printed %q although it refused", c.name, args[1], out)
			}
		}
	}

	os.WriteFile(caFile, rootPEM, 0o644)
	fp := thermowatt.CAFingerprint(root)
	sig, errOut, err := cliRun(vars, "firmware", "sign", "--key", key, "--version", "1.0.0", rel)
	if err != nil || !strings.Contains(errOut, "sha256 "+fp) {
		t.Fatalf("sign a good CA: %v, stderr %q", err, errOut)
	}
	sigFile := filepath.Join(dir, "1.0.0.sig")
	os.WriteFile(sigFile, []byte(sig), 0o644)
	const admin = "admin-token-0123456789"
	url, _, _ := startServe(t, map[string]string{"DATA_DIR": dir, "ADMIN_TOKEN": admin})
	if _, errOut, err = cliRun(map[string]string{"DATA_DIR": dir, "THERMOWATT_URL": url, "THERMOWATT_TOKEN": admin}, "firmware", "publish", "--version", "1.0.0", "--signature", sigFile, rel); err != nil || !strings.Contains(errOut, "sha256 "+fp) {
		t.Fatalf("publish a good CA: %v, stderr %q", err, errOut)
	}

	// The device list: old firmware says nothing of CAs, a device on the
	// release holds the new CA waiting, then verifies with it.
	old := strings.Repeat("0a", 32)
	vars["THERMOWATT_URL"], vars["THERMOWATT_TOKEN"] = url, admin // the admin commands ask the server
	for _, id := range []string{"old-fw", "n1"} {
		if _, _, err := cliRun(vars, "device", "add", id); err != nil {
			t.Fatal(err)
		}
	}
	postHealth := func(id, health string, i int) {
		t.Helper()
		body := `{"deviceId":"` + id + `","recordedAt":"` + now.Add(time.Duration(i-10)*time.Minute).UTC().Format(time.RFC3339) + `","temperature":20,"payload":{"device":` + health + `}}`
		req, _ := http.NewRequest("POST", url+"/api/measurements", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+admin)
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 201 {
			t.Fatalf("post %s: %v %v", id, err, res)
		}
		res.Body.Close()
	}
	postHealth("old-fw", `{"firmware":"0.9","queue_depth":0}`, 0)
	postHealth("n1", `{"firmware":"1.0.0","ca":{"active":"`+old+`","waiting":"`+fp+`"}}`, 1)
	row := func(id string) []string {
		t.Helper()
		out, _, err := cliRun(vars, "device", "list")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(out, "\n")
		if !regexp.MustCompile(`\bCA\s+CA WAITING\s*$`).MatchString(lines[0]) {
			t.Fatalf("device list header: %q", lines[0])
		}
		for _, l := range lines[1:] {
			if f := strings.Fields(l); len(f) > 0 && f[0] == id {
				return f
			}
		}
		t.Fatalf("device list has no %s:\n%s", id, out)
		return nil
	}
	if f := row("old-fw"); f[len(f)-2] != "-" || f[len(f)-1] != "-" {
		t.Errorf("old firmware: CA columns %v, want - -", f[len(f)-2:])
	}
	if f := row("n1"); f[len(f)-2] != old[:12] || f[len(f)-1] != fp[:12] {
		t.Errorf("new CA waiting: CA columns %v, want %s %s", f[len(f)-2:], old[:12], fp[:12])
	}
	postHealth("n1", `{"firmware":"1.0.0","ca":{"active":"`+fp+`","waiting":null}}`, 2)
	if f := row("n1"); f[len(f)-2] != fp[:12] || f[len(f)-1] != "-" {
		t.Errorf("after the switch: CA columns %v, want %s -", f[len(f)-2:], fp[:12])
	}
}
