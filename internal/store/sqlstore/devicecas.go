package sqlstore

import (
	"context"

	"github.com/thermowatt/thermowatt/internal/store"
)

// CountDeviceCAs counts devices by the CAs they report; see
// store.Firmware. A "ca" that is not an object, or a fingerprint that is
// not a string, counts as "".
func (s *Store) CountDeviceCAs(ctx context.Context) ([]store.CACount, error) {
	rows, err := s.Read.Query(ctx, `SELECT `+s.JSONString("health", "ca", "active")+`, `+s.JSONString("health", "ca", "waiting")+`,
		count(*) FROM device_state GROUP BY 1, 2 ORDER BY 1, 2`)
	out, err := collect(rows, err, func(row Row) (c store.CACount, err error) {
		err = row.Scan(&c.Active, &c.Waiting, &c.Devices)
		return c, err
	})
	if err != nil {
		return nil, s.fail(ctx, err, "count device CAs")
	}
	return out, nil
}
