package wire

// Result is the answer to an ingest request (POST /api/measurements and
// the readings part of POST /api/raw-measurements).
type Result struct {
	Accepted   int         `json:"accepted"`
	Duplicates int         `json:"duplicates"`
	Rejected   []Rejection `json:"rejected"`
}

// Rejection says why one reading of a request was not stored.
type Rejection struct {
	Index   int    `json:"index"`
	Field   string `json:"field"`
	Message string `json:"message"`
}
