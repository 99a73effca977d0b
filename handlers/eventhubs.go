package handlers

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/disconnect-doctor/disconnect-doctor/internal/jsonstr"
)

// writer names the ingest stream of an Event Hubs invocation:
// "<EventHubName>/<PartitionId>" from the trigger's partition context, or the
// function name when the host sent none (an old extension, a test).
func (inv *invocation) writer(fn string) string {
	if p := inv.partition; p != nil && (p.EventHubName != "" || p.PartitionID != "") {
		return p.EventHubName + "/" + p.PartitionID
	}
	return strings.ToLower(fn)
}

// forEachBody calls fn with each Event Hubs body of the batch, decoding the
// inner array one element at a time; fn must not retain b. It returns the
// number of bodies and whether the batch text was well-formed to its end (a
// malformed tail is reported, and the bodies before it are still handed
// over). Shapes accepted: an array of strings (dataType string), of base64
// strings (binary) or of JSON values (unset); a lone object or string
// (cardinality one).
func forEachBody(events []byte, fn func(i int, b []byte)) (n int, ok bool) {
	t := bytes.TrimLeft(events, " \t\r\n")
	if len(t) == 0 {
		return 0, true
	}
	switch t[0] {
	case '{':
		fn(0, t)
		return 1, true
	case '"':
		var e body
		if !json.Valid(t) {
			return 0, false
		}
		_ = e.UnmarshalJSON(bytes.TrimRight(t, " \t\r\n"))
		fn(0, e.buf)
		return 1, true
	case '[':
	default:
		return 0, false
	}
	if n, ok, done := forEachStringBody(t, fn); done {
		return n, ok
	}
	dec := json.NewDecoder(bytes.NewReader(t))
	if _, err := dec.Token(); err != nil {
		return 0, false
	}
	var e body
	for dec.More() {
		if err := dec.Decode(&e); err != nil {
			return n, false
		}
		fn(n, e.buf)
		n++
	}
	if _, err := dec.Token(); err != nil {
		return n, false
	}
	return n, true
}

// forEachStringBody is forEachBody's fast path for the shape the host sends
// (dataType string or binary: an array of strings): each element is scanned
// and unescaped in one pass (json.Decoder would scan it three times). It
// hands over nothing and reports done = false when the first element is not
// a string, so the json.Decoder path takes the array (dataType unset).
func forEachStringBody(t []byte, fn func(i int, b []byte)) (n int, ok, done bool) {
	i := skipSpace(t, 1) // after '['
	if i < len(t) && t[i] == ']' {
		return 0, skipSpace(t, i+1) == len(t), true
	}
	if i >= len(t) || t[i] != '"' {
		return 0, false, false
	}
	var buf []byte
	for {
		i = skipSpace(t, i)
		if i >= len(t) || t[i] != '"' {
			return n, false, true
		}
		var used int
		buf, used, ok = jsonstr.Scan(buf[:0], t[i:])
		if !ok {
			return n, false, true
		}
		i += used
		buf = maybeBase64(buf)
		fn(n, buf)
		n++
		i = skipSpace(t, i)
		if i >= len(t) {
			return n, false, true
		}
		switch t[i] {
		case ',':
			i++
		case ']':
			return n, skipSpace(t, i+1) == len(t), true
		default:
			return n, false, true
		}
	}
}

// skipSpace returns the index of the first non-whitespace byte from i.
func skipSpace(t []byte, i int) int {
	for i < len(t) && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r') {
		i++
	}
	return i
}
