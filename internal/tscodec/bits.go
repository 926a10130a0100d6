package tscodec

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// errCorrupt is wrapped by every decoding error: a block that does not
// follow the format, whatever the cause.
var errCorrupt = errors.New("tscodec: corrupt block")

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errCorrupt, fmt.Sprintf(format, args...))
}

// bitWriter appends bits most significant first, as Gorilla's streams are
// written.
type bitWriter struct {
	buf   []byte
	nbits uint // bits used in the last byte (0 = a new byte is needed)
}

func (w *bitWriter) writeBit(b bool) {
	if w.nbits == 0 {
		w.buf = append(w.buf, 0)
		w.nbits = 8
	}
	w.nbits--
	if b {
		w.buf[len(w.buf)-1] |= 1 << w.nbits
	}
}

// writeBits writes the n low bits of v.
func (w *bitWriter) writeBits(v uint64, n uint) {
	for n > 0 {
		if w.nbits == 0 {
			w.buf = append(w.buf, 0)
			w.nbits = 8
		}
		take := min(n, w.nbits)
		chunk := byte(v>>(n-take)) & byte(1<<take-1)
		w.nbits -= take
		w.buf[len(w.buf)-1] |= chunk << w.nbits
		n -= take
	}
}

type bitReader struct {
	buf []byte
	pos uint // next bit
}

func (r *bitReader) readBit() (bool, error) {
	if r.pos >= uint(len(r.buf))*8 {
		return false, corrupt("bit stream ends early")
	}
	b := r.buf[r.pos/8]>>(7-r.pos%8)&1 == 1
	r.pos++
	return b, nil
}

func (r *bitReader) readBits(n uint) (uint64, error) {
	if r.pos+n > uint(len(r.buf))*8 {
		return 0, corrupt("bit stream ends early")
	}
	var v uint64
	for n > 0 {
		avail := 8 - r.pos%8
		take := min(n, avail)
		b := r.buf[r.pos/8] >> (avail - take) & byte(1<<take-1)
		v = v<<take | uint64(b)
		r.pos += take
		n -= take
	}
	return v, nil
}

// reader reads the byte-aligned parts of a block, every read bounded by
// what is left.
type reader struct {
	buf []byte
	off int
}

func (r *reader) left() int { return len(r.buf) - r.off }

func (r *reader) byte() (byte, error) {
	if r.off >= len(r.buf) {
		return 0, corrupt("ends early at byte %d", r.off)
	}
	b := r.buf[r.off]
	r.off++
	return b, nil
}

func (r *reader) uvarint() (uint64, error) {
	v, n := binary.Uvarint(r.buf[r.off:])
	if n <= 0 {
		return 0, corrupt("bad varint at byte %d", r.off)
	}
	r.off += n
	return v, nil
}

func (r *reader) varint() (int64, error) {
	v, n := binary.Varint(r.buf[r.off:])
	if n <= 0 {
		return 0, corrupt("bad varint at byte %d", r.off)
	}
	r.off += n
	return v, nil
}

// count reads a length that must not exceed limit (what the rest of the
// block could hold), so that no allocation follows a forged length.
func (r *reader) count(limit int) (int, error) {
	v, err := r.uvarint()
	if err != nil {
		return 0, err
	}
	if v > uint64(limit) {
		return 0, corrupt("length %d at byte %d exceeds %d", v, r.off, limit)
	}
	return int(v), nil
}

func (r *reader) bytes(n int) ([]byte, error) {
	if n < 0 || n > r.left() {
		return nil, corrupt("%d bytes needed at byte %d, %d left", n, r.off, r.left())
	}
	b := r.buf[r.off : r.off+n]
	r.off += n
	return b, nil
}

// section reads a length-prefixed part.
func (r *reader) section() (*reader, error) {
	n, err := r.count(r.left())
	if err != nil {
		return nil, err
	}
	b, err := r.bytes(n)
	if err != nil {
		return nil, err
	}
	return &reader{buf: b}, nil
}

func appendSection(dst, part []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(part)))
	return append(dst, part...)
}

func zigzag(v int64) uint64   { return uint64(v<<1) ^ uint64(v>>63) }
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// bitmap packs one bit per row.
func appendBitmap(dst []byte, n int, bit func(i int) bool) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, (n+7)/8)...)
	for i := 0; i < n; i++ {
		if bit(i) {
			dst[start+i/8] |= 1 << (i % 8)
		}
	}
	return dst
}

func readBitmap(r *reader, n int) ([]byte, error) {
	return r.bytes((n + 7) / 8)
}

func bitSet(bm []byte, i int) bool { return bm[i/8]&(1<<(i%8)) != 0 }
