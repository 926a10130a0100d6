package store

import (
	"context"

	"github.com/thermowatt/thermowatt"
)

// DevicePage is how many devices EachDevice reads at a time: memory stays
// bounded whatever the fleet's size.
const DevicePage = 1000

// EachDevice calls fn with every device in id order, reading them a page
// at a time; it stops at fn's first error and returns it.
func EachDevice(ctx context.Context, d Devices, fn func(thermowatt.Device) error) error {
	q := DeviceQuery{Limit: DevicePage}
	for {
		page, err := d.ListDevices(ctx, q)
		if err != nil {
			return err
		}
		for _, dv := range page {
			if err := fn(dv); err != nil {
				return err
			}
		}
		if len(page) < q.Limit {
			return nil
		}
		q.After = page[len(page)-1].ID
	}
}
