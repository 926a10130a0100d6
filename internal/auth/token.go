// Package auth issues API tokens and decides who a request's token belongs
// to. A token is "tw_<id>_<secret>": the id is public and safe to log, the
// secret carries 192 random bits, and only a SHA-256 of the whole token is
// stored, so a database leak does not leak usable tokens.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/thermowatt/thermowatt"
)

// EnvAdminID is the id under which ADMIN_TOKEN from the environment acts.
const EnvAdminID = "env-admin"

// ErrInvalid means the token is missing, malformed, unknown or revoked.
var ErrInvalid = errors.New("invalid token")

// Principal is who a request acts as.
type Principal struct {
	TokenID  string
	Scope    thermowatt.Scope
	DeviceID string // for thermowatt.ScopeDevice
}

// CanWriteDevice reports whether p may write readings of device id.
func (p Principal) CanWriteDevice(id string) bool {
	return p.Scope == thermowatt.ScopeAdmin || (p.Scope == thermowatt.ScopeDevice && p.DeviceID == id)
}

// CanRead reports whether p may read readings, devices and alerts.
func (p Principal) CanRead() bool {
	return p.Scope == thermowatt.ScopeAdmin || p.Scope == thermowatt.ScopeReader
}

// IsAdmin reports whether p may manage devices and tokens.
func (p Principal) IsAdmin() bool { return p.Scope == thermowatt.ScopeAdmin }

// New creates a token. The returned secret string is shown once; t holds
// only its hash and is what gets stored.
func New(scope thermowatt.Scope, deviceID string, now time.Time) (secret string, t thermowatt.Token, err error) {
	idBytes := make([]byte, 6)
	secretBytes := make([]byte, 24)
	if _, err := rand.Read(idBytes); err != nil {
		return "", t, err
	}
	if _, err := rand.Read(secretBytes); err != nil {
		return "", t, err
	}
	id := hex.EncodeToString(idBytes)
	secret = "tw_" + id + "_" + base64.RawURLEncoding.EncodeToString(secretBytes)
	return secret, thermowatt.Token{
		ID: id, Hash: Hash(secret), Scope: scope, DeviceID: deviceID, CreatedAt: now.UTC(),
	}, nil
}

// Hash is what is stored for a token.
func Hash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// ParseID returns the public id inside a token, or "" when the string is
// not shaped like one of ours.
func ParseID(secret string) string {
	rest, ok := strings.CutPrefix(secret, "tw_")
	if !ok {
		return ""
	}
	id, _, ok := strings.Cut(rest, "_")
	if !ok || len(id) != 12 {
		return ""
	}
	return id
}

// TokenReader is the part of the store the verifier needs.
type TokenReader interface {
	TokenByID(ctx context.Context, id string) (thermowatt.Token, error)
}

// Verifier checks presented tokens against the store and ADMIN_TOKEN.
// It is not changed after NewVerifier: whatever it is built with holds
// from its first request on, whichever part of the program is set up
// first.
type Verifier struct {
	tokens    TokenReader
	adminHash []byte         // hash of ADMIN_TOKEN, nil when unset
	cache     *verifiedCache // nil: every request is looked up (WithCache)
}

// An Option sets up a Verifier when it is made.
type Option func(*Verifier)

// NewVerifier makes a verifier that looks tokens up in tokens; adminToken
// may be empty.
func NewVerifier(tokens TokenReader, adminToken string, opts ...Option) *Verifier {
	v := &Verifier{tokens: tokens}
	if adminToken != "" {
		v.adminHash = Hash(adminToken)
	}
	for _, o := range opts {
		o(v)
	}
	return v
}

// ReadingFrom returns a verifier that accepts the same tokens, with the
// same cache (a Forget or SetRevocationsLive on either is heard by both),
// but looks them up in tokens: the HTTP server's copy reads through its
// database gate, while the store's revocation watcher talks to v.
func (v *Verifier) ReadingFrom(tokens TokenReader) *Verifier {
	return &Verifier{tokens: tokens, adminHash: v.adminHash, cache: v.cache}
}

// Verify returns the principal of a presented token. Comparisons are in
// constant time; the lookup by public id reveals nothing about the secret.
// Errors other than ErrInvalid mean the store could not be asked.
func (v *Verifier) Verify(ctx context.Context, secret string) (Principal, error) {
	if secret == "" {
		return Principal{}, ErrInvalid
	}
	h := sha256.Sum256([]byte(secret)) // as Hash, on the stack
	if v.adminHash != nil && subtle.ConstantTimeCompare(h[:], v.adminHash) == 1 {
		return Principal{TokenID: EnvAdminID, Scope: thermowatt.ScopeAdmin}, nil
	}
	id := ParseID(secret)
	if id == "" {
		return Principal{}, ErrInvalid
	}
	var gen uint64
	if v.cache != nil {
		if p, ok := v.cache.get(h, time.Now()); ok {
			return p, nil
		}
		gen = v.cache.generation()
	}
	t, err := v.tokens.TokenByID(ctx, id)
	if errors.Is(err, thermowatt.ErrNotFound) {
		return Principal{}, ErrInvalid
	}
	if err != nil {
		return Principal{}, err
	}
	if t.RevokedAt != nil || subtle.ConstantTimeCompare(h[:], t.Hash) != 1 {
		return Principal{}, ErrInvalid
	}
	p := Principal{TokenID: t.ID, Scope: t.Scope, DeviceID: t.DeviceID}
	if v.cache != nil {
		v.cache.put(h, p, gen, time.Now())
	}
	return p, nil
}
