package local

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/bits"
	"strconv"
	"unicode/utf8"
)

// produceRecord is one record of a produce request: raw JSON key and value (nil when absent)
// and the partition asked for.
type produceRecord struct {
	Key       json.RawMessage `json:"key"`
	Value     json.RawMessage `json:"value"`
	Partition *int32          `json:"partition"`
}

// produceRequest is the body of POST /topics/{topic} in the JSON embedded format.
type produceRequest struct {
	Records []produceRecord `json:"records"`
}

// decodeProduce decodes a produce body. Batched ingest spends most of its time here, so the
// usual shape is read by a one-pass validating scanner (fastProduce); anything it does not
// handle itself (escaped keys, odd partitions, every malformed body) goes to encoding/json,
// which gives the error message. FuzzDecodeProduce checks both agree.
func decodeProduce(body []byte) (produceRequest, error) { return decodeProduceInto(body, nil) }

// decodeProduceInto is decodeProduce reusing the array of into for the records.
func decodeProduceInto(body []byte, into []produceRecord) (produceRequest, error) {
	if req, ok := fastProduceInto(body, into); ok {
		return req, nil
	}
	var req produceRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return req, err
	}
	if err := validUTF8(body, req.Records); err != nil {
		return produceRequest{}, err
	}
	return req, nil
}

// validUTF8 refuses a body that is not UTF-8, as JSON must be (RFC 8259 section 8.1) and the
// REST Proxy's parser (Jackson) requires: encoding/json accepts invalid bytes inside strings and
// json.RawMessage keeps them, so they would be stored raw and break every consumer that decodes
// the value. The error names the record holding the first invalid byte.
func validUTF8(body []byte, recs []produceRecord) error {
	if utf8.Valid(body) {
		return nil
	}
	for i, r := range recs {
		for _, f := range []struct {
			name string
			raw  json.RawMessage
		}{{"key", r.Key}, {"value", r.Value}} {
			if at := invalidUTF8At(f.raw); at >= 0 {
				return fmt.Errorf("records[%d].%s: invalid UTF-8 at byte %d of the %s", i, f.name, at, f.name)
			}
		}
	}
	return fmt.Errorf("invalid UTF-8 at byte %d of the body", invalidUTF8At(body))
}

// invalidUTF8At is the offset of the first byte of b that is not valid UTF-8, or -1.
func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

// fastProduce returns ok only for a body that is valid JSON and decodes exactly as
// encoding/json would decode it into produceRequest.
func fastProduce(body []byte) (produceRequest, bool) { return fastProduceInto(body, nil) }

// fastProduceInto is fastProduce reusing the array of into for the records.
func fastProduceInto(body []byte, into []produceRecord) (produceRequest, bool) {
	s := scanner{b: body}
	var req produceRequest
	s.ws()
	if !s.objectFields(func(key []byte) bool {
		if !plainKey(key, "records") {
			return false
		}
		if string(key) != "records" {
			return s.value()
		}
		if s.literal("null") {
			req.Records = nil
			return true
		}
		if s.peek() != '[' {
			return false // a type error: encoding/json explains it
		}
		if req.Records == nil {
			req.Records = into[:0]
			if req.Records == nil {
				req.Records = []produceRecord{} // as encoding/json: [] is empty, not nil
			}
		}
		req.Records = req.Records[:0]
		return s.arrayElems(func() bool {
			var r produceRecord
			if s.literal("null") {
				req.Records = append(req.Records, r)
				return true
			}
			if s.peek() != '{' {
				return false
			}
			ok := s.objectFields(func(key []byte) bool {
				if !plainKey(key, "value", "key", "partition") {
					return false
				}
				start := s.i
				switch string(key) {
				case "value", "key":
					if !s.value() {
						return false
					}
					raw := json.RawMessage(body[start:s.i])
					if key[0] == 'v' {
						r.Value = raw
					} else {
						r.Key = raw
					}
					return true
				case "partition":
					if s.literal("null") {
						r.Partition = nil
						return true
					}
					if !s.number() {
						return false
					}
					p, err := strconv.ParseInt(string(body[start:s.i]), 10, 32)
					if err != nil {
						return false // a fraction, exponent or out of range: encoding/json's error
					}
					p32 := int32(p)
					r.Partition = &p32
					return true
				}
				return s.value()
			})
			if ok {
				req.Records = append(req.Records, r)
			}
			return ok
		})
	}) {
		return produceRequest{}, false
	}
	s.ws()
	return req, s.i == len(body)
}

// plainKey reports whether key is either exactly one of the field names or clearly none of
// them. encoding/json matches field names case-insensitively, with Unicode folding ("ſ" is
// "s", "K" is "k"), so a key that folds to a name, or any non-ASCII key, is left to it.
func plainKey(key []byte, names ...string) bool {
	for _, c := range key {
		if c >= 0x80 {
			return false
		}
	}
	for _, n := range names {
		if string(key) != n && bytes.EqualFold(key, []byte(n)) {
			return false
		}
	}
	return true
}

// scanner is a minimal validating JSON reader over b (RFC 8259 grammar, as encoding/json's
// checkValid accepts it, and strings must be valid UTF-8, which encoding/json does not check:
// a body with invalid UTF-8 goes to the slow path, which names the record).
type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() { s.i = skipWS(s.b, s.i) }

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) literal(lit string) bool {
	if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
		s.i += len(lit)
		return true
	}
	return false
}

