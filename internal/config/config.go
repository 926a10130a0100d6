// Package config reads the service's settings from the environment, the
// way Render passes them. Every option is listed once, in options, with its
// default and meaning; `thermowatt help env` prints that table.
package config

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Config holds every setting of `thermowatt serve` and the batch commands.
type Config struct {
	Port        int
	DatabaseURL string // PostgreSQL when set; embedded SQLite otherwise
	DataDir     string
	AdminToken  string
	// PublicURL is how the service is reached, for printed links.
	PublicURL string
	// ShutdownTimeout bounds how long in-flight requests may take to finish
	// on SIGTERM (Render waits 30 s by default before killing).
	ShutdownTimeout time.Duration
	// PublicRead lets anyone read readings, devices, series and alerts
	// without a token (a dashboard on a trusted LAN); writes still need one.
	PublicRead bool
	// Ops: alerts, metrics and retention (ops.go).
	Ops Ops
	// Limits protect the service from abuse and overload (limits.go).
	Limits Limits
	// OTAPublicKeys are the fleet's firmware-signing public keys
	// (fleet.go): when set, a release must be signed by one of them.
	OTAPublicKeys []string
}

// Option documents one environment variable.
type Option struct {
	Name    string
	Default string
	Secret  bool
	Help    string
	set     func(c *Config, v string) error
}

// Options lists every environment variable the service reads.
var Options = []Option{
	{Name: "PORT", Default: "8080", Help: "TCP port to listen on (Render sets it)",
		set: func(c *Config, v string) (err error) { c.Port, err = port(v); return }},
	{Name: "DATABASE_URL", Secret: true, Help: "PostgreSQL connection URL; when empty, embedded SQLite at $DATA_DIR/thermowatt.db is used",
		set: func(c *Config, v string) error { c.DatabaseURL = v; return nil }},
	{Name: "DATA_DIR", Default: "./data", Help: "directory for the embedded SQLite database",
		set: func(c *Config, v string) error { c.DataDir = v; return nil }},
	{Name: "ADMIN_TOKEN", Secret: true, Help: "an admin token (any string of 16+ characters); when empty on SQLite, one is created on first start and printed once",
		set: func(c *Config, v string) error {
			if v != "" && len(v) < 16 {
				return fmt.Errorf("must be at least 16 characters")
			}
			c.AdminToken = v
			return nil
		}},
	{Name: "PUBLIC_URL", Help: "the service's public base URL, used in printed links (default http://localhost:$PORT; Render sets RENDER_EXTERNAL_URL, which is used when this is empty)",
		set: func(c *Config, v string) error { c.PublicURL = strings.TrimRight(v, "/"); return nil }},
	{Name: "SHUTDOWN_TIMEOUT", Default: "25s", Help: "how long in-flight requests may run on SIGTERM",
		set: func(c *Config, v string) (err error) { c.ShutdownTimeout, err = duration(v); return }},
	{Name: "PUBLIC_READ", Default: "false", Help: "true: GET endpoints that read (readings, devices, series, alerts) and so the dashboard answer without a token; for a trusted network only",
		set: func(c *Config, v string) (err error) {
			if c.PublicRead, err = strconv.ParseBool(v); err != nil {
				return fmt.Errorf("must be true or false")
			}
			return nil
		}},
}

// Load reads the configuration through getenv (os.Getenv in production).
func Load(getenv func(string) string) (Config, error) {
	var c Config
	var problems []string
	for _, o := range Options {
		v := getenv(o.Name)
		if v == "" {
			v = o.Default
		}
		if err := o.set(&c, v); err != nil {
			shown := fmt.Sprintf("%q", v)
			if o.Secret {
				shown = "(secret, not shown)"
			}
			problems = append(problems, fmt.Sprintf("%s=%s: %v", o.Name, shown, err))
		}
	}
	if len(problems) > 0 {
		return c, fmt.Errorf("invalid configuration: %s", strings.Join(problems, "; "))
	}
	if c.PublicURL == "" {
		c.PublicURL = strings.TrimRight(getenv("RENDER_EXTERNAL_URL"), "/")
	}
	if c.PublicURL == "" {
		c.PublicURL = fmt.Sprintf("http://localhost:%d", c.Port)
	}
	return c, nil
}

// SQLitePath is where the embedded database lives.
func (c Config) SQLitePath() string { return filepath.Join(c.DataDir, "thermowatt.db") }

// Help is the table of options, for `thermowatt help env`.
// The columns are as wide as their longest entry, so that names such as
// FAILING_REJECTED_PER_HOUR do not push their line out of line.
func Help() string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	for _, o := range Options {
		def := o.Default
		if def == "" {
			def = "(empty)"
		}
		fmt.Fprintf(tw, "  %s\tdefault %s\t%s\n", o.Name, def, o.Help)
	}
	tw.Flush()
	return b.String()
}

func port(v string) (int, error) {
	p, err := strconv.Atoi(v)
	if err != nil || p < 0 || p > 65535 {
		return 0, fmt.Errorf("must be a port number 0-65535")
	}
	return p, nil
}

func duration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("must be a duration such as 30s or 5m")
	}
	return d, nil
}
