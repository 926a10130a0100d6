// Command thermowatt is the whole service: `thermowatt serve` takes
// readings from ESP32 nodes; the other subcommands manage devices and
// tokens and run the batch jobs. See `thermowatt help`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/thermowatt/thermowatt/internal/cli"
)

func main() {
	// SIGTERM is what Render sends on every deploy: serve finishes the
	// requests in flight before it exits.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cli.Run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		if !cli.Shown(err) {
			fmt.Fprintln(os.Stderr, "thermowatt:", err)
		}
		os.Exit(cli.ExitCode(err))
	}
}
