package backfill

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"
)

// Write prints the summary for a person: the counts, then every skipped
// line and refused reading with its file:line and reason.
func (s Summary) Write(w io.Writer) {
	fmt.Fprintf(w, "rows read:   %d from %d file(s)", s.Rows, s.Files)
	var extra []string
	if s.Blank > 0 {
		extra = append(extra, fmt.Sprintf("%d blank lines ignored", s.Blank))
	}
	if s.Empty > 0 {
		extra = append(extra, fmt.Sprintf("%d without any value (no sensor answered)", s.Empty))
	}
	if s.Outside > 0 {
		extra = append(extra, fmt.Sprintf("%d outside --since/--until", s.Outside))
	}
	for i, e := range extra {
		sep := ", "
		if i == 0 {
			sep = " ("
		}
		fmt.Fprint(w, sep+e)
	}
	if len(extra) > 0 {
		fmt.Fprint(w, ")")
	}
	fmt.Fprintf(w, "\nreadings:    %d (rows of the same instant joined)\n", s.Readings)
	if s.DryRun {
		fmt.Fprintf(w, "dry run:     nothing sent; %d readings would be sent, %d would be refused\n", s.Readings, len(s.Refused))
	} else {
		if s.Resumed > 0 {
			fmt.Fprintf(w, "resumed:     %d readings were sent by an earlier, interrupted run\n", s.Resumed)
		}
		fmt.Fprintf(w, "sent:        %d in %d batches", s.Sent, s.Batches)
		if s.Retries > 0 {
			fmt.Fprintf(w, " (%d retries)", s.Retries)
		}
		if secs := s.Elapsed.Seconds(); secs > 0 && s.Sent > 0 {
			fmt.Fprintf(w, ", %s, %.0f readings/s", s.Elapsed.Round(10*time.Millisecond), float64(s.Sent)/secs)
		}
		fmt.Fprintf(w, "\naccepted:    %d\nduplicates:  %d (already stored)\n", s.Accepted, s.Duplicates)
	}
	fmt.Fprintf(w, "rejected:    %d (%d input lines skipped, %d readings refused)\n", len(s.Skipped)+len(s.Refused), len(s.Skipped), len(s.Refused))
	for _, p := range s.Skipped {
		fmt.Fprintf(w, "  %s\n", p)
	}
	for _, p := range s.Refused {
		fmt.Fprintf(w, "  %s\n", p)
	}
	if !s.Complete && !s.DryRun && s.Checkpoint != "" {
		fmt.Fprintf(w, "incomplete:  rerun the same command to resume (checkpoint %s)\n", s.Checkpoint)
	}
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
