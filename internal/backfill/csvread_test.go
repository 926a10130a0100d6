package backfill

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzCSVReader: whatever the bytes, the reader never panics or loops,
// accounts for every line exactly once (a field list, a LineError, or a
// blank line), reports lines in increasing order, and gives back the
// fields of a well-formed line unchanged.
func FuzzCSVReader(f *testing.F) {
	f.Add([]byte("recorded_at,boot,uptime_s,temperature_c,pressure_hpa\n2025-01-01T00:00:00Z,1,0,21.5,1012.3\n"))
	f.Add([]byte("\xef\xbb\xbfa,b\r\n1,2\r\n\r\n3,4"))
	f.Add([]byte("\"quoted, field\",\"with \"\"quote\"\"\"\n\"open,2\nx\"y,1\n"))
	f.Add([]byte("\xff\xfe\x00,1\n\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := newCSVReader(bytes.NewReader(data))
		lines, last := 0, 0
		for {
			l, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			var le *LineError
			switch {
			case errors.As(err, &le):
				if le.Line <= last {
					t.Fatalf("line %d reported after line %d", le.Line, last)
				}
				last = le.Line
			case err != nil:
				t.Fatalf("unexpected error %v", err)
			default:
				if l.No <= last || len(l.Fields) == 0 {
					t.Fatalf("line %d after %d with %d fields", l.No, last, len(l.Fields))
				}
				last = l.No
			}
			lines++
			if lines > len(data)+1 {
				t.Fatal("more lines than bytes: the reader loops")
			}
		}
		total := bytes.Count(data, []byte{'\n'})
		if len(data) > 0 && data[len(data)-1] != '\n' {
			total++
		}
		if lines+r.Blank != total {
			t.Fatalf("%d lines in the input, %d returned + %d blank", total, lines, r.Blank)
		}
		// A simple line (no quotes, no spaces at the edges of fields)
		// reads back as written.
		text := strings.TrimPrefix(string(data), "\xef\xbb\xbf")
		first, _, _ := strings.Cut(text, "\n")
		first = strings.TrimSuffix(first, "\r")
		if first != "" && !strings.ContainsAny(first, "\"\x00\r") && strings.TrimSpace(first) != "" && isSimple(first) {
			r := newCSVReader(strings.NewReader(first + "\n"))
			l, err := r.Next()
			if err != nil || strings.Join(l.Fields, ",") != first {
				t.Fatalf("%q read back as %q (%v)", first, l.Fields, err)
			}
		}
	})
}

func isSimple(line string) bool {
	if len(line) > maxLine || !utf8ValidString(line) {
		return false
	}
	for _, f := range strings.Split(line, ",") {
		if strings.TrimSpace(f) != f {
			return false
		}
	}
	return true
}

func utf8ValidString(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func TestSplitFields(t *testing.T) {
	for in, want := range map[string]string{
		`a,b,c`:          "a|b|c",
		` a , b ,c `:     "a|b|c",
		`"x,y",z`:        "x,y|z",
		`"say ""hi""",2`: `say "hi"|2`,
		`a,,`:            "a||",
		` "q" ,1`:        "q|1",
	} {
		got, err := splitFields(in)
		if err != nil || strings.Join(got, "|") != want {
			t.Errorf("splitFields(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
