package sqlite

import (
	"time"

	"github.com/thermowatt/thermowatt/internal/store"
)

// Times are stored as INTEGER microseconds since the Unix epoch, UTC.

func micros(t time.Time) int64 { return store.UTC(t).UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// microsPtr is micros for a nullable time: nil stays SQL NULL.
func microsPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return micros(*t)
}

// fromMicrosPtr is fromMicros for a nullable column.
func fromMicrosPtr(us *int64) *time.Time {
	if us == nil {
		return nil
	}
	t := fromMicros(*us)
	return &t
}
