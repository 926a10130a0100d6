package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// citusTables says where each table lives on a Citus cluster, in the order
// they must be distributed: a reference table may only have foreign keys to
// reference tables, so devices comes before the tables that refer to it.
//
//   - the fleet's tables (settings, firmware releases and their files,
//     rollouts): reference tables. A device's desired state joins them
//     with devices, and they change only when an admin acts; a release's
//     files are copied to every node, a few hundred kilobytes each.
//   - devices, tokens, device_failures, alerts: reference tables (a copy on
//     every node). They are small (one row per device or token, failures
//     and alerts per device and minute or episode), they are joined with
//     one another (a device's open alerts, a token's device) and their
//     foreign keys to devices stay enforced.
//   - device_state (what ingest writes about a device: counts, last seen,
//     health, and the interval its marks use): distributed by device_id
//     and co-located with device_measurements, so storing a device's
//     readings writes one worker only (migration 00015 says why it is not
//     in devices).
//   - device_measurements: distributed by device_id. Every read names one
//     device (or runs on every shard at once), every batch from a device
//     lands on one shard, and the primary key (device_id, recorded_at)
//     holds the distribution column, as Citus requires.
//   - hourly_rollups: distributed by device_id and co-located with
//     device_measurements: a device's readings and its roll-ups are on the
//     same node, and a rebuild reads and writes there. rollup_pending
//     (the hours ingest marked) is co-located the same way, so the insert
//     statement's marks go to the node of its readings. rollup_rebuilds (a
//     list of device ids) is a reference table.
//   - payload_shapes (the payloads readings repeat, payload_shapes.go): a
//     reference table. Written only when a new shape appears, once per
//     cluster, outside any readings' transaction; read by id.
//   - raw_measurements: distributed by id. It holds a verbatim copy of
//     every request body, as large as the readings, so keeping it on the
//     coordinator would make the coordinator's disk the limit. device_id
//     cannot be its distribution column: it is NULL for a body that names
//     no device, and Citus refuses NULL there. Every query on it is by id
//     (one shard) or by age (retention, every shard); none joins it with
//     the readings, so co-location would buy nothing.
var citusTables = []struct {
	name, column string // column empty: a reference table
	colocateWith string // a distributed table whose shards it shares; "": its own
}{
	{"devices", "", ""},
	{"tokens", "", ""},
	{"device_failures", "", ""},
	{"alerts", "", ""},
	{"alert_rules", "", ""},
	{"alert_rule_state", "", ""},
	{"device_measurements", "device_id", ""},
	{"device_state", "device_id", "device_measurements"},
	{"hourly_rollups", "device_id", "device_measurements"},
	{"rollup_rebuilds", "", ""},
	{"rollup_pending", "device_id", "device_measurements"},
	{"reading_blocks", "device_id", "device_measurements"},
	{"payload_shapes", "", ""},
	{"raw_measurements", "id", ""},
	{"settings_revision", "", ""},
	{"fleet_settings", "", ""},
	{"device_settings", "", ""},
	{"firmware_releases", "", ""},
	{"firmware_files", "", ""},
	{"rollouts", "", ""},
	{"rollout_devices", "", ""},
}

