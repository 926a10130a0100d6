package connlimit

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// serve runs a real http.Server behind a Listener with c, answering
// every request 200 "ok", until the test ends.
func serve(t *testing.T, c Config) (*Listener, string) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(inner, c)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:     http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		IdleTimeout: time.Minute, // longer than any test: connections stay until closed
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l, inner.Addr().String()
}

// dialFrom connects from the loopback address from (any of 127.0.0.0/8
// is local on Linux), so that one test can be several clients.
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", from, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// get sends GET /healthz on c and returns the status and body of the
// answer, keeping the connection open (keep-alive).
func get(t *testing.T, c net.Conn) (int, string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return 0, err.Error()
	}
	return readAnswer(t, bufio.NewReader(c))
}

func readAnswer(t *testing.T, br *bufio.Reader) (int, string) {
	t.Helper()
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// refusedAnswer reads what a refused connection is told, without sending
// a request first (so that the server's close cannot turn into a reset).
func refusedAnswer(t *testing.T, c net.Conn) (int, string, http.Header) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the refusal: %v", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if !res.Close {
		t.Errorf("a refusal without Connection: close")
	}
	return res.StatusCode, string(b), res.Header
}

// reasons collects OnRefuse calls, which come from the accept loop.
type reasons struct {
	mu   sync.Mutex
	seen []Reason
}

func (r *reasons) add(x Reason) { r.mu.Lock(); r.seen = append(r.seen, x); r.mu.Unlock() }

func (r *reasons) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprint(r.seen)
}

func waitOpen(t *testing.T, l *Listener, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for l.Open() != want {
		if time.Now().After(deadline) {
			t.Fatalf("open connections: %d, want %d", l.Open(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// One address holding its cap is refused more, with a 503 that says why;
// another address still gets in; a closed connection frees its slot.
func TestPerAddressCap(t *testing.T) {
	var refused reasons
	l, addr := serve(t, Config{Max: 100, MaxPerAddress: 3, OnRefuse: refused.add})
	var held []net.Conn
	for i := range 3 {
		c := dialFrom(t, "127.0.0.2", addr)
		if st, body := get(t, c); st != 200 {
			t.Fatalf("connection %d of 3 from one address: %d %s", i+1, st, body)
		}
		held = append(held, c)
	}
	st, body, h := refusedAnswer(t, dialFrom(t, "127.0.0.2", addr))
	if st != 503 || !strings.Contains(body, "too many connections from this address") || h.Get("Retry-After") == "" {
		t.Fatalf("4th connection from one address: %d %q %v", st, body, h)
	}
	if st, body := get(t, dialFrom(t, "127.0.0.3", addr)); st != 200 {
		t.Fatalf("another address while the first is at its cap: %d %s", st, body)
	}
	// The held connections still work: the cap refuses new ones only.
	if st, _ := get(t, held[0]); st != 200 {
		t.Fatalf("a held connection stopped working: %d", st)
	}
	held[0].Close()
	waitOpen(t, l, 3) // two of 127.0.0.2, one of 127.0.0.3
	if st, body := get(t, dialFrom(t, "127.0.0.2", addr)); st != 200 {
		t.Fatalf("after one of its connections closed, the address still refused: %d %s", st, body)
	}
	if got := refused.String(); got != "[address]" {
		t.Fatalf("OnRefuse calls: %s, want [address]", got)
	}
}

// The total cap holds whatever the addresses: beyond it every new
// connection is refused, and a slot freed is taken again.
func TestTotalCap(t *testing.T) {
	var refused reasons
	l, addr := serve(t, Config{Max: 20, MaxPerAddress: 0, OnRefuse: refused.add})
	var held []net.Conn
	for i := range 20 {
		c := dialFrom(t, fmt.Sprintf("127.0.0.%d", 2+i%5), addr)
		if st, body := get(t, c); st != 200 {
			t.Fatalf("connection %d of 20: %d %s", i+1, st, body)
		}
		held = append(held, c)
	}
	for _, from := range []string{"127.0.0.2", "127.0.0.9"} {
		st, body, _ := refusedAnswer(t, dialFrom(t, from, addr))
		if st != 503 || !strings.Contains(body, "as many connections as it may") {
			t.Fatalf("connection beyond MAX from %s: %d %q", from, st, body)
		}
	}
	if l.Open() != 20 {
		t.Fatalf("open: %d, want 20", l.Open())
	}
	held[5].Close()
	held[6].Close()
	waitOpen(t, l, 18)
	for range 2 {
		if st, body := get(t, dialFrom(t, "127.0.0.9", addr)); st != 200 {
			t.Fatalf("after two slots were freed: %d %s", st, body)
		}
	}
	if got := refused.String(); got != "[total total]" {
		t.Fatalf("OnRefuse calls: %s, want [total total]", got)
	}
}

// net/http may close a connection twice; the slot is given back once.
func TestCloseTwiceGivesTheSlotBackOnce(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, _ := New(inner, Config{Max: 2, MaxPerAddress: 2})
	defer l.Close()
	for range 2 {
		go func() {
			if c, err := net.Dial("tcp", inner.Addr().String()); err == nil {
				t.Cleanup(func() { c.Close() })
			}
		}()
	}
	a, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	a.Close()
	if l.Open() != 1 || len(l.byAddr) != 1 || l.byAddr["127.0.0.1"] != 1 {
		t.Fatalf("after closing one of two twice: open %d, by address %v", l.Open(), l.byAddr)
	}
	b.Close()
	if l.Open() != 0 || len(l.byAddr) != 0 {
		t.Fatalf("after closing both: open %d, by address %v (an address without connections must not stay)", l.Open(), l.byAddr)
	}
}

func TestNewRefusesNoConnectionsAtAll(t *testing.T) {
	if _, err := New(nil, Config{Max: 0}); err == nil {
		t.Fatal("Max 0 accepted")
	}
}

func TestAddressKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7:41000":                    "192.0.2.7",
		"[::ffff:192.0.2.7]:41000":           "192.0.2.7",
		"[2001:db8:1:2:aaaa::1]:443":         "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff:ffff::9%eth0]:1": "2001:db8:1:2::/64",
	} {
		a, err := net.ResolveTCPAddr("tcp", in)
		if err != nil {
			t.Fatal(err)
		}
		if got := addressKey(a); got != want {
			t.Errorf("addressKey(%s) = %q, want %q", in, got, want)
		}
	}
	if got := addressKey(&net.UnixAddr{Name: "@sock", Net: "unix"}); got != "@sock" {
		t.Errorf("a non-IP address: %q", got)
	}
}
