package postgres

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// A batch holding a reading already stored must take the ON CONFLICT
// path whatever the key is called where the violation happened: on plain
// PostgreSQL the key's own name, on Citus the shard's copy of it. Any
// other unique violation is a real error and must not be taken for one.
func TestIsRepeatMatchesTheReadingsKeyAndItsShards(t *testing.T) {
	for _, tc := range []struct {
		code, constraint string
		want             bool
	}{
		{"23505", "device_measurements_pkey", true},
		{"23505", "device_measurements_pkey_102035", true}, // Citus shard
		{"23505", "device_measurements_pkey_1", true},
		{"23505", "device_measurements_p20261207_pkey", true},        // weekly partition
		{"23505", "device_measurements_p20261207_pkey_102099", true}, // its Citus shard
		{"23505", "device_measurements_past_pkey", true},
		{"23505", "device_measurements_default_pkey_102040", true},
		{"23505", "device_measurements_p2026_pkey", false},
		{"23505", "device_measurements_other_pkey", false},
		{"23505", "device_measurements_pkey_", false},
		{"23505", "device_measurements_pkey_102035x", false},
		{"23505", "device_measurements_pkey_old", false},
		{"23505", "device_measurements_pkeyx", false},
		{"23505", "devices_pkey_102008", false},
		{"23505", "raw_measurements_pkey", false},
		{"23505", "", false},
		{"23503", "device_measurements_pkey_102035", false}, // not a unique violation
	} {
		err := fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: tc.code, ConstraintName: tc.constraint})
		if got := isRepeat(err); got != tc.want {
			t.Errorf("isRepeat(%s on %q) = %v, want %v", tc.code, tc.constraint, got, tc.want)
		}
	}
	// Citus relays a worker's violation without the constraint field.
	for msg, want := range map[string]bool{
		`duplicate key value violates unique constraint "device_measurements_pkey_102035"`:      true,
		`duplicate key value violates unique constraint "device_measurements_past_pkey_102817"`: true,
		`duplicate key value violates unique constraint "devices_pkey_102008"`:                  false,
		`something else about "device_measurements_pkey_102035"`:                                false,
	} {
		if got := isRepeat(&pgconn.PgError{Code: "23505", Message: msg}); got != want {
			t.Errorf("isRepeat(23505 %q, no constraint field) = %v, want %v", msg, got, want)
		}
	}
	// ...and a COPY's violation as an internal error (XX000), message only.
	for msg, want := range map[string]bool{
		`duplicate key value violates unique constraint "device_measurements_past_pkey_108728"`: true,
		`duplicate key value violates unique constraint "raw_measurements_pkey_108700"`:         false,
		`could not connect to worker`: false,
	} {
		if got := isRepeat(&pgconn.PgError{Code: "XX000", Message: msg}); got != want {
			t.Errorf("isRepeat(XX000 %q) = %v, want %v", msg, got, want)
		}
	}
	if isRepeat(fmt.Errorf("not a database error")) {
		t.Error("isRepeat(plain error) = true, want false")
	}
}
