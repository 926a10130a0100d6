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
	"text/tabwriter"

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
	// subs are the subcommands of a command group (device add, device
	// list, ...): what `thermowatt device -h` lists, and what each
	// subcommand's -h prints.
	subs []subcommand
}

// subcommand is one verb of a command group.
type subcommand struct {
	name    string // "add"
	args    string // "ID", as written in the usage line
	summary string
}

// commands are filled in by each subcommand's file.
var commands = map[string]command{}

// UsageError is a mistake in the command line; exit status 2.
type UsageError struct {
	msg string
	// shown: the flag package has printed it already, with the usage.
	shown bool
}

func (e UsageError) Error() string { return e.msg }

// Shown reports whether err was printed already (a flag the command does
// not know: the flag package says so, with the usage), so that main does
// not print it a second time.
func Shown(err error) bool {
	var ue UsageError
	return errors.As(err, &ue) && ue.shown
}

func usagef(format string, a ...any) error { return UsageError{msg: fmt.Sprintf(format, a...)} }

// flagError turns a flag-parsing failure into a usage error; -h is not a
// failure: the flag package has already printed the help.
func flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return errHelpShown
	}
	return UsageError{msg: err.Error(), shown: true}
}

// errHelpShown ends a command after its help was printed; Run returns nil.
var errHelpShown = errors.New("help shown")

// ExitCode is the process exit status for an error from Run: 2 for a
// mistake in the command line or its environment (what a person fixes by
// running it differently), 1 for everything else (what the command met).
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
			fmt.Fprint(stdout, "Environment variables:\n"+config.Help()+clientEnvHelp)
			return nil
		}
		if len(args) > 1 { // help COMMAND [SUBCOMMAND]: that command's own help
			if _, ok := commands[args[1]]; !ok {
				return usagef("no command %q; `thermowatt help` lists them", args[1])
			}
			return Run(ctx, append(args[1:], "-h"), getenv, stdin, stdout, stderr)
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

// clientEnvHelp lists what the CLI reads when it talks to a server.
const clientEnvHelp = `
Client side (the CLI talking to a server; never needed by serve):
  THERMOWATT_URL    the server, e.g. https://thermowatt.onrender.com: every admin command (device, token,
                    settings, firmware publish, rollout, alerts, retention) asks it (--url overrides);
                    backfill and simulate send to it (default http://localhost:8080)
  THERMOWATT_TOKEN  the token sent with it: an admin token for the admin commands, a device or admin
                    token for backfill and simulate (kept off the command line, where ps shows it)
`

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
	b.WriteString("  help env   list the environment variables\n\n`thermowatt help COMMAND` (or `thermowatt COMMAND -h`) shows one in full.\n")
	return b.String()
}

// newFlags makes a flag set that reports to stderr and never exits; its -h
// prints the command's usage line, summary and flags.
func newFlags(e env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: thermowatt %s [flags]\n\n%s\n", name, commands[name].summary)
		fmt.Fprint(e.stderr, "\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs
}

// isHelp reports whether arg asks for help, spelled as the flag package
// accepts it, or as the word help in place of a subcommand.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

// groupHelp prints the subcommands of the command group name, for
// `thermowatt device -h`; Run turns the errHelpShown into exit status 0.
func groupHelp(e env, name string) error {
	c := commands[name]
	fmt.Fprintf(e.stderr, "thermowatt %s: %s\n\nUsage:\n", name, c.summary)
	tw := tabwriter.NewWriter(e.stderr, 0, 4, 2, ' ', 0)
	for _, s := range c.subs {
		fmt.Fprintf(tw, "  thermowatt %s\t%s\n", strings.TrimSpace(name+" "+s.name+" "+s.args), s.summary)
	}
	tw.Flush()
	fmt.Fprintf(e.stderr, "\n`thermowatt %s SUBCOMMAND -h` shows one in full.\n", name)
	return errHelpShown
}

// subFlags makes the flag set of one subcommand of a group, whose -h
// prints that subcommand's usage line, summary and flags. Subcommands
// without flags of their own parse their arguments with it too, so that
// -h asks for help rather than being taken as an argument (a device named
// "-h"); `--` ends the flags, for an argument that starts with a dash.
// parseNoArgs parses a subcommand's flags and refuses arguments: the
// subcommands that take none share the one message.
func parseNoArgs(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	if fs.NArg() != 0 {
		return usagef("%s takes no arguments, got %q", fs.Name(), fs.Args())
	}
	return nil
}

func subFlags(e env, group, sub string) *flag.FlagSet {
	var s subcommand
	for _, c := range commands[group].subs {
		if c.name == sub {
			s = c
		}
	}
	fs := newFlags(e, group+" "+sub)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: thermowatt %s\n\n%s\n", strings.TrimSpace(group+" "+sub+" "+s.args), s.summary)
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprint(e.stderr, "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}
