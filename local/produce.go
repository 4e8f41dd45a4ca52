package local

import (
	"bytes"
	"encoding/json"
	"strconv"
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
func decodeProduce(body []byte) (produceRequest, error) {
	if req, ok := fastProduce(body); ok {
		return req, nil
	}
	var req produceRequest
	err := json.Unmarshal(body, &req)
	return req, err
}

// fastProduce returns ok only for a body that is valid JSON and decodes exactly as
// encoding/json would decode it into produceRequest.
func fastProduce(body []byte) (produceRequest, bool) {
	s := scanner{b: body}
	var req produceRequest
	s.ws()
	if !s.objectFields(func(key []byte) bool {
		if !plainKey(key, "records") {
			return false
		}
		if string(key) != "records" {
			return s.value(0)
		}
		if s.literal("null") {
			req.Records = nil
			return true
		}
		if s.peek() != '[' {
			return false // a type error: encoding/json explains it
		}
		if req.Records == nil {
			req.Records = []produceRecord{} // as encoding/json: [] is empty, not nil
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
					if !s.value(1) {
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
				return s.value(1)
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
// checkValid accepts it: UTF-8 is not checked, like encoding/json).
type scanner struct {
	b []byte
	i int
}

const maxDepth = 10000 // encoding/json's nesting limit

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

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

// value skips one JSON value, validating it.
func (s *scanner) value(depth int) bool {
	if depth > maxDepth {
		return false
	}
	switch c := s.peek(); {
	case c == '"':
		return s.str()
	case c == '{':
		return s.objectFields(func([]byte) bool { return s.value(depth + 1) })
	case c == '[':
		return s.arrayElems(func() bool { return s.value(depth + 1) })
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	}
	return false
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

// plainByte marks the bytes a string may hold as they are (not '"', '\\' or a control byte).
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str reads a string starting at its opening quote.
func (s *scanner) str() bool {
	s.i++
	for s.i < len(s.b) {
		for s.i < len(s.b) && plainByte[s.b[s.i]] {
			s.i++
		}
		if s.i >= len(s.b) {
			return false
		}
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if s.i+1 >= len(s.b) {
				return false
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) || !isHex(s.b[s.i+2]) || !isHex(s.b[s.i+3]) || !isHex(s.b[s.i+4]) || !isHex(s.b[s.i+5]) {
					return false
				}
				s.i += 6
			default:
				return false
			}
		default:
			s.i++
		}
	}
	return false
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
