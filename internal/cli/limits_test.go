package cli

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A client that opens a connection and then sends its headers slowly (or
// never) is disconnected after READ_HEADER_TIMEOUT, instead of holding a
// connection, a goroutine and a file descriptor for as long as it likes.
func TestServeDisconnectsSlowClients(t *testing.T) {
	url, _, _ := startServe(t, map[string]string{"DATA_DIR": t.TempDir(), "ADMIN_TOKEN": "serve-admin-token-0123456789",
		"READ_HEADER_TIMEOUT": "300ms", "MAX_HEADER_BYTES": "4096"})
	addr := strings.TrimPrefix(url, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /api/measurements HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	// The rest of the headers never come. A server without the timeout
	// would wait forever; this test would then fail on its own deadline.
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	rest, err := io.ReadAll(conn)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server kept a client with unfinished headers connected")
	}
	if len(rest) > 0 && !strings.Contains(string(rest), "408") && !strings.Contains(string(rest), "400") {
		t.Fatalf("answer to unfinished headers: %q", rest)
	}

	// Oversized headers: 431, whatever else the request is.
	req, _ := http.NewRequest("GET", url+"/healthz", nil)
	req.Header.Set("X-Padding", strings.Repeat("a", 8192))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("8 KiB of headers with MAX_HEADER_BYTES=4096: %d", res.StatusCode)
	}
}

// The limits in the environment reach the running server.
func TestServeAppliesRateLimitAndSecurityHeadersFromTheEnvironment(t *testing.T) {
	const admin = "serve-admin-token-0123456789"
	url, _, _ := startServe(t, map[string]string{"DATA_DIR": t.TempDir(), "ADMIN_TOKEN": admin,
		"RATE_LIMIT": "0.001", "RATE_LIMIT_BURST": "2", "CORS_ORIGINS": "https://dash.example.com"})
	var statuses []int
	for range 3 {
		req, _ := http.NewRequest("GET", url+"/api/devices", nil)
		req.Header.Set("Authorization", "Bearer "+admin)
		req.Header.Set("Origin", "https://dash.example.com")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		statuses = append(statuses, res.StatusCode)
		if res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("Access-Control-Allow-Origin") != "https://dash.example.com" {
			t.Fatalf("headers: %v", res.Header)
		}
		if res.StatusCode == 429 && res.Header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
	}
	if statuses[0] != 200 || statuses[1] != 200 || statuses[2] != 429 {
		t.Fatalf("RATE_LIMIT=0.001 RATE_LIMIT_BURST=2: statuses %v, want [200 200 429]", statuses)
	}
}
