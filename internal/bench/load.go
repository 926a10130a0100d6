package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"
)

// client is the load generator's HTTP client: keep-alive connections, one
// per concurrent worker, so that no request pays a TCP handshake.
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

// request is what one worker sends next; the worker calls it with its own
// running count so that every request can carry new readings.
type request func(n int) (*http.Request, error)

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

// run drives workers closed-loop for d: each sends a request, waits for
// the answer, and sends the next. want is the expected status. Latency is
// recorded per request; requests still in flight at the end are counted
// when they finish, against the time they took.
func run(ctx context.Context, c *http.Client, workers []request, want int, d time.Duration) result {
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
			lat := make([]time.Duration, 0, 4096)
			var errs int
			var firstErr string
			for n := 0; time.Now().Before(deadline) && ctx.Err() == nil; n++ {
				req, err := next(n)
				if err != nil {
					errs++
					firstErr = err.Error()
					break
				}
				t0 := time.Now()
				resp, err := c.Do(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != want {
						err = fmt.Errorf("%s %s: %s", req.Method, req.URL.Path, resp.Status)
					}
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

// readingJSON appends one reading as a device sends it.
func readingJSON(b []byte, deviceID string, at time.Time, i int) []byte {
	b = append(b, `{"deviceId":"`...)
	b = append(b, deviceID...)
	b = append(b, `","recordedAt":"`...)
	b = at.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","temperature":`...)
	b = strconv.AppendFloat(b, 20+float64(i%100)/10, 'f', 1, 64)
	b = append(b, `,"humidity":`...)
	b = strconv.AppendFloat(b, 40+float64(i%50)/10, 'f', 1, 64)
	b = append(b, `,"payload":{"voltage_v":5.02,"current_ma":`...)
	b = strconv.AppendFloat(b, 100+float64(i%200), 'f', 1, 64)
	b = append(b, `,"power_mw":`...)
	b = strconv.AppendFloat(b, 500+float64(i%1000), 'f', 1, 64)
	b = append(b, `}}`...)
	return b
}

// postReadings makes a worker that posts `size` readings of one device per
// request, each at a new time starting from base, one second apart.
func postReadings(url, token, deviceID string, base time.Time, size int) request {
	return func(n int) (*http.Request, error) {
		// A new buffer each time: the transport may still hold the last one.
		buf := make([]byte, 0, 256*size)
		if size > 1 {
			buf = append(buf, '[')
		}
		for j := range size {
			if j > 0 {
				buf = append(buf, ',')
			}
			i := n*size + j
			buf = readingJSON(buf, deviceID, base.Add(time.Duration(i)*time.Second), i)
		}
		if size > 1 {
			buf = append(buf, ']')
		}
		req, err := http.NewRequest(http.MethodPost, url+"/api/measurements", bytes.NewReader(buf))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		return req, nil
	}
}
