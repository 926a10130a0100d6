package server

import (
	"context"
	"time"

	"github.com/thermowatt/thermowatt/internal/store"
)

// A job is background work the server runs from Start until Shutdown,
// in its own goroutine. run returns soon after ctx ends.
type job struct {
	name string
	run  func(ctx context.Context)
}

// jobs is the server's background work, every job in this one list.
//
// To add a background job, append it here (in a method of its own
// below, as the others). Start runs each job in its own goroutine before
// serving; Shutdown cancels their context only once no request is in
// flight and the group commit is closed, and waits until every job has
// returned, so a job may use the store until its context ends. A job
// that needs what only some backends do asserts that capability on s.st
// (store/capabilities.go) and is left out of the list without it.
func (s *Server) jobs() []job {
	js := []job{
		{"intervals", s.followIntervals},
		{"materializer", s.materialize},
	}
	if p, ok := s.st.(store.PartitionMaintainer); ok {
		js = append(js, job{"partitions", func(ctx context.Context) { s.maintainPartitions(ctx, p) }})
	}
	if c, ok := s.st.(store.Compactor); ok && s.cfg.Ops.CompactionAge > 0 {
		js = append(js, job{"compactor", func(ctx context.Context) { s.compact(ctx, c) }})
	}
	if w, ok := s.st.(store.RevocationWatcher); ok {
		js = append(js, job{"revocations", func(ctx context.Context) { s.watchRevocations(ctx, w) }})
	}
	if s.cfg.Ops.AlertCheckInterval > 0 {
		js = append(js, job{"alerts", s.checkAlerts})
	}
	return js
}

// followIntervals: each device's expected interval is its effective
// interval_s. A database from before that rule, or a follow-up that
// failed, is put right in the background (a no-op when all agree).
func (s *Server) followIntervals(ctx context.Context) {
	if err := store.FollowIntervals(ctx, s.st); err != nil && ctx.Err() == nil {
		s.log.Error("device intervals not aligned with their interval_s settings; retried at the next start or settings change", "err", err)
	}
}

// materialize recomputes the roll-ups of the hours ingest marked
// (store.RunMaterializer); safe with several instances. Reads are exact
// meanwhile: they compute the hours still pending.
func (s *Server) materialize(ctx context.Context) {
	store.RunMaterializer(ctx, s.st, store.DefaultMaterializer, s.log)
}

// maintainPartitions: readings are partitioned by week on PostgreSQL:
// the weeks retention keeps (for backfills) once, the weeks ahead now
// and daily (safe with several instances at once). In the background:
// moving the past partition's bound validates a constraint by a scan of
// it, which on a large migrated table must not hold up the start.
func (s *Server) maintainPartitions(ctx context.Context, p store.PartitionMaintainer) {
	now := time.Now()
	if err := p.PartitionHistory(ctx, now.AddDate(0, 0, -s.cfg.Ops.RetentionDays), now); err != nil && ctx.Err() == nil {
		s.log.Error("partitions of past weeks not created; backfilled readings of those weeks go to the past or DEFAULT partition", "err", err)
	}
	p.MaintainPartitions(ctx, func(err error) {
		s.log.Error("partitions of readings not created; retried in a day, readings meanwhile go to the DEFAULT partition", "err", err)
	})
}

// compact turns days of readings older than COMPACTION_AGE into blocks
// (store.RunCompactor), which also compacts a database upgraded from
// before compaction; safe with several instances.
func (s *Server) compact(ctx context.Context, c store.Compactor) {
	store.SetWrittenFor(s.cfg.Ops.CompactionWritten) // one setting of the process
	store.RunCompactor(ctx, c, store.CompactorOptions{Age: s.cfg.Ops.CompactionAge}, s.log)
}

// watchRevocations keeps the token cache told of every revocation, and
// off while revocations may be missed, so a device's requests skip the
// token query.
func (s *Server) watchRevocations(ctx context.Context, w store.RevocationWatcher) {
	w.WatchRevocations(ctx, s.verifier.Forget, s.verifier.SetRevocationsLive)
}

// checkAlerts opens and resolves alerts every ALERT_CHECK_INTERVAL, and
// notifies the webhook (alerts.go).
func (s *Server) checkAlerts(ctx context.Context) {
	runAlertTicker(ctx, NewChecker(s.cfg, s.st, s.log), s.cfg.Ops.AlertCheckInterval, s.metrics, s.log)
}
