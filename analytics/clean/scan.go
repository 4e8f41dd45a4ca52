package clean

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"unicode/utf8"
	"unsafe"
)

// The raw records are flat JSON objects of a dozen scalar members, and the batch job reads
// millions of them, so they are read by this small scanner instead of encoding/json's reflection:
// it walks the object once and hands each member to a callback without building a map. Strings
// with escapes or invalid UTF-8 (rare) are decoded by encoding/json, so the decoded text is
// exactly what encoding/json would produce. FuzzScanObject checks the scanner against
// encoding/json.

// valueKind is the JSON type of a member value.
type valueKind byte

const (
	kindString valueKind = iota + 1
	kindNumber
	kindBool
	kindNull
	kindComposite // an object or an array: never a valid column value
)

// jsonValue is one member value. raw is the value's bytes in the input (for strings, the
// quoted form); str is the decoded text of a string.
type jsonValue struct {
	kind    valueKind
	raw     []byte
	str     string
	escaped bool // str differs from the bytes between the quotes
}

// describe shows a value in an error message, shortened.
func (v jsonValue) describe() string {
	s := string(v.raw)
	if v.kind == kindString {
		s = fmt.Sprintf("%q", v.str)
	}
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}

// scanObject calls member for each member of the JSON object in data, in order. It fails on
// anything that is not exactly one JSON object (surrounding white space allowed).
//
// The whole input is copied into one string up front and plain string values are slices of it,
// so a record costs one allocation for its text rather than one per member.
func scanObject(data []byte, member func(key []byte, v jsonValue) error) error {
	return scanText(string(data), member)
}

// scanText is scanObject over a string: plain string values are slices of text, with no copy.
func scanText(text string, member func(key []byte, v jsonValue) error) error {
	// The scanner only reads data, so viewing the string's bytes is safe.
	s := scanner{data: unsafe.Slice(unsafe.StringData(text), len(text)), text: text}
	s.space()
	if !s.consume('{') {
		return s.fail("want a JSON object")
	}
	s.space()
	if !s.consume('}') {
		for {
			s.space()
			if s.peek() != '"' {
				return s.fail("want a member name")
			}
			key, err := s.str(false)
			if err != nil {
				return err
			}
			name := key.raw[1 : len(key.raw)-1]
			if key.escaped {
				name = []byte(key.str)
			}
			s.space()
			if !s.consume(':') {
				return s.fail("want ':'")
			}
			s.space()
			v, err := s.value(0)
			if err != nil {
				return err
			}
			if err := member(name, v); err != nil {
				return err
			}
			s.space()
			if s.consume(',') {
				continue
			}
			if s.consume('}') {
				break
			}
			return s.fail("want ',' or '}'")
		}
	}
	s.space()
	if s.i != len(s.data) {
		return s.fail("unexpected data after the object")
	}
	return nil
}

type scanner struct {
	data []byte
	text string // the same bytes as data
	i    int
}

func (s *scanner) fail(what string) error {
	if s.i >= len(s.data) {
		return fmt.Errorf("malformed JSON: %s, found end of input", what)
	}
	return fmt.Errorf("malformed JSON: %s at byte %d, found %q", what, s.i, s.data[s.i])
}

func (s *scanner) peek() byte {
	if s.i < len(s.data) {
		return s.data[s.i]
	}
	return 0
}

func (s *scanner) consume(c byte) bool {
	if s.i < len(s.data) && s.data[s.i] == c {
		s.i++
		return true
	}
	return false
}

