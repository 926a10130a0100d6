package backfill

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// csvReader reads CSV one line at a time and never gives up on a file: a
// line it cannot read is returned as a *LineError and the next call goes
// on with the next line. It accepts what files from the field contain: a
// UTF-8 byte-order mark, CRLF line ends, blank lines, and a last line cut
// short by a power loss (no newline at the end). Quoted fields (RFC 4180)
// are understood within one line; a field spanning lines is an error,
// because no sensor log has one and a stray quote must not swallow the
// rest of a file.
type csvReader struct {
	br    *bufio.Reader
	line  int // number of the last line read, from 1
	Blank int // blank lines skipped
}

func newCSVReader(r io.Reader) *csvReader {
	return &csvReader{br: bufio.NewReaderSize(r, 64<<10)}
}

// csvLine is one non-blank line split into fields.
type csvLine struct {
	No     int
	Fields []string
	// NoNewline is true for a last line without a line end: it may have
	// been cut short while being written.
	NoNewline bool
}

// LineError is a line that could not be read as CSV.
type LineError struct {
	Line   int
	Reason string
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// maxLine bounds one line, so that a binary file cannot exhaust memory.
const maxLine = 64 << 10

var bom = []byte{0xEF, 0xBB, 0xBF}

// Next returns the next non-blank line, a *LineError for a bad one (call
// Next again to continue), or io.EOF at the end.
func (r *csvReader) Next() (csvLine, error) {
	for {
		raw, err := r.readLine()
		if err != nil {
			return csvLine{}, err
		}
		r.line++
		noNewline := !bytes.HasSuffix(raw, []byte{'\n'})
		if r.line == 1 {
			raw = bytes.TrimPrefix(raw, bom)
		}
		text := bytes.TrimRight(raw, "\r\n")
		if len(raw) > maxLine {
			return csvLine{}, &LineError{r.line, fmt.Sprintf("line longer than %d bytes: not a CSV text file?", maxLine)}
		}
		if len(bytes.TrimSpace(text)) == 0 {
			r.Blank++
			continue
		}
		if !utf8.Valid(text) {
			return csvLine{}, &LineError{r.line, "not UTF-8 text (a binary or damaged line)"}
		}
		if bytes.IndexByte(text, 0) >= 0 {
			return csvLine{}, &LineError{r.line, "contains NUL bytes (a damaged line)"}
		}
		fields, err := splitFields(string(text))
		if err != nil {
			return csvLine{}, &LineError{r.line, err.Error()}
		}
		return csvLine{No: r.line, Fields: fields, NoNewline: noNewline}, nil
	}
}

// readLine returns one line with its '\n', the last line without it, and
// io.EOF only when nothing is left. A line over maxLine is consumed whole
// but only its first maxLine+1 bytes are kept.
func (r *csvReader) readLine() ([]byte, error) {
	var buf []byte
	for {
		chunk, err := r.br.ReadSlice('\n')
		if len(buf) <= maxLine {
			buf = append(buf, chunk...)
		}
		switch {
		case err == nil:
			return buf, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(buf) == 0 {
				return nil, io.EOF
			}
			return buf, nil
		default:
			return nil, err
		}
	}
}

// splitFields splits one line at commas. Unquoted fields are trimmed of
// spaces; quoted ones are kept as written, with "" for a quote.
func splitFields(s string) ([]string, error) {
	var fields []string
	for i := 0; ; {
		// Skip leading spaces to see whether the field is quoted.
		j := i
		for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
			j++
		}
		if j < len(s) && s[j] == '"' {
			var b strings.Builder
			k := j + 1
			for {
				q := strings.IndexByte(s[k:], '"')
				if q < 0 {
					return nil, fmt.Errorf("field %d: quote opened at column %d is never closed", len(fields)+1, j+1)
				}
				b.WriteString(s[k : k+q])
				k += q + 1
				if k < len(s) && s[k] == '"' { // "" is one quote
					b.WriteByte('"')
					k++
					continue
				}
				break
			}
			for k < len(s) && (s[k] == ' ' || s[k] == '\t') {
				k++
			}
			fields = append(fields, b.String())
			if k == len(s) {
				return fields, nil
			}
			if s[k] != ',' {
				return nil, fmt.Errorf("field %d: text after a closing quote at column %d", len(fields), k+1)
			}
			i = k + 1
			continue
		}
		c := strings.IndexByte(s[i:], ',')
		if c < 0 {
			f := strings.TrimSpace(s[i:])
			if strings.ContainsRune(f, '"') {
				return nil, fmt.Errorf("field %d: stray quote in %q", len(fields)+1, f)
			}
			return append(fields, f), nil
		}
		f := strings.TrimSpace(s[i : i+c])
		if strings.ContainsRune(f, '"') {
			return nil, fmt.Errorf("field %d: stray quote in %q", len(fields)+1, f)
		}
		fields = append(fields, f)
		i += c + 1
	}
}
