package store

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/tscodec"
)

// Health is the payload.device object of one reading, with that reading's
// time: a candidate answer of Devices.HealthNear.
type Health struct {
	At   time.Time
	JSON json.RawMessage
}

// HealthOf returns a payload's device member when it is a JSON object.
func HealthOf(payload json.RawMessage) (json.RawMessage, bool) {
	if len(payload) == 0 {
		return nil, false
	}
	var members struct {
		Device json.RawMessage `json:"device"`
	}
	if json.Unmarshal(payload, &members) != nil {
		return nil, false
	}
	d := bytes.TrimSpace(members.Device)
	if len(d) == 0 || d[0] != '{' {
		return nil, false
	}
	return d, true
}

// HealthNearWithBlocks answers Devices.HealthNear on a store that compacts
// old days into blocks, where a device's reports are in rows and blocks
// both. row(before) is the uncompacted rows' candidate (the newest at or
// before at when before, else the oldest after it; nil when none).
// blocks(before, visit) calls visit with the device's blocks that may hold
// such a reading: when before, those of days starting at or before at,
// newest first; else those of days ending after at, oldest first; it stops
// when visit returns false. A block is decoded only while it may hold a
// nearer report than the best found so far.
func HealthNearWithBlocks(at time.Time, row func(before bool) (*Health, error),
	blocks func(before bool, visit func(Block) (bool, error)) error) (json.RawMessage, bool, error) {
	nearest := func(before bool) (*Health, error) {
		best, err := row(before)
		if err != nil {
			return nil, err
		}
		err = blocks(before, func(b Block) (bool, error) {
			if best != nil {
				if before && !b.Day.Add(24*time.Hour).After(best.At) {
					return false, nil // this day and the older ones end before best
				}
				if !before && !b.Day.Before(best.At) {
					return false, nil // this day and the newer ones start after best
				}
			}
			rs, err := tscodec.DecodeBlock(b.DeviceID, b.Data)
			if err != nil {
				return false, err
			}
			found := healthIn(rs, at, before)
			if found != nil && (best == nil || before && found.At.After(best.At) || !before && found.At.Before(best.At)) {
				best = found
			}
			return found == nil, nil // a report in this day is nearer than any in the days beyond it
		})
		return best, err
	}
	h, err := nearest(true)
	if err == nil && h == nil {
		h, err = nearest(false)
	}
	if err != nil || h == nil {
		return nil, false, err
	}
	return h.JSON, true, nil
}

// healthIn returns the report in rs (oldest first) nearest to at: the
// newest at or before it when before, else the oldest after it.
func healthIn(rs []thermowatt.Stored, at time.Time, before bool) *Health {
	if before {
		for i := len(rs) - 1; i >= 0; i-- {
			if !rs[i].RecordedAt.After(at) {
				if d, ok := HealthOf(rs[i].Payload); ok {
					return &Health{At: rs[i].RecordedAt, JSON: d}
				}
			}
		}
		return nil
	}
	for _, r := range rs {
		if r.RecordedAt.After(at) {
			if d, ok := HealthOf(r.Payload); ok {
				return &Health{At: r.RecordedAt, JSON: d}
			}
		}
	}
	return nil
}
