package tscodec

import (
	"syscall"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/bench/sensordata"
)

// benchWeeks are the weeks of issue 20's data set (sensordata.Default):
// 20 devices × 10,000 readings five minutes apart.
func benchWeeks(b *testing.B, strip bool) (blocks [][]thermowatt.Stored, n int) {
	cfg := sensordata.Default()
	for d := range cfg.Devices {
		for _, w := range weeks(cfg.Device(d), int64(d*cfg.PerDevice), strip) {
			blocks = append(blocks, w)
			n += len(w)
		}
	}
	return blocks, n
}

func benchmarkEncode(b *testing.B, strip bool) {
	blocks, n := benchWeeks(b, strip)
	b.ResetTimer()
	cpu0 := cpuTime()
	var size int
	for range b.N {
		size = 0
		for _, w := range blocks {
			block, err := EncodeBlock(w)
			if err != nil {
				b.Fatal(err)
			}
			size += len(block)
		}
	}
	b.ReportMetric(float64(size)/float64(n), "bytes/reading")
	reportPerReading(b, n, cpu0)
}

func benchmarkDecode(b *testing.B, strip bool) {
	weeks, n := benchWeeks(b, strip)
	blocks := make([][]byte, len(weeks))
	for i, w := range weeks {
		var err error
		if blocks[i], err = EncodeBlock(w); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	cpu0 := cpuTime()
	for range b.N {
		for i, block := range blocks {
			if _, err := DecodeBlock(weeks[i][0].DeviceID, block); err != nil {
				b.Fatal(err)
			}
		}
	}
	reportPerReading(b, n, cpu0)
}

// The payload as the firmware sends it, and without the three values the
// typed columns hold (what a store keeping each value once encodes).
func BenchmarkEncodeWeeks(b *testing.B)         { benchmarkEncode(b, false) }
func BenchmarkEncodeWeeksStripped(b *testing.B) { benchmarkEncode(b, true) }
func BenchmarkDecodeWeeks(b *testing.B)         { benchmarkDecode(b, false) }
func BenchmarkDecodeWeeksStripped(b *testing.B) { benchmarkDecode(b, true) }

// cpuTime is the process's user and system CPU time: on a machine shared
// with other work, wall-clock ns/op measure the others too, CPU time per
// reading much less so.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportPerReading(b *testing.B, n int, cpu0 time.Duration) {
	per := float64(b.N) * float64(n)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/per, "ns/reading")
	b.ReportMetric(float64(cpuTime()-cpu0)/per, "cpu-ns/reading")
}
