package metrics

import (
	"cmp"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// maxCALabels bounds the fingerprint label of thermowatt_devices_by_ca: a
// fleet verifies with one CA, two during a rotation; what a device reports
// is its own to choose, so beyond the most common ones the rest is
// "other" rather than a series each.
const maxCALabels = 20

var (
	caActiveDesc = prometheus.NewDesc("thermowatt_devices_by_ca",
		"Devices by the sha256 fingerprint of the CA they verify the server with (\"\": none reported, i.e. old firmware or no ca_cert; \"other\": beyond the 20 most common, or not a fingerprint).",
		[]string{"fingerprint"}, nil)
	caWaitingDesc = prometheus.NewDesc("thermowatt_devices_ca_waiting",
		"Devices holding a CA from a release that waits to take over (CA rotation: switch the server's certificate once every device has it).",
		nil, nil)
)

// caGauges folds the store's counts into the two gauges: devices per
// active fingerprint, at most maxCALabels of them plus "" and "other", and
// devices with a CA waiting.
func caGauges(counts []store.CACount) (byActive map[string]int, waiting int) {
	byActive = map[string]int{"": 0}
	valid := map[string]int{}
	other := 0
	for _, c := range counts {
		if thermowatt.ValidCAFingerprint(c.Waiting) {
			waiting += c.Devices
		}
		switch {
		case c.Active == "":
			byActive[""] += c.Devices
		case thermowatt.ValidCAFingerprint(c.Active):
			valid[c.Active] += c.Devices
		default:
			other += c.Devices
		}
	}
	fps := make([]string, 0, len(valid))
	for fp := range valid {
		fps = append(fps, fp)
	}
	slices.SortFunc(fps, func(a, b string) int {
		return cmp.Or(cmp.Compare(valid[b], valid[a]), cmp.Compare(a, b))
	})
	for i, fp := range fps {
		if i < maxCALabels {
			byActive[fp] = valid[fp]
		} else {
			other += valid[fp]
		}
	}
	if other > 0 {
		byActive["other"] = other
	}
	return byActive, waiting
}
