package cli

import "testing"

func TestWithPoolDefaults(t *testing.T) {
	cases := map[string]string{
		"postgres://u:p@h:5432/db?sslmode=require":              "postgres://u:p@h:5432/db?connect_timeout=5&pool_max_conns=24&sslmode=require",
		"postgresql://h/db?pool_max_conns=50&connect_timeout=2": "postgresql://h/db?connect_timeout=2&pool_max_conns=50",
		"host=h dbname=db": "host=h dbname=db",
		"postgres://h/db":  "postgres://h/db?connect_timeout=5&pool_max_conns=24",
	}
	for in, want := range cases {
		if got := withPoolDefaults(in, 16); got != want {
			t.Errorf("withPoolDefaults(%q) = %q, want %q", in, got, want)
		}
	}
}
