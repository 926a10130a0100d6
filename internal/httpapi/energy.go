package httpapi

import (
	"encoding/csv"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// Energy answers GET /api/measurements/energy: one device's energy per
// calendar hour, day or month in a time zone, from the hourly roll-ups, so
// a year of days costs a few thousand summary rows rather than a hundred
// thousand readings.
const (
	// defaultEnergyRange is used when from is not given: a month of days,
	// what the dashboard's bar chart shows.
	defaultEnergyRange  = 30 * 24 * time.Hour
	defaultEnergyBucket = store.EnergyDay
)

// energyJSON is one bucket of the answer.
type energyJSON struct {
	Start    string  `json:"start"` // RFC 3339 in the zone asked for, so a day reads as that day
	Wh       float64 `json:"wh"`
	Coverage float64 `json:"coverage"`
}

type energyAnswer struct {
	DeviceID string       `json:"deviceId"`
	Bucket   string       `json:"bucket"`
	TZ       string       `json:"tz"`
	From     string       `json:"from"`
	To       string       `json:"to"`
	Items    []energyJSON `json:"items"`
}

func handleEnergy(rollups store.Rollups, devices store.Devices, now func() time.Time) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		v := r.URL.Query()
		q := store.EnergyQuery{DeviceID: v.Get("deviceId"), Bucket: defaultEnergyBucket, Location: time.UTC}
		if q.DeviceID == "" {
			return errorf(http.StatusBadRequest, "deviceId is required: GET /api/measurements/energy?deviceId=esp32-node-01")
		}
		format := v.Get("format")
		if format != "" && format != "json" && format != "csv" {
			return errorf(http.StatusBadRequest, fmt.Sprintf("format=%q must be json or csv", format))
		}
		if s := v.Get("bucket"); s != "" {
			b, err := store.ParseEnergyBucket(s)
			if err != nil {
				return errorf(http.StatusBadRequest, err.Error())
			}
			q.Bucket = b
		}
		tz := "UTC"
		if s := v.Get("tz"); s != "" {
			loc, err := loadZone(s)
			if err != nil {
				return errorf(http.StatusBadRequest, fmt.Sprintf("tz=%q is not an IANA time zone such as Asia/Tokyo, Europe/Berlin or UTC", s))
			}
			q.Location, tz = loc, s
		}
		q.To = now()
		if err := parseTimeBounds(v, &q.From, &q.To); err != nil {
			return err
		}
		if v.Get("from") == "" {
			q.From = q.To.Add(-defaultEnergyRange)
		}
		if _, err := devices.GetDevice(r.Context(), q.DeviceID); errors.Is(err, thermowatt.ErrNotFound) {
			return errorf(http.StatusNotFound, fmt.Sprintf("no device %q (GET /api/devices lists them)", q.DeviceID))
		} else if err != nil {
			return storeError(err)
		}
		pts, err := store.Energy(r.Context(), rollups, q)
		var bad *store.EnergyQueryError
		if errors.As(err, &bad) {
			return errorf(http.StatusBadRequest, bad.Msg)
		} else if err != nil {
			return storeError(err)
		}
		items := make([]energyJSON, len(pts))
		for i, p := range pts {
			items[i] = energyJSON{Start: p.Start.Format(time.RFC3339), Wh: roundMicro(p.Wh), Coverage: roundMicro(p.Coverage)}
			if math.IsInf(p.Wh, 0) || math.IsNaN(p.Wh) {
				// Not a number JSON can carry: the bucket's energy is unknown.
				items[i].Wh, items[i].Coverage = 0, 0
			}
		}
		if format == "csv" {
			writeEnergyCSV(w, items)
			return nil
		}
		ans := energyAnswer{DeviceID: q.DeviceID, Bucket: string(q.Bucket), TZ: tz, Items: items,
			From: q.Bucket.Floor(q.From.In(q.Location)).Format(time.RFC3339)}
		ans.To = ans.From
		if len(pts) > 0 {
			ans.To = q.Bucket.Next(pts[len(pts)-1].Start).Format(time.RFC3339)
		}
		writeJSON(w, http.StatusOK, ans)
		return nil
	})
}

// loadZone is time.LoadLocation for IANA names only: "Local" would be the
// server's own zone, which a client cannot know.
func loadZone(name string) (*time.Location, error) {
	if name == "Local" {
		return nil, errors.New("not an IANA name")
	}
	return time.LoadLocation(name)
}

// roundMicro drops the float noise of summing many trapezoids (23.999999999999996
// Wh for a day at 1 W): no sensor measures to a millionth of a watt-hour.
func roundMicro(v float64) float64 {
	return math.Round(v*1e6) / 1e6
}

func writeEnergyCSV(w http.ResponseWriter, items []energyJSON) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="energy.csv"`)
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"start", "wh", "coverage"})
	for _, it := range items {
		_ = cw.Write([]string{it.Start, num(&it.Wh), num(&it.Coverage)})
	}
	cw.Flush()
}
