//go:build race

package backfill_test

// The race detector makes JSON work on both ends of the replay about ten
// times slower; under it the replay uses fewer rows so that `make test`
// stays short. `go test ./internal/backfill` replays the full 100,000.
const replayRows = 10_000
