package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// runSetInterval is `thermowatt device set-interval ID DURATION`: how
// often the device should send; it is silent after ALERT_MISSED_INTERVALS
// of these without a reading.
func runSetInterval(ctx context.Context, e env, args []string) error {
	fs := subFlags(e, "device", "set-interval")
	if err := fs.Parse(args); err != nil {
		return flagError(err)
	}
	if fs.NArg() != 2 {
		return usagef("usage: thermowatt device set-interval ID DURATION (e.g. 60s, 5m; plain numbers are seconds)")
	}
	id, arg := fs.Arg(0), fs.Arg(1)
	d, err := time.ParseDuration(arg)
	if err != nil {
		n, nerr := strconv.Atoi(arg)
		if nerr != nil {
			return usagef("%q is not a duration such as 60s or 5m", arg)
		}
		d = time.Duration(n) * time.Second
	}
	if d < time.Second || d%time.Second != 0 || d > 30*24*time.Hour {
		return usagef("the interval must be whole seconds from 1s to 720h, got %s", d)
	}
	return withStore(ctx, e, func(st store.Store) error {
		err := st.SetExpectedInterval(ctx, id, int(d/time.Second))
		if errors.Is(err, thermowatt.ErrNotFound) {
			return fmt.Errorf("no device %q (`thermowatt device list` shows them)", id)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "device %s: expected every %s\n", id, d)
		return nil
	})
}
