// Package backfill replays CSV files (the firmware's temp.csv and
// elect.csv, or any CSV through a column mapping) into the API: rows of the
// same instant joined into one reading, sent in batches under the device
// contract, idempotently and resumably.
package backfill

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/time/rate"

	"github.com/thermowatt/thermowatt/internal/apiclient"
	"github.com/thermowatt/thermowatt/internal/wire"
)

// Options of one run.
type Options struct {
	Files        []string
	Device       string         // the device of rows without a deviceId column
	Map          Mapping        // --map
	TZ           *time.Location // zone of naive timestamps; nil: UTC
	Since, Until time.Time      // zero: unbounded; Since inclusive, Until exclusive

	Client    *apiclient.Client // nil only for a dry run
	Policy    apiclient.Policy
	BatchSize int     // 0: the API's maximum
	Rate      float64 // readings per second; 0: no limit
	DryRun    bool

	Checkpoint string // path; empty: DefaultCheckpointPath(Files)

	Progress         io.Writer     // nil: no progress output
	Terminal         bool          // Progress is a terminal: redraw one line
	ProgressInterval time.Duration // plain lines at most this often; 0: 5 s
}

// Summary is what a run did.
type Summary struct {
	Files    int
	Rows     int // data lines read
	Blank    int
	Empty    int // lines with no value
	Outside  int // lines outside --since/--until
	Readings int // readings the files make
	Skipped  []Problem
	// Resumed is how many readings an earlier, interrupted run had
	// already delivered; this run started after them.
	Resumed    int
	Sent       int // readings sent by this run
	Accepted   int
	Duplicates int       // already stored: sent before
	Refused    []Problem // readings the server rejected
	Batches    int
	Retries    int
	DryRun     bool
	Complete   bool // every reading was answered; the checkpoint is removed
	Elapsed    time.Duration
	Checkpoint string
}

