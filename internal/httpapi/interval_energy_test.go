package httpapi_test

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// The case: the fleet is told interval_s=600 (docs/fleet.md's own
// example), a device sends 24 readings 605 s apart at 1 W. Its energy is
// counted across those gaps, because the gap rule goes by the interval the
// device was told; with a second interval left at 300 s it was 0 Wh.
func TestEnergyFollowsTheIntervalSetting(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		tok := a.device("n1")
		if r := a.do("PUT", "/api/settings", adminToken, `{"interval_s":600}`); r.Status != 200 {
			t.Fatalf("PUT /api/settings: %d %s", r.Status, r.Body)
		}
		day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -2)
		var rs []string
		for i := range 24 {
			at := day.Add(time.Hour + time.Duration(i)*605*time.Second)
			rs = append(rs, fmt.Sprintf(`{"deviceId":"n1","recordedAt":%q,"payload":{"power_mw":1000}}`, at.Format(time.RFC3339)))
		}
		if r := a.do("POST", "/api/measurements", tok, "["+strings.Join(rs, ",")+"]"); r.Status != 201 {
			t.Fatalf("post: %d %s", r.Status, r.Body)
		}
		got := getEnergy(t, a, adminToken, fmt.Sprintf("deviceId=n1&from=%s&to=%s", day.Format(time.RFC3339), day.Add(24*time.Hour).Format(time.RFC3339)))
		want := 23 * 605.0 / 3600 // 23 spans of 605 s at 1 W
		if len(got.Items) != 1 || !near(got.Items[0].Wh, want) || got.Items[0].Coverage == 0 {
			t.Fatalf("energy = %+v, want %.4f Wh with some coverage", got.Items, want)
		}
	})
}
