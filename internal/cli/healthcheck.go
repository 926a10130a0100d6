package cli

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// healthcheck is the container's probe (the Dockerfile's HEALTHCHECK): the
// image has no curl, and needs none.

func init() {
	commands["healthcheck"] = command{summary: "exit 0 when the local serve is ready (GET /readyz on PORT): the Docker image's HEALTHCHECK", run: runHealthcheck}
}

func runHealthcheck(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "healthcheck")
	url := fs.String("url", "", "the server to ask (default: http://127.0.0.1:$PORT, PORT defaulting to 8080)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if *url == "" {
		port := e.getenv("PORT")
		if port == "" {
			port = "8080"
		}
		*url = "http://127.0.0.1:" + port
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", *url+"/readyz", nil)
	if err != nil {
		return usagef("--url: %v", err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s/readyz: %w", *url, err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s/readyz answered %s: the database does not answer", *url, res.Status)
	}
	fmt.Fprintln(e.stdout, "ready")
	return nil
}
