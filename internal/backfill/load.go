package backfill

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Source is one input line.
type Source struct {
	File string
	Line int
}

func (s Source) String() string { return fmt.Sprintf("%s:%d", s.File, s.Line) }

// Problem is an input line skipped, or a reading the server refused.
type Problem struct {
	Where  []Source
	Reason string
}

func (p Problem) String() string {
	w := make([]string, len(p.Where))
	for i, s := range p.Where {
		w[i] = s.String()
	}
	return strings.Join(w, ", ") + ": " + p.Reason
}

// pending is one reading to send: the rows of every file for one device
// and instant, joined.
type pending struct {
	row
	from []Source
}

// input is everything read from the files.
type input struct {
	readings []pending // sorted by time, then device: the order they are sent in
	problems []Problem
	rows     int    // data lines read (not headers, not blank)
	blank    int    // blank lines
	empty    int    // lines with a time but no value (no sensor answered)
	outside  int    // lines outside --since/--until
	identity string // hash of the files' contents and the options that shape readings
}

// loadOptions are the options that decide which readings the files make.
type loadOptions struct {
	Device       string
	Map          Mapping
	TZ           *time.Location
	Since, Until time.Time
}

// load reads every file, reporting bad lines, and joins rows of the same
// device and instant into one reading. A row whose fields another row of
// that instant already gave is reported, not merged, so that no value is
// silently overwritten.
func load(files []string, o loadOptions) (*input, error) {
	in := &input{}
	id := sha256.New()
	fmt.Fprintf(id, "v1\x00%s\x00%s\x00%s\x00%s\x00", o.Device, o.TZ, o.Since.Format(time.RFC3339Nano), o.Until.Format(time.RFC3339Nano))
	for f := range nFields {
		fmt.Fprintf(id, "%s=%s\x00", fieldNames[f], o.Map[f])
	}
	type key struct {
		device string
		at     int64
	}
	byKey := map[key]int{}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		abs, _ := filepath.Abs(name)
		fmt.Fprintf(id, "file\x00%s\x00", abs)
		rd := newCSVReader(io.TeeReader(f, id))
		var lay *layout
		for {
			line, err := rd.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			var le *LineError
			if errors.As(err, &le) {
				in.rows++
				in.problems = append(in.problems, Problem{[]Source{{name, le.Line}}, le.Reason})
				continue
			}
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("reading %s: %w", name, err)
			}
			if lay == nil {
				l, err := newLayout(line.Fields, o.Map)
				if err != nil {
					f.Close()
					return nil, fmt.Errorf("%s:%d: %w", name, line.No, err)
				}
				if l.col[fDeviceID] < 0 && o.Device == "" {
					f.Close()
					return nil, fmt.Errorf("%s: no deviceId column: give --device ID", name)
				}
				lay = &l
				continue
			}
			in.rows++
			src := Source{name, line.No}
			r, why := lay.parseRow(line.Fields, o.TZ)
			if why != "" {
				if line.NoNewline {
					why += " (the last line has no line end: cut short while being written?)"
				}
				in.problems = append(in.problems, Problem{[]Source{src}, why})
				continue
			}
			if r.device == "" {
				r.device = o.Device
			}
			if r.device == "" {
				in.problems = append(in.problems, Problem{[]Source{src}, "the deviceId column is empty and no --device was given"})
				continue
			}
			if r.set == 0 {
				in.empty++
				continue
			}
			if (!o.Since.IsZero() && r.at.Before(o.Since)) || (!o.Until.IsZero() && !r.at.Before(o.Until)) {
				in.outside++
				continue
			}
			k := key{r.device, r.at.UnixMicro()}
			i, ok := byKey[k]
			if !ok {
				byKey[k] = len(in.readings)
				in.readings = append(in.readings, pending{row: r, from: []Source{src}})
				continue
			}
			p := &in.readings[i]
			if clash := p.set & r.set; clash != 0 {
				in.problems = append(in.problems, Problem{[]Source{src}, fmt.Sprintf("the same device and time as %s, which already gave %s", p.from[0], clashNames(clash))})
				continue
			}
			for f := fTemperature; f < nFields; f++ {
				if r.has(f) {
					p.vals[f] = r.vals[f]
				}
			}
			p.set |= r.set
			p.from = append(p.from, src)
		}
		in.blank += rd.Blank
		f.Close()
		if lay == nil {
			return nil, fmt.Errorf("%s: no header line: the first line must name the columns (e.g. recorded_at,temperature_c,pressure_hpa)", name)
		}
	}
	slices.SortFunc(in.readings, func(a, b pending) int {
		return cmp.Or(a.at.Compare(b.at), strings.Compare(a.device, b.device))
	})
	in.identity = hex.EncodeToString(id.Sum(nil))
	return in, nil
}

func clashNames(set uint16) string {
	var names []string
	for f := fTemperature; f < nFields; f++ {
		if set&(1<<f) != 0 {
			names = append(names, fieldNames[f])
		}
	}
	return strings.Join(names, ", ")
}
