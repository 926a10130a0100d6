package postgres

// ReadingsQuery lets the external tests EXPLAIN the SQL QueryReadings runs.
var ReadingsQuery = readingsQuery
