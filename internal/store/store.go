// Package store is where readings, devices, tokens and alerts are kept. It
// defines what both backends (postgres, sqlite) implement, one interface
// per concern, and what the conformance suite in storetest checks.
package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/rollup"
)

// Store is everything a backend keeps, one interface per concern below.
// postgres.Store and sqlite.Store implement it, and the conformance suite
// in storetest checks that both keep each promise the same way. Code that
// needs a store asks for the concerns it uses, not for Store.
type Store interface {
	Readings
	Devices
	Tokens
	Archive
	FailureCounts
	Alerts
	AlertRules
	Retention
	Settings
	Firmware
	Rollouts
	Rollups
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	Close() error
}

// Readings keeps sensor readings.
type Readings interface {
	// InsertReadings stores the readings in one transaction, registering
	// unknown devices on the way and keeping each device's last-seen time
	// and reading count. A reading whose (DeviceID, RecordedAt) is already
	// stored, or repeated within rs, is a duplicate and is not stored again.
	// When it returns nil every accepted reading is committed. Each reading
	// is stored with its own ReceivedAt, or receivedAt when that is zero;
	// a device's last-seen time is the latest of its stored readings'.
	InsertReadings(ctx context.Context, rs []thermowatt.Reading, receivedAt time.Time) (InsertResult, error)
	// QueryReadings returns readings newest first (RecordedAt desc, ID desc).
	QueryReadings(ctx context.Context, q Query) ([]thermowatt.Stored, error)
	// Series aggregates one device's readings in [From, To) into buckets
	// (count, avg/min/max per field), oldest first; empty buckets absent.
	Series(ctx context.Context, q SeriesQuery) ([]SeriesPoint, error)
}

// Rollups keeps each device's hourly summaries (internal/rollup) beside
// its readings. InsertReadings marks the hours it changes as pending, in
// the transaction that stores the readings; MaterializeRollups recomputes
// pending hours in the background (RunMaterializer); retention trims them
// with the readings, and changing a device's expected interval recomputes
// its energy. Reads compute the hours still pending from the readings
// (rollups_pending.go): every answer equals an aggregation of the readings
// stored, whether or not the materializer has caught up.
type Rollups interface {
	// RollupHours returns the hours in [From, To) of the devices named,
	// by device (in the order given) then hour. Hours holding neither
	// readings nor energy are absent.
	RollupHours(ctx context.Context, q RollupQuery) ([]rollup.Row, error)
	// EnergyHours returns one device's energy per hour in [From, To)
	// (whole hours), oldest first: what RollupHours holds of it, without
	// the other columns, for a year of days read at once.
	EnergyHours(ctx context.Context, deviceID string, from, to time.Time) ([]HourEnergy, error)
	// MaterializeRollups recomputes up to limit pending hours marked
	// before markedBefore, less WaitPerReading for every reading the hour
	// held when last materialized, oldest marks first, writes them and clears
	// their marks, in one transaction, and says how many it did. Several
	// instances may run it at once: each claims hours the others have not.
	MaterializeRollups(ctx context.Context, limit int, markedBefore time.Time) (int, error)
	// RollupLag says how many hours are pending and since when.
	RollupLag(ctx context.Context) (RollupLag, error)
}

// HourEnergy is one hour's energy of a device (rollup.Row's).
type HourEnergy struct {
	Hour     time.Time
	Wh       float64
	CoveredS float64
}

// RollupQuery selects hourly summaries. From and To are whole hours.
type RollupQuery struct {
	DeviceIDs []string
	From, To  time.Time
}

// Devices keeps the registered devices and what is known of each.
type Devices interface {
	// CreateDevice registers a device; ErrExists when it is registered.
	CreateDevice(ctx context.Context, id string, now time.Time) (thermowatt.Device, error)
	// GetDevice returns one device; ErrNotFound when unknown.
	GetDevice(ctx context.Context, id string) (thermowatt.Device, error)
	// ListDevices returns up to q.Limit devices with ids after q.After,
	// ordered by id (byte-wise). Each has Failing set.
	ListDevices(ctx context.Context, q DeviceQuery) ([]thermowatt.Device, error)
	// CountDevicesByStatus counts every device by its status at now
	// (thermowatt.Device.Status with missed), in the database: the
	// numbers of a fleet of any size in one query.
	CountDevicesByStatus(ctx context.Context, now time.Time, missed int) (map[thermowatt.DeviceStatus]int, error)
	// SetExpectedInterval sets how often a device should send, in seconds
	// (> 0); ErrNotFound when the device is unknown.
	SetExpectedInterval(ctx context.Context, deviceID string, seconds int) error
	// HealthNear returns payload.device of the device's newest reading
	// recorded at or before at, or, when there is none, of its oldest
	// reading recorded after it; ok is false when no reading carries one.
	HealthNear(ctx context.Context, deviceID string, at time.Time) (health json.RawMessage, ok bool, err error)
}

