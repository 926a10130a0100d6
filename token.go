package thermowatt

import "time"

// Scope is what a token may do.
type Scope string

const (
	ScopeDevice Scope = "device" // writes readings of one device only
	ScopeReader Scope = "reader" // reads everything
	ScopeAdmin  Scope = "admin"  // everything
)

// Valid reports whether s is one of the scopes.
func (s Scope) Valid() bool {
	return s == ScopeDevice || s == ScopeReader || s == ScopeAdmin
}

// Token is an API token. The secret itself is never stored.
type Token struct {
	ID        string // short, public, safe to log
	Hash      []byte // SHA-256 of the whole token string
	Scope     Scope
	DeviceID  string // set for ScopeDevice only
	CreatedAt time.Time
	RevokedAt *time.Time
}
