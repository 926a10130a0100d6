package tscodec

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/bits"
	"strconv"
)

// A payload is split into its template, the bytes with every number
// literal cut out (a slot marker in its place), and the literals. A
// device sends the same few shapes again and again, so a block keeps
// each distinct template once and each row names its template; the
// numbers of one slot of one template form a column, coded as the float
// columns are: decimal integers at the column's scale, delta-coded. The
// bytes come back exactly as given, JSON or not: a literal the decimal
// form cannot reproduce character for character (1e-3, -0, 20 digits)
// is kept as text, and a payload holding the marker byte is kept whole.

const (
	slotMarker = 0x00

	templateSlots = 0 // text with slot markers
	templateRaw   = 1 // the payload's bytes as they are

	noPayload = 0 // a row's template index when Payload is nil

	// aux values of a slot's literal
	auxCanonical = 0 // the decimal, with as few places as its value needs
	auxText      = 1 // the literal as text
	auxPlaces    = 2 // auxPlaces+p: the decimal with exactly p places

	// A slot's mode: its own column, or a copy of typed column c written
	// as Go's shortest decimal (1+c) or as Python's repr, which MicroPython's
	// json writes (1+numTyped+c: whole numbers keep ".0").
	slotColumn = 0

	maxSlotPlaces = 18
)

type template struct {
	raw   bool
	text  []byte
	slots int
}

