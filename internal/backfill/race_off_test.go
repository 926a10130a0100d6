//go:build !race

package backfill_test

const replayRows = 100_000
