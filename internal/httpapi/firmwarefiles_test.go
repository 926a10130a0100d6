package httpapi_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/testdb"
)

// storeFile publishes a release of one file straight into the store (an
// upload is bounded by MAX_BODY_BYTES) and returns its contents.
func (a *api) storeFile(version, path string, size int) []byte {
	a.t.Helper()
	content := make([]byte, size)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range content {
		content[i] = byte(r.Uint32())
	}
	sum := sha256.Sum256(content)
	rel := thermowatt.Release{Version: version, CreatedAt: time.Now().UTC(),
		Files: []thermowatt.FirmwareFile{{Path: path, Size: int64(size), SHA256: hex.EncodeToString(sum[:]), Content: content}}}
	if err := a.st.CreateRelease(context.Background(), rel); err != nil {
		a.t.Fatal(err)
	}
	return content
}

// Ranges as RFC 9110 (14.2) has them: an unknown unit is ignored, a
// suffix of 0 bytes is unsatisfiable, and many ranges are refused rather
// than answered as a multipart body many times the header's size.
// (Before: bytes=-0 was a 206 with Content-Range bytes N-(N-1)/N,
// items=0-1 a 416, and 2,000 one-byte ranges a 295 KB answer.)
func TestFirmwareRangesFollowRFC9110(t *testing.T) {
	eachBackend(t, func(t *testing.T, a *api) {
		tok := a.device("n1")
		content := a.storeFile("1.0", "lib/app.py", 1000)
		size := len(content)
		many := make([]string, 2000)
		for i := range many {
			many[i] = fmt.Sprintf("%d-%d", i%size, i%size)
		}
		for _, c := range []struct {
			rng, ifRange string
			status       int
			body         string // the body expected, "" not checked
			contentRange string
		}{
			{"bytes=-0", "", 416, "", "bytes */1000"},
			{"bytes=1000-", "", 416, "", "bytes */1000"},
			{"bytes=-0,1000-2000", "", 416, "", "bytes */1000"},
			{"bytes=-0,990-", "", 206, string(content[990:]), "bytes 990-999/1000"},
			{"bytes=" + strings.Join(many, ","), "", 416, "", "bytes */1000"},
			{"bytes=0-0,2-2,4-4,6-6", "", 206, "", ""},
			{"bytes=0-0,2-2,4-4,6-6,8-8", "", 416, "", "bytes */1000"},
			{"items=0-1", "", 200, string(content), ""},
			{"BYTES=10-19", "", 206, string(content[10:20]), "bytes 10-19/1000"},
			{"bytes=-10", "", 206, string(content[990:]), "bytes 990-999/1000"},
			{"bytes=500-", "", 206, string(content[500:]), "bytes 500-999/1000"},
			{"bytes=5-2", "", 200, string(content), ""},
			{"bytes=x-", "", 200, string(content), ""},
			{"bytes=-0", `"not-the-etag"`, 200, string(content), ""}, // If-Range moot: the whole file
		} {
			h := map[string]string{"Range": c.rng}
			if c.ifRange != "" {
				h["If-Range"] = c.ifRange
			}
			r := a.doWith("GET", "/api/device/firmware/1.0/files/lib/app.py", tok, "", h)
			label := c.rng
			if len(label) > 40 {
				label = label[:40] + "..."
			}
			if r.Status != c.status || c.body != "" && string(r.Body) != c.body || r.Header.Get("Content-Range") != c.contentRange {
				t.Errorf("Range %s: %d Content-Range %q, %d bytes; want %d %q", label, r.Status, r.Header.Get("Content-Range"), len(r.Body), c.status, c.contentRange)
			}
			if len(r.Body) > 2*size {
				t.Errorf("Range %s: %d bytes answered for a %d-byte file", label, len(r.Body), size)
			}
		}
	})
}

// Stalled downloads of one file share one copy of it: a rollout sends a
// fleet after the same file, and devices on weak links stall mid-file.
// (Before: each download held its own copy, 40 of a 24 MB file took the
// server from 290 to 1,216 MiB.) The heap is measured while every
// download is stalled with the server blocked on a full socket.
func TestStalledFirmwareDownloadsShareOneCopy(t *testing.T) {
	for _, b := range testdb.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			a := newAPI(t, b.Open(t))
			tok := a.device("n1")
			const size, downloads = 12 << 20, 10 // beyond what loopback socket buffers absorb (4 MiB)
			content := a.storeFile("1.0", "lib/big.mpy", size)
			before := heapInUse()
			var conns []net.Conn
			for range downloads {
				c, err := net.Dial("tcp", strings.TrimPrefix(a.url, "http://"))
				if err != nil {
					t.Fatal(err)
				}
				conns = append(conns, c)
				c.(*net.TCPConn).SetReadBuffer(4096)
				fmt.Fprintf(c, "GET /api/device/firmware/1.0/files/lib/big.mpy HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", tok)
				// The status line: the server has the file and is sending it.
				if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.Contains(line, "200") {
					t.Fatalf("download: %q %v", line, err)
				}
			}
			grown := heapInUse() - before
			t.Logf("%d stalled downloads of a %d MiB file: heap grew %d MiB", downloads, size>>20, grown>>20)
			if grown > downloads*size/3 { // one copy each would be downloads × size
				t.Errorf("%d stalled downloads of a %d MiB file grew the heap by %d MiB: want one shared copy", downloads, size>>20, grown>>20)
			}
			for _, c := range conns {
				c.Close()
			}
			// And a download that is read is the file.
			req, _ := http.NewRequest("GET", a.url+"/api/device/firmware/1.0/files/lib/big.mpy", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if string(got) != string(content) {
				t.Fatalf("download: %d bytes, want the file's %d", len(got), size)
			}
		})
	}
}

func heapInUse() int {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int(m.HeapAlloc)
}
