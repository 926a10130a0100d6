package backfill

import (
	"encoding/json"
	"time"

	"github.com/thermowatt/thermowatt/internal/wire"
)

func (p *pending) val(f field) *float64 {
	if !p.has(f) {
		return nil
	}
	v := p.vals[f]
	return &v
}

func (p *pending) wire() wire.Reading {
	w := wire.Reading{
		DeviceID:    p.device,
		RecordedAt:  p.at.UTC().Format(time.RFC3339Nano),
		Temperature: p.val(fTemperature),
		Humidity:    p.val(fHumidity),
		Payload: wire.Payload{
			VoltageV: p.val(fVoltage), CurrentMA: p.val(fCurrent), PowerMW: p.val(fPower),
			Source: "backfill",
		},
	}
	if p.has(fTemperature) || p.has(fPressure) {
		bmp := map[string]any{}
		if v := p.val(fTemperature); v != nil {
			bmp["temperature_c"] = *v
		}
		if v := p.val(fPressure); v != nil {
			bmp["pressure_hpa"] = *v
		}
		w.Payload.Sensor = &wire.Sensor{BMP280: bmp}
	}
	return w
}

// encodeBatch is the body of one POST /api/measurements.
func encodeBatch(ps []pending) []byte {
	ws := make([]wire.Reading, len(ps))
	for i := range ps {
		ws[i] = ps[i].wire()
	}
	b, err := json.Marshal(ws)
	if err != nil {
		panic(err) // only finite floats and strings: cannot fail
	}
	return b
}
