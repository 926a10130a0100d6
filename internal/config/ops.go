package config

import (
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"time"
)

// Ops holds the settings of alerts, metrics and retention
// (docs/operations.md explains each).
type Ops struct {
	AlertWebhookURL    string
	AlertCheckInterval time.Duration // 0: serve does not check; the cron job must
	MissedIntervals    int
	FailingRejected    int64 // per hour
	FailingAuth        int64 // per hour
	FailingDropped     int64 // per hour
	FailingQueueDepth  int64
	RetentionDays      int
	RawRetentionDays   int
	CompactionAge      time.Duration // 0: serve does not compact
	CompactionWritten  time.Duration // COMPACTION_WRITTEN_FOR: store.SetWrittenFor
	MetricsToken       string
	LogLevel           slog.Level // LOG_LEVEL
}

func init() {
	Options = append(Options, opsOptions...)
}

var opsOptions = []Option{
	{Name: "ALERT_WEBHOOK_URL", Secret: true, Help: "where alert transitions are posted as {\"text\",\"content\"} JSON (Slack or Discord incoming webhook); empty: alerts only show in the API and dashboard",
		set: func(c *Config, v string) error {
			if v != "" {
				u, err := url.Parse(v)
				if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
					return fmt.Errorf("must be an http(s) URL")
				}
			}
			c.Ops.AlertWebhookURL = v
			return nil
		}},
	{Name: "ALERT_CHECK_INTERVAL", Default: "60s", Help: "how often serve checks for silent and failing devices (0 turns serve's check off; the cron job still works)",
		set: func(c *Config, v string) (err error) { c.Ops.AlertCheckInterval, err = duration(v); return }},
	{Name: "ALERT_MISSED_INTERVALS", Default: "3", Help: "a device is silent after this many of its expected intervals without a reading",
		set: func(c *Config, v string) (err error) { c.Ops.MissedIntervals, err = positive(v); return }},
	{Name: "FAILING_REJECTED_PER_HOUR", Default: "10", Help: "failing at this many of a device's readings rejected as invalid within an hour (0: off)",
		set: func(c *Config, v string) (err error) { c.Ops.FailingRejected, err = count(v); return }},
	{Name: "FAILING_AUTH_PER_HOUR", Default: "5", Help: "failing at this many requests refused (403) for a device's readings within an hour (0: off)",
		set: func(c *Config, v string) (err error) { c.Ops.FailingAuth, err = count(v); return }},
	{Name: "FAILING_DROPPED_PER_HOUR", Default: "1", Help: "failing when a device's own dropped-readings count grows this much within an hour (0: off)",
		set: func(c *Config, v string) (err error) { c.Ops.FailingDropped, err = count(v); return }},
	{Name: "FAILING_QUEUE_DEPTH", Default: "100", Help: "failing while a device reports this many readings queued (0: off)",
		set: func(c *Config, v string) (err error) { c.Ops.FailingQueueDepth, err = count(v); return }},
	{Name: "RETENTION_DAYS", Default: "400", Help: "`thermowatt retention run` deletes readings recorded more than this many days ago",
		set: func(c *Config, v string) (err error) { c.Ops.RetentionDays, err = positive(v); return }},
	{Name: "RAW_RETENTION_DAYS", Default: "30", Help: "`thermowatt retention run` deletes raw archive rows received more than this many days ago",
		set: func(c *Config, v string) (err error) { c.Ops.RawRetentionDays, err = positive(v); return }},
	{Name: "COMPACTION_AGE", Default: "24h", Help: "serve compacts each device's days of readings older than this into one row each (a few bytes a reading; every read is unchanged); on PostgreSQL at least 24h (a shorter age acts as 24h); 0 turns compaction off",
		set: func(c *Config, v string) (err error) { c.Ops.CompactionAge, err = duration(v); return }},
	{Name: "COMPACTION_WRITTEN_FOR", Default: "10m", Help: "a device's newest day counts as still being written (a backfill's) until this long after its last reading arrived, and is compacted only once the device moves past it or falls quiet; 0 compacts it at once",
		set: func(c *Config, v string) (err error) { c.Ops.CompactionWritten, err = duration(v); return }},
	{Name: "LOG_LEVEL", Default: "info", Help: "the least important log lines serve writes: debug (also each background pass: roll-up materializer, compactor, SQLite checkpoints, with their durations), info, warn or error",
		set: func(c *Config, v string) error { return c.Ops.LogLevel.UnmarshalText([]byte(v)) }},
	{Name: "METRICS_TOKEN", Secret: true, Help: "a secret (16+ characters) that lets a scraper read /metrics and nothing else; reader and admin tokens work too",
		set: func(c *Config, v string) error {
			if v != "" && len(v) < 16 {
				return fmt.Errorf("must be at least 16 characters")
			}
			c.Ops.MetricsToken = v
			return nil
		}},
}

func positive(v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("must be a whole number of at least 1")
	}
	return n, nil
}

func count(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("must be a whole number, 0 or more")
	}
	return n, nil
}
