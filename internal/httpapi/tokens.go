package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/wire"
)

func handleListTokens(tokens store.Tokens) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		ts, err := tokens.ListTokens(r.Context())
		if err != nil {
			return storeError(err)
		}
		items := make([]wire.Token, len(ts))
		for i, t := range ts {
			items[i] = wire.Token{ID: t.ID, Scope: t.Scope, DeviceID: t.DeviceID, CreatedAt: t.CreatedAt.UTC(), RevokedAt: t.RevokedAt}
		}
		writeJSON(w, http.StatusOK, map[string]any{"items": items})
		return nil
	})
}

// handleCreateToken issues a reader or admin token.
func handleCreateToken(iss tokenIssuer) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		var in struct {
			Scope thermowatt.Scope `json:"scope"`
		}
		if err := decodeJSON(r, &in); err != nil {
			return err
		}
		switch in.Scope {
		case thermowatt.ScopeReader, thermowatt.ScopeAdmin:
		case thermowatt.ScopeDevice:
			return errorf(http.StatusBadRequest, "device tokens belong to a device: use POST /api/devices/{id}/tokens")
		default:
			return errorf(http.StatusBadRequest, `scope must be "reader" or "admin"`)
		}
		tok, err := iss.issue(r, in.Scope, "")
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusCreated, tok)
		return nil
	})
}

// RevocationBound is the longest a revoke waits for every instance to
// confirm; docs/security.md states it.
const RevocationBound = 2 * time.Second

// handleRevokeToken revokes a token; it is refused from the next request
// on, on every instance: the answer waits (at most RevocationBound) until
// every instance sharing the database has confirmed it dropped the token
// (awaiter: nil when the store has a single instance, SQLite).
func handleRevokeToken(tokens store.Tokens, awaiter store.RevocationAwaiter, now func() time.Time) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		id := r.PathValue("id")
		err := tokens.RevokeToken(r.Context(), id, now())
		if errors.Is(err, thermowatt.ErrNotFound) {
			return errorf(http.StatusNotFound, fmt.Sprintf("no active token %q", id))
		}
		if err != nil {
			return storeError(err)
		}
		logFrom(r).Info("admin action", "by", principal(r).TokenID, "action", "token revoked", "token", id)
		if awaiter != nil {
			// Committed either way: a later DELETE would be a 404. An
			// instance that cannot confirm (a frozen process, a half-open
			// connection) is logged; its cache hears it when it wakes.
			if err := awaiter.AwaitRevocation(context.WithoutCancel(r.Context()), id, RevocationBound); err != nil {
				logFrom(r).Warn("revocation not confirmed by every instance", "token", id, "err", err)
				w.Header().Set("Warning", `199 thermowatt "revoked, but not every instance confirmed within 2s"`)
			}
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}
