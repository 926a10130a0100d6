//go:build unix

package connlimit

import "syscall"

// FileLimit is the process's limit of open files (RLIMIT_NOFILE, the
// soft limit: on Linux the Go runtime raises it to the hard limit at
// start, so this is the most the process can get). 0 when unknown.
func FileLimit() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	return uint64(r.Cur)
}
