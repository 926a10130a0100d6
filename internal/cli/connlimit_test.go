package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thermowatt/thermowatt/internal/server"
)

// idleFlood opens n connections to addr from the loopback address from,
// sends GET /healthz on each and keeps every one that is answered 200
// open and idle, as a client hoarding keep-alive connections does. It
// stops after n connections or at deadline, whichever comes first, and
// returns the connections it holds and how many were refused (a 503, or
// closed or reset before an answer).
func idleFlood(t *testing.T, addr, from string, n int, deadline time.Time) (held []net.Conn, refused int) {
	t.Helper()
	var (
		mu       sync.Mutex
		next     atomic.Int64
		wg       sync.WaitGroup
		refusedN atomic.Int64
	)
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) && time.Now().Before(deadline) {
				c, err := d.Dial("tcp", addr)
				if err != nil {
					refusedN.Add(1)
					continue
				}
				c.SetDeadline(time.Now().Add(5 * time.Second))
				status := 0
				if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err == nil {
					if res, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
						io.Copy(io.Discard, res.Body)
						res.Body.Close()
						status = res.StatusCode
					}
				}
				if status != http.StatusOK {
					c.Close()
					refusedN.Add(1)
					continue
				}
				c.SetDeadline(time.Time{})
				mu.Lock()
				held = append(held, c)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if time.Now().After(deadline) {
		t.Fatalf("the flood of %d connections did not finish in time (%d held, %d refused)", n, len(held), refusedN.Load())
	}
	return held, int(refusedN.Load())
}

// freshClient is a client from 127.0.0.1 that opens a new connection for
// every request, as the firmware does (Connection: close): each of its
// requests needs the server to accept one more connection.
func freshClient() *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}, Timeout: 5 * time.Second}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, DialContext: d.DialContext}}
}

