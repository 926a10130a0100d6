package sqlite

import (
	"time"

	"github.com/thermowatt/thermowatt/internal/store"
)

// Times are stored as INTEGER microseconds since the Unix epoch, UTC.

func micros(t time.Time) int64 { return store.UTC(t).UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }
