package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/thermowatt/thermowatt"
)

// MapError turns a backend's error into what callers of Store can act on:
// a context error stays one (the caller gave up, even where the driver
// reports it as a closed connection); errors that isUnavailable says mean
// "the database cannot take this now, try again later" wrap ErrUnavailable
// (the API answers 503); anything else is returned as is (a bug or a
// constraint violation: 500).
func MapError(ctx context.Context, err error, isUnavailable func(error) bool) error {
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		return fmt.Errorf("%w: %w", ctxErr, err)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if isUnavailable(err) {
		return thermowatt.Unavailable(err)
	}
	return err
}

// ErrorMapper is MapError with a backend's isUnavailable.
func ErrorMapper(isUnavailable func(error) bool) func(ctx context.Context, err error) error {
	return func(ctx context.Context, err error) error { return MapError(ctx, err, isUnavailable) }
}
