package tscodec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/thermowatt/thermowatt"
)

// Version is the format's header byte; a decoder refuses any other.
const Version = 1

// Bounds a block must keep, so that decoding a forged one allocates at
// most about this much, and errors beyond.
const (
	MaxRows         = 1 << 20 // a week of one reading a second is 604,800
	maxBody         = 1 << 27 // the decompressed columns, bytes
	maxPayloadBytes = 1 << 27 // the payloads a block gives back, together
)

const (
	bodyPlain    = 0
	bodyZstd     = 1 // zstd without a dictionary: read, no longer written
	bodyZstdDict = 2 // zstd starting from zstdDict
)

const numTyped = 5

func typedOf(r *thermowatt.Reading) [numTyped]*float64 {
	return [numTyped]*float64{r.Temperature, r.Humidity, r.VoltageV, r.CurrentMA, r.PowerMW}
}

var encoder = sync.OnceValue(func() *zstd.Encoder {
	e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderDictRaw(dictID, zstdDict))
	if err != nil {
		panic(err) // only for invalid options
	}
	return e
})

var decoder = sync.OnceValue(func() *zstd.Decoder {
	d, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(maxBody), zstd.WithDecoderConcurrency(0), zstd.WithDecoderDictRaw(dictID, zstdDict))
	if err != nil {
		panic(err) // only for invalid options
	}
	return d
})

// EncodeBlock encodes one device's readings, sorted by RecordedAt (each
// instant once) and all of one DeviceID, which the block does not keep.
// Times must be at Precision (microseconds); they come back in UTC.
func EncodeBlock(rows []thermowatt.Stored) ([]byte, error) {
	n := len(rows)
	if n == 0 {
		return nil, errors.New("tscodec: no readings to encode")
	}
	if n > MaxRows {
		return nil, fmt.Errorf("tscodec: %d readings in one block, at most %d", n, MaxRows)
	}
	recorded := make([]int64, n)
	received := make([]int64, n)
	payloadBytes := 0
	for i := range rows {
		r := &rows[i]
		if r.DeviceID != rows[0].DeviceID {
			return nil, fmt.Errorf("tscodec: reading %d is device %q's, the block's is %q: one block holds one device", i, r.DeviceID, rows[0].DeviceID)
		}
		var err error
		if recorded[i], err = micros(r.RecordedAt, "recordedAt", i); err != nil {
			return nil, err
		}
		if received[i], err = micros(r.ReceivedAt, "receivedAt", i); err != nil {
			return nil, err
		}
		if i > 0 && recorded[i] <= recorded[i-1] {
			return nil, fmt.Errorf("tscodec: reading %d recorded at %s, not after reading %d's %s: sort the readings by recordedAt, each once",
				i, r.RecordedAt.UTC().Format(time.RFC3339Nano), i-1, rows[i-1].RecordedAt.UTC().Format(time.RFC3339Nano))
		}
		payloadBytes += len(r.Payload)
	}
	if payloadBytes > maxPayloadBytes {
		return nil, fmt.Errorf("tscodec: %d bytes of payloads in one block, at most %d: encode fewer readings per block", payloadBytes, maxPayloadBytes)
	}

	var body []byte
	var col []byte
	prevID := int64(0)
	for i := range rows {
		col = binary.AppendUvarint(col, zigzag(rows[i].ID-prevID))
		prevID = rows[i].ID
	}
	body = appendSection(body, col)
	body = appendSection(body, appendRecordedTimes(nil, recorded))
	body = appendSection(body, appendReceivedTimes(nil, recorded, received))
	body = appendSection(body, appendBitmap(nil, n, func(i int) bool { return rows[i].ServerTime }))
	for c := 0; c < numTyped; c++ {
		body = appendSection(body, appendFloats(nil, n, func(i int) *float64 { return typedOf(&rows[i].Reading)[c] }))
	}
	body = appendPayloads(body, rows)
	if len(body) > maxBody {
		return nil, fmt.Errorf("tscodec: %d bytes of columns in one block, at most %d: encode fewer readings per block", len(body), maxBody)
	}

	out := []byte{Version}
	out = binary.AppendUvarint(out, uint64(n))
	out = binary.AppendVarint(out, recorded[0])
	out = binary.AppendVarint(out, recorded[n-1])
	out = binary.AppendUvarint(out, uint64(len(body)))
	if z := encoder().EncodeAll(body, nil); len(z) < len(body) {
		out = append(out, bodyZstdDict)
		return append(out, z...), nil
	}
	out = append(out, bodyPlain)
	return append(out, body...), nil
}

