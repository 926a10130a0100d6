package wire

import "time"

// The cron jobs' work, on demand for an admin with only the service's URL.

// AlertCheck is what one alert check did (POST /api/alerts/check).
type AlertCheck struct {
	Devices     int      `json:"devices"`
	Opened      []string `json:"opened"`
	Resolved    []string `json:"resolved"`
	Notified    int      `json:"notified"`
	Failed      int      `json:"failed"`
	Undelivered int      `json:"undelivered"`
	Webhook     bool     `json:"webhook"`
}

// RetentionRun is what one retention run removed (POST /api/retention/run).
type RetentionRun struct {
	Readings RetentionPart `json:"readings"`
	Raw      RetentionPart `json:"raw"`
	Ops      RetentionPart `json:"ops"`
}

// RetentionPart is what a run removed of one kind of data.
type RetentionPart struct {
	Before  time.Time `json:"before"`
	Days    int       `json:"days"`
	Removed int64     `json:"removed"`
	Batches int       `json:"batches"`
}
