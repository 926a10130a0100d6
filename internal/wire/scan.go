package wire

// scanner walks JSON text once, checking it as strictly as encoding/json
// does (json.Valid): the same grammar, the same four whitespace bytes, no
// check of UTF-8 inside strings, and the same nesting limit. Decode uses it
// to find the few fields it reads without building anything else; when it
// finds the text invalid, Decode asks encoding/json for its error message,
// so clients get the words they always got.
type scanner struct {
	data  []byte
	pos   int
	depth int // objects and arrays open at pos
	// peak is the deepest depth reached; Decode resets it to measure the
	// nesting of one payload.
	peak int
}

// maxDepth is encoding/json's nesting limit: 10,000 open objects and
// arrays are valid, one more is not.
const maxDepth = 10000

func (s *scanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek returns the byte at pos, or 0 at the end.
func (s *scanner) peek() byte {
	if s.pos < len(s.data) {
		return s.data[s.pos]
	}
	return 0
}

// atEnd reports whether only whitespace is left.
func (s *scanner) atEnd() bool {
	s.skipSpace()
	return s.pos == len(s.data)
}

// value reads one value after optional whitespace and returns its text.
func (s *scanner) value() ([]byte, bool) {
	s.skipSpace()
	start := s.pos
	var ok bool
	switch c := s.peek(); {
	case c == '{':
		ok = s.object(func([]byte) bool { _, ok := s.value(); return ok })
	case c == '[':
		ok = s.array(func(int) bool { _, ok := s.value(); return ok })
	case c == '"':
		_, ok = s.str()
	case c == '-' || '0' <= c && c <= '9':
		ok = s.number()
	case c == 't':
		ok = s.literal("true")
	case c == 'f':
		ok = s.literal("false")
	case c == 'n':
		ok = s.literal("null")
	}
	return s.data[start:s.pos], ok
}

// object reads an object starting at pos. For each member it reads the
// key and the colon, then calls member with the key's text (quotes
// included), which must read the value.
func (s *scanner) object(member func(key []byte) bool) bool {
	if !s.open() {
		return false
	}
	s.skipSpace()
	if s.peek() == '}' {
		return s.close()
	}
	for {
		s.skipSpace()
		key, ok := s.str()
		if !ok {
			return false
		}
		s.skipSpace()
		if s.peek() != ':' {
			return false
		}
		s.pos++
		if !member(key) {
			return false
		}
		s.skipSpace()
		switch s.peek() {
		case ',':
			s.pos++
		case '}':
			return s.close()
		default:
			return false
		}
	}
}

// array reads an array starting at pos, calling elem with each element's
// index; elem must read the element.
func (s *scanner) array(elem func(i int) bool) bool {
	if !s.open() {
		return false
	}
	s.skipSpace()
	if s.peek() == ']' {
		return s.close()
	}
	for i := 0; ; i++ {
		if !elem(i) {
			return false
		}
		s.skipSpace()
		switch s.peek() {
		case ',':
			s.pos++
		case ']':
			return s.close()
		default:
			return false
		}
	}
}

func (s *scanner) open() bool {
	s.pos++
	s.depth++
	s.peak = max(s.peak, s.depth)
	return s.depth <= maxDepth
}

func (s *scanner) close() bool {
	s.pos++
	s.depth--
	return true
}

// str reads a string starting at pos and returns its text, quotes
// included.
func (s *scanner) str() ([]byte, bool) {
	if s.peek() != '"' {
		return nil, false
	}
	start := s.pos
	s.pos++
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		s.pos++
		switch {
		case c == '"':
			return s.data[start:s.pos], true
		case c < 0x20:
			return nil, false
		case c == '\\':
			if !s.escape() {
				return nil, false
			}
		}
	}
	return nil, false
}

// escape reads what follows a backslash: one of "\/bfnrt or u and four
// hex digits.
func (s *scanner) escape() bool {
	switch s.peek() {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		s.pos++
		return true
	case 'u':
		s.pos++
		for range 4 {
			c := s.peek()
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
			s.pos++
		}
		return true
	}
	return false
}

// number reads -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? at pos.
func (s *scanner) number() bool {
	if s.peek() == '-' {
		s.pos++
	}
	switch c := s.peek(); {
	case c == '0':
		s.pos++
	case '1' <= c && c <= '9':
		s.digits()
	default:
		return false
	}
	if s.peek() == '.' {
		s.pos++
		if !s.digits() {
			return false
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.pos++
		if c := s.peek(); c == '+' || c == '-' {
			s.pos++
		}
		if !s.digits() {
			return false
		}
	}
	return true
}

// digits reads [0-9]* and reports whether there was at least one.
func (s *scanner) digits() bool {
	start := s.pos
	for s.pos < len(s.data) && '0' <= s.data[s.pos] && s.data[s.pos] <= '9' {
		s.pos++
	}
	return s.pos > start
}

func (s *scanner) literal(word string) bool {
	if len(s.data)-s.pos < len(word) || string(s.data[s.pos:s.pos+len(word)]) != word {
		return false
	}
	s.pos += len(word)
	return true
}
