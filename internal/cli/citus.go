package cli

import (
	"context"
	"fmt"
	"log/slog"
	"text/tabwriter"

	"github.com/thermowatt/thermowatt/internal/config"
	"github.com/thermowatt/thermowatt/internal/store/postgres"
)

func init() {
	commands["citus"] = command{summary: "move the database onto Citus: citus distribute [--shards N]", run: runCitus,
		subs: []subcommand{
			{"distribute", "[--shards N]", "bring DATABASE_URL (a Citus coordinator's database, CREATE EXTENSION citus done, workers added) to the current migrations, then make each table a reference or distributed table (docs/scaling.md); running it again changes nothing"},
		}}
}

func runCitus(ctx context.Context, e env, args []string) error {
	if len(args) > 0 && isHelp(args[0]) {
		return groupHelp(e, "citus")
	}
	if len(args) == 0 || args[0] != "distribute" {
		return usagef("usage: thermowatt citus distribute [--shards N]")
	}
	fs := subFlags(e, "citus", "distribute")
	shards := fs.Int("shards", 0, "shards of each distributed table (0: the cluster's citus.shard_count, 32 unless set)")
	if err := parseNoArgs(fs, args[1:]); err != nil {
		return err
	}
	if *shards < 0 {
		return usagef("--shards must be 0 or more")
	}
	cfg, err := config.Load(e.getenv)
	if err != nil {
		return err
	}
	if cfg.DatabaseURL == "" {
		return fmt.Errorf("citus distribute: DATABASE_URL is not set: set it to the Citus coordinator's database (postgres://...)")
	}
	// Migrations first: some cannot run once tables are distributed
	// (docs/scaling.md).
	st, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	st.Close()
	if err := postgres.DistributeCitus(ctx, cfg.DatabaseURL, *shards); err != nil {
		return err
	}
	tables, err := postgres.DescribeCitus(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tON CITUS\tSHARDS")
	for _, t := range tables {
		fmt.Fprintf(tw, "%s\t%s\t%d\n", t.Name, t.Placement, t.Shards)
	}
	return tw.Flush()
}

// logCitus says, at serve's start on a Citus coordinator, which way
// readings are written: through the insert function on the workers, or,
// on a cluster not distributed by this version yet (an upgrade that added
// a column, such as migration 00016), through the statements of plain
// PostgreSQL: correct, but several times slower, until `thermowatt citus
// distribute` runs again (docs/operations.md).
func logCitus(log *slog.Logger, st any) {
	c, ok := st.(*postgres.Store)
	if !ok {
		return
	}
	switch coordinator, function := c.Citus(); {
	case !coordinator:
	case function:
		log.Info("Citus: readings are written through the insert function on the workers", "function", postgres.CitusInsertFunction)
	default:
		log.Warn("Citus: readings are written through statements, not the insert function of this version (slower): run `thermowatt citus distribute` (docs/operations.md)",
			"function", postgres.CitusInsertFunction)
	}
}
