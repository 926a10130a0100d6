package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Every command and subcommand answers -h and --help with its usage and
// exit status 0, and never acts: `device add -h` asks for help, it does
// not register a device named "-h", and no help opens the database.
func TestEveryCommandPrintsHelpAndExitsZero(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"DATA_DIR": dir}

	type helpCase struct {
		args []string
		want string // the usage must name this
	}
	cases := []helpCase{{[]string{"help"}, "Usage"}, {[]string{"-h"}, "Usage"}, {[]string{"--help"}, "Usage"}}
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for _, h := range []string{"-h", "--help"} {
			cases = append(cases, helpCase{[]string{n, h}, n})
			for _, s := range commands[n].subs {
				cases = append(cases, helpCase{[]string{n, s.name, h}, "thermowatt " + n + " " + s.name})
			}
		}
	}
	for _, want := range []string{"alerts check -h", "retention run -h", "device add -h", "token revoke --help"} {
		found := false
		for _, c := range cases {
			found = found || strings.Join(c.args, " ") == want
		}
		if !found {
			t.Errorf("the cases miss %q: is a subcommand missing from its group's subs?", want)
		}
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		err := Run(context.Background(), c.args, envOf(vars), nil, &out, &errOut)
		if code := ExitCode(err); err != nil {
			t.Errorf("thermowatt %s: exit status %d (%v), want 0\n%s%s", strings.Join(c.args, " "), code, err, out.String(), errOut.String())
			continue
		}
		all := out.String() + errOut.String()
		if !strings.Contains(all, "Usage") || !strings.Contains(all, c.want) {
			t.Errorf("thermowatt %s: help does not show the usage of %q:\n%s", strings.Join(c.args, " "), c.want, all)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("asking for help touched the database: %s holds %v", filepath.Base(dir), entries)
	}
}

// A subcommand's mistakes stay usage errors (exit 2): help is -h, not any
// argument that starts with a dash.
func TestSubcommandUsageErrorsExitTwo(t *testing.T) {
	vars := map[string]string{"DATA_DIR": t.TempDir()}
	for _, args := range [][]string{
		{"alerts", "check", "extra"},
		{"alerts", "check", "--nope"},
		{"retention", "run", "--batch", "0"},
		{"retention", "run", "--nope"},
		{"device", "add"},
		{"device", "frobnicate"},
		{"token", "revoke"},
	} {
		err := Run(context.Background(), args, envOf(vars), nil, &bytes.Buffer{}, &bytes.Buffer{})
		if ExitCode(err) != 2 {
			t.Errorf("thermowatt %s: %v (exit %d), want a usage error, exit 2", strings.Join(args, " "), err, ExitCode(err))
		}
	}
}

// `help COMMAND` is that command's help; `help bogus` is a mistake; a
// command without subcommands (serve) has a usage of its own, not Go's
// bare "Usage of serve"; an unknown flag is reported once.
func TestHelpCommandsAndUnknownFlags(t *testing.T) {
	vars := map[string]string{"DATA_DIR": t.TempDir()}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := Run(context.Background(), args, envOf(vars), nil, &out, &out)
		return out.String(), err
	}
	for _, c := range []struct{ args, want string }{
		{"help serve", "Usage: thermowatt serve [flags]"},
		{"serve -h", "Usage: thermowatt serve [flags]"},
		{"help rollout start", "Usage: thermowatt rollout start"},
		{"help backfill", "Usage: thermowatt backfill"},
	} {
		out, err := run(strings.Fields(c.args)...)
		if err != nil || strings.Contains(out, "Usage of") || !strings.Contains(out, c.want) || strings.Contains(out, "Commands:") {
			t.Errorf("thermowatt %s: %v, want %q and no general help\n%s", c.args, err, c.want, out)
		}
	}
	if out, err := run("help", "bogus"); ExitCode(err) != 2 || strings.Contains(out, "Commands:") {
		t.Errorf("help bogus: %v (exit %d), want exit 2 and no general help\n%s", err, ExitCode(err), out)
	}
	out, err := run("serve", "--bogus")
	if ExitCode(err) != 2 || !Shown(err) || strings.Count(out, "-bogus") != 1 {
		t.Errorf("serve --bogus: %v (exit %d, shown %v), want exit 2 and the error printed once (main prints nothing more)\n%s", err, ExitCode(err), Shown(err), out)
	}
}

// The README's command table names every command.
func TestREADMECommandTableListsEveryCommand(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	start := strings.Index(s, "## Commands")
	end := strings.Index(s[start+1:], "\n## ")
	if start < 0 || end < 0 {
		t.Fatal("README.md has no ## Commands section")
	}
	table := s[start : start+1+end]
	for name := range commands {
		if !strings.Contains(table, "`thermowatt "+name) {
			t.Errorf("README.md's command table lacks thermowatt %s", name)
		}
	}
}

// Following docs/fleet.md inside a clone leaves two secrets in the
// current folder (the signing key; a board's config.json with its Wi-Fi
// password and token): git ignores them, and backfill's checkpoints.
func TestGitIgnoresWhatTheDocsLeaveBehind(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	for _, p := range []string{"fleet-signing.pem", "config.json", "examples/backfill/.thermowatt-backfill.json"} {
		cmd := exec.Command("git", "check-ignore", "-q", p)
		cmd.Dir = filepath.Join("..", "..")
		if err := cmd.Run(); err != nil {
			t.Errorf("git does not ignore %s (git check-ignore: %v)", p, err)
		}
	}
}
