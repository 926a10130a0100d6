package logbuffer

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// syncBuffer is a bytes.Buffer safe to read while the flush timer writes.
type syncBuffer struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.buf.Write(p)
}

func (s *syncBuffer) String() (string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String(), s.writes
}

// The lines of one interval go out in one write, at the interval. The
// test runs on synctest's fake clock, so a busy machine cannot stretch the
// writing of the lines past the interval.
func TestLogBufferWritesLinesOutTogether(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := &syncBuffer{}
		lb := New(out, 20*time.Millisecond)
		l := slog.New(slog.NewJSONHandler(lb, nil))
		for i := range 100 {
			l.Info("request", "n", i)
		}
		time.Sleep(19 * time.Millisecond)
		synctest.Wait()
		if s, _ := out.String(); s != "" {
			t.Fatalf("written before the interval: %q", s)
		}
		time.Sleep(2 * time.Millisecond)
		synctest.Wait()
		s, writes := out.String()
		if n := strings.Count(s, "\n"); n != 100 || writes != 1 {
			t.Errorf("after the interval: %d lines in %d writes, want 100 in 1", n, writes)
		}
		lb.Close()
	})
}

func TestLogBufferCloseWritesTheRest(t *testing.T) {
	out := &syncBuffer{}
	lb := New(out, time.Hour)
	l := slog.New(slog.NewJSONHandler(lb, nil))
	l.Info("request")
	if err := lb.Close(); err != nil {
		t.Fatal(err)
	}
	if s, _ := out.String(); strings.Count(s, "\n") != 1 {
		t.Fatalf("after Close: %q", s)
	}
	l.Info("stopped") // after Close, at once
	if s, _ := out.String(); !strings.Contains(s, `"msg":"stopped"`) {
		t.Fatalf("a line after Close was kept: %q", s)
	}
}

// BenchmarkRequestLog: a request line written straight to a file (a write
// system call each, as serve's log to stdout was) or through a Buffer.
func BenchmarkRequestLog(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "log"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	lb := New(f, 100*time.Millisecond)
	defer lb.Close()
	for name, w := range map[string]io.Writer{"direct": f, "buffered": lb} {
		l := slog.New(slog.NewJSONHandler(w, nil))
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				l.Info("request", "method", "POST", "path", "/api/measurements", "status", 201,
					"ms", 3, "token", "3f9c0a1b2c4d", "remote", "127.0.0.1:54321")
			}
		})
	}
}
