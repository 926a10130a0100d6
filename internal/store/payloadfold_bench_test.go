package store

import (
	"testing"

	"github.com/thermowatt/thermowatt"
)

// BenchmarkFoldReading is what a store does with each reading's payload
// before its INSERT, for the firmware's payload (bench-peers' readings):
// FoldReading, and ColumnsOf then FoldPayload, which read it twice.
func BenchmarkFoldReading(b *testing.B) {
	p := []byte(`{"voltage_v":4.98,"current_ma":101.3,"power_mw":504.2,"sensor":{"bmp280":{"pressure_hpa":1012.3,"temperature_c":21.5},"ina219":{"shunt_ohms":0.1,"max_current_a":3.2}}}`)
	c := columnsFrom(p)
	r := thermowatt.Reading{Temperature: c.Temperature, VoltageV: c.VoltageV, CurrentMA: c.CurrentMA, PowerMW: c.PowerMW, Payload: p}
	b.Run("once", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, fold := FoldReading(r); fold == 0 {
				b.Fatal("nothing folded")
			}
		}
	})
	b.Run("twice", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, fold := FoldPayload(r.Payload, ColumnsOf(r)); fold == 0 {
				b.Fatal("nothing folded")
			}
		}
	})
}
