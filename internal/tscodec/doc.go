// Package tscodec encodes one device's readings, sorted by RecordedAt,
// into one compact block and back, losslessly: every id, time, flag,
// float bit and payload byte comes back as it went in (times in UTC).
// It is what compacted weeks are stored as (issue 20): 8.55 bytes a
// reading on sensor-like data in week blocks, 9.4 in day blocks, against
// InfluxDB's 33.7 (make bench-disk).
//
// A block (Version 1) is a header, readable alone (BlockTimes):
//
//	version byte, uvarint n, varint first and last RecordedAt (µs since
//	1970), uvarint length of the columns, compression byte (0 none, 1 zstd,
//	2 zstd starting from the firmware's payload templates, zstdDict)
//
// then the columns, each a uvarint length and its bytes, zstd-compressed
// together when that is shorter (written as 2; 1 is still read):
//
//   - ids: zigzag varint deltas;
//   - RecordedAt: the unit (the deltas' greatest common divisor: 5 minutes
//     for readings on a 5-minute schedule, 1 s for whole seconds), then
//     the delta-of-deltas in units as Gorilla's bit buckets ('0' for a
//     reading on schedule; 10, 110, 1110 and 11110 before 7, 12, 20 and 32
//     bits; 11111 before 64);
//   - ReceivedAt, in the shortest of three forms: its offsets from
//     RecordedAt, delta-coded, or its own deltas (a request's readings
//     share one), as zigzag varints in their common unit; or the offsets
//     less their least, packed at one bit width (a random delay);
//   - ServerTime: a bitmap;
//   - each typed value (temperature, humidity, voltage, current, power):
//     presence (none, all, or a bitmap), then the values as decimal
//     integers at the column's places, zigzag delta-coded, or as Gorilla's
//     XOR stream when not all of them are short decimals;
//   - payloads: the distinct templates (the payload's bytes with every
//     number literal cut out, or kept whole when not splittable), each
//     row's template (0: no payload), then per template and number slot a
//     column: a copy of a typed value (temperature_c of temperature, as Go
//     or MicroPython writes it: no bytes at all), or the literals as
//     decimal integers at the column's scale, delta-coded, with the places
//     each literal had and, for a literal no decimal reproduces, its text.
//
// Decoding checks every length against what is left and every count
// against what the block can hold, so a corrupt or forged block gives an
// error wrapping a "corrupt block" error, never a panic, and allocates
// within MaxRows readings and a few hundred MB (FuzzDecodeBlock).
package tscodec
