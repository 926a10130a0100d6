// Package cli is the thermowatt command line: one Run function that main
// calls, and one file per subcommand.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/thermowatt/thermowatt/internal/config"
)

// env carries what every subcommand may use, so that tests run the real
// commands with their own environment and streams.
type env struct {
	getenv         func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer
}

type command struct {
	summary string
	run     func(ctx context.Context, e env, args []string) error
}

// commands are filled in by each subcommand's file.
var commands = map[string]command{}

// UsageError is a mistake in the command line; exit status 2.
type UsageError struct{ msg string }

func (e UsageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return UsageError{fmt.Sprintf(format, a...)} }

// flagError turns a flag-parsing failure into a usage error; -h is not a
// failure: the flag package has already printed the help.
func flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return errHelpShown
	}
	return UsageError{err.Error()}
}

// errHelpShown ends a command after its help was printed; Run returns nil.
var errHelpShown = errors.New("help shown")

// ExitCode is the process exit status for an error from Run.
func ExitCode(err error) int {
	var ue UsageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// Run runs one subcommand, e.g. args = ["serve"] or ["device", "add", "x"].
func Run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 && args[1] == "env" {
			fmt.Fprint(stdout, "Environment variables:\n"+config.Help())
			return nil
		}
		fmt.Fprint(stdout, usage())
		if len(args) == 0 {
			return usagef("no command given")
		}
		return nil
	}
	c, ok := commands[args[0]]
	if !ok {
		return usagef("unknown command %q; run `thermowatt help`", args[0])
	}
	if err := c.run(ctx, e, args[1:]); !errors.Is(err, errHelpShown) {
		return err
	}
	return nil
}

func usage() string {
	var b strings.Builder
	b.WriteString("thermowatt: temperature and power readings from ESP32 nodes\n\nUsage: thermowatt COMMAND [ARGS]\n\nCommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "  %-10s %s\n", n, commands[n].summary)
	}
	b.WriteString("  help env   list the environment variables\n")
	return b.String()
}

// newFlags makes a flag set that reports to stderr and never exits.
func newFlags(e env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return fs
}
