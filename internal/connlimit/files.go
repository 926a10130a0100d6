package connlimit

// Every connection is a file descriptor, and so are the database pool's
// connections, the SQLite files, the log and every file the process
// opens. The caps keep connections to a share of the process's limit so
// that those always find one: past the limit, accept fails with "too many
// open files" and so does everything else the process tries to open.

// DefaultCap is the default of the total cap (MAX_CONNS).
const DefaultCap = 4096

// Reserved descriptors are never given to connections by an explicit cap:
// the database pool (MAX_DB_CONCURRENCY + 8 connections), SQLite's
// database, WAL and shared-memory files, the log, and room to spare.
const Reserved = 256

// DefaultMax is the total cap for a process that may open limit files:
// half of them, at most DefaultCap. DefaultCap keeps the memory of idle
// connections modest (each holds a goroutine and its read and write
// buffers, tens of KB); the half leaves the other half to everything
// else where the limit is low (1024 on some systems). limit 0 means
// unknown: DefaultCap.
func DefaultMax(limit uint64) int {
	if limit == 0 || limit/2 >= DefaultCap {
		return DefaultCap
	}
	return max(int(limit/2), 1)
}

// Ceiling is the highest total cap that leaves Reserved descriptors for
// the rest of the process (half of them when the limit is that low).
// limit 0 means unknown: no ceiling (0).
func Ceiling(limit uint64) int {
	switch {
	case limit == 0:
		return 0
	case limit < 2*Reserved:
		return max(int(limit/2), 1)
	case limit-Reserved > 1<<30:
		return 1 << 30
	}
	return int(limit - Reserved)
}
