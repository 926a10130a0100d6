// Command thermowatt-bench is `make bench` (and, with the argument peers,
// `make bench-peers`): the performance run of
// docs/benchmarks.md, whose code is package internal/bench.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/thermowatt/thermowatt/internal/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	run := bench.Run
	if len(os.Args) > 1 && os.Args[1] == "peers" {
		run = bench.RunPeers // make bench-peers
	}
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
