// Package store is where readings, devices and tokens are kept. It defines
// the one interface that both backends (postgres, sqlite) implement and
// that the conformance suite in storetest checks.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/thermowatt/thermowatt/internal/reading"
)

var (
	// ErrNotFound: the device or token does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: a device with that id is already registered.
	ErrExists = errors.New("already exists")
	// ErrUnavailable wraps errors that mean the database cannot be reached
	// or cannot take writes right now (connection refused, disk full). The
	// HTTP layer answers 503 with Retry-After; the client should resend.
	ErrUnavailable = errors.New("database unavailable")
)

// Store is implemented by postgres.Store and sqlite.Store.
type Store interface {
	// InsertReadings stores the readings in one transaction, registering
	// unknown devices on the way and keeping each device's last-seen time
	// and reading count. A reading whose (DeviceID, RecordedAt) is already
	// stored, or repeated within rs, is a duplicate and is not stored again.
	// When it returns nil every accepted reading is committed.
	InsertReadings(ctx context.Context, rs []reading.Reading, receivedAt time.Time) (InsertResult, error)
	// QueryReadings returns readings newest first (RecordedAt desc, ID desc).
	QueryReadings(ctx context.Context, q Query) ([]reading.Stored, error)
	// Series aggregates one device's readings in [From, To) into buckets
	// (count, avg/min/max per field), oldest first; empty buckets absent.
	Series(ctx context.Context, q SeriesQuery) ([]SeriesPoint, error)

	// CreateDevice registers a device; ErrExists when it is registered.
	CreateDevice(ctx context.Context, id string, now time.Time) (Device, error)
	// GetDevice returns one device; ErrNotFound when unknown.
	GetDevice(ctx context.Context, id string) (Device, error)
	// ListDevices returns every device ordered by id.
	ListDevices(ctx context.Context) ([]Device, error)

	// CreateToken stores a token (only its hash).
	CreateToken(ctx context.Context, t Token) error
	// TokenByID returns a token that has not been revoked; ErrNotFound otherwise.
	TokenByID(ctx context.Context, id string) (Token, error)
	// ListTokens returns every token, revoked ones included, oldest first.
	ListTokens(ctx context.Context) ([]Token, error)
	// RevokeToken marks a token revoked; ErrNotFound when unknown or already revoked.
	RevokeToken(ctx context.Context, id string, now time.Time) error
	// CountTokens counts tokens of a scope that have not been revoked.
	CountTokens(ctx context.Context, scope string) (int, error)

	// ArchiveRaw keeps a request body verbatim and returns its id.
	ArchiveRaw(ctx context.Context, r RawRecord) (int64, error)
	// GetRaw returns one archived body; ErrNotFound when unknown.
	GetRaw(ctx context.Context, id int64) (RawRecord, error)

	// Ops: device health, alerts, retention (ops.go).
	Ops

	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	Close() error
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

// Cursor is a position in the newest-first order.
type Cursor struct {
	RecordedAt time.Time
	ID         int64
}

// Device is a registered sensor node.
type Device struct {
	ID           string
	CreatedAt    time.Time
	LastSeenAt   *time.Time // receive time of its newest accepted reading
	ReadingCount int64
	// Operations (ops.go): how often it should send, what it last said
	// about itself (payload.device) and when, and what the server counted.
	ExpectedIntervalS int
	Health            json.RawMessage
	HealthAt          *time.Time
	Failures          Failures
}

// Scopes of a token.
const (
	ScopeDevice = "device" // writes readings of one device only
	ScopeReader = "reader" // reads everything
	ScopeAdmin  = "admin"  // everything
)

// Token is an API token. The secret itself is never stored.
type Token struct {
	ID        string // short, public, safe to log
	Hash      []byte // SHA-256 of the whole token string
	Scope     string
	DeviceID  string // set for ScopeDevice only
	CreatedAt time.Time
	RevokedAt *time.Time
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
