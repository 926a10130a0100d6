package store

// Rows is what both backends' result sets offer (pgx.Rows, *sql.Rows).
type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// ScanCounts reads rows of (key, count), as a GROUP BY gives them.
func ScanCounts[K ~string](rows Rows) (map[K]int, error) {
	counts := map[K]int{}
	for rows.Next() {
		var key string
		var n int
		if err := rows.Scan(&key, &n); err != nil {
			return nil, err
		}
		counts[K(key)] = n
	}
	return counts, rows.Err()
}
