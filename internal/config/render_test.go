package config_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/thermowatt/thermowatt/internal/config"
)

// The Render Blueprint and the code must agree: every environment variable
// the code reads is set in render.yaml or documented as optional in
// docs/operations.md, and render.yaml sets nothing the code ignores.

const root = "../.."

type envVar struct {
	Key           string         `yaml:"key"`
	Value         *string        `yaml:"value"`
	GenerateValue bool           `yaml:"generateValue"`
	Sync          *bool          `yaml:"sync"`
	FromDatabase  *fromDatabase  `yaml:"fromDatabase"`
	FromService   map[string]any `yaml:"fromService"`
	FromGroup     string         `yaml:"fromGroup"`
}

type fromDatabase struct {
	Name     string `yaml:"name"`
	Property string `yaml:"property"`
}

type blueprint struct {
	Services []struct {
		Type            string   `yaml:"type"`
		Name            string   `yaml:"name"`
		Runtime         string   `yaml:"runtime"`
		Plan            string   `yaml:"plan"`
		BuildCommand    string   `yaml:"buildCommand"`
		StartCommand    string   `yaml:"startCommand"`
		DockerfilePath  string   `yaml:"dockerfilePath"`
		DockerContext   string   `yaml:"dockerContext"`
		DockerCommand   string   `yaml:"dockerCommand"`
		HealthCheckPath string   `yaml:"healthCheckPath"`
		Schedule        string   `yaml:"schedule"`
		EnvVars         []envVar `yaml:"envVars"`
	} `yaml:"services"`
	Databases []struct {
		Name                 string `yaml:"name"`
		Plan                 string `yaml:"plan"`
		PostgresMajorVersion any    `yaml:"postgresMajorVersion"`
	} `yaml:"databases"`
	EnvVarGroups []struct {
		Name    string   `yaml:"name"`
		EnvVars []envVar `yaml:"envVars"`
	} `yaml:"envVarGroups"`
}

func loadBlueprint(t *testing.T) (blueprint, *yaml.Node) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "render.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var bp blueprint
	if err := yaml.Unmarshal(raw, &bp); err != nil {
		t.Fatalf("render.yaml: %v", err)
	}
	var node yaml.Node
	if err := yaml.Unmarshal(raw, &node); err != nil {
		t.Fatal(err)
	}
	return bp, &node
}

// readEnv matches a read of a named environment variable in Go source:
// os.Getenv("X"), os.LookupEnv("X"), or the getenv("X") that Run passes on.
var readEnv = regexp.MustCompile(`(?i)(?:getenv|lookupenv)\("([A-Z][A-Z0-9_]*)"\)`)

// variablesRead returns every variable the code reads: the options table
// and every literal getenv in non-test Go files.
func variablesRead(t *testing.T) map[string]string {
	t.Helper()
	vars := map[string]string{}
	for _, o := range config.Options {
		vars[o.Name] = "internal/config options"
	}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules" || d.Name() == "esp32") {
			return filepath.SkipDir
		}
		// make bench and make soak are measuring tools, never deployed;
		// their settings are documented in docs/benchmarks.md and the Makefile.
		if d.IsDir() && (path == filepath.Join(root, "internal", "bench") ||
			path == filepath.Join(root, "cmd", "thermowatt-bench") || path == filepath.Join(root, "cmd", "thermowatt-soak")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range readEnv.FindAllStringSubmatch(string(src), -1) {
			vars[m[1]] = strings.TrimPrefix(path, root+"/")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return vars
}

// documentedOptional returns the variables of the table in
// docs/operations.md whose "in render.yaml" column says optional.
func documentedOptional(t *testing.T) (optional, listed map[string]bool) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	optional, listed = map[string]bool{}, map[string]bool{}
	row := regexp.MustCompile("^\\| `([A-Z][A-Z0-9_]*)` \\|[^|]*\\|([^|]*)\\|")
	for _, line := range strings.Split(string(raw), "\n") {
		if m := row.FindStringSubmatch(line); m != nil {
			listed[m[1]] = true
			if strings.Contains(m[2], "optional") {
				optional[m[1]] = true
			}
		}
	}
	return optional, listed
}

func TestEveryVariableTheCodeReadsIsSetOnRenderOrDocumentedOptional(t *testing.T) {
	bp, _ := loadBlueprint(t)
	set := map[string]bool{}
	for _, s := range bp.Services {
		for _, v := range s.EnvVars {
			set[v.Key] = v.Key != ""
		}
	}
	for _, g := range bp.EnvVarGroups {
		for _, v := range g.EnvVars {
			set[v.Key] = true
		}
	}
	delete(set, "")
	read := variablesRead(t)
	optional, listed := documentedOptional(t)
	if len(read) < 10 {
		t.Fatalf("found only %d variables read by the code; has the scan broken? %v", len(read), read)
	}
	for name, where := range read {
		if !set[name] && !optional[name] {
			t.Errorf("%s (read in %s) is neither set in render.yaml nor documented as optional in docs/operations.md", name, where)
		}
		if !listed[name] {
			t.Errorf("%s (read in %s) is missing from the table in docs/operations.md", name, where)
		}
	}
	for name := range set {
		if _, ok := read[name]; !ok {
			t.Errorf("render.yaml sets %s, which the code never reads", name)
		}
	}
	for name := range listed {
		if _, ok := read[name]; !ok {
			t.Errorf("docs/operations.md lists %s, which the code never reads", name)
		}
	}
}

