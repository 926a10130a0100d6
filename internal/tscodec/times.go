package tscodec

import "encoding/binary"

// Times are microseconds since the Unix epoch. RecordedAt is strictly
// increasing within a block, so its deltas are positive; they are
// divided by their greatest common divisor (the "unit": 300,000,000 for
// readings exactly five minutes apart, 1,000,000 for whole seconds) and
// written as delta-of-deltas in Gorilla's variable-length buckets, where a
// reading on schedule costs one bit.

// dodBuckets are the payload widths after the prefixes 10, 110, 1110,
// 11110; 11111 is followed by all 64 bits.
var dodBuckets = [...]uint{7, 12, 20, 32}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func abs64(v int64) uint64 {
	if v < 0 {
		return uint64(-v)
	}
	return uint64(v)
}

func fitsSigned(v int64, bits uint) bool {
	lim := int64(1) << (bits - 1)
	return v >= -lim && v < lim
}

// appendRecordedTimes writes the times after the first (which the header
// holds).
func appendRecordedTimes(dst []byte, us []int64) []byte {
	var unit uint64
	for i := 1; i < len(us); i++ {
		unit = gcd(unit, uint64(us[i]-us[i-1]))
	}
	if unit == 0 {
		unit = 1
	}
	dst = binary.AppendUvarint(dst, unit)
	var w bitWriter
	var prev int64
	for i := 1; i < len(us); i++ {
		d := int64(uint64(us[i]-us[i-1]) / unit)
		dod := d - prev
		prev = d
		writeDod(&w, dod)
	}
	return append(dst, w.buf...)
}

func writeDod(w *bitWriter, dod int64) {
	if dod == 0 {
		w.writeBit(false)
		return
	}
	for i, bits := range dodBuckets {
		if fitsSigned(dod, bits) {
			w.writeBits(1<<(i+2)-2, uint(i+2)) // i+1 ones, then a zero
			w.writeBits(uint64(dod), bits)
			return
		}
	}
	w.writeBits(0x1f, 5)
	w.writeBits(uint64(dod), 64)
}

func readDod(r *bitReader) (int64, error) {
	ones := 0
	for ones < 5 {
		b, err := r.readBit()
		if err != nil {
			return 0, err
		}
		if !b {
			break
		}
		ones++
	}
	switch ones {
	case 0:
		return 0, nil
	case 5:
		v, err := r.readBits(64)
		return int64(v), err
	}
	bits := dodBuckets[ones-1]
	v, err := r.readBits(bits)
	if err != nil {
		return 0, err
	}
	return int64(v<<(64-bits)) >> (64 - bits), nil
}

// readRecordedTimes is appendRecordedTimes' inverse: n times from first.
func readRecordedTimes(r *reader, first int64, n int) ([]int64, error) {
	unit, err := r.uvarint()
	if err != nil {
		return nil, err
	}
	if unit == 0 || unit > 1<<62 {
		return nil, corrupt("recorded times: unit %d", unit)
	}
	br := bitReader{buf: r.buf[r.off:]}
	us := make([]int64, n)
	us[0] = first
	var d int64
	for i := 1; i < n; i++ {
		dod, err := readDod(&br)
		if err != nil {
			return nil, err
		}
		d += dod
		if d <= 0 || uint64(d) > (1<<63-1)/unit {
			return nil, corrupt("recorded times: delta %d × %d at row %d", d, unit, i)
		}
		step := d * int64(unit)
		if us[i-1] > (1<<63-1)-step {
			return nil, corrupt("recorded times overflow at row %d", i)
		}
		us[i] = us[i-1] + step
	}
	r.off = len(r.buf)
	return us, nil
}

// ReceivedAt is written in whichever of two forms is shorter: each
// reading's offset from its RecordedAt, delta-coded (readings sent one by
// one arrive a similar delay after they were taken), or ReceivedAt's own
// deltas (a batch shares one receive time, so its deltas are zero). Both
// are divided by their common unit and zigzag varint coded.
const (
	receivedOffsets = 0
	receivedDeltas  = 1
)

func appendReceivedTimes(dst []byte, recorded, received []int64) []byte {
	best := []byte(nil)
	for _, mode := range []byte{receivedOffsets, receivedDeltas} {
		vals := make([]int64, len(received))
		var unit uint64
		for i := range received {
			off := received[i] - recorded[i]
			switch {
			case i == 0:
				vals[i] = off
			case mode == receivedOffsets:
				vals[i] = off - (received[i-1] - recorded[i-1])
			default:
				vals[i] = received[i] - received[i-1]
			}
			unit = gcd(unit, abs64(vals[i]))
		}
		if unit == 0 {
			unit = 1
		}
		enc := []byte{mode}
		enc = binary.AppendUvarint(enc, unit)
		for _, v := range vals {
			enc = binary.AppendUvarint(enc, zigzag(v/int64(unit)))
		}
		if best == nil || len(enc) < len(best) {
			best = enc
		}
	}
	return append(dst, best...)
}

func readReceivedTimes(r *reader, recorded []int64) ([]int64, error) {
	mode, err := r.byte()
	if err != nil {
		return nil, err
	}
	if mode != receivedOffsets && mode != receivedDeltas {
		return nil, corrupt("received times: mode %d", mode)
	}
	unit, err := r.uvarint()
	if err != nil {
		return nil, err
	}
	if unit == 0 {
		return nil, corrupt("received times: unit %d", unit)
	}
	out := make([]int64, len(recorded))
	for i := range out {
		u, err := r.uvarint()
		if err != nil {
			return nil, err
		}
		// Arithmetic wraps as the encoder's did; a forged block gives
		// wrong times, never a panic.
		v := unzigzag(u) * int64(unit)
		switch {
		case i == 0:
			out[i] = recorded[i] + v
		case mode == receivedOffsets:
			out[i] = recorded[i] + (out[i-1] - recorded[i-1]) + v
		default:
			out[i] = out[i-1] + v
		}
	}
	return out, nil
}
