package config

import (
	"strings"
	"testing"
)

func TestPublicReadIsOffUnlessAskedFor(t *testing.T) {
	for v, want := range map[string]bool{"": false, "false": false, "0": false, "true": true, "1": true} {
		c, err := Load(func(k string) string {
			if k == "PUBLIC_READ" {
				return v
			}
			return ""
		})
		if err != nil || c.PublicRead != want {
			t.Errorf("PUBLIC_READ=%q: PublicRead=%v err=%v, want %v", v, c.PublicRead, err, want)
		}
	}
	_, err := Load(func(k string) string {
		if k == "PUBLIC_READ" {
			return "yes please"
		}
		return ""
	})
	if err == nil || !strings.Contains(err.Error(), "PUBLIC_READ") {
		t.Errorf("PUBLIC_READ=\"yes please\": %v, want an error naming PUBLIC_READ", err)
	}
}
