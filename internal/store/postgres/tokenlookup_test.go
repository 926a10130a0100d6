package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/auth"
	"github.com/thermowatt/thermowatt/internal/store/postgres"
)

// Many requests authenticating at once share lookup queries; each must
// still get its own token, and a revoked or unknown token must not
// borrow another's answer.
func TestTokenByIDConcurrent(t *testing.T) {
	s, err := postgres.Open(t.Context(), freshDatabase(t, adminURL(t)))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	ctx := t.Context()
	now := time.Now()
	const devices = 40
	for i := range devices {
		id := fmt.Sprintf("dev-%02d", i)
		if _, err := s.CreateDevice(ctx, id, now); err != nil {
			t.Fatal(err)
		}
		tok := thermowatt.Token{ID: fmt.Sprintf("tok-%02d", i), Hash: []byte{byte(i)}, Scope: thermowatt.ScopeDevice, DeviceID: id, CreatedAt: now}
		if err := s.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RevokeToken(ctx, "tok-07", now); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	errs := make(chan error, devices*10)
	for round := range 10 {
		for i := range devices + 1 { // the last one is unknown
			wg.Go(func() {
				id := fmt.Sprintf("tok-%02d", i)
				got, err := s.TokenByID(ctx, id)
				switch {
				case i == 7 || i == devices:
					if !errors.Is(err, thermowatt.ErrNotFound) {
						errs <- fmt.Errorf("round %d: %s (revoked or unknown): got %+v, %v; want ErrNotFound", round, id, got, err)
					}
				case err != nil:
					errs <- fmt.Errorf("round %d: %s: %v", round, id, err)
				case got.ID != id || got.DeviceID != fmt.Sprintf("dev-%02d", i) || got.Hash[0] != byte(i):
					errs <- fmt.Errorf("round %d: asked for %s, got %+v", round, id, got)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A token revoked through one instance is refused by the others: each
// hears the revocation (LISTEN/NOTIFY) and drops its cached entry.
func TestRevocationReachesOtherInstances(t *testing.T) {
	url := freshDatabase(t, adminURL(t))
	ctx := t.Context()
	var instances [3]*postgres.Store
	var verifiers [3]*auth.Verifier
	for i := range instances {
		s, err := postgres.Open(ctx, url)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer s.Close()
		instances[i] = s
		v := auth.NewVerifier(s, "", auth.WithCache(time.Hour, 100))
		live := make(chan bool, 4)
		wctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.WatchRevocations(wctx, v.Forget, func(l bool) { v.SetRevocationsLive(l); live <- l })
		}()
		defer func() { stop(); <-done }()
		if !<-live {
			t.Fatal("watch did not go live")
		}
		verifiers[i] = v
	}
	if _, err := instances[0].CreateDevice(ctx, "n1", time.Now()); err != nil {
		t.Fatal(err)
	}
	secret, tok, err := auth.New(thermowatt.ScopeDevice, "n1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := instances[0].CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	for _, v := range verifiers {
		if _, err := v.Verify(ctx, secret); err != nil { // now cached everywhere
			t.Fatal(err)
		}
	}
	if err := instances[1].RevokeToken(ctx, tok.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	// The revoking instance forgets before RevokeToken returns.
	if _, err := verifiers[1].Verify(ctx, secret); !errors.Is(err, auth.ErrInvalid) {
		t.Fatalf("revoking instance: %v, want ErrInvalid", err)
	}
	// The others once the notification arrives; polled, not timed.
	for _, i := range []int{0, 2} {
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, err := verifiers[i].Verify(ctx, secret)
			if errors.Is(err, auth.ErrInvalid) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("instance %d still admits the revoked token: %v", i, err)
			}
			time.Sleep(time.Millisecond)
		}
	}
}
