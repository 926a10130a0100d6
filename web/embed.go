// Package web holds the dashboard's browser files. They live here, next to
// package.json and the browser tests, and are embedded into the binary so
// that the one executable serves them (go:embed cannot reach up into a
// parent directory, hence this small package). internal/dashboard serves them.
package web

import (
	"embed"
	"io/fs"
)

//go:embed static
var files embed.FS

// Static is the dashboard's files: index.html, app.js, app.css and, after
// `make build`, the uPlot chart library copied from npm into vendor/.
var Static, _ = fs.Sub(files, "static")
