package thermowatt

import "encoding/json"

// Quantity is one of the quantities a reading measures. The six are
// described once, in quantities below; everything that names them (the
// roll-ups' columns, a series point's fields, a reading's JSON, the alert
// metrics, the dashboard's columns and charts) is derived from that table.
//
// A Quantity is an index: the order is the roll-up tables' column order
// (internal/rollup), not the order the dashboard shows them in (Place).
type Quantity int

const (
	Temperature Quantity = iota
	Humidity
	VoltageV
	CurrentMA
	PowerMW
	PressureHPa
)

// NumQuantities is how many quantities there are.
const NumQuantities = len(quantities)

// quantity describes one Quantity.
type quantity struct {
	// name is its name everywhere: the JSON field of a reading (and of a
	// series point), the metric an alert rule names, the prefix of its
	// roll-up columns and, but for pressure, its column in the readings
	// table.
	name string
	// source is where a device sends it: a top-level field of a reading,
	// or a path in its payload.
	source string
	unit   string
	// label and digits are how the dashboard shows it: a column heading and
	// a chart's title, and the decimals of a value.
	label  string
	digits int
	// color is its chart's line.
	color string
	// core is true for what every node measures: the device list has a
	// column for it, and its chart is drawn even without data; the
	// others' only when the range holds some.
	core bool
	// place orders the dashboard's columns and charts, smallest first.
	place int
	// field is where a Reading holds it; nil for pressure, which only its
	// payload carries (Of reads it there).
	field func(*Reading) **float64
}

var quantities = [...]quantity{
	Temperature: {name: "temperature", source: "temperature", unit: "°C", label: "Temperature", digits: 1,
		color: "#dc2626", core: true, place: 1, field: func(r *Reading) **float64 { return &r.Temperature }},
	Humidity: {name: "humidity", source: "humidity", unit: "%", label: "Humidity", digits: 1,
		color: "#059669", place: 6, field: func(r *Reading) **float64 { return &r.Humidity }},
	VoltageV: {name: "voltage_v", source: "payload.voltage_v", unit: "V", label: "Voltage", digits: 3,
		color: "#2563eb", core: true, place: 2, field: func(r *Reading) **float64 { return &r.VoltageV }},
	CurrentMA: {name: "current_ma", source: "payload.current_ma", unit: "mA", label: "Current", digits: 1,
		color: "#7c3aed", core: true, place: 3, field: func(r *Reading) **float64 { return &r.CurrentMA }},
	PowerMW: {name: "power_mw", source: "payload.power_mw", unit: "mW", label: "Power", digits: 1,
		color: "#d97706", core: true, place: 4, field: func(r *Reading) **float64 { return &r.PowerMW }},
	// The firmware's BMP280 reports pressure in the payload; the stores
	// compute it from there (PostgreSQL as a generated column).
	PressureHPa: {name: "pressure_hpa", source: "payload.sensor.bmp280.pressure_hpa", unit: "hPa", label: "Pressure", digits: 1,
		color: "#0891b2", place: 5},
}

// Quantities are all the quantities, in their order.
var Quantities = func() [NumQuantities]Quantity {
	var all [NumQuantities]Quantity
	for i := range all {
		all[i] = Quantity(i)
	}
	return all
}()

// ReadingFields are the quantities a Reading holds as fields, in their
// order: all but pressure. They are the value columns of the stores'
// readings tables (Field gives the field to write or scan).
var ReadingFields = func() []Quantity {
	var fs []Quantity
	for _, q := range Quantities {
		if quantities[q].field != nil {
			fs = append(fs, q)
		}
	}
	return fs
}()

// QuantityNamed returns the quantity called name, and false when there is
// none.
func QuantityNamed(name string) (Quantity, bool) {
	for _, q := range Quantities {
		if quantities[q].name == name {
			return q, true
		}
	}
	return 0, false
}

// Name is its name in the API, alert rules and the stores' columns.
func (q Quantity) Name() string { return quantities[q].name }

// Source is where a device sends it in a reading: "temperature", or a
// path in the payload such as "payload.voltage_v".
func (q Quantity) Source() string { return quantities[q].source }

// Unit is the unit of its values.
func (q Quantity) Unit() string { return quantities[q].unit }

// Label is its name for people: the dashboard's column heading and chart
// title.
func (q Quantity) Label() string { return quantities[q].label }

// Digits is how many decimals the dashboard shows of a value.
func (q Quantity) Digits() int { return quantities[q].digits }

// Color is the colour of its line on the dashboard's charts.
func (q Quantity) Color() string { return quantities[q].color }

// Core reports whether every node measures it: the dashboard's device list
// has a column for it and draws its chart even without data.
func (q Quantity) Core() bool { return quantities[q].core }

// Place orders the dashboard's columns and charts, smallest first.
func (q Quantity) Place() int { return quantities[q].place }

// Field returns where r holds q, to read, write or scan into; nil for a
// quantity only the payload carries (pressure: see ReadingFields).
func (q Quantity) Field(r *Reading) **float64 {
	if f := quantities[q].field; f != nil {
		return f(r)
	}
	return nil
}

// Of is r's value of q, nil when r has none. Pressure is read from the
// payload (payload.sensor.bmp280.pressure_hpa), when a number there.
func (q Quantity) Of(r *Reading) *float64 {
	if f := quantities[q].field; f != nil {
		return *f(r)
	}
	var pl struct {
		Sensor struct {
			BMP280 struct {
				PressureHPa *float64 `json:"pressure_hpa"`
			} `json:"bmp280"`
		} `json:"sensor"`
	}
	if json.Unmarshal(r.Payload, &pl) != nil {
		return nil
	}
	return pl.Sensor.BMP280.PressureHPa
}

func (q Quantity) String() string { return q.Name() }
