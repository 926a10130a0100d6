package postgres_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
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
