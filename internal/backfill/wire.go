package backfill

import (
	"encoding/json"
	"time"
)

// wireReading is a reading in the seed's format, as the firmware sends it
// (esp32/lib/reading.py to_api): the API copies payload.voltage_v,
// current_ma and power_mw into columns.
type wireReading struct {
	DeviceID    string      `json:"deviceId"`
	RecordedAt  string      `json:"recordedAt"`
	Temperature *float64    `json:"temperature"`
	Humidity    *float64    `json:"humidity"`
	Payload     wirePayload `json:"payload"`
}

type wirePayload struct {
	VoltageV  *float64    `json:"voltage_v,omitempty"`
	CurrentMA *float64    `json:"current_ma,omitempty"`
	PowerMW   *float64    `json:"power_mw,omitempty"`
	Sensor    *wireSensor `json:"sensor,omitempty"`
	// Source marks readings that came from files rather than live.
	Source string `json:"source"`
}

type wireSensor struct {
	BMP280 *wireBMP280 `json:"bmp280,omitempty"`
}

type wireBMP280 struct {
	TemperatureC *float64 `json:"temperature_c,omitempty"`
	PressureHPa  *float64 `json:"pressure_hpa,omitempty"`
}

func (p *pending) val(f field) *float64 {
	if !p.has(f) {
		return nil
	}
	v := p.vals[f]
	return &v
}

func (p *pending) wire() wireReading {
	w := wireReading{
		DeviceID:    p.device,
		RecordedAt:  p.at.UTC().Format(time.RFC3339Nano),
		Temperature: p.val(fTemperature),
		Humidity:    p.val(fHumidity),
		Payload: wirePayload{
			VoltageV: p.val(fVoltage), CurrentMA: p.val(fCurrent), PowerMW: p.val(fPower),
			Source: "backfill",
		},
	}
	if p.has(fTemperature) || p.has(fPressure) {
		w.Payload.Sensor = &wireSensor{BMP280: &wireBMP280{TemperatureC: p.val(fTemperature), PressureHPa: p.val(fPressure)}}
	}
	return w
}

// encodeBatch is the body of one POST /api/measurements.
func encodeBatch(ps []pending) []byte {
	ws := make([]wireReading, len(ps))
	for i := range ps {
		ws[i] = ps[i].wire()
	}
	b, err := json.Marshal(ws)
	if err != nil {
		panic(err) // only finite floats and strings: cannot fail
	}
	return b
}
