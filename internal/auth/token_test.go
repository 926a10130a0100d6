package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/auth"
	"github.com/thermowatt/thermowatt/internal/testdb"
)

func TestTokensVerifyUntilRevoked(t *testing.T) {
	st := testdb.OpenSQLite(t)
	ctx := context.Background()
	if _, err := st.CreateDevice(ctx, "n1", time.Now()); err != nil {
		t.Fatal(err)
	}
	secret, tok, err := auth.New(thermowatt.ScopeDevice, "n1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "tw_"+tok.ID+"_") || len(secret) != 3+12+1+32 || strings.Contains(string(tok.Hash), secret) {
		t.Fatalf("token %q / id %q", secret, tok.ID)
	}
	if err := st.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	v := auth.NewVerifier(st, "the-admin-token-from-env")

	p, err := v.Verify(ctx, secret)
	if err != nil || p.Scope != thermowatt.ScopeDevice || p.DeviceID != "n1" || !p.CanWriteDevice("n1") || p.CanWriteDevice("n2") || p.CanRead() {
		t.Fatalf("device principal %+v %v", p, err)
	}
	if p, err := v.Verify(ctx, "the-admin-token-from-env"); err != nil || !p.IsAdmin() || p.TokenID != auth.EnvAdminID {
		t.Fatalf("env admin %+v %v", p, err)
	}
	// Right id, wrong secret: refused.
	forged := "tw_" + tok.ID + "_" + strings.Repeat("A", 32)
	for _, bad := range []string{"", forged, "tw_short_x", "Bearer " + secret, secret + "x"} {
		if _, err := v.Verify(ctx, bad); !errors.Is(err, auth.ErrInvalid) {
			t.Errorf("Verify(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	if err := st.RevokeToken(ctx, tok.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, secret); !errors.Is(err, auth.ErrInvalid) {
		t.Fatalf("revoked token: %v", err)
	}
}

func TestParseID(t *testing.T) {
	cases := map[string]string{
		"tw_0123456789ab_secret": "0123456789ab",
		"tw_0123456789a_secret":  "",
		"tw_0123456789ab":        "",
		"xx_0123456789ab_secret": "",
	}
	for in, want := range cases {
		if got := auth.ParseID(in); got != want {
			t.Errorf("ParseID(%q) = %q, want %q", in, got, want)
		}
	}
}
