package auth

import (
	"strings"
	"testing"
	"time"
)

// FuzzParseID: any presented string yields either no id or a 12-character
// id that is exactly the one inside a well-formed token, so that the public
// id looked up (and logged) can never carry part of the secret.
func FuzzParseID(f *testing.F) {
	secret, _, _ := New("reader", "", time.Now())
	for _, s := range []string{secret, "tw_0123456789ab_x", "tw_", "tw__", "tw_0123456789ab", "tw_0123456789abc_x", "Bearer tw_0123456789ab_x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id := ParseID(s)
		if id == "" {
			return
		}
		if len(id) != 12 || !strings.HasPrefix(s, "tw_"+id+"_") || strings.Contains(id, "_") {
			t.Fatalf("ParseID(%q) = %q", s, id)
		}
	})
}
