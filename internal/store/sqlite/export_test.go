package sqlite

// ReadingsQuery lets the external tests EXPLAIN the SQL QueryReadings runs.
var ReadingsQuery = readingsQuery

// SeriesQuery lets the external tests EXPLAIN the SQL Series runs.
const SeriesQuery = seriesQuery
