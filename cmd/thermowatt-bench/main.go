// Command thermowatt-bench is `make bench` (with the argument peers,
// `make bench-peers`; with scale, `make bench-scale`; with disk,
// `make bench-disk`; with upgrade, `make bench-upgrade`; with rolling, `make bench-rolling`): the performance run of
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
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "peers":
			run = bench.RunPeers // make bench-peers
		case "scale":
			run = bench.RunScale // make bench-scale
		case "disk":
			run = bench.RunDisk // make bench-disk
		case "upgrade":
			run = bench.RunUpgrade // make bench-upgrade
		case "rolling":
			run = bench.RunRolling // make bench-rolling
		default:
			fmt.Fprintf(os.Stderr, "bench: unknown subcommand %q (want none, peers, scale, disk, upgrade or rolling)\n", os.Args[1])
			os.Exit(2)
		}
	}
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
