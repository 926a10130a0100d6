package cli

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// With PPROF_ADDR set, the profiler answers on that address and only
// there: the public port does not serve it.
func TestPprofOnlyOnItsOwnAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	url, _, stop := startServe(t, map[string]string{
		"DATA_DIR": t.TempDir(), "ADMIN_TOKEN": "an-admin-token-for-tests", "PPROF_ADDR": addr})

	res, err := http.Get("http://" + addr + "/debug/pprof/")
	if err != nil {
		t.Fatalf("profiler on PPROF_ADDR: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "Types of profiles available") {
		t.Errorf("GET /debug/pprof/ on PPROF_ADDR: %d %q; want 200 and the list of profiles", res.StatusCode, body)
	}

	res, err = http.Get(url + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	public, _ := io.ReadAll(res.Body)
	res.Body.Close()
	// The index lists the profiles; a dashboard page at / would not.
	if strings.Contains(string(public), "Types of profiles available") {
		t.Errorf("the public port serves the profiler; it must not")
	}

	if err := stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if _, err := http.Get("http://" + addr + "/debug/pprof/"); err == nil {
		t.Errorf("the profiler still answers after serve stopped")
	}
}
