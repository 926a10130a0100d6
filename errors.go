package thermowatt

import (
	"errors"
	"fmt"
)

var (
	// ErrNotFound: the device, token or record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: a device with that id is already registered.
	ErrExists = errors.New("already exists")
	// ErrUnavailable wraps errors that mean the database cannot be reached
	// or cannot take writes right now (connection refused, disk full). The
	// HTTP layer answers 503 with Retry-After; the client should resend.
	ErrUnavailable = errors.New("database unavailable")
)

// Unavailable wraps err so that errors.Is(err, ErrUnavailable) holds while
// the original error stays in the message and in the chain.
func Unavailable(err error) error {
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}