func micros(t time.Time, name string, i int) (int64, error) {
	us := t.UnixMicro()
	if !time.UnixMicro(us).Equal(t) {
		return 0, fmt.Errorf("tscodec: reading %d's %s %s is finer than a microsecond (thermowatt.Precision): truncate it first", i, name, t.Format(time.RFC3339Nano))
	}
	return us, nil
}

// appendPayloads writes the template dictionary, each row's template,
// then each template's slot columns.
func appendPayloads(body []byte, rows []thermowatt.Stored) []byte {
	index := map[string]int{}
	var templates []template
	rowTemplate := make([]uint64, len(rows))
	// lits[t][s] are slot s's literals of the rows of template t, and
	// litRows[t] those rows.
	var lits [][][][]byte
	var litRows [][]int
	var scratch [][]byte
	for i := range rows {
		p := rows[i].Payload
		if p == nil {
			rowTemplate[i] = noPayload
			continue
		}
		text, l, ok := splitPayload(p, scratch[:0])
		scratch = l
		key := "s" + string(text)
		if !ok {
			key, text = "r"+string(p), p
		}
		t, seen := index[key]
		if !seen {
			t = len(templates)
			index[key] = t
			templates = append(templates, template{raw: !ok, text: text, slots: len(l)})
			lits = append(lits, make([][][]byte, len(l)))
			litRows = append(litRows, nil)
		}
		rowTemplate[i] = uint64(t + 1)
		litRows[t] = append(litRows[t], i)
		for s := range l {
			lits[t][s] = append(lits[t][s], l[s])
		}
	}
	var col []byte
	col = binary.AppendUvarint(col, uint64(len(templates)))
	for _, t := range templates {
		kind := byte(templateSlots)
		if t.raw {
			kind = templateRaw
		}
		col = append(col, kind)
		col = appendSection(col, t.text)
	}
	body = appendSection(body, col)
	col = nil
	for _, t := range rowTemplate {
		col = binary.AppendUvarint(col, t)
	}
	body = appendSection(body, col)
	for t := range templates {
		for s := range lits[t] {
			col = appendSlot(nil, lits[t][s], func(c, j int) *float64 {
				return typedOf(&rows[litRows[t][j]].Reading)[c]
			})
			body = appendSection(body, col)
		}
	}
	return body
}

// BlockTimes reads a block's header only: its first and last RecordedAt
// and how many readings it holds.
func BlockTimes(block []byte) (first, last time.Time, n int, err error) {
	h, err := readHeader(block)
	if err != nil {
		return time.Time{}, time.Time{}, 0, err
	}
	return time.UnixMicro(h.first).UTC(), time.UnixMicro(h.last).UTC(), h.n, nil
}

type header struct {
	n           int
	first, last int64
	bodyLen     int
	compression byte
	rest        []byte
}

