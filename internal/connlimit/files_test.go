package connlimit

import (
	"runtime"
	"testing"
)

// The default total cap stays well below the open-file limit, so that
// the database pool and files always find a descriptor; an explicit cap
// may go up to the limit less what they need.
func TestDefaultMaxAndCeilingLeaveDescriptors(t *testing.T) {
	for _, c := range []struct {
		limit        uint64
		def, ceiling int
	}{
		{0, DefaultCap, 0}, // unknown
		{64, 32, 32},
		{1024, 512, 768},
		{20000, DefaultCap, 20000 - Reserved},
		{1 << 20, DefaultCap, 1<<20 - Reserved},
		{^uint64(0), DefaultCap, 1 << 30}, // unlimited
	} {
		if d := DefaultMax(c.limit); d != c.def {
			t.Errorf("DefaultMax(%d) = %d, want %d", c.limit, d, c.def)
		}
		if got := Ceiling(c.limit); got != c.ceiling {
			t.Errorf("Ceiling(%d) = %d, want %d", c.limit, got, c.ceiling)
		}
		if c.limit > 0 && uint64(DefaultMax(c.limit)) > c.limit/2 {
			t.Errorf("DefaultMax(%d) takes more than half the descriptors", c.limit)
		}
	}
	if runtime.GOOS == "linux" && FileLimit() == 0 {
		t.Error("FileLimit: 0 on Linux, where RLIMIT_NOFILE is always set")
	}
}
