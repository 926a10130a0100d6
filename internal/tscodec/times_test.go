package tscodec

import (
	"math/rand/v2"
	"testing"
)

// TestReceivedTimesForms: each way received times come is written in the
// form that suits it, and read back exactly.
func TestReceivedTimesForms(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	const n = 500
	recorded := make([]int64, n)
	for i := range recorded {
		recorded[i] = 1_735_689_600_000_000 + int64(i)*300_000_000
	}
	batchDelay := make([]int64, n/20)
	for b := range batchDelay {
		batchDelay[b] = 150_000 + rng.Int64N(700_000)
	}
	cases := map[string]struct {
		received func(i int) int64
		mode     byte
	}{
		"sent when taken, a random delay": {func(i int) int64 { return recorded[i] + 150_000 + rng.Int64N(700_000) }, receivedPacked},
		"batches of 20 sharing a time":    {func(i int) int64 { return recorded[i/20*20+19] + batchDelay[i/20] }, receivedDeltas},
		"a delay drifting steadily":       {func(i int) int64 { return recorded[i] + 250_000 + int64(i)*37 }, receivedOffsets},
	}
	for name, c := range cases {
		received := make([]int64, n)
		for i := range received {
			received[i] = c.received(i)
		}
		enc := appendReceivedTimes(nil, recorded, received)
		if enc[0] != c.mode {
			t.Errorf("%s: written in form %d (%d bytes), want %d", name, enc[0], len(enc), c.mode)
		}
		back, err := readReceivedTimes(&reader{buf: enc}, recorded)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i := range back {
			if back[i] != received[i] {
				t.Fatalf("%s: reading %d received at %d, want %d", name, i, back[i], received[i])
			}
		}
	}
}
