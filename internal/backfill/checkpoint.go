package backfill

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// checkpoint records how far a run got, so that an interrupted run (Ctrl-C,
// lost network, a server that stayed down) continues where it stopped.
// Readings are sent in one deterministic order (by time), so "the first
// Done readings are stored" is the whole state; Identity ties it to the
// exact file contents and options, so a checkpoint is never applied to
// other input. A batch whose answer never came is not counted: it is sent
// again on resume and the server reports it as duplicates, never twice
// stored. The file is removed when a run completes, so the next run sends
// everything again and learns from the server what is already there.
type checkpoint struct {
	Version  int       `json:"version"`
	Identity string    `json:"identity"`
	Done     int       `json:"done"`   // readings whose batch was answered (2xx or a final 4xx)
	Total    int       `json:"total"`  // readings the input makes
	LastAt   time.Time `json:"lastAt"` // recordedAt of the last reading done, for people
	Updated  time.Time `json:"updated"`
	Files    []string  `json:"files"`
}

// DefaultCheckpointPath is where a checkpoint goes without --checkpoint:
// next to the first input file, so a rerun of the same command finds it.
func DefaultCheckpointPath(files []string) string {
	if len(files) == 0 {
		return ".thermowatt-backfill.json"
	}
	return filepath.Join(filepath.Dir(files[0]), ".thermowatt-backfill.json")
}

// readCheckpoint returns the checkpoint at path, or nil when there is none.
func readCheckpoint(path string) (*checkpoint, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var c checkpoint
	if err := json.Unmarshal(b, &c); err != nil || c.Version != 1 {
		return nil, fmt.Errorf("checkpoint %s is damaged or from another version; delete it to start over", path)
	}
	return &c, nil
}

// write replaces the file atomically: a crash leaves the old or the new
// checkpoint, never half of one.
func (c *checkpoint) write(path string) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".thermowatt-backfill-*.tmp")
	if err != nil {
		return fmt.Errorf("writing checkpoint: %w (choose another place with --checkpoint PATH)", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