// DeviceQuery selects a page of devices.
type DeviceQuery struct {
	After string // ids greater than this; "" from the first
	Limit int    // 1..
}

// Tokens keeps API tokens (their hashes only).
type Tokens interface {
	// CreateToken stores a token (only its hash).
	CreateToken(ctx context.Context, t thermowatt.Token) error
	// TokenByID returns a token that has not been revoked; ErrNotFound otherwise.
	TokenByID(ctx context.Context, id string) (thermowatt.Token, error)
	// ListTokens returns every token, revoked ones included, oldest first.
	ListTokens(ctx context.Context) ([]thermowatt.Token, error)
	// RevokeToken marks a token revoked; ErrNotFound when unknown or already revoked.
	RevokeToken(ctx context.Context, id string, now time.Time) error
	// CountTokens counts tokens of a scope that have not been revoked.
	CountTokens(ctx context.Context, scope thermowatt.Scope) (int, error)
}

// Archive keeps request bodies verbatim (POST /api/raw-measurements).
type Archive interface {
	// ArchiveRaw keeps a request body verbatim and returns its id.
	ArchiveRaw(ctx context.Context, r RawRecord) (int64, error)
	// GetRaw returns one archived body; ErrNotFound when unknown.
	GetRaw(ctx context.Context, id int64) (RawRecord, error)
}

// InsertResult counts what InsertReadings did.
type InsertResult struct {
	Accepted   int // newly stored
	Duplicates int // already stored (or repeated in the same call)
	// Inserted[i] reports whether rs[i] was newly stored; of two equal
	// readings in one call only the first can be. A group committer uses
	// it to answer each request it coalesced with its own counts.
	Inserted []bool
}

// Query selects readings. Zero values mean "no bound".
type Query struct {
	DeviceID string    // empty: every device
	From     time.Time // inclusive, on RecordedAt
	To       time.Time // exclusive, on RecordedAt
	Limit    int       // 1..; callers bound it
	// After continues a previous page: only readings strictly older than
	// (RecordedAt, ID) in the newest-first order.
	After *Cursor
}

// PageSQL is the statement of the page of readings q selects, newest
// first, and its arguments: selectFrom (the SELECT … FROM, with any index
// hint) and only the bounds q sets, so that the planner sees plain
// conditions it can match to an index: (device_id, recorded_at) for one
// device, recorded_at for all. Placeholders are $1, $2…, which both
// backends accept; times are passed as instant gives them.
func (q Query) PageSQL(selectFrom string, instant func(time.Time) any) (string, []any) {
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.DeviceID != "" {
		where = append(where, "device_id = "+arg(q.DeviceID))
	}
	if !q.From.IsZero() {
		where = append(where, "recorded_at >= "+arg(instant(q.From)))
	}
	if !q.To.IsZero() {
		where = append(where, "recorded_at < "+arg(instant(q.To)))
	}
	if q.After != nil {
		// Spelled out rather than as a row comparison so that the bound on
		// recorded_at alone is usable by the indexes.
		at, id := arg(instant(q.After.RecordedAt)), arg(q.After.ID)
		where = append(where, fmt.Sprintf("recorded_at <= %s AND (recorded_at < %s OR id < %s)", at, at, id))
	}
	var sql strings.Builder
	sql.WriteString(selectFrom)
	if len(where) > 0 {
		sql.WriteString("\nWHERE ")
		sql.WriteString(strings.Join(where, " AND "))
	}
	sql.WriteString("\nORDER BY recorded_at DESC, id DESC\nLIMIT " + arg(q.Limit))
	return sql.String(), args
}

// Cursor is a position in the newest-first order.
type Cursor struct {
	RecordedAt time.Time
	ID         int64
}

// RawRecord is a request body archived by POST /api/raw-measurements,
// with what ingesting it did so it can be reconciled against the readings.
type RawRecord struct {
	ID         int64
	DeviceID   string // the sender's device, empty for admin senders
	ReceivedAt time.Time
	Body       []byte // verbatim
	// Ingest outcome; all zero and Ingested false when the body was not readings.
	Ingested   bool
	Accepted   int
	Duplicates int
	Rejected   int
}