// objectFields reads an object, calling field with each key (unescaped keys only: a key with a
// backslash makes it fail) positioned at the value; field must consume the value.
func (s *scanner) objectFields(field func(key []byte) bool) bool {
	if s.peek() != '{' {
		return false
	}
	s.i++
	s.ws()
	if s.peek() == '}' {
		s.i++
		return true
	}
	for {
		if s.peek() != '"' {
			return false
		}
		start := s.i + 1
		if !s.str() {
			return false
		}
		key := s.b[start : s.i-1]
		for _, c := range key {
			if c == '\\' {
				return false
			}
		}
		s.ws()
		if s.peek() != ':' {
			return false
		}
		s.i++
		s.ws()
		if !field(key) {
			return false
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
			s.ws()
		case '}':
			s.i++
			return true
		default:
			return false
		}
	}
}

func (s *scanner) arrayElems(elem func() bool) bool {
	if s.peek() != '[' {
		return false
	}
	s.i++
	s.ws()
	if s.peek() == ']' {
		s.i++
		return true
	}
	for {
		if !elem() {
			return false
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
			s.ws()
		case ']':
			s.i++
			return true
		default:
			return false
		}
	}
}

// value skips one JSON value, validating it. It is a loop over a stack of the open arrays and
// objects rather than a recursion, since nested values are the bulk of a body, and keeps its
// position in a local; nesting deeper than len(stack) is left to encoding/json (whose own limit
// is 10,000). On failure the position is left anywhere: the fast path gives up.
func (s *scanner) value() bool {
	var stack [64]byte // '{' or '[' of each open container
	n := 0
	b, i := s.b, s.i
	ok := false
	for {
		// A value starts at i.
		i = skipWS(b, i)
		if i >= len(b) {
			return false
		}
		switch c := b[i]; {
		case c == '"':
			if i, ok = skipString(b, i); !ok {
				return false
			}
		case c == '{' || c == '[':
			if n == len(stack) {
				return false
			}
			i = skipWS(b, i+1)
			if i < len(b) && b[i] == c+2 { // '}' is '{'+2, ']' is '['+2
				i++
				break
			}
			stack[n] = c
			n++
			if c == '{' {
				if i, ok = skipKey(b, i); !ok {
					return false
				}
			}
			continue
		case c == 't' || c == 'f' || c == 'n':
			lit := "null"
			if c == 't' {
				lit = "true"
			} else if c == 'f' {
				lit = "false"
			}
			if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
				return false
			}
			i += len(lit)
		case c == '-' || c >= '0' && c <= '9':
			s.i = i
			if !s.number() {
				return false
			}
			i = s.i
		default:
			return false
		}
		// A value ended: close the containers it ends, or go on to the next member.
		for {
			if n == 0 {
				s.i = i
				return true
			}
			i = skipWS(b, i)
			if i >= len(b) {
				return false
			}
			c := b[i]
			if c == stack[n-1]+2 {
				i++
				n--
				continue
			}
			if c != ',' {
				return false
			}
			i++
			if stack[n-1] == '{' {
				if i, ok = skipKey(b, i); !ok {
					return false
				}
			}
			break
		}
	}
}

// skipKey skips an object member's key and its colon, from i.
func skipKey(b []byte, i int) (int, bool) {
	i = skipWS(b, i)
	if i >= len(b) || b[i] != '"' {
		return i, false
	}
	i, ok := skipString(b, i)
	if !ok {
		return i, false
	}
	i = skipWS(b, i)
	if i >= len(b) || b[i] != ':' {
		return i, false
	}
	return i + 1, true
}

// skipWS skips JSON whitespace from i.
func skipWS(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// plainByte marks the bytes a string may hold as they are (not '"', '\\', a control byte or
// a byte of a multi-byte UTF-8 sequence, which is checked).
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str reads a string starting at its opening quote.
func (s *scanner) str() bool {
	i, ok := skipString(s.b, s.i)
	s.i = i
	return ok
}

// skipString skips the string whose opening quote is at i and returns the index after its
// closing quote. Strings are most of a produce body, so it looks at 8 bytes at a time while
// none of them needs a closer look.
func skipString(b []byte, i int) (int, bool) {
	i++
	for {
		if i+8 <= len(b) {
			m := special(binary.LittleEndian.Uint64(b[i:]))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) >> 3 // the first byte that needs a look
		} else {
			for i < len(b) && plainByte[b[i]] {
				i++
			}
			if i >= len(b) {
				return i, false
			}
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, true
		case c == '\\':
			if i+1 >= len(b) {
				return i, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return i, false
				}
				i += 6
			default:
				return i, false
			}
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 {
				return i, false
			}
			i += n
		default: // a control byte
			return i, false
		}
	}
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// special flags (high bit of the byte) the bytes of x (8 bytes, little-endian) that are '"',
// '\\', a control byte (< 0x20) or a byte >= 0x80 (part of a multi-byte UTF-8 sequence, to be
// validated). The lowest flagged byte is always such a byte, and is the first one; bytes above
// it may be flagged falsely (borrows), so only the lowest is used.
func special(x uint64) uint64 {
	quote, backslash := x^(ones*'"'), x^(ones*'\\')
	return ((x - ones*0x20) | (quote - ones) | (backslash - ones) | x) & highs
}

func (s *scanner) digits() int {
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

func (s *scanner) number() bool {
	if s.peek() == '-' {
		s.i++
	}
	switch c := s.peek(); {
	case c == '0':
		s.i++
	case c >= '1' && c <= '9':
		s.digits()
	default:
		return false
	}
	if s.peek() == '.' {
		s.i++
		if s.digits() == 0 {
			return false
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.i++
		if c := s.peek(); c == '+' || c == '-' {
			s.i++
		}
		if s.digits() == 0 {
			return false
		}
	}
	return true
}