// Run reads the files and, unless DryRun, sends the readings. It returns
// the summary so far even with an error (interrupted, gave up, refused).
func Run(ctx context.Context, o Options) (s Summary, err error) {
	start := time.Now()
	s = Summary{Files: len(o.Files), DryRun: o.DryRun}
	defer func() { s.Elapsed = time.Since(start) }()
	if o.TZ == nil {
		o.TZ = time.UTC
	}
	if o.BatchSize <= 0 || o.BatchSize > wire.MaxBatch {
		o.BatchSize = wire.MaxBatch
	}
	in, err := load(o.Files, loadOptions{Device: o.Device, Map: o.Map, TZ: o.TZ, Since: o.Since, Until: o.Until})
	if err != nil {
		return s, err
	}
	s.Rows, s.Blank, s.Empty, s.Outside = in.rows, in.blank, in.empty, in.outside
	s.Readings, s.Skipped = len(in.readings), in.problems
	if o.DryRun {
		s.Refused = validate(in.readings, o.BatchSize)
		s.Complete = true
		return s, nil
	}
	if o.Client == nil {
		return s, errors.New("backfill: no API client")
	}

	path := o.Checkpoint
	if path == "" {
		path = DefaultCheckpointPath(o.Files)
	}
	s.Checkpoint = path
	cp, err := readCheckpoint(path)
	if err != nil {
		return s, err
	}
	done := 0
	if cp != nil && cp.Identity == in.identity && cp.Done <= len(in.readings) {
		done = cp.Done
		s.Resumed = done
	}
	cp = &checkpoint{Version: 1, Identity: in.identity, Done: done, Total: len(in.readings), Files: o.Files, Updated: time.Now().UTC()}
	// Written before anything is sent, so that an unwritable place is
	// found before the first batch rather than after it.
	if err := cp.write(path); err != nil {
		return s, err
	}

	pr := &progress{w: o.Progress, terminal: o.Terminal, every: o.ProgressInterval, total: len(in.readings), start: time.Now()}
	if pr.every <= 0 {
		pr.every = 5 * time.Second
	}
	if s.Resumed > 0 {
		pr.note("backfill: resuming from %s: %d of %d readings were sent by an earlier run", path, done, len(in.readings))
	}
	var limiter *rate.Limiter
	if o.Rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(o.Rate), max(o.BatchSize, int(o.Rate)))
	}
	policy := o.Policy
	onRetry := policy.OnRetry
	policy.OnRetry = func(attempt int, wait time.Duration, a apiclient.Answer) {
		s.Retries++
		pr.note("backfill: %s; retrying in %s (attempt %d)", a, wait.Round(100*time.Millisecond), attempt+1)
		if onRetry != nil {
			onRetry(attempt, wait, a)
		}
	}
	defer pr.finish()
	for done < len(in.readings) {
		batch := in.readings[done:min(done+o.BatchSize, len(in.readings))]
		if limiter != nil {
			if err := limiter.WaitN(ctx, len(batch)); err != nil {
				return s, interrupted(ctx, err, path)
			}
		}
		a, err := o.Client.Send(ctx, encodeBatch(batch), policy)
		if err != nil {
			if ctx.Err() != nil {
				return s, interrupted(ctx, err, path)
			}
			return s, fmt.Errorf("%w; the checkpoint %s keeps the place: rerun the same command to resume", err, path)
		}
		if a.Kind == apiclient.Held {
			return s, fmt.Errorf("the server refused the token or device (%s): check --token, --device and --url; rerun the same command to resume", a)
		}
		s.Batches++
		s.Sent += len(batch)
		if a.Kind == apiclient.Sent {
			s.Accepted += a.Result.Accepted
			s.Duplicates += a.Result.Duplicates
			for _, r := range a.Result.Rejected {
				s.Refused = append(s.Refused, refusal(batch, r))
			}
		} else { // Dead: this batch will never be accepted; never resend it
			why := map[int]wire.Rejection{}
			for _, r := range a.Result.Rejected {
				why[r.Index] = r
			}
			for i := range batch {
				r, ok := why[i]
				if !ok {
					r = wire.Rejection{Index: i, Message: fmt.Sprintf("the batch was refused (%s)", a)}
				}
				s.Refused = append(s.Refused, refusal(batch, r))
			}
		}
		done += len(batch)
		cp.Done, cp.LastAt, cp.Updated = done, batch[len(batch)-1].at.UTC(), time.Now().UTC()
		if err := cp.write(path); err != nil {
			return s, err
		}
		pr.update(&s, done, done == len(in.readings))
	}
	s.Complete = true
	if err := removeIfExists(path); err != nil {
		return s, err
	}
	return s, nil
}

func refusal(batch []pending, r wire.Rejection) Problem {
	where := []Source{{File: "?", Line: 0}}
	if r.Index >= 0 && r.Index < len(batch) {
		where = batch[r.Index].from
	}
	msg := r.Message
	if r.Field != "" {
		msg = r.Field + ": " + msg
	}
	return Problem{Where: where, Reason: "refused by the server: " + msg}
}

func interrupted(ctx context.Context, err error, path string) error {
	return fmt.Errorf("interrupted (%v); the checkpoint %s keeps the place: rerun the same command to resume", context.Cause(ctx), path)
}

// validate runs the server's own validation on every reading, so that a
// dry run finds what a real run would have refused.
func validate(rs []pending, batchSize int) []Problem {
	var out []Problem
	now := time.Now()
	for i := 0; i < len(rs); i += batchSize {
		batch := rs[i:min(i+batchSize, len(rs))]
		b, err := wire.Decode(encodeBatch(batch), now)
		if err != nil {
			out = append(out, Problem{Where: batch[0].from, Reason: err.Error()})
			continue
		}
		for _, r := range b.Rejected {
			p := refusal(batch, r)
			p.Reason = "would be refused: " + p.Reason[len("refused by the server: "):]
			out = append(out, p)
		}
	}
	return out
}
