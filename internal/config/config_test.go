package config

import (
	"strings"
	"testing"
	"time"
)

func TestDefaultsAndOverrides(t *testing.T) {
	c, err := Load(func(string) string { return "" })
	if err != nil || c.Port != 8080 || c.DataDir != "./data" || c.PublicURL != "http://localhost:8080" || c.ShutdownTimeout != 25*time.Second {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	env := map[string]string{"PORT": "9000", "RENDER_EXTERNAL_URL": "https://tw.onrender.com/"}
	c, err = Load(func(k string) string { return env[k] })
	if err != nil || c.Port != 9000 || c.PublicURL != "https://tw.onrender.com" {
		t.Fatalf("overrides: %+v %v", c, err)
	}
}

func TestInvalidValuesAreAllReported(t *testing.T) {
	env := map[string]string{"PORT": "http", "ADMIN_TOKEN": "short", "SHUTDOWN_TIMEOUT": "soon"}
	_, err := Load(func(k string) string { return env[k] })
	if err == nil {
		t.Fatal("want an error")
	}
	for _, name := range []string{"PORT", "ADMIN_TOKEN", "SHUTDOWN_TIMEOUT"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
	if strings.Contains(err.Error(), `"short"`) {
		t.Errorf("a secret's value must not be echoed: %v", err)
	}
}

// `thermowatt help env` is a table a person reads: every line's default and
// meaning start in the same column, however long the variable's name.
func TestHelpColumnsLineUp(t *testing.T) {
	lines := strings.Split(strings.TrimSuffix(Help(), "\n"), "\n")
	if len(lines) != len(Options) {
		t.Fatalf("%d lines for %d options:\n%s", len(lines), len(Options), Help())
	}
	longest := ""
	defCol, helpCol := -1, -1
	for i, o := range Options {
		line := lines[i]
		if len(o.Name) > len(longest) {
			longest = o.Name
		}
		d, h := strings.Index(line, " default "), strings.Index(line, o.Help)
		if !strings.HasPrefix(line, "  "+o.Name+" ") || d < 0 || h < 0 {
			t.Fatalf("line %d is not `  NAME  default VALUE  MEANING`: %q", i, line)
		}
		if i == 0 {
			defCol, helpCol = d, h
		}
		if d != defCol || h != helpCol {
			t.Errorf("%s: default at column %d and meaning at %d, the first line's at %d and %d:\n%s",
				o.Name, d, h, defCol, helpCol, Help())
		}
	}
	if defCol <= len("  "+longest) {
		t.Errorf("the default column (%d) does not clear the longest name %s", defCol, longest)
	}
}
