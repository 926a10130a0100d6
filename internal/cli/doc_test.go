package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/thermowatt/thermowatt/internal/testcert"
)

// The commands of docs/fleet.md, docs/deploy-render.md and the README, run as
// written, in order, from an operator's folder against a fresh server
// (only its URL and an admin token, as on Render): each succeeds, and what
// the docs show a command printing is what it prints (timestamps aside).
// A doc that drifts from the binary fails here.
func TestDocsRunAsWritten(t *testing.T) {
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	t.Chdir(work)
	// What the docs take as given: the repository's firmware to stage
	// (esp32/lib), a new CA to rotate to, and an earlier release to roll
	// back to (§8, "the previous version").
	for _, name := range []string{"esp32", ".env.example"} {
		if err := os.Symlink(filepath.Join(repo, name), name); err != nil {
			t.Fatal(err)
		}
	}
	// Copied, not linked: backfill writes its checkpoint next to them.
	os.MkdirAll(filepath.Join("examples", "backfill"), 0o755)
	for _, n := range []string{"temp.csv", "elect.csv"} {
		raw, err := os.ReadFile(filepath.Join(repo, "examples", "backfill", n))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join("examples", "backfill", n), raw, 0o644)
	}
	// The CA the rotation section delivers: a real one, which publish checks.
	os.WriteFile("new-root-ca.pem", testcert.PEM(testcert.DER(t, testcert.Options{Kind: testcert.Root, Name: "New Root CA"})), 0o644)
	os.MkdirAll(filepath.Join("old", "lib"), 0o755)
	os.WriteFile(filepath.Join("old", "lib", "app.py"), []byte("x = 0\n"), 0o644)

	// Each doc on a fresh server of its own, as a reader following it would.
	total := 0
	for _, doc := range []string{"README.md", "docs/fleet.md", "docs/deploy-render.md"} {
		server := laptop(t, t.TempDir())
		if doc == "docs/fleet.md" {
			if _, _, err := cliRun(server, "firmware", "publish", "--version", "1.3.2", "old"); err != nil {
				t.Fatalf("publishing the earlier release: %v", err)
			}
		}
		d := &docRunner{t: t, server: server, vars: map[string]string{
			// The README's and deploy-render.md's placeholders.
			"URL": server["THERMOWATT_URL"], "ADMIN": server["THERMOWATT_TOKEN"],
		}}
		d.run(doc, filepath.Join(repo, filepath.FromSlash(doc)))
		total += d.commands
	}
	if total < 25 {
		t.Fatalf("ran only %d commands from the docs; are their code blocks still found?", total)
	}
}

// docRunner runs the thermowatt commands of a Markdown file's sh blocks.
type docRunner struct {
	t              *testing.T
	vars, server   map[string]string
	last           string // stdout of the last command
	lastCmd        string
	commands       int
	pendingComment bool
}