func (s *scanner) space() {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// maxDepth bounds nesting inside a member value, so hostile input cannot exhaust the stack.
const maxDepth = 64

func (s *scanner) value(depth int) (jsonValue, error) {
	start := s.i
	switch c := s.peek(); {
	case c == '"':
		return s.str(true)
	case c == '-' || c >= '0' && c <= '9':
		if err := s.number(); err != nil {
			return jsonValue{}, err
		}
		return jsonValue{kind: kindNumber, raw: s.data[start:s.i]}, nil
	case c == 't':
		return s.literal("true", kindBool)
	case c == 'f':
		return s.literal("false", kindBool)
	case c == 'n':
		return s.literal("null", kindNull)
	case c == '{' || c == '[':
		if depth >= maxDepth {
			return jsonValue{}, s.fail("nesting too deep")
		}
		if err := s.composite(depth); err != nil {
			return jsonValue{}, err
		}
		return jsonValue{kind: kindComposite, raw: s.data[start:s.i]}, nil
	}
	return jsonValue{}, s.fail("want a value")
}

func (s *scanner) literal(word string, k valueKind) (jsonValue, error) {
	if len(s.data)-s.i < len(word) || string(s.data[s.i:s.i+len(word)]) != word {
		return jsonValue{}, s.fail("want " + word)
	}
	v := jsonValue{kind: k, raw: s.data[s.i : s.i+len(word)]}
	s.i += len(word)
	return v, nil
}

// composite skips a nested object or array, checking its syntax.
func (s *scanner) composite(depth int) error {
	open := s.data[s.i]
	closing := byte(']')
	if open == '{' {
		closing = '}'
	}
	s.i++
	s.space()
	if s.consume(closing) {
		return nil
	}
	for {
		s.space()
		if open == '{' {
			if s.peek() != '"' {
				return s.fail("want a member name")
			}
			if _, err := s.str(false); err != nil {
				return err
			}
			s.space()
			if !s.consume(':') {
				return s.fail("want ':'")
			}
			s.space()
		}
		if _, err := s.value(depth + 1); err != nil {
			return err
		}
		s.space()
		if s.consume(',') {
			continue
		}
		if s.consume(closing) {
			return nil
		}
		return s.fail("want ',' or '" + string(closing) + "'")
	}
}

func (s *scanner) digits() int {
	n := 0
	for s.i < len(s.data) && s.data[s.i] >= '0' && s.data[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

func (s *scanner) number() error {
	s.consume('-')
	if s.consume('0') {
		// a leading zero stands alone
	} else if s.digits() == 0 {
		return s.fail("want a digit")
	}
	if s.consume('.') && s.digits() == 0 {
		return s.fail("want a digit after '.'")
	}
	if s.consume('e') || s.consume('E') {
		if !s.consume('+') {
			s.consume('-')
		}
		if s.digits() == 0 {
			return s.fail("want an exponent")
		}
	}
	return nil
}

// str reads a string. Plain strings are sliced directly (and copied into str only when keep is
// set, so member names cost no allocation); strings with escapes or bytes that are not valid
// UTF-8 are decoded by encoding/json.
func (s *scanner) str(keep bool) (jsonValue, error) {
	start := s.i
	s.i++ // opening quote
	plain := true
	for {
		// Jump to the next quote or backslash; check the bytes passed over for control
		// characters (invalid in JSON) and non-ASCII (checked as UTF-8 below).
		rest := s.data[s.i:]
		j := bytes.IndexByte(rest, '"')
		if j < 0 {
			s.i = len(s.data)
			return jsonValue{}, s.fail("unterminated string")
		}
		if b := bytes.IndexByte(rest[:j], '\\'); b >= 0 {
			j = b
		}
		k, ascii := plainPrefix(rest[:j])
		if k < j && rest[k] < 0x20 {
			s.i += k
			return jsonValue{}, s.fail("control character in string")
		}
		// A multi-byte UTF-8 sequence never contains '"' or '\\', so each segment is whole.
		if !ascii && !utf8.Valid(rest[:j]) {
			plain = false
		}
		s.i += j
		if s.data[s.i] == '\\' {
			plain = false
			s.i += 2
			if s.i > len(s.data) {
				s.i = len(s.data)
				return jsonValue{}, s.fail("unterminated string")
			}
			continue
		}
		s.i++ // closing quote
		raw := s.data[start:s.i]
		if plain {
			v := jsonValue{kind: kindString, raw: raw}
			if keep {
				v.str = s.text[start+1 : s.i-1]
			}
			return v, nil
		}
		var text string
		if err := json.Unmarshal(raw, &text); err != nil {
			s.i = start
			return jsonValue{}, fmt.Errorf("malformed JSON: bad string at byte %d: %v", start, err)
		}
		return jsonValue{kind: kindString, raw: raw, str: text, escaped: true}, nil
	}
}

// plainPrefix finds the first control character (< 0x20, invalid in a JSON string) in b and
// reports whether the bytes before it are all ASCII. It is on the batch job's hot path, so it
// tests eight bytes at a time: a word has no byte < 0x20 and none >= 0x80 when
// ((x - 0x20...) & ^x | x) & 0x80... is zero.
func plainPrefix(b []byte) (int, bool) {
	const lo, hi = 0x2020202020202020, 0x8080808080808080
	ascii := true
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		if ((x-lo)&^x|x)&hi != 0 {
			break
		}
	}
	for ; i < len(b); i++ {
		c := b[i]
		if c < 0x20 {
			return i, ascii
		}
		if c >= 0x80 {
			ascii = false
		}
	}
	return i, ascii
}
