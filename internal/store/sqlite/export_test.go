package sqlite

// ReadingsQuery lets the external tests EXPLAIN the SQL QueryReadings runs.
var ReadingsQuery = readingsQuery

// SeriesQuery lets the external tests EXPLAIN the SQL Series runs.
const SeriesQuery = seriesQuery

// SetMaterializeReadings sets what one transaction of s's materializer
// recomputes (store.MaterializeReadings), for tests of the hours it leaves
// for the next.
func SetMaterializeReadings(s *Store, n int64) { s.materializeBudget = n }

// SetWALRestartPages lowers the WAL size from which s's checkpointer takes
// the writer to start the WAL over (walRestartPages), for a test that
// cannot write hundreds of MiB.
func SetWALRestartPages(s *Store, pages int64) { s.walRestart.Store(pages) }
