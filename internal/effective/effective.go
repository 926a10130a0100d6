// Package effective checks a change of remote settings against what every
// device it reaches would apply: the fleet default with the device's own
// over it (thermowatt.Settings.ValidateEffective). A device refuses a
// revision that breaks a rule between settings and keeps running on the
// last one it accepted, so the server, and the CLI that writes the
// database directly, refuse such a change instead.
package effective

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/thermowatt/thermowatt"
	"github.com/thermowatt/thermowatt/internal/store"
)

// Store is what a check reads.
type Store interface {
	store.Settings
	store.Devices
}

// maxNamed is how many devices a refusal of fleet settings names.
const maxNamed = 5

// Problem is a change refused for the settings it would hand out; its
// message names the devices and the rules.
type Problem struct{ Msg string }

func (p *Problem) Error() string { return p.Msg }

// CheckFleet refuses fleet settings in that would make any device's
// effective settings invalid: devices without settings of their own get
// in as it is, and each one with its own is read, a page of devices at a
// time. A device change racing this one is checked against the fleet
// default it reads, which may be the old one; both are admin actions,
// rarely at once.
func CheckFleet(ctx context.Context, st Store, in thermowatt.Settings) error {
	if err := in.ValidateEffective(); err != nil {
		return &Problem{"every device would be sent settings it refuses: " + oneLine(err)}
	}
	var bad []string
	n := 0
	err := store.EachDevice(ctx, st, func(d thermowatt.Device) error {
		own, err := st.DeviceSettings(ctx, d.ID)
		if errors.Is(err, thermowatt.ErrNotFound) {
			return nil // deleted meanwhile
		}
		if err != nil || len(own.Values) == 0 {
			return err
		}
		if err := in.Merge(own.Values).ValidateEffective(); err != nil {
			if n++; n <= maxNamed {
				bad = append(bad, fmt.Sprintf("%s (whose own settings are %s): %s", d.ID, show(own.Values), oneLine(err)))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if n > 0 {
		more := ""
		if n > len(bad) {
			more = fmt.Sprintf(" (and %d more)", n-len(bad))
		}
		return &Problem{fmt.Sprintf("%d devices would be sent settings they refuse: %s%s; change their own settings first",
			n, strings.Join(bad, " | "), more)}
	}
	return nil
}

// CheckDevice refuses a device's own settings in that would make its
// effective settings (the fleet default with in over it) invalid.
func CheckDevice(ctx context.Context, st Store, id string, in thermowatt.Settings) error {
	fleet, err := st.FleetSettings(ctx)
	if err != nil {
		return err
	}
	if err := fleet.Values.Merge(in).ValidateEffective(); err != nil {
		return &Problem{fmt.Sprintf("device %q would be sent settings it refuses (the fleet default %s with these over it): %s", id, show(fleet.Values), oneLine(err))}
	}
	return nil
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

func show(s thermowatt.Settings) string {
	if len(s) == 0 {
		return "{}"
	}
	keys := make([]string, 0, len(s))
	for k, v := range s {
		keys = append(keys, fmt.Sprintf("%s=%v", k, v))
	}
	slices.Sort(keys)
	return "{" + strings.Join(keys, ", ") + "}"
}