// DistributeCitus turns the migrated schema at databaseURL (a Citus
// coordinator with the citus extension created) into reference and
// distributed tables; see citusTables. shardCount is the number of shards
// of each distributed table (0: Citus's citus.shard_count, 32 by default).
// Tables already placed as they should be are left alone, so running it
// again is safe. On a populated database Citus copies the existing rows
// into the shards; docs/scaling.md describes the move.
func DistributeCitus(ctx context.Context, databaseURL string, shardCount int) error {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return fmt.Errorf("postgres: distribute on Citus: %w", mapError(ctx, err))
	}
	defer conn.Close(ctx)
	var version string
	err = conn.QueryRow(ctx, `SELECT extversion FROM pg_extension WHERE extname = 'citus'`).Scan(&version)
	if errors.Is(err, pgx.ErrNoRows) {
		return errors.New("postgres: distribute on Citus: the citus extension is not created in this database (run CREATE EXTENSION citus on the coordinator)")
	}
	if err != nil {
		return fmt.Errorf("postgres: distribute on Citus: %w", mapError(ctx, err))
	}
	if shardCount > 0 {
		if _, err := conn.Exec(ctx, fmt.Sprintf("SET citus.shard_count = %d", shardCount)); err != nil {
			return fmt.Errorf("postgres: distribute on Citus: %w", mapError(ctx, err))
		}
	}
	for _, t := range citusTables {
		// Done means already what it should be, not merely known to Citus:
		// once devices is a reference table, Citus adds every table with a
		// foreign key to it to its metadata as a "Citus local table"
		// (partmethod n, repmodel s, on the coordinator only), which must
		// still be made a reference table (repmodel t).
		var done bool
		if err := conn.QueryRow(ctx, `
			SELECT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = $1::regclass
				AND CASE WHEN $2 = '' THEN partmethod = 'n' AND repmodel = 't' ELSE partmethod = 'h' END)`,
			t.name, t.column).Scan(&done); err != nil {
			return fmt.Errorf("postgres: distribute on Citus: %s: %w", t.name, mapError(ctx, err))
		}
		if done {
			continue
		}
		if t.column == "" {
			_, err = conn.Exec(ctx, `SELECT create_reference_table($1)`, t.name)
		} else {
			colocate := t.colocateWith
			if colocate == "" {
				colocate = "none"
			}
			_, err = conn.Exec(ctx, `SELECT create_distributed_table($1, $2, colocate_with => $3)`, t.name, t.column, colocate)
		}
		if err != nil {
			// Citus says why in the detail (for instance which property two
			// tables to co-locate differ in).
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Detail != "" {
				return fmt.Errorf("postgres: distribute on Citus: %s: %w (%s)", t.name, mapError(ctx, err), pgErr.Detail)
			}
			return fmt.Errorf("postgres: distribute on Citus: %s: %w", t.name, mapError(ctx, err))
		}
	}
	// The insert function (ingest.go), run on the worker holding the
	// device's shards: created on the coordinator, then distributed by its
	// first argument, co-located with the readings.
	if _, err := conn.Exec(ctx, citusInsertFunctionSQL); err != nil {
		return fmt.Errorf("postgres: distribute on Citus: create %s: %w", citusInsertFunction, mapError(ctx, err))
	}
	if _, err := conn.Exec(ctx, `SELECT create_distributed_function($1::regprocedure, distribution_arg_name := 'p_route', colocate_with := 'device_measurements')`,
		citusInsertFunctionArgs); err != nil {
		return fmt.Errorf("postgres: distribute on Citus: distribute %s: %w", citusInsertFunction, mapError(ctx, err))
	}
	return nil
}

// CitusInsertFunction is the name of the ingest function DistributeCitus
// creates (ingest.go), for what serve logs.
const CitusInsertFunction = citusInsertFunction

// CitusTable is where a table of the schema is on a Citus cluster.
type CitusTable struct {
	Name string
	// Placement: "reference", "distributed by device_id", ..., or
	// "coordinator only" for a table Citus does not distribute.
	Placement string
	Shards    int
}

// DescribeCitus says where each table of citusTables is at databaseURL, in
// that order.
func DescribeCitus(ctx context.Context, databaseURL string) ([]CitusTable, error) {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return nil, fmt.Errorf("postgres: describe Citus tables: %w", mapError(ctx, err))
	}
	defer conn.Close(ctx)
	var out []CitusTable
	for _, t := range citusTables {
		ct := CitusTable{Name: t.name, Placement: "coordinator only"}
		var method, column *string
		err := conn.QueryRow(ctx, `
			SELECT p.partmethod::text, column_to_column_name(p.logicalrelid, p.partkey),
				(SELECT count(*) FROM pg_dist_shard s WHERE s.logicalrelid = p.logicalrelid)
			FROM pg_dist_partition p WHERE p.logicalrelid = $1::regclass`, t.name).Scan(&method, &column, &ct.Shards)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("postgres: describe Citus tables: %s: %w", t.name, mapError(ctx, err))
		}
		switch {
		case method != nil && *method == "h" && column != nil:
			ct.Placement = "distributed by " + *column
		case method != nil && *method == "n":
			ct.Placement = "reference"
		}
		out = append(out, ct)
	}
	return out, nil
}
