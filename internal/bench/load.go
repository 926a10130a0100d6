package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// newClient is for the bench's own set-up calls (registering devices,
// issuing tokens), not for the measured load: see conn.
func newClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:        conns * 2,
			MaxIdleConnsPerHost: conns * 2,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		},
	}
}

// request returns the whole HTTP/1.1 request a worker sends next, given
// its own running count, so that every request can carry new readings.
type request func(n int) []byte

// result of one closed-loop phase.
type result struct {
	Requests  int
	Errors    int
	FirstErr  string
	Elapsed   time.Duration
	Latencies []time.Duration // sorted
}

func (r result) perSecond() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

func (r result) quantile(q float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(q * float64(len(r.Latencies)))
	if i >= len(r.Latencies) {
		i = len(r.Latencies) - 1
	}
	return r.Latencies[i]
}

// run drives workers closed-loop for d against the server at addr
// (host:port): each has its own keep-alive connection, sends a request,
// waits for the answer, and sends the next. want is the expected status.
// Latency is recorded per request; requests still in flight at the end are
// counted when they finish, against the time they took.
func run(ctx context.Context, addr string, workers []request, want int, d time.Duration) result {
	var (
		mu  sync.Mutex
		all result
		wg  sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for _, next := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &conn{addr: addr}
			defer c.close()
			lat := make([]time.Duration, 0, 4096)
			var errs int
			var firstErr string
			for n := 0; time.Now().Before(deadline) && ctx.Err() == nil; n++ {
				req := next(n)
				t0 := time.Now()
				status, err := c.do(req)
				if err == nil && status != want {
					err = fmt.Errorf("%s: status %d, want %d", firstLine(req), status, want)
				}
				if err != nil {
					errs++
					if firstErr == "" {
						firstErr = err.Error()
					}
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			all.Latencies = append(all.Latencies, lat...)
			all.Errors += errs
			if all.FirstErr == "" {
				all.FirstErr = firstErr
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	all.Elapsed = time.Since(start)
	all.Requests = len(all.Latencies)
	slices.Sort(all.Latencies)
	return all
}

// conn is one keep-alive HTTP/1.1 connection of the load generator. It
// writes prebuilt request bytes and reads each answer with net/http's own
// parser (chunked bodies included), but skips http.Transport, whose
// per-connection goroutines and hand-offs cost more CPU per request than
// the parsing: on a machine shared with the server under test, CPU the
// generator spends is CPU the server does not get.
type conn struct {
	addr string
	c    net.Conn
	br   *bufio.Reader
}

// do sends req and returns the answer's status once its body is read. A
// broken connection is redialled on the next call.
func (k *conn) do(req []byte) (int, error) {
	if k.c == nil {
		c, err := net.Dial("tcp", k.addr)
		if err != nil {
			return 0, err
		}
		k.c, k.br = c, bufio.NewReaderSize(c, 64<<10)
	}
	if _, err := k.c.Write(req); err != nil {
		k.close()
		return 0, err
	}
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		k.close()
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || resp.Close {
		k.close()
	}
	return resp.StatusCode, err
}

func (k *conn) close() {
	if k.c != nil {
		k.c.Close()
		k.c, k.br = nil, nil
	}
}

// httpRequest builds an HTTP/1.1 request with a bearer token.
func httpRequest(method, host, path, token string, body []byte) []byte {
	b := make([]byte, 0, 256+len(body))
	b = append(b, method+" "+path+" HTTP/1.1\r\nHost: "+host+"\r\nAuthorization: Bearer "+token+"\r\n"...)
	if body != nil {
		b = append(b, "Content-Type: application/json\r\nContent-Length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	return append(b, body...)
}

// firstLine is the request line of req, for error messages.
func firstLine(req []byte) string {
	line, _, _ := bytes.Cut(req, []byte("\r\n"))
	return string(line)
}

// readingJSON appends one reading exactly as the firmware sends it
// (esp32/lib/reading.py to_api): no humidity sensor, the power figures and
// the sensors' own report in the payload, and — on the first reading of
// each request — the device's report on itself (payload.device).
func readingJSON(b []byte, deviceID string, at time.Time, i int, withHealth bool) []byte {
	b = append(b, `{"deviceId":"`...)
	b = append(b, deviceID...)
	b = append(b, `","recordedAt":"`...)
	b = at.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","temperature":`...)
	b = strconv.AppendFloat(b, temperatureAt(i), 'f', 1, 64)
	b = append(b, `,"humidity":null,"payload":`...)
	b = appendPayload(b, i)
	if withHealth {
		b = b[:len(b)-1] // reopen the payload object
		b = append(b, `,"device":{"firmware":"0.3.0","uptime_s":`...)
		b = strconv.AppendInt(b, int64(i*300), 10)
		b = append(b, `,"free_heap":98304,"rssi_dbm":-61,"queue_depth":0,"dropped":0,"dead_lettered":0,"last_error":null,"reset_cause":"power_on","boot":3}}`...)
	}
	return append(b, '}')
}

// postReadings makes a worker that posts `size` readings of one device per
// request to the server at host, each at a new time starting from base,
// one second apart.
func postReadings(host, token, deviceID string, base time.Time, size int) request {
	buf := make([]byte, 0, 256*size)
	return func(n int) []byte {
		buf = buf[:0]
		if size > 1 {
			buf = append(buf, '[')
		}
		for j := range size {
			if j > 0 {
				buf = append(buf, ',')
			}
			i := n*size + j
			buf = readingJSON(buf, deviceID, base.Add(time.Duration(i)*time.Second), i, j == 0)
		}
		if size > 1 {
			buf = append(buf, ']')
		}
		return httpRequest(http.MethodPost, host, "/api/measurements", token, buf)
	}
}
