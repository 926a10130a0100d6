package auth_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/auth"
	"github.com/thermowatt/thermowatt/internal/store"
	"github.com/thermowatt/thermowatt/internal/store/sqlite"
	"github.com/thermowatt/thermowatt/internal/testdb"
)

// countingTokens counts the look-ups that reach the store.
type countingTokens struct {
	auth.TokenReader
	n atomic.Int64
}

func (c *countingTokens) TokenByID(ctx context.Context, id string) (thermowatt.Token, error) {
	c.n.Add(1)
	return c.TokenReader.TokenByID(ctx, id)
}

// With the cache on, a device's repeated requests are admitted without a
// look-up, and a revocation through the store refuses the very next one.
// PostgreSQL, where every process hears every revocation (LISTEN/NOTIFY).
func TestCachedTokenRefusedRightAfterRevocation(t *testing.T) {
	if !testdb.PostgresAvailable(t) {
		return
	}
	st := testdb.OpenPostgres(t)
	ctx := t.Context()
	if _, err := st.CreateDevice(ctx, "n1", time.Now()); err != nil {
		t.Fatal(err)
	}
	secret, tok, err := auth.New(thermowatt.ScopeDevice, "n1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	counted := &countingTokens{TokenReader: st}
	v := auth.NewVerifier(counted, "", auth.WithCache(time.Hour, 10))
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	live := make(chan bool, 4)
	w, ok := st.(store.RevocationWatcher)
	if !ok {
		t.Fatalf("%T does not report revocations", st)
	}
	go w.WatchRevocations(wctx, v.Forget, func(l bool) { v.SetRevocationsLive(l); live <- l })
	if !<-live {
		t.Fatal("watch did not go live")
	}

	for range 5 {
		if p, err := v.Verify(ctx, secret); err != nil || p.DeviceID != "n1" {
			t.Fatalf("Verify = %+v, %v", p, err)
		}
	}
	if n := counted.n.Load(); n != 1 {
		t.Fatalf("%d look-ups for 5 requests with the cache on, want 1", n)
	}
	// A forged secret with the same id is not the cached token.
	if _, err := v.Verify(ctx, "tw_"+tok.ID+"_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"); !errors.Is(err, auth.ErrInvalid) {
		t.Fatalf("forged secret: %v", err)
	}
	if err := st.RevokeToken(ctx, tok.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, secret); !errors.Is(err, auth.ErrInvalid) {
		t.Fatalf("first request after revocation: %v, want ErrInvalid", err)
	}
}

// On SQLite another process (`thermowatt token revoke` beside the server)
// may revoke a token unheard, so the cache never goes live there: a token
// revoked behind the server's back is refused by the very next request.
func TestSQLiteTokenRevokedByAnotherProcessIsRefusedAtOnce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "thermowatt.db")
	server, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	ctx := t.Context()
	secret, tok, err := auth.New(thermowatt.ScopeReader, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := server.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	v := auth.NewVerifier(server, "", auth.WithCache(time.Hour, 10))
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	live := make(chan bool, 4)
	go server.WatchRevocations(wctx, v.Forget, func(l bool) { v.SetRevocationsLive(l); live <- l })
	if <-live {
		t.Fatal("the SQLite watch went live: it cannot hear other processes' revocations")
	}
	for range 3 {
		if _, err := v.Verify(ctx, secret); err != nil {
			t.Fatal(err)
		}
	}
	other, err := sqlite.Open(ctx, path) // as `thermowatt token revoke` opens it
	if err != nil {
		t.Fatal(err)
	}
	if err := other.RevokeToken(ctx, tok.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	other.Close()
	if _, err := v.Verify(ctx, secret); !errors.Is(err, auth.ErrInvalid) {
		t.Fatalf("first request after another process revoked the token: %v, want ErrInvalid", err)
	}
}

// While revocations may be missed the cache is off: every request is
// looked up.
func TestCacheOffWhileRevocationsNotHeard(t *testing.T) {
	st := testdb.OpenSQLite(t)
	ctx := t.Context()
	secret, tok, err := auth.New(thermowatt.ScopeReader, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	counted := &countingTokens{TokenReader: st}
	v := auth.NewVerifier(counted, "", auth.WithCache(time.Hour, 10))
	for range 3 {
		if _, err := v.Verify(ctx, secret); err != nil {
			t.Fatal(err)
		}
	}
	v.SetRevocationsLive(true)
	v.Verify(ctx, secret)
	v.Verify(ctx, secret)
	v.SetRevocationsLive(false)
	v.Verify(ctx, secret)
	if n := counted.n.Load(); n != 5 {
		t.Fatalf("%d look-ups, want 5 (3 before live, 1 while live, 1 after)", n)
	}
}
