package ingest

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/internal/jsonstr"
)

// MaxEventSize is the largest input (one Event Hubs event body, one archived
// line, one Event Grid payload, one alert) a parser looks at. Event Hubs and
// Event Grid cap events at 1 MiB, so anything larger is not a real event; it
// is skipped with reason "too large" instead of being decoded, which keeps one
// invocation's memory bounded.
const MaxEventSize = 1 << 20

// maxProblems bounds Result.Problems so that a file of garbage cannot grow it
// without limit; Skipped still counts every bad record.
const maxProblems = 100

// rawJSON holds one JSON value exactly as it appeared in the input. Unlike
// json.RawMessage it does not copy: it aliases the buffer given to
// json.Unmarshal, which is safe because every parser here finishes with a
// record before that buffer is released or reused. Decoding into rawJSON never
// fails on a type mismatch, so one odd field cannot fail a whole body.
type rawJSON []byte

// UnmarshalJSON keeps b without copying (see rawJSON).
func (r *rawJSON) UnmarshalJSON(b []byte) error {
	*r = b
	return nil
}

// isNull reports whether the value is absent or JSON null.
func (r rawJSON) isNull() bool {
	return len(r) == 0 || (len(r) == 4 && string(r) == "null")
}

// isString reports whether the value is a JSON string.
func (r rawJSON) isString() bool {
	return len(r) >= 2 && r[0] == '"'
}

// str returns the value as a Go string: the decoded text of a JSON string, ""
// for null or absent. ok is false for any other JSON type or a bad escape.
func (r rawJSON) str() (s string, ok bool) {
	if r.isNull() {
		return "", true
	}
	if !r.isString() {
		return "", false
	}
	inner := r[1 : len(r)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner), true
	}
	buf, ok := jsonstr.AppendUnquoted(nil, r)
	if !ok {
		return "", false
	}
	return string(buf), true
}

// maxPeel bounds how many layers of JSON string encoding peel removes. The
// Functions host adds at most two; a third is tolerated, more is garbage.
const maxPeel = 3

// peel removes layers of JSON string encoding until it reaches an object or
// an array (the host double-encodes strings it hands to a custom handler, and
// pretty-prints Event Grid events first). It returns the payload trimmed of
// white space, or ok false when no object or array is inside.
func peel(b []byte) ([]byte, bool) {
	b = bytes.TrimSpace(b)
	for range maxPeel {
		if len(b) == 0 || b[0] != '"' {
			break
		}
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, false
		}
		b = bytes.TrimSpace([]byte(s))
	}
	if len(b) == 0 || (b[0] != '{' && b[0] != '[') {
		return nil, false
	}
	return b, true
}

// timeLayouts are the forms a timestamp arrives in: RFC 3339 with or without
// a fraction (Go's parser accepts a fraction either way), and the zone-less
// ISO form the Functions host produces from a .NET DateTime of unspecified
// kind, which is UTC in every binding we read.
var timeLayouts = [...]string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.9999999",
	"2006-01-02 15:04:05.9999999Z07:00",
	"2006-01-02 15:04:05.9999999",
}

// parseTime parses a timestamp in any of timeLayouts and returns it in UTC.
// The zero time (0001-01-01, which .NET writes for "unset") is rejected.
func parseTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			t = t.UTC()
			// After 2262 a time no longer fits the nanosecond clock the
			// store and the engine keep: such a record is malformed.
			if t.IsZero() || t.Year() < 1970 || t.Year() > 2262 {
				return time.Time{}, false
			}
			return t, true
		}
	}
	return time.Time{}, false
}

// hubFromResourceID returns the IoT hub name of an ARM resource id (the path
// segment after /IOTHUBS/, matched case-insensitively) in lower case, or ""
// when the id is not an IoT hub's. Resource ids arrive mostly upper-case.
func hubFromResourceID(id string) string {
	const marker = "/iothubs/"
	i := indexFold(id, marker)
	if i < 0 {
		return ""
	}
	name := id[i+len(marker):]
	if j := strings.IndexByte(name, '/'); j >= 0 {
		name = name[:j]
	}
	return strings.ToLower(strings.TrimSpace(name))
}

// lastSegment returns the last non-empty path segment of s.
func lastSegment(s string) string {
	s = strings.TrimRight(s, "/")
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// indexFold is strings.Index for an ASCII lower-case needle, ignoring case
// in s, without allocating a lower-cased copy.
func indexFold(s, lowerNeedle string) int {
	n := len(lowerNeedle)
	for i := 0; i+n <= len(s); i++ {
		j := 0
		for ; j < n; j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != lowerNeedle[j] {
				break
			}
		}
		if j == n {
			return i
		}
	}
	return -1
}

// parseCode turns a resultType ("404104", or a bare number) into an int; a
// value that is not a plain non-negative decimal gives 0.
func parseCode(r rawJSON) int {
	b := []byte(r)
	if r.isString() {
		b = b[1 : len(b)-1]
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || len(b) > 9 {
		return 0
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int(c-'0')
	}
	return n
}