var (
	fence      = regexp.MustCompile("^```(\\w*)\\s*$")
	timestamps = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`)
	varRef     = regexp.MustCompile(`\$\{?([A-Z_]+)\}?`)
	captured   = regexp.MustCompile(`^(\w+)=\$\((curl .*) \| jq -r \.(\w+)\)$`)
	hexID      = regexp.MustCompile(`^[0-9a-f]{12}$`)
)

func (d *docRunner) run(name, path string) {
	f, err := os.Open(path)
	if err != nil {
		d.t.Fatal(err)
	}
	defer f.Close()
	d.lastCmd = ""
	sc := bufio.NewScanner(f)
	var block []string
	lang, in := "", false
	for sc.Scan() {
		line := sc.Text()
		if m := fence.FindStringSubmatch(line); m != nil {
			if !in {
				in, lang, block = true, m[1], nil
				continue
			}
			in = false
			switch lang {
			case "sh":
				d.shell(name, block)
			case "":
				d.expect(name, block)
			}
			continue
		}
		if in {
			block = append(block, line)
		}
	}
}

// shell runs one sh block: thermowatt commands for real, exports into the
// environment, the file commands the docs use on the operator's folder;
// a "# ..." line right after a command is what it prints.
func (d *docRunner) shell(name string, lines []string) {
	joined := []string{}
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		for (strings.HasSuffix(l, `\`) || strings.Count(uncommented(l), "'")%2 == 1) && i+1 < len(lines) {
			i++
			l = strings.TrimSuffix(l, `\`) + " " + strings.TrimSpace(lines[i])
		}
		joined = append(joined, l)
	}
	d.lastCmd = ""
	for _, l := range joined {
		trim := strings.TrimSpace(l)
		if strings.HasPrefix(trim, "# ") {
			want := strings.TrimPrefix(trim, "# ")
			if d.lastCmd != "" && !strings.Contains(trim, "e.g.") && !strings.HasPrefix(want, "(") && !sameOutput(want, strings.TrimSpace(d.last)) {
				d.t.Errorf("%s: `%s` printed %q, the doc shows %q", name, d.lastCmd, strings.TrimSpace(d.last), want)
			}
			continue
		}
		for _, part := range strings.Split(uncommented(l), "&&") {
			d.command(name, strings.TrimSpace(part))
		}
	}
}

func (d *docRunner) command(name, line string) {
	if line == "" {
		return
	}
	line = varRef.ReplaceAllStringFunc(line, func(ref string) string {
		k := varRef.FindStringSubmatch(ref)[1]
		if v, ok := d.vars[k]; ok {
			return v
		}
		return ref
	})
	// VAR=$(curl ... | jq -r .field)
	if m := captured.FindStringSubmatch(line); m != nil {
		body := d.curl(name, shellWords(m[2]))
		var v map[string]any
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			d.t.Errorf("%s: `%s`: the answer is not JSON: %s", name, line, body)
		}
		d.vars[m[1]] = fmt.Sprint(v[m[3]])
		return
	}
	words := shellWords(line)
	var env []string
	for len(words) > 0 && strings.Contains(words[0], "=") && !strings.HasPrefix(words[0], "-") {
		env = append(env, words[0])
		words = words[1:]
	}
	if len(words) == 0 {
		return
	}
	switch prog := strings.TrimPrefix(words[0], "./bin/"); prog {
	case "export":
		for _, kv := range words[1:] {
			k, v, _ := strings.Cut(kv, "=")
			if strings.HasPrefix(v, "https://thermowatt.onrender.com") || v == "tw_..." || strings.HasPrefix(v, "$") {
				v = d.server[k] // the doc's placeholders: this test's server and token
			}
			d.vars[k] = v
		}
	case "thermowatt":
		vars := map[string]string{}
		for k, v := range d.vars {
			vars[k] = v
		}
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			vars[k] = v
		}
		if len(words) > 1 && (words[1] == "serve" || words[1] == "simulate") {
			return // a server of its own, or devices that run until stopped
		}
		args, out := words[1:], ""
		if i := indexOf(args, ">"); i >= 0 && i+1 < len(args) {
			args, out = args[:i], args[i+1]
		}
		stdout, stderr, err := cliRun(vars, args...)
		d.commands++
		d.last, d.lastCmd = stdout, line
		if err != nil {
			d.t.Errorf("%s: `%s` failed: %v\n%s", name, line, err, stderr)
			return
		}
		if out != "" {
			os.WriteFile(out, []byte(stdout), 0o644)
		}
	case "rm":
		for _, p := range words[1:] {
			if !strings.HasPrefix(p, "-") {
				os.RemoveAll(p)
			}
		}
	case "mkdir":
		for _, p := range words[1:] {
			if !strings.HasPrefix(p, "-") {
				os.MkdirAll(p, 0o755)
			}
		}
	case "cp":
		src, dst := words[1:len(words)-1], words[len(words)-1]
		for _, pattern := range src {
			matches, _ := filepath.Glob(pattern)
			if len(matches) == 0 {
				d.t.Errorf("%s: `%s`: no file %s", name, line, pattern)
			}
			for _, m := range matches {
				to := dst
				if strings.HasSuffix(dst, "/") {
					to = filepath.Join(dst, filepath.Base(m))
				}
				raw, _ := os.ReadFile(m)
				os.WriteFile(to, raw, 0o644)
			}
		}
	case "curl":
		d.last, d.lastCmd = d.curl(name, words), line
		d.commands++
	case "mpremote", "make", "docker", "openssl":
		// The board, and HTTP calls the API tests cover; not this test's.
	default:
		if !strings.Contains(prog, "=") {
			d.t.Logf("%s: skipped `%s`", name, line)
		}
	}
}

// curl makes the request a curl command line of the docs makes (-X, -H,
// -d, the URL; -s and -S change nothing here) and returns the answer.
func (d *docRunner) curl(name string, words []string) string {
	method, url, body := "", "", ""
	h := http.Header{}
	for i := 1; i < len(words); i++ {
		switch w := words[i]; {
		case w == "-X" && i+1 < len(words):
			i++
			method = words[i]
		case w == "-H" && i+1 < len(words):
			i++
			k, v, _ := strings.Cut(words[i], ":")
			h.Set(k, strings.TrimSpace(v))
		case w == "-d" && i+1 < len(words):
			i++
			body = words[i]
		case strings.HasPrefix(w, "http"):
			url = w
		}
	}
	if method == "" {
		method = "GET"
		if body != "" {
			method = "POST"
		}
	}
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		d.t.Errorf("%s: curl %v: %v", name, words, err)
		return ""
	}
	req.Header = h
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Errorf("%s: curl %v: %v", name, words, err)
		return ""
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		d.t.Errorf("%s: curl %s %s answered %s: %s", name, method, url, res.Status, raw)
	}
	return string(raw)
}

// sameOutput compares what a doc shows with what was printed; a JSON
// object matches when it has the same keys and the same values, except
// where the doc shows a placeholder (a secret cut short with "...", an
// example token id).
func sameOutput(want, got string) bool {
	if want == got {
		return true
	}
	var w, g map[string]any
	if json.Unmarshal([]byte(want), &w) != nil || json.Unmarshal([]byte(got), &g) != nil || len(w) != len(g) {
		return false
	}
	for k, wv := range w {
		gv, ok := g[k]
		if !ok {
			return false
		}
		if s, isStr := wv.(string); isStr && (strings.Contains(s, "...") || hexID.MatchString(s)) {
			continue
		}
		if fmt.Sprint(wv) != fmt.Sprint(gv) {
			return false
		}
	}
	return true
}

// expect compares a plain block that follows a command with what it printed.
func (d *docRunner) expect(name string, lines []string) {
	if d.lastCmd == "" || !strings.HasPrefix(strings.TrimPrefix(d.lastCmd, "./bin/"), "thermowatt") {
		return
	}
	norm := func(s string) string {
		var out []string
		for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
			out = append(out, strings.Join(strings.Fields(timestamps.ReplaceAllString(l, "TIME")), " "))
		}
		return strings.Join(out, "\n")
	}
	want, got := norm(strings.Join(lines, "\n")), norm(d.last)
	if want != got {
		d.t.Errorf("%s: `%s` printed\n%s\nthe doc shows\n%s", name, d.lastCmd, got, want)
	}
	d.lastCmd = ""
}

// shellWords splits a command line as sh does for the quoting the docs
// use: single and double quotes, no escapes.
func shellWords(s string) []string {
	var words []string
	var cur bytes.Buffer
	quote, inWord := byte(0), false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			cur.WriteByte(c)
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// uncommented is a command line without its trailing "  # ..." comment.
func uncommented(l string) string {
	if i := strings.Index(l, "  #"); i >= 0 {
		return l[:i]
	}
	return l
}

func indexOf(xs []string, x string) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return -1
}
