package metrics

import (
	"fmt"
	"strings"
	"testing"

	"github.com/thermowatt/thermowatt/internal/store"
)

// However many fingerprints devices report, the gauge has at most
// maxCALabels of them, the most common, plus "" and "other"; no device is
// lost from the total.
func TestCAGaugesAreBounded(t *testing.T) {
	var counts []store.CACount
	total := 0
	for i := 0; i < maxCALabels+15; i++ {
		fp := fmt.Sprintf("%064x", i)
		n := 100 - i // fingerprint 0 is the most common
		counts = append(counts, store.CACount{Active: fp, Devices: n})
		total += n
	}
	counts = append(counts,
		store.CACount{Active: "", Waiting: "", Devices: 3},
		store.CACount{Active: "", Waiting: strings.Repeat("e", 64), Devices: 2},
		store.CACount{Active: "NOT A FINGERPRINT", Waiting: "nor this", Devices: 4},
	)
	total += 3 + 2 + 4
	byActive, waiting := caGauges(counts)
	if len(byActive) != maxCALabels+2 {
		t.Errorf("%d series, want %d (top %d, \"\" and \"other\")", len(byActive), maxCALabels+2, maxCALabels)
	}
	sum := 0
	for _, n := range byActive {
		sum += n
	}
	if sum != total {
		t.Errorf("the series add up to %d devices, want %d", sum, total)
	}
	if byActive[fmt.Sprintf("%064x", 0)] != 100 || byActive[fmt.Sprintf("%064x", maxCALabels-1)] != 100-(maxCALabels-1) {
		t.Errorf("the most common fingerprints are not the ones kept: %v", byActive)
	}
	if _, ok := byActive[fmt.Sprintf("%064x", maxCALabels)]; ok {
		t.Errorf("fingerprint %d kept beyond the cap", maxCALabels)
	}
	if byActive[""] != 5 || waiting != 2 {
		t.Errorf(`byActive[""] = %d, waiting = %d; want 5 and 2`, byActive[""], waiting)
	}
	// With no device reporting, the gauge still says 0 for "".
	if b, w := caGauges(nil); len(b) != 1 || b[""] != 0 || w != 0 {
		t.Errorf("no devices: %v %d", b, w)
	}
}
