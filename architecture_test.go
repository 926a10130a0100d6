package thermowatt_test

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// docs/architecture.md is where a newcomer learns which package owns what,
// so its package table must name exactly the packages there are: every Go
// package under internal/ and cmd/, and no package that has gone.
func TestArchitectureDocListsEveryPackage(t *testing.T) {
	listed, err := documentedPackages(filepath.Join("docs", "architecture.md"))
	if err != nil {
		t.Fatal(err)
	}
	var present []string
	for _, root := range []string{"internal", "cmd"} {
		pkgs, err := goPackagesUnder(root)
		if err != nil {
			t.Fatal(err)
		}
		present = append(present, pkgs...)
	}
	if len(present) == 0 {
		t.Fatal("found no Go package under internal/ or cmd/: the test is not running in the repository root")
	}
	for _, p := range present {
		if !listed[p] {
			t.Errorf("package %s is missing from the package table of docs/architecture.md: add a row (or name it in the row of its kin) saying what it owns", p)
		}
	}
	for p := range listed {
		if p == "thermowatt" { // the repository root
			continue
		}
		if ok, _ := hasGoFiles(filepath.FromSlash(p)); !ok {
			t.Errorf("docs/architecture.md lists package %s, but there is no Go package at %s/: remove or rename its row", p, p)
		}
	}
}

// documentedPackages returns the package names in the first column of the
// table under "## Packages": each written in backquotes, several to a
// row where kin share one.
func documentedPackages(path string) (map[string]bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	quoted := regexp.MustCompile("`([^`]+)`")
	names := map[string]bool{}
	inSection := false
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20) // the rows are long lines
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			inSection = line == "## Packages"
			continue
		}
		if !inSection || !strings.HasPrefix(line, "| ") {
			continue
		}
		cells := strings.Split(line, "|")
		for _, m := range quoted.FindAllStringSubmatch(cells[1], -1) {
			names[strings.TrimSuffix(m[1], "/")] = true
		}
	}
	return names, sc.Err()
}

// goPackagesUnder returns the directories under root (slash-separated)
// that hold a Go package, leaving out testdata and node_modules, which the
// go command ignores.
func goPackagesUnder(root string) ([]string, error) {
	var pkgs []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		name := d.Name()
		if name == "testdata" || name == "node_modules" || (path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_"))) {
			return filepath.SkipDir
		}
		ok, err := hasGoFiles(path)
		if ok {
			pkgs = append(pkgs, filepath.ToSlash(path))
		}
		return err
	})
	slices.Sort(pkgs)
	return pkgs, err
}

func hasGoFiles(dir string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".go") {
			return true, nil
		}
	}
	return false, nil
}
