package tscodec

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestDecimalIsShortest checks what the decoder's fast path for copied
// typed values relies on: a decimal of at most 15 digits, trailing zeros
// dropped, is exactly strconv's shortest form of its double.
func TestDecimalIsShortest(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for range 200_000 {
		k := rng.IntN(maxDecimalPlaces + 1)
		digits := 1 + rng.IntN(15)
		m := rng.Int64N(int64(math.Pow10(digits)))
		if rng.IntN(2) == 0 {
			m = -m
		}
		v := float64(m) / pow10[k]
		want := strconv.FormatFloat(v, 'f', -1, 64)
		if m == 0 {
			want = "0"
		}
		got := string(formatDecimal(nil, m, k, canonicalPlaces(m, k)))
		if got != want {
			t.Fatalf("%d at %d places: %q, strconv %q", m, k, got, want)
		}
	}
}

func TestFormatDecimal(t *testing.T) {
	for _, c := range []struct {
		v             int64
		scale, places int
		want          string
	}{
		{0, 0, 0, "0"}, {0, 2, 1, "0.0"}, {5, 2, 2, "0.05"}, {-5, 2, 2, "-0.05"}, {2137, 2, 2, "21.37"},
		{2130, 2, 1, "21.3"}, {2130, 2, 2, "21.30"}, {21000, 3, 0, "21"}, {-1013200, 4, 1, "-101.3"},
		{1<<62 - 1, 0, 0, "4611686018427387903"}, {123456789012345678, 18, 18, "0.123456789012345678"},
	} {
		if got := string(formatDecimal([]byte("x"), c.v, c.scale, c.places)); got != "x"+c.want {
			t.Errorf("formatDecimal(%d, %d, %d) = %q, want %q", c.v, c.scale, c.places, got[1:], c.want)
		}
	}
}
