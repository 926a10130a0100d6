package bench

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// rollupLag is what /metrics says of the materializer: how many
// device-hours wait and how long the oldest has.
type rollupLag struct {
	pending int
	oldest  time.Duration
}

func (l rollupLag) String() string {
	return fmt.Sprintf("%d hours pending, the oldest for %.1f s", l.pending, l.oldest.Seconds())
}

// readLag reads the materializer's gauges from the server's /metrics.
func (a api) readLag(ctx context.Context) (rollupLag, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.url+"/metrics", nil)
	if err != nil {
		return rollupLag{}, err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := a.c.Do(req)
	if err != nil {
		return rollupLag{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return rollupLag{}, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	var (
		lag   rollupLag
		found int
	)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			continue
		}
		switch name {
		case "thermowatt_rollup_pending_hours":
			lag.pending, found = int(v), found+1
		case "thermowatt_rollup_oldest_pending_seconds":
			lag.oldest, found = time.Duration(v*float64(time.Second)), found+1
		}
	}
	if err := sc.Err(); err != nil {
		return lag, err
	}
	if found < 2 {
		return lag, fmt.Errorf("/metrics has no thermowatt_rollup_pending_hours or thermowatt_rollup_oldest_pending_seconds (a server from before the materializer?)")
	}
	return lag, nil
}

// watchLag samples the materializer's lag every second until stop is
// closed, and returns the largest pending count and age seen.
func (a api) watchLag(ctx context.Context, stop <-chan struct{}) <-chan rollupLag {
	out := make(chan rollupLag, 1)
	go func() {
		var worst rollupLag
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			if l, err := a.readLag(ctx); err == nil {
				worst.pending, worst.oldest = max(worst.pending, l.pending), max(worst.oldest, l.oldest)
			}
			select {
			case <-stop:
				out <- worst
				return
			case <-ctx.Done():
				out <- worst
				return
			case <-t.C:
			}
		}
	}()
	return out
}

// caughtUp polls the lag every second after the load until nothing is
// pending (or limit passes), and says how long that took.
func (a api) caughtUp(ctx context.Context, limit time.Duration) (time.Duration, error) {
	start := time.Now()
	for {
		l, err := a.readLag(ctx)
		if err != nil {
			return 0, err
		}
		if l.pending == 0 {
			return time.Since(start), nil
		}
		if time.Since(start) > limit {
			return 0, fmt.Errorf("still %s after %s", l, limit)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
