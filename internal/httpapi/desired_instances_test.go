package httpapi_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// Two instances on one database: a settings change or a rollout made
// through one reaches devices' answers from the other at once (the other
// reads the database's desired version every second), not after the
// 15 s its cache would otherwise keep an answer.
func TestDesiredStateCrossesInstances(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		b := newAPI(t, a.st) // a second instance, same database
		tok := a.device("n1")
		desired := func(i int) (rev float64) {
			t.Helper()
			r := b.do("POST", "/api/measurements", tok, fmt.Sprintf(`{"deviceId":"n1","recordedAt":%q,"temperature":20}`, recent(i)))
			if r.Status != 201 {
				t.Fatalf("ingest on the second instance: %d %s", r.Status, r.Body)
			}
			var ans struct{ Desired struct{ SettingsRev float64 } }
			json.Unmarshal(r.Body, &ans)
			return ans.Desired.SettingsRev
		}
		if rev := desired(0); rev != 0 { // now cached on b
			t.Fatalf("settingsRev before any change = %v", rev)
		}
		if r := a.do("PUT", "/api/settings", adminToken, `{"interval_s":600}`); r.Status != 200 {
			t.Fatalf("PUT /api/settings on the first instance: %d %s", r.Status, r.Body)
		}
		// Polled for 10 s, less than the cache's 15 s: only the version
		// check can make it in time.
		start := time.Now()
		for i := 1; desired(i) != 1; i++ {
			if time.Since(start) > 10*time.Second {
				t.Fatal("the second instance still answers settingsRev 0 ten seconds after the change")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}