// splitPayload cuts p into its template text and literals; ok is false
// when p holds the marker byte and must be kept raw.
func splitPayload(p []byte, lits [][]byte) (tmpl []byte, _ [][]byte, ok bool) {
	if bytes.IndexByte(p, slotMarker) >= 0 {
		return nil, lits, false
	}
	tmpl = make([]byte, 0, len(p))
	for i := 0; i < len(p); {
		c := p[i]
		switch {
		case c == '"':
			j := i + 1
			for j < len(p) && p[j] != '"' {
				if p[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j+1, len(p))
			tmpl = append(tmpl, p[i:j]...)
			i = j
		case c == '-' || '0' <= c && c <= '9':
			j := i + 1
			for j < len(p) && isNumberByte(p[j]) {
				j++
			}
			tmpl = append(tmpl, slotMarker)
			lits = append(lits, p[i:j])
			i = j
		default:
			tmpl = append(tmpl, c)
			i++
		}
	}
	return tmpl, lits, true
}

func isNumberByte(c byte) bool {
	return '0' <= c && c <= '9' || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E'
}

// decimalLiteral parses -?(0|[1-9][0-9]*)(\.[0-9]+)? with at most 18
// digits and not a negative zero: the literals that a signed integer and
// a count of places reproduce exactly.
func decimalLiteral(s []byte) (m int64, places int, ok bool) {
	neg := false
	if len(s) > 0 && s[0] == '-' {
		neg, s = true, s[1:]
	}
	if len(s) == 0 || s[0] == '0' && len(s) > 1 && s[1] != '.' {
		return 0, 0, false
	}
	digits, dot := 0, -1
	for i, c := range s {
		switch {
		case '0' <= c && c <= '9':
			digits++
			m = m*10 + int64(c-'0')
		case c == '.' && dot < 0 && i > 0 && i < len(s)-1:
			dot = i
		default:
			return 0, 0, false
		}
	}
	if digits > maxSlotPlaces || neg && m == 0 {
		return 0, 0, false
	}
	if dot >= 0 {
		places = len(s) - dot - 1
	}
	if neg {
		m = -m
	}
	return m, places, true
}

var ipow10 = func() (p [maxSlotPlaces + 1]int64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// scaled is m/10^places as an integer at scale P.
func scaled(m int64, places, scale int) (int64, bool) {
	f := ipow10[scale-places]
	hi, lo := bits.Mul64(uint64(absInt(m)), uint64(f))
	if hi != 0 || lo >= 1<<62 {
		return 0, false
	}
	if m < 0 {
		return -int64(lo), true
	}
	return int64(lo), true
}

func absInt(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// canonicalPlaces is the places a shortest decimal of v (at scale P)
// has: trailing zeros of the fraction dropped.
func canonicalPlaces(v int64, scale int) int {
	p := scale
	for p > 0 && v%10 == 0 {
		v /= 10
		p--
	}
	return p
}

// formatDecimal appends v (at scale P) with exactly places places.
func formatDecimal(dst []byte, v int64, scale, places int) []byte {
	if v < 0 {
		dst = append(dst, '-')
	}
	u := uint64(absInt(v))
	for i := places; i < scale; i++ {
		u /= 10
	}
	s := strconv.AppendUint(nil, u, 10)
	if places == 0 {
		return append(dst, s...)
	}
	for len(s) <= places {
		s = append([]byte{'0'}, s...)
	}
	dst = append(dst, s[:len(s)-places]...)
	dst = append(dst, '.')
	return append(dst, s[len(s)-places:]...)
}

// appendSlot writes one slot column: lits are its literals in row order,
// typed(c, j) the j-th literal's row's typed value of column c.
func appendSlot(dst []byte, lits [][]byte, typed func(c, j int) *float64) []byte {
	for style := range 2 {
		for c := 0; c < numTyped; c++ {
			if copiesTyped(lits, style, func(j int) *float64 { return typed(c, j) }) {
				return binary.AppendUvarint(dst, uint64(1+style*numTyped+c))
			}
		}
	}
	dst = binary.AppendUvarint(dst, slotColumn)
	scale := 0
	for _, l := range lits {
		if _, p, ok := decimalLiteral(l); ok {
			scale = max(scale, p)
		}
	}
	dst = append(dst, byte(scale))
	var aux, deltas, text []byte
	var prev int64
	for _, l := range lits {
		m, p, ok := decimalLiteral(l)
		var v int64
		if ok {
			v, ok = scaled(m, p, scale)
		}
		if !ok {
			aux = append(aux, auxText)
			text = binary.AppendUvarint(text, uint64(len(l)))
			text = append(text, l...)
			continue
		}
		if p == canonicalPlaces(v, scale) {
			aux = append(aux, auxCanonical)
		} else {
			aux = binary.AppendUvarint(aux, uint64(auxPlaces+p))
		}
		deltas = binary.AppendUvarint(deltas, zigzag(v-prev))
		prev = v
	}
	dst = appendSection(dst, aux)
	dst = appendSection(dst, deltas)
	return appendSection(dst, text)
}

// copiesTyped reports whether every literal is the row's typed value
// (temperature_c beside temperature, say) written in the style.
func copiesTyped(lits [][]byte, style int, typed func(j int) *float64) bool {
	var buf []byte
	for j, l := range lits {
		v := typed(j)
		if v == nil {
			return false
		}
		var ok bool
		if buf, ok = appendStyled(buf[:0], *v, style); !ok || !bytes.Equal(buf, l) {
			return false
		}
	}
	return len(lits) > 0
}

const (
	styleGo     = 0 // strconv's shortest, 'f' format
	stylePython = 1 // Python's repr where it has no exponent
)

func appendStyled(dst []byte, v float64, style int) ([]byte, bool) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return dst, false
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, v, 'f', -1, 64)
	if style == styleGo {
		return dst, true
	}
	if a := math.Abs(v); a >= 1e16 || a != 0 && a < 1e-4 {
		return dst, false // repr switches to an exponent
	}
	if bytes.IndexByte(dst[start:], '.') < 0 {
		dst = append(dst, ".0"...)
	}
	return dst, true
}

// slotReader yields one slot column's literals in order.
type slotReader struct {
	copyOf             int // -1: own column
	style              int // of a copy
	scale              int
	aux, deltas, texts *reader
	prev               int64
}

func readSlot(r *reader) (*slotReader, error) {
	mode, err := r.uvarint()
	if err != nil {
		return nil, err
	}
	if mode != slotColumn {
		if mode > 2*numTyped {
			return nil, corrupt("payload slot: mode %d", mode)
		}
		return &slotReader{copyOf: int(mode-1) % numTyped, style: int(mode-1) / numTyped}, nil
	}
	s := &slotReader{copyOf: -1}
	scale, err := r.byte()
	if err != nil {
		return nil, err
	}
	if scale > maxSlotPlaces {
		return nil, corrupt("payload slot: scale %d", scale)
	}
	s.scale = int(scale)
	if s.aux, err = r.section(); err != nil {
		return nil, err
	}
	if s.deltas, err = r.section(); err != nil {
		return nil, err
	}
	if s.texts, err = r.section(); err != nil {
		return nil, err
	}
	return s, nil
}

// next appends the next literal; typed is the row's typed values.
func (s *slotReader) next(dst []byte, typed *[numTyped]*float64) ([]byte, error) {
	if s.copyOf >= 0 {
		v := typed[s.copyOf]
		if v == nil {
			return nil, corrupt("payload slot copies a typed value the row lacks")
		}
		out, ok := appendStyled(dst, *v, s.style)
		if !ok {
			return nil, corrupt("payload slot copies a typed value its style cannot write")
		}
		return out, nil
	}
	aux, err := s.aux.uvarint()
	if err != nil {
		return nil, err
	}
	if aux == auxText {
		n, err := s.texts.count(s.texts.left())
		if err != nil {
			return nil, err
		}
		b, err := s.texts.bytes(n)
		if err != nil {
			return nil, err
		}
		return append(dst, b...), nil
	}
	d, err := s.deltas.uvarint()
	if err != nil {
		return nil, err
	}
	s.prev += unzigzag(d)
	if s.prev >= 1<<62 || s.prev <= -(1<<62) {
		return nil, corrupt("payload slot: value out of range")
	}
	places := canonicalPlaces(s.prev, s.scale)
	if aux != auxCanonical {
		if aux-auxPlaces > uint64(s.scale) {
			return nil, corrupt("payload slot: %d places at scale %d", aux-auxPlaces, s.scale)
		}
		places = int(aux - auxPlaces)
	}
	return formatDecimal(dst, s.prev, s.scale, places), nil
}
