package httpapi_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// Two instances on one database: a settings change, a rollout or a pause made
// through one reaches devices' answers from the other at once (the other
// reads the database's desired version every second), not after the
// 15 s its cache would otherwise keep an answer.
func TestDesiredStateCrossesInstances(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		b := newAPI(t, a.st) // a second instance, same database
		tok := a.device("n1")
		n := 0
		answer := func() (rev float64, firmware string) {
			t.Helper()
			n++
			r := b.do("POST", "/api/measurements", tok, fmt.Sprintf(`{"deviceId":"n1","recordedAt":%q,"temperature":20}`, recent(n)))
			if r.Status != 201 {
				t.Fatalf("ingest on the second instance: %d %s", r.Status, r.Body)
			}
			var ans struct {
				Desired struct {
					SettingsRev float64
					Firmware    *string
				}
			}
			json.Unmarshal(r.Body, &ans)
			if ans.Desired.Firmware != nil {
				firmware = *ans.Desired.Firmware
			}
			return ans.Desired.SettingsRev, firmware
		}
		desired := func(int) float64 { rev, _ := answer(); return rev }
		firmware := func() string { _, fw := answer(); return fw }
		// Polled for 10 s, less than the cache's 15 s: only the version
		// check can make it in time.
		within := func(what string, ok func() bool) {
			t.Helper()
			start := time.Now()
			for !ok() {
				if time.Since(start) > 10*time.Second {
					t.Fatalf("the second instance still answers as before ten seconds after %s", what)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		if rev := desired(0); rev != 0 { // now cached on b
			t.Fatalf("settingsRev before any change = %v", rev)
		}
		if r := a.do("PUT", "/api/settings", adminToken, `{"interval_s":600}`); r.Status != 200 {
			t.Fatalf("PUT /api/settings on the first instance: %d %s", r.Status, r.Body)
		}
		within("a settings change", func() bool { return desired(0) == 1 })

		// A rollout started, then paused, through the first instance.
		content := []byte("x = 1\n")
		sum := sha256.Sum256(content)
		release := fmt.Sprintf(`{"version":"1.0.0","signature":null,"files":[{"path":"lib/app.py","content":%q,"sha256":%q}]}`,
			base64.StdEncoding.EncodeToString(content), hex.EncodeToString(sum[:]))
		if r := a.do("POST", "/api/firmware", adminToken, release); r.Status != 201 {
			t.Fatalf("publish: %d %s", r.Status, r.Body)
		}
		if fw := firmware(); fw != "" {
			t.Fatalf("firmware before any rollout = %q", fw)
		}
		if r := a.do("POST", "/api/rollouts", adminToken, `{"version":"1.0.0","all":true}`); r.Status != 201 {
			t.Fatalf("rollout: %d %s", r.Status, r.Body)
		}
		within("a rollout", func() bool { return firmware() == "1.0.0" })
		if r := a.do("PATCH", "/api/rollouts/1", adminToken, `{"paused":true}`); r.Status != 200 {
			t.Fatalf("pause: %d %s", r.Status, r.Body)
		}
		within("a pause", func() bool { return firmware() == "" })
	})
}