// binaryInImage is where the Dockerfile's final stage puts the binary,
// read from its COPY line, so that render.yaml's commands and the
// Dockerfile cannot drift apart.
func binaryInImage(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	src := string(raw)
	m := regexp.MustCompile(`(?m)^RUN go build .*-o (\S+) \./cmd/thermowatt$`).FindStringSubmatch(src)
	if m == nil || !strings.Contains(src, "CGO_ENABLED=0") {
		t.Fatalf("the Dockerfile does not build ./cmd/thermowatt with CGO_ENABLED=0 (the final image has no C library to link against)")
	}
	c := regexp.MustCompile(`(?m)^COPY --from=build ` + regexp.QuoteMeta(m[1]) + ` (\S+)$`).FindStringSubmatch(src)
	if c == nil {
		t.Fatalf("the Dockerfile builds %s but never copies it into the final image", m[1])
	}
	return c[1]
}

func TestRenderBlueprint(t *testing.T) {
	bp, node := loadBlueprint(t)
	bin := binaryInImage(t)
	var web, alertsCron, retentionCron bool
	for _, s := range bp.Services {
		// One image for every service: the Dockerfile brings its own Go
		// and Node.js, whatever Render's native runtimes hold.
		if s.Runtime != "docker" || s.DockerfilePath != "./Dockerfile" || s.DockerContext != "." || s.BuildCommand != "" || s.StartCommand != "" {
			t.Errorf("service %s: runtime %q, dockerfilePath %q, dockerContext %q, buildCommand %q, startCommand %q; want docker, ./Dockerfile, . and no native commands",
				s.Name, s.Runtime, s.DockerfilePath, s.DockerContext, s.BuildCommand, s.StartCommand)
		}
		if !strings.HasPrefix(s.DockerCommand, bin+" ") {
			t.Errorf("service %s: dockerCommand %q does not run %s, where the Dockerfile puts the binary", s.Name, s.DockerCommand, bin)
		}
		cmd := strings.TrimPrefix(s.DockerCommand, bin+" ")
		keys := map[string]envVar{}
		for _, v := range s.EnvVars {
			keys[v.Key] = v
		}
		db := keys["DATABASE_URL"].FromDatabase
		if db == nil || db.Property != "connectionString" || db.Name != bp.Databases[0].Name {
			t.Errorf("service %s: DATABASE_URL must come from the database's connectionString", s.Name)
		}
		switch {
		case s.Type == "web":
			web = true
			if s.HealthCheckPath != "/readyz" || cmd != "serve" {
				t.Errorf("web service: health check %q, command %q", s.HealthCheckPath, s.DockerCommand)
			}
			if !keys["ADMIN_TOKEN"].GenerateValue {
				t.Errorf("web service: ADMIN_TOKEN must be generateValue: true")
			}
		case s.Type == "cron" && cmd == "alerts check":
			alertsCron = true
		case s.Type == "cron" && cmd == "retention run":
			retentionCron = true
		default:
			t.Errorf("unexpected service %s (%s: %s)", s.Name, s.Type, s.DockerCommand)
		}
		if s.Type == "cron" && (s.Plan == "free" || s.Schedule == "") {
			t.Errorf("cron %s: plan %q (cron jobs are not free), schedule %q", s.Name, s.Plan, s.Schedule)
		}
	}
	if !web || !alertsCron || !retentionCron {
		t.Errorf("want a web service and the alerts and retention cron jobs: %v %v %v", web, alertsCron, retentionCron)
	}
	if len(bp.Databases) != 1 || bp.Databases[0].PostgresMajorVersion != "16" {
		t.Errorf(`want one database with postgresMajorVersion: "16" (a string), got %+v`, bp.Databases)
	}
	// Schedules are quoted: an unquoted "*/5 * * * *" is a YAML alias error
	// and "0 3 * * *" may be read as something else by other tools.
	var quoted func(n *yaml.Node)
	found := 0
	quoted = func(n *yaml.Node) {
		for i := 0; i+1 < len(n.Content); i++ {
			if k := n.Content[i]; n.Kind == yaml.MappingNode && i%2 == 0 && k.Value == "schedule" {
				found++
				if v := n.Content[i+1]; v.Style != yaml.DoubleQuotedStyle && v.Style != yaml.SingleQuotedStyle {
					t.Errorf("schedule %q at line %d is not quoted", v.Value, v.Line)
				}
			}
		}
		for _, c := range n.Content {
			quoted(c)
		}
	}
	quoted(node)
	if found != 2 {
		t.Errorf("found %d schedules, want 2", found)
	}
}

func TestOptionsAreSortedIntoTheHelp(t *testing.T) {
	// Every option appears once in `thermowatt help env`.
	help := config.Help()
	var names []string
	for _, o := range config.Options {
		if strings.Count(help, " "+o.Name+" ") != 1 {
			t.Errorf("%s appears %d times in the help", o.Name, strings.Count(help, " "+o.Name+" "))
		}
		names = append(names, o.Name)
	}
	slices.Sort(names)
	if len(slices.Compact(names)) != len(config.Options) {
		t.Errorf("an option is listed twice: %v", names)
	}
}

// The image runs on Debian's stable release (13, trixie; 12 is oldstable)
// and checks its own health with the binary (it has no curl).
func TestDockerfileBaseAndHealthcheck(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	src := string(raw)
	froms := regexp.MustCompile(`(?m)^FROM (\S+)`).FindAllStringSubmatch(src, -1)
	if len(froms) == 0 || froms[len(froms)-1][1] != "debian:trixie-slim" {
		t.Errorf("the final stage is %v, want debian:trixie-slim (Debian 13)", froms)
	}
	if !regexp.MustCompile(`(?m)^HEALTHCHECK .*CMD \["thermowatt", "healthcheck"\]$`).MatchString(src) {
		t.Errorf("the Dockerfile has no HEALTHCHECK running `thermowatt healthcheck`")
	}
}
