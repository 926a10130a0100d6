package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

var dashboardLink = regexp.MustCompile(`Dashboard: (http://localhost:\d+)/#token=(tw_[0-9a-f]{12}_[A-Za-z0-9_-]{32})`)

// serveWithLink runs `serve --dashboard-link` until the link is printed.
func serveWithLink(t *testing.T, vars map[string]string) (base, token string, stop func()) {
	t.Helper()
	vars["PORT"] = "0"
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, []string{"serve", "--dashboard-link"}, envOf(vars), nil, out, io.Discard) }()
	stop = func() { cancel(); <-done }
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := dashboardLink.FindStringSubmatch(out.String()); m != nil {
			return m[1], m[2], stop
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited: %v\n%s", err, out)
		default:
		}
	}
	stop()
	t.Fatalf("no dashboard link printed:\n%s", out)
	return
}

func status(t *testing.T, method, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(`{"id":"x"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// `make run` prints a link that opens the dashboard signed in: its token
// reads but does not administer, and the next start replaces it.
func TestDashboardLinkSignsInAndTheNextStartRevokesIt(t *testing.T) {
	vars := map[string]string{"DATA_DIR": t.TempDir(), "ADMIN_TOKEN": "cli-test-admin-token-0123"}
	base, first, stop := serveWithLink(t, vars)
	if got := status(t, "GET", base+"/api/devices", first); got != 200 {
		t.Fatalf("the link's token cannot read: %d", got)
	}
	if got := status(t, "POST", base+"/api/devices", first); got != 403 {
		t.Errorf("the link's token may administer: %d, want 403", got)
	}
	if got := status(t, "GET", base+"/", ""); got != 200 {
		t.Errorf("the dashboard at the printed URL: %d", got)
	}
	stop()

	base, second, stop := serveWithLink(t, vars)
	defer stop()
	if second == first {
		t.Fatal("second start printed the same token")
	}
	if got := status(t, "GET", base+"/api/devices", second); got != 200 {
		t.Errorf("the new link's token cannot read: %d", got)
	}
	if got := status(t, "GET", base+"/api/devices", first); got != 401 {
		t.Errorf("the previous link's token still works after a restart: %d, want 401", got)
	}
}

// Two PostgreSQL databases served in turn from one folder: each keeps its
// own dashboard token file, so each start revokes its own database's
// previous link token (one file for both left the first one's live).
func TestDashboardLinkTokenFilePerDatabase(t *testing.T) {
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		t.Skip("TEST_DATABASE_URL is not set")
	}
	dir := t.TempDir()
	urlOf := func(name string) string {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		u.Path = "/" + name
		return u.String()
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	stamp := time.Now().UnixNano()
	a, b := fmt.Sprintf("tw_link_a_%d", stamp), fmt.Sprintf("tw_link_b_%d", stamp)
	t.Cleanup(func() {
		for _, n := range []string{a, b} {
			admin.Exec(ctx, "DROP DATABASE IF EXISTS "+n+" WITH (FORCE)")
		}
	})
	varsA := map[string]string{"DATA_DIR": dir, "ADMIN_TOKEN": "cli-test-admin-token-0123", "DATABASE_URL": urlOf(a)}
	varsB := map[string]string{"DATA_DIR": dir, "ADMIN_TOKEN": "cli-test-admin-token-0123", "DATABASE_URL": urlOf(b)}
	_, firstA, stop := serveWithLink(t, varsA)
	stop()
	_, _, stop = serveWithLink(t, varsB)
	stop()
	baseA, _, stop := serveWithLink(t, varsA)
	defer stop()
	if got := status(t, "GET", baseA+"/api/devices", firstA); got != 401 {
		t.Errorf("database A's previous link token still works after serving B and then A again: %d, want 401", got)
	}
}
