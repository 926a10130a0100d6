package tscodec

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
)

// FuzzDecodeBlock: any bytes decode to readings or to an error, never a
// panic (the fuzzer also catches unbounded allocations by its memory
// limit); what does decode encodes again to a block that gives the same
// readings.
func FuzzDecodeBlock(f *testing.F) {
	for seed := range uint64(4) {
		rows := randomRows(rand.New(rand.NewPCG(seed, 3)), 1+int(seed)*7)
		block, err := EncodeBlock(rows)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(block)
	}
	f.Fuzz(func(t *testing.T, block []byte) {
		times, timesErr := RecordedTimes(block) // never panics either
		rows, err := DecodeBlock("dev", block)
		if err != nil {
			return
		}
		// What the duplicate checks read is what DecodeBlock answers.
		if timesErr != nil || len(times) != len(rows) {
			t.Fatalf("RecordedTimes of a block that decodes: %d times, %v; %d readings", len(times), timesErr, len(rows))
		}
		for i := range rows {
			if times[i] != rows[i].RecordedAt.UnixMicro() {
				t.Fatalf("reading %d: RecordedTimes %d, DecodeBlock %d", i, times[i], rows[i].RecordedAt.UnixMicro())
			}
		}
		again, err := EncodeBlock(rows)
		if err != nil {
			t.Fatalf("a decoded block does not encode again: %v", err)
		}
		back, err := DecodeBlock("dev", again)
		if err != nil {
			t.Fatalf("the block encoded again does not decode: %v", err)
		}
		for i := range rows {
			if err := sameStored(rows[i], back[i]); err != nil {
				t.Fatalf("reading %d: %v", i, err)
			}
		}
	})
}

// FuzzRoundTrip: readings built from the fuzzer's bytes (times, ids,
// flags, any float bits, any payload bytes or JSON around any number
// literal) come back exactly.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("\x03\x01\x00\x1f21.37\x00{\"a\":1}"))
	f.Add([]byte("\xff\xff\xff\xff\xff\xff\xff\xff\x00\x00\x01-0\x02\x00"))
	f.Add([]byte("\x10\x08\x3f\x00\x00\x00\x00\x00\x00\x00\x00\x001e5\x00\x03\x00\x00\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows := rowsFrom(data)
		if len(rows) == 0 {
			return
		}
		roundTrip(t, rows)
	})
}

// rowsFrom interprets data as a sequence of readings; it ends with the
// data.
func rowsFrom(data []byte) []thermowatt.Stored {
	next := func(n int) []byte {
		if len(data) < n {
			n = len(data)
		}
		b := data[:n]
		data = data[n:]
		return b
	}
	u64 := func() uint64 {
		var buf [8]byte
		copy(buf[:], next(8))
		return binary.LittleEndian.Uint64(buf[:])
	}
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	var rows []thermowatt.Stored
	var id int64
	byteOr0 := func() byte {
		if b := next(1); len(b) > 0 {
			return b[0]
		}
		return 0
	}
	for len(data) > 0 && len(rows) < 200 {
		hdr := byteOr0()
		step := int64(300_000_000)
		if hdr&0x80 != 0 {
			step = int64(1 + u64()%(1<<40))
		}
		at += step
		id += int64(hdr&0x07) - 2
		r := thermowatt.Stored{ID: id, Reading: thermowatt.Reading{DeviceID: "dev", RecordedAt: time.UnixMicro(at).UTC(),
			ReceivedAt: time.UnixMicro(at + int64(u64()%(1<<30))).UTC(), ServerTime: hdr&0x08 != 0}}
		flags := next(1)
		for c, dst := range []**float64{&r.Temperature, &r.Humidity, &r.VoltageV, &r.CurrentMA, &r.PowerMW} {
			if len(flags) == 0 || flags[0]&(1<<c) == 0 {
				continue
			}
			v := math.Float64frombits(u64())
			if flags[0]&0x80 != 0 { // a decimal, as sensors give
				v = float64(int64(v)%100000) / 100
			}
			*dst = &v
		}
		switch kind := next(1); {
		case len(kind) == 0 || kind[0]%4 == 0:
		case kind[0]%4 == 1:
			n := int(byteOr0() % 32)
			r.Payload = append([]byte{}, next(n)...)
		default:
			lit := next(int(kind[0] % 24))
			p := []byte(`{"t":`)
			p = append(p, lit...)
			if r.Temperature != nil {
				p = append(p, `,"c":`...)
				p = strconv.AppendFloat(p, *r.Temperature, 'f', -1, 64)
			}
			r.Payload = append(p, '}')
		}
		rows = append(rows, r)
	}
	return rows
}