func readHeader(block []byte) (header, error) {
	var h header
	r := &reader{buf: block}
	v, err := r.byte()
	if err != nil {
		return h, err
	}
	if v != Version {
		return h, fmt.Errorf("%w: format version %d, this build reads %d", errCorrupt, v, Version)
	}
	if h.n, err = r.count(MaxRows); err != nil {
		return h, err
	}
	if h.n == 0 {
		return h, corrupt("no readings")
	}
	if h.first, err = r.varint(); err != nil {
		return h, err
	}
	if h.last, err = r.varint(); err != nil {
		return h, err
	}
	if h.last < h.first || h.n == 1 && h.last != h.first {
		return h, corrupt("first time %d, last %d, %d readings", h.first, h.last, h.n)
	}
	if h.bodyLen, err = r.count(maxBody); err != nil {
		return h, err
	}
	if h.compression, err = r.byte(); err != nil {
		return h, err
	}
	h.rest = r.buf[r.off:]
	return h, nil
}

// openBlock reads a block's header and uncompresses its columns.
func openBlock(block []byte) (header, *reader, error) {
	h, err := readHeader(block)
	if err != nil {
		return h, nil, err
	}
	var body []byte
	switch h.compression {
	case bodyPlain:
		body = h.rest
	case bodyZstd, bodyZstdDict:
		// Sized by the header only as far as the compressed bytes could
		// plausibly expand, so that a forged header alone allocates little.
		body, err = decoder().DecodeAll(h.rest, make([]byte, 0, min(h.bodyLen, 64*len(h.rest)+4096)))
		if err != nil {
			return h, nil, fmt.Errorf("%w: %v", errCorrupt, err)
		}
	default:
		return h, nil, corrupt("compression %d", h.compression)
	}
	if len(body) != h.bodyLen {
		return h, nil, corrupt("columns are %d bytes, the header says %d", len(body), h.bodyLen)
	}
	// Each reading costs at least one bit of its recorded time, and a
	// byte of its id and of its received time: a count beyond what the
	// body can hold is refused before any row is allocated.
	if h.n > len(body) {
		return h, nil, corrupt("%d readings in %d bytes", h.n, len(body))
	}
	return h, &reader{buf: body}, nil
}

// RecordedTimes reads only a block's recorded times (unix microseconds,
// ascending), what a duplicate check needs: the payloads, two thirds of
// DecodeBlock's work, are not rebuilt.
func RecordedTimes(block []byte) ([]int64, error) {
	h, r, err := openBlock(block)
	if err != nil {
		return nil, err
	}
	if _, err := r.section(); err != nil { // the ids
		return nil, err
	}
	sec, err := r.section()
	if err != nil {
		return nil, err
	}
	recorded, err := readRecordedTimes(sec, h.first, h.n)
	if err != nil {
		return nil, err
	}
	if recorded[h.n-1] != h.last {
		return nil, corrupt("last time %d, the header says %d", recorded[h.n-1], h.last)
	}
	return recorded, nil
}

// DecodeBlock is EncodeBlock's inverse; deviceID is the block's device.
// A block that is not EncodeBlock's output gives an error, never a panic,
// and decoding it allocates within the bounds above.
func DecodeBlock(deviceID string, block []byte) ([]thermowatt.Stored, error) {
	h, r, err := openBlock(block)
	if err != nil {
		return nil, err
	}
	n := h.n
	sec, err := r.section()
	if err != nil {
		return nil, err
	}
	rows := make([]thermowatt.Stored, n)
	var id int64
	for i := range rows {
		d, err := sec.uvarint()
		if err != nil {
			return nil, err
		}
		id += unzigzag(d)
		rows[i].ID = id
		rows[i].DeviceID = deviceID
	}
	if sec, err = r.section(); err != nil {
		return nil, err
	}
	recorded, err := readRecordedTimes(sec, h.first, n)
	if err != nil {
		return nil, err
	}
	if recorded[n-1] != h.last {
		return nil, corrupt("last time %d, the header says %d", recorded[n-1], h.last)
	}
	if sec, err = r.section(); err != nil {
		return nil, err
	}
	received, err := readReceivedTimes(sec, recorded)
	if err != nil {
		return nil, err
	}
	for i := range rows {
		rows[i].RecordedAt = time.UnixMicro(recorded[i]).UTC()
		rows[i].ReceivedAt = time.UnixMicro(received[i]).UTC()
	}
	if sec, err = r.section(); err != nil {
		return nil, err
	}
	st, err := readBitmap(sec, n)
	if err != nil {
		return nil, err
	}
	for i := range rows {
		rows[i].ServerTime = bitSet(st, i)
	}
	var typed [numTyped]floatColumn
	for c := range typed {
		if sec, err = r.section(); err != nil {
			return nil, err
		}
		if typed[c], err = readFloats(sec, n); err != nil {
			return nil, fmt.Errorf("typed column %d: %w", c, err)
		}
	}
	for i := range rows {
		rows[i].Temperature, rows[i].Humidity, rows[i].VoltageV, rows[i].CurrentMA, rows[i].PowerMW =
			typed[0].vals[i], typed[1].vals[i], typed[2].vals[i], typed[3].vals[i], typed[4].vals[i]
	}
	if err := readPayloads(r, rows, &typed); err != nil {
		return nil, err
	}
	if r.left() != 0 {
		return nil, corrupt("%d bytes after the last column", r.left())
	}
	return rows, nil
}

