package sqlite

import (
	"database/sql"
	"errors"
	"io/fs"
	"strings"
	"syscall"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/thermowatt/thermowatt/internal/store"
)

// mapError maps err as store.MapError says, with unavailable (below) as
// what "the database cannot take this now" means here.
var mapError = store.ErrorMapper(unavailable)

func unavailable(err error) bool {
	var sqliteErr *sqlite.Error
	if errors.As(err, &sqliteErr) {
		// Extended result codes are on; the primary code is the low byte.
		switch sqliteErr.Code() & 0xff {
		case sqlite3.SQLITE_FULL, // disk full
			sqlite3.SQLITE_READONLY, // file or directory not writable
			sqlite3.SQLITE_IOERR,    // the disk failed us
			sqlite3.SQLITE_CANTOPEN, // file missing or not accessible
			sqlite3.SQLITE_BUSY,     // another process held the lock past busy_timeout
			sqlite3.SQLITE_LOCKED:
			return true
		}
		return false
	}
	switch {
	case errors.Is(err, sql.ErrConnDone),
		errors.Is(err, syscall.ENOSPC),
		errors.Is(err, syscall.EROFS),
		errors.Is(err, fs.ErrPermission):
		return true
	}
	// database/sql does not export the error for a closed *sql.DB.
	return strings.Contains(err.Error(), "sql: database is closed")
}

// isConstraint reports whether err is the given kind of constraint
// violation, e.g. sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY.
func isConstraint(err error, extendedCode int) bool {
	var sqliteErr *sqlite.Error
	return errors.As(err, &sqliteErr) && sqliteErr.Code() == extendedCode
}