// metricValue reads one series from /metrics.
func metricValue(t *testing.T, url, series string) float64 {
	t.Helper()
	st, body := call(t, "GET", url+"/metrics", "")
	if st != 200 {
		t.Fatalf("GET /metrics: %d", st)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in /metrics", series)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// One client opening thousands of keep-alive connections and leaving
// them idle holds no more than MAX_CONNS_IP of them; the rest are refused
// as they are accepted. Meanwhile another client, opening a new
// connection for each request, has every request answered: the flood can
// use up neither the server's connections nor its file descriptors.
// MAX_CONNS is set below the size of the flood so that, without the
// per-address cap, the flood would take every connection the server may
// hold and the other client would be refused.
func TestServeAnswersOthersWhileOneAddressHoardsIdleConnections(t *testing.T) {
	const flood, perAddress = 3000, 100
	url, out, _ := startServe(t, map[string]string{"DATA_DIR": t.TempDir(), "ADMIN_TOKEN": opsAdmin,
		"MAX_CONNS": "2000", "MAX_CONNS_IP": strconv.Itoa(perAddress),
		// The other client posts faster than one token's rate allows; the
		// rate limits are not what this test is about.
		"RATE_LIMIT": "0"})
	if st, body := call(t, "POST", url+"/api/devices", `{"id":"node-1"}`); st != 201 {
		t.Fatalf("register: %d %s", st, body)
	}
	other := freshClient()
	var answered atomic.Int64
	ask := func(i int) error {
		body := fmt.Sprintf(`{"deviceId":"node-1","recordedAt":%q,"temperature":20}`,
			time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i)*time.Second).Format(time.RFC3339))
		req, _ := http.NewRequest("POST", url+"/api/measurements", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+opsAdmin)
		res, err := other.Do(req)
		if err != nil {
			return fmt.Errorf("reading %d from 127.0.0.1: %v", i, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 201 {
			return fmt.Errorf("reading %d from 127.0.0.1: %d %s", i, res.StatusCode, b)
		}
		answered.Add(1)
		return nil
	}

	start := time.Now()
	ctx, stopAsking := context.WithCancel(context.Background())
	asked := make(chan error, 1)
	go func() {
		// During the flood: one reading after another, each on a new
		// connection, until the flood is over (bounded by the count too).
		for i := 0; i < 100000 && ctx.Err() == nil; i++ {
			if err := ask(i); err != nil {
				asked <- err
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		asked <- nil
	}()
	held, refused := idleFlood(t, strings.TrimPrefix(url, "http://"), "127.0.0.2", flood, start.Add(30*time.Second))
	stopAsking()
	if err := <-asked; err != nil {
		t.Fatalf("during the flood (%d of its connections held): %v", len(held), err)
	}
	// After it, with every connection it could get held idle.
	for i := range 10 {
		if err := ask(100000 + i); err != nil {
			t.Fatalf("with the flood's %d connections held: %v", len(held), err)
		}
	}
	if len(held) != perAddress || refused != flood-perAddress {
		t.Fatalf("the flood holds %d connections and had %d refused; want MAX_CONNS_IP=%d held and %d refused",
			len(held), refused, perAddress, flood-perAddress)
	}
	t.Logf("flood: %d held, %d refused; the other client had %d readings stored", len(held), refused, answered.Load())

	if got := metricValue(t, url, `thermowatt_connections_refused_total{reason="address"}`); int(got) != refused {
		t.Errorf("refusals counted in /metrics: %v, want %d", got, refused)
	}
	if got := metricValue(t, url, `thermowatt_open_connections`); got < perAddress || got > perAddress+10 {
		t.Errorf("open connections in /metrics: %v, want the flood's %d and the few of this test", got, perAddress)
	}
	// Thousands of refusals, a handful of log lines: one at the first
	// refusal, then at most one per interval with the counts.
	elapsed := time.Since(start)
	var lines []string
	waitFor(t, "a log line about refused connections", func() bool {
		lines = regexp.MustCompile(`(?m)^.*"connections refused".*$`).FindAllString(out.String(), -1)
		return len(lines) > 0
	})
	if most := 2 + int(elapsed/server.RefusalLogEvery); len(lines) > most {
		t.Errorf("%d log lines about refused connections in %v, want at most %d:\n%s", len(lines), elapsed, most, strings.Join(lines, "\n"))
	}
	if !strings.Contains(lines[0], `"address_cap":1`) {
		t.Errorf("the first line is not about the first refusal: %s", lines[0])
	}
}

// Behind a proxy every connection comes from the proxy's address, so the
// per-address cap is not applied to the TCP peer (it would cap all clients
// together); the total cap still holds.
func TestServeBehindAProxyCapsTheTotalNotTheProxyAddress(t *testing.T) {
	const total = 40
	url, _, _ := startServe(t, map[string]string{"DATA_DIR": t.TempDir(), "ADMIN_TOKEN": opsAdmin,
		"TRUST_PROXY_HEADERS": "2", "MAX_CONNS": strconv.Itoa(total), "MAX_CONNS_IP": "5"})
	http.DefaultClient.CloseIdleConnections() // startServe's health check: not to count against the total
	held, refused := idleFlood(t, strings.TrimPrefix(url, "http://"), "127.0.0.2", total+20, time.Now().Add(30*time.Second))
	// The server may still be closing the health check's connection when
	// the flood begins: then one fewer is held.
	if len(held) < total-1 || len(held) > total || refused != total+20-len(held) {
		t.Fatalf("from the proxy's address: %d held, %d refused; want MAX_CONNS=%d held (MAX_CONNS_IP=5 not applied), the rest refused", len(held), refused, total)
	}
	// The refusal says which cap is full.
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("a connection beyond MAX_CONNS: %v", err)
	}
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 503 || res.Header.Get("Retry-After") == "" || !strings.Contains(string(b), "as many connections as it may") {
		t.Fatalf("a connection beyond MAX_CONNS: %d %v %q", res.StatusCode, res.Header, b)
	}
	// Once connections close, new ones are taken again.
	for _, c := range held[:5] {
		c.Close()
	}
	waitFor(t, "a freed slot to be taken again", func() bool {
		res, err := freshClient().Get(url + "/healthz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == 200
	})
}