func readPayloads(r *reader, rows []thermowatt.Stored, typed *[numTyped]floatColumn) error {
	sec, err := r.section()
	if err != nil {
		return err
	}
	nt, err := sec.count(sec.left() / 2)
	if err != nil {
		return err
	}
	templates := make([]template, nt)
	for t := range templates {
		kind, err := sec.byte()
		if err != nil {
			return err
		}
		text, err := sec.section()
		if err != nil {
			return err
		}
		switch kind {
		case templateRaw:
			templates[t] = template{raw: true, text: text.buf}
		case templateSlots:
			slots := 0
			for _, c := range text.buf {
				if c == slotMarker {
					slots++
				}
			}
			templates[t] = template{text: text.buf, slots: slots}
		default:
			return corrupt("payload template %d: kind %d", t, kind)
		}
	}
	if sec, err = r.section(); err != nil {
		return err
	}
	rowTemplate := make([]int, len(rows))
	total, literals := 0, 0
	for i := range rows {
		t, err := sec.count(nt)
		if err != nil {
			return err
		}
		rowTemplate[i] = int(t)
		if t != noPayload {
			total += len(templates[t-1].text)
			literals += templates[t-1].slots
			if total > maxPayloadBytes {
				return corrupt("payloads exceed %d bytes", maxPayloadBytes)
			}
		}
	}
	slots := make([][]*slotReader, nt)
	for t := range templates {
		slots[t] = make([]*slotReader, templates[t].slots)
		for s := range slots[t] {
			col, err := r.section()
			if err != nil {
				return err
			}
			if slots[t][s], err = readSlot(col); err != nil {
				return err
			}
		}
	}
	// One buffer for all payloads, each row's a slice of it; grown as
	// literals are added, each literal bounded by its source.
	buf := make([]byte, 0, total+literals*6) // most literals are a few digits
	ends := make([]int, len(rows))
	for i := range rows {
		t := rowTemplate[i]
		if t == noPayload {
			ends[i] = -1
			continue
		}
		tp := &templates[t-1]
		if tp.raw {
			buf = append(buf, tp.text...)
		} else {
			text := tp.text
			for s := range tp.slots {
				cut := bytes.IndexByte(text, slotMarker)
				buf = append(buf, text[:cut]...)
				text = text[cut+1:]
				if buf, err = slots[t-1][s].next(buf, typed, i); err != nil {
					return fmt.Errorf("payload of reading %d: %w", i, err)
				}
			}
			buf = append(buf, text...)
		}
		if len(buf) > 2*maxPayloadBytes {
			return corrupt("payloads exceed %d bytes", 2*maxPayloadBytes)
		}
		ends[i] = len(buf)
	}
	start := 0
	for i := range rows {
		if ends[i] < 0 {
			continue
		}
		rows[i].Payload = buf[start:ends[i]:ends[i]]
		start = ends[i]
	}
	return nil
}
