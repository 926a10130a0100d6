package httpapi_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// The endpoint table at the top of docs/api.md is where people look first:
// every route that routes.go (and debug.go) registers has a row there, with
// the same method and path.
func TestAPIDocTableListsEveryRoute(t *testing.T) {
	var routes []string
	pattern := regexp.MustCompile(`mux\.Handle\("([A-Z]+) (/[^"]*)"`)
	for _, f := range []string{"routes.go", "debug.go"} {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range pattern.FindAllStringSubmatch(string(src), -1) {
			routes = append(routes, m[1]+" "+m[2])
		}
	}
	if len(routes) < 15 {
		t.Fatalf("found only %d routes in routes.go and debug.go; has the pattern changed? %v", len(routes), routes)
	}
	doc, err := os.ReadFile("../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	table := string(doc)
	if i := strings.Index(table, "\n## "); i > 0 {
		table = table[:i] // the table comes before the first section
	}
	row := regexp.MustCompile("(?m)^\\| `([A-Z]+)` \\| `(/[^`]*)`")
	documented := map[string]bool{}
	for _, m := range row.FindAllStringSubmatch(table, -1) {
		documented[m[1]+" "+m[2]] = true
	}
	for _, r := range routes {
		method, path, _ := strings.Cut(r, " ")
		// The profiler's handlers share one row: /debug/pprof/ and the
		// names under it.
		if strings.HasPrefix(path, "/debug/pprof/") {
			path = "/debug/pprof/"
		}
		if !documented[method+" "+path] {
			t.Errorf("%s %s is served (routes.go) but missing from the table at the top of docs/api.md", method, path)
		}
	}
}
