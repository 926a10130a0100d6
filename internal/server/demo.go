package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/auth"
	"github.com/thermowatt/thermowatt/internal/simulate"
	"github.com/thermowatt/thermowatt/internal/store"
)

// Demo devices: `serve --demo` registers them with their own device
// tokens and runs them against the server's own HTTP port, so their
// readings take the real ingest path (auth, validation, group commit),
// and a newcomer's first look shows curves with two hours of history.
const (
	demoDevices  = 3
	demoPrefix   = "demo-"
	demoInterval = 5 * time.Second
	demoHistory  = 2 * time.Hour
	demoBatch    = 100
)

// demoHistoryFor is how much history the demo devices send at start: two
// hours on a fresh database, and after an earlier demo only the time
// since their newest reading, so that a second `make demo` continues the
// first one's curves rather than writing a second past over them.
func demoHistoryFor(ctx context.Context, st store.Devices, ids []string, now time.Time) (time.Duration, error) {
	h := demoHistory
	for _, id := range ids {
		d, err := st.GetDevice(ctx, id)
		if err != nil {
			return 0, fmt.Errorf("demo: reading %s: %w", id, err)
		}
		if d.LastSeenAt != nil {
			h = min(h, max(now.Sub(*d.LastSeenAt), 0))
		}
	}
	return h, nil
}

// startDemo starts the demo devices; the returned function stops them and
// revokes their tokens.
func startDemo(ctx context.Context, out io.Writer, st store.Store, baseURL string, logger *slog.Logger) (func(), error) {
	tokens := map[string]string{}
	var ids []string
	for _, id := range simulate.DeviceIDs(demoPrefix, demoDevices) {
		if _, err := st.CreateDevice(ctx, id, time.Now()); err != nil && !errors.Is(err, thermowatt.ErrExists) {
			return nil, fmt.Errorf("demo: registering %s: %w", id, err)
		}
		secret, t, err := auth.New(thermowatt.ScopeDevice, id, time.Now())
		if err != nil {
			return nil, err
		}
		if err := st.CreateToken(ctx, t); err != nil {
			return nil, fmt.Errorf("demo: token for %s: %w", id, err)
		}
		tokens[id] = secret
		ids = append(ids, t.ID)
	}
	history, err := demoHistoryFor(ctx, st, simulate.DeviceIDs(demoPrefix, demoDevices), time.Now())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s, err := simulate.Run(ctx, simulate.Options{
			URL: baseURL, Tokens: tokens, Devices: demoDevices, Prefix: demoPrefix,
			Interval: demoInterval, History: history,
			// The history goes in batches of 100, not the firmware's 25: 15
			// requests per device at start, within the per-token burst (50)
			// and, for the three together, the per-address one (100), so
			// the demo never trips its own server's rate limits.
			BatchSize: demoBatch,
			// Outages and reboots stop a device's curve for a while: each
			// is printed as it happens, so a gap is never a mystery.
			Events: out,
		})
		if err != nil {
			logger.Error("demo devices stopped", "err", err)
			return
		}
		logger.Info("demo devices stopped", "stats", s.String())
	}()
	fmt.Fprintf(out, "demo: %d simulated devices (%s01..%02d) send readings every %s through %s/api/measurements, with %s of history\n",
		demoDevices, demoPrefix, demoDevices, demoInterval, baseURL, history.Round(time.Second))
	fmt.Fprintln(out, "demo: like real ones, they sometimes lose Wi-Fi or reboot; each time, a line below says which device, when and for how long")
	return func() {
		cancel()
		<-done
		// The tokens die with the demo: nothing outside it ever saw them.
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, id := range ids {
			_ = st.RevokeToken(rctx, id, time.Now())
		}
	}, nil
}
