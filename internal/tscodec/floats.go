package tscodec

import (
	"encoding/binary"
	"math"
	"math/bits"
)

// A nullable float column: which rows have a value, then the values in
// whichever form is shorter. Sensors report decimals (21.37 °C, 3.305 V),
// which as integers of hundredths or thousandths change by a few units
// from one reading to the next: "decimal" stores the scale and the
// integers' zigzag varint deltas. Anything else (a computed 21.3666…,
// NaN, -0) takes Gorilla's XOR form, which is exact for any bits.
const (
	presentNone = 0
	presentAll  = 1
	presentSome = 2

	floatsGorilla = 0
	floatsDecimal = 1

	maxDecimalPlaces = 15
	maxExactInt      = 1 << 53
)

var pow10 = func() (p [maxDecimalPlaces + 1]float64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

func appendFloats(dst []byte, n int, get func(i int) *float64) []byte {
	var vals []float64
	for i := 0; i < n; i++ {
		if v := get(i); v != nil {
			vals = append(vals, *v)
		}
	}
	switch len(vals) {
	case 0:
		return append(dst, presentNone)
	case n:
		dst = append(dst, presentAll)
	default:
		dst = append(dst, presentSome)
		dst = appendBitmap(dst, n, func(i int) bool { return get(i) != nil })
	}
	if k, ok := decimalPlaces(vals); ok {
		dec := appendDecimal(nil, vals, k)
		gor := appendGorilla(nil, vals)
		if len(dec) <= len(gor) {
			return append(dst, dec...)
		}
		return append(dst, gor...)
	}
	return appendGorilla(dst, vals)
}

// decimalPlaces is the fewest decimal places k at which every value is
// exactly the double nearest m/10^k for an integer |m| < 2^53.
func decimalPlaces(vals []float64) (int, bool) {
	k := 0
	for _, v := range vals {
		for ; k <= maxDecimalPlaces; k++ {
			if _, ok := asDecimal(v, k); ok {
				break
			}
		}
		if k > maxDecimalPlaces {
			return 0, false
		}
	}
	// A value exact at fewer places may not be at k: its integer can
	// outgrow 2^53 (609.12 beside 8.094117647292563).
	for _, v := range vals {
		if _, ok := asDecimal(v, k); !ok {
			return 0, false
		}
	}
	return k, true
}

func asDecimal(v float64, k int) (int64, bool) {
	m := math.Round(v * pow10[k])
	if !(math.Abs(m) < maxExactInt) {
		return 0, false
	}
	// Back from the integer, as decoding does: -0 is no integer.
	back := float64(int64(m)) / pow10[k]
	return int64(m), math.Float64bits(back) == math.Float64bits(v)
}

func appendDecimal(dst []byte, vals []float64, k int) []byte {
	dst = append(dst, floatsDecimal, byte(k))
	var prev int64
	for _, v := range vals {
		m, _ := asDecimal(v, k)
		dst = binary.AppendUvarint(dst, zigzag(m-prev))
		prev = m
	}
	return dst
}

// appendGorilla is the XOR encoding of Gorilla (Pelkonen et al., VLDB
// 2015, section 4.1.2): the first value whole, then per value a 0 when
// it repeats, 10 and the meaningful bits when they fit the previous
// window, 11, 5 bits of leading zeros, 6 of length and the bits
// otherwise.
func appendGorilla(dst []byte, vals []float64) []byte {
	dst = append(dst, floatsGorilla)
	var w bitWriter
	prev := math.Float64bits(vals[0])
	w.writeBits(prev, 64)
	lead, trail := uint(65), uint(0) // no window yet
	for _, v := range vals[1:] {
		cur := math.Float64bits(v)
		x := cur ^ prev
		prev = cur
		if x == 0 {
			w.writeBit(false)
			continue
		}
		l := min(uint(bits.LeadingZeros64(x)), 31)
		t := uint(bits.TrailingZeros64(x))
		if lead <= 64 && l >= lead && t >= trail {
			w.writeBits(0b10, 2)
			w.writeBits(x>>trail, 64-lead-trail)
			continue
		}
		lead, trail = l, t
		length := 64 - l - t // 1..64; 64 is written as 0
		w.writeBits(0b11, 2)
		w.writeBits(uint64(l), 5)
		w.writeBits(uint64(length&63), 6)
		w.writeBits(x>>t, length)
	}
	return append(dst, w.buf...)
}

// readFloats reads a column of n rows, consuming the whole section.
func readFloats(r *reader, n int) ([]*float64, error) {
	kind, err := r.byte()
	if err != nil {
		return nil, err
	}
	out := make([]*float64, n)
	var present []byte
	switch kind {
	case presentNone:
		return out, nil
	case presentAll:
	case presentSome:
		if present, err = readBitmap(r, n); err != nil {
			return nil, err
		}
	default:
		return nil, corrupt("float column: presence kind %d", kind)
	}
	m := n
	if present != nil {
		m = 0
		for i := 0; i < n; i++ {
			if bitSet(present, i) {
				m++
			}
		}
	}
	vals := make([]float64, m)
	enc, err := r.byte()
	if err != nil {
		return nil, err
	}
	switch enc {
	case floatsDecimal:
		k, err := r.byte()
		if err != nil {
			return nil, err
		}
		if k > maxDecimalPlaces {
			return nil, corrupt("float column: %d decimal places", k)
		}
		var cur int64
		for i := range vals {
			d, err := r.uvarint()
			if err != nil {
				return nil, err
			}
			cur += unzigzag(d)
			vals[i] = float64(cur) / pow10[k]
		}
	case floatsGorilla:
		br := bitReader{buf: r.buf[r.off:]}
		if err := readGorilla(&br, vals); err != nil {
			return nil, err
		}
		r.off = len(r.buf)
	default:
		return nil, corrupt("float column: encoding %d", enc)
	}
	j := 0
	for i := 0; i < n; i++ {
		if present == nil || bitSet(present, i) {
			out[i] = &vals[j]
			j++
		}
	}
	return out, nil
}

func readGorilla(r *bitReader, vals []float64) error {
	if len(vals) == 0 {
		return nil
	}
	prev, err := r.readBits(64)
	if err != nil {
		return err
	}
	vals[0] = math.Float64frombits(prev)
	var lead, trail uint
	window := false
	for i := 1; i < len(vals); i++ {
		changed, err := r.readBit()
		if err != nil {
			return err
		}
		if changed {
			newWindow, err := r.readBit()
			if err != nil {
				return err
			}
			if newWindow {
				l, err := r.readBits(5)
				if err != nil {
					return err
				}
				length, err := r.readBits(6)
				if err != nil {
					return err
				}
				if length == 0 {
					length = 64
				}
				if l+length > 64 {
					return corrupt("float column: XOR window %d+%d bits", l, length)
				}
				lead, trail, window = uint(l), uint(64-l-length), true
			} else if !window {
				return corrupt("float column: XOR reuses a window before the first")
			}
			x, err := r.readBits(64 - lead - trail)
			if err != nil {
				return err
			}
			prev ^= x << trail
		}
		vals[i] = math.Float64frombits(prev)
	}
	return nil
}
