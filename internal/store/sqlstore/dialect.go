package sqlstore

import "context"

// Dialect is what differs between the backends in form only: names of
// functions, a clause one has and the other does not, how an error says
// which constraint a statement broke.
type Dialect struct {
	// Name starts every error the store returns: "postgres", "sqlite".
	Name string
	// MapError maps a database error as store.MapError says.
	MapError func(ctx context.Context, err error) error
	// Violation says which kind of constraint err reports broken.
	Violation func(err error) Violation
	// Greatest is the function of the larger of its arguments.
	Greatest string
	// ForUpdate ends a SELECT of rows the transaction is to change: it
	// locks them in PostgreSQL; SQLite's write transaction holds the
	// database.
	ForUpdate string
	// SkipLocked ends a SELECT of rows to claim: PostgreSQL locks them so
	// that concurrent claimers skip each other's rows; SQLite has one
	// writer and needs nothing.
	SkipLocked string
	// JSONText is the text at path in a JSON column (a number as its
	// text), NULL when absent.
	JSONText func(column string, path ...string) string
	// JSONString is the string at path in a JSON column, '' when absent
	// or not a string.
	JSONString func(column string, path ...string) string
	// SecondsAfter is the time secs (an integer SQL expression) seconds
	// after the time t (an SQL expression).
	SecondsAfter func(t, secs string) string
	// AfterRevoke runs in the transaction that revoked token id: where
	// PostgreSQL tells every instance (NOTIFY). nil: nothing to do.
	AfterRevoke func(ctx context.Context, tx DB, id string) error
}

// Violation is the kind of constraint a failed statement broke.
type Violation int

const (
	NoViolation Violation = iota
	UniqueViolation
	ForeignKeyViolation
	CheckViolation
)
