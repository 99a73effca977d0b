package handlers

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/disconnect-doctor/disconnect-doctor/ingest"
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

// eventSinks names the functions whose Event Hubs bodies are parsed while
// the request is read: those that need nothing from Metadata to parse a body
// (the writer name is only needed once the batch is parsed).
// ConnectionStateRoute is not one: each body is parsed with its
// PropertiesArray entry, which the host sends after Data.
var eventSinks = map[string]func() *eventSink{
	FnDiagnosticLogs: func() *eventSink {
		return &eventSink{parse: ingest.ResourceLogs}
	},
}

// eventSink receives an Event Hubs batch body by body during the request
// decode (issue 2: a batch of 100 bodies of up to 1 MB each must not be
// held in several copies). Only the parsed Result outlives a body.
type eventSink struct {
	// parse turns one body into events; it must not retain b.
	parse func(b []byte, res *ingest.Result)
	// res, n and ok are what forEachBody would have produced over the
	// batch; they are final when done is set.
	res  ingest.Result
	n    int
	ok   bool
	done bool
}

// begin starts a batch: a repeated Data.events key replaces the earlier
// batch, as the non-streaming decode does.
func (s *eventSink) begin() {
	*s = eventSink{parse: s.parse}
}

// streamBufSize is the read buffer of the streaming decode, outer (request)
// and inner (batch text) alike.
const streamBufSize = 64 << 10

// streamEvents decodes the value of Data.events with the request positioned
// right after the key. A JSON string (the host's shape) is decoded
// incrementally: its contents, the JSON text of the batch, are unescaped on
// the fly (strReader) and walked element by element (eventSink.stream),
// each body parsed and dropped. d.dec is then replaced by a decoder that
// continues the walk at the same place. Any other value is decoded as the
// non-streaming path does.
func (inv *invocation) streamEvents(d *decoder) error {
	s := inv.sink
	s.begin()
	inv.events = nil
	br := bufio.NewReaderSize(io.MultiReader(d.dec.Buffered(), d.src), streamBufSize)
	skipSpaceReader(br, nil)
	colon := false
	if c, err := br.Peek(1); err == nil && c[0] == ':' {
		_, _ = br.Discard(1)
		colon = true
		skipSpaceReader(br, nil)
	}
	if c, err := br.Peek(1); colon && err == nil && c[0] == '"' {
		_, _ = br.Discard(1)
		sr := &strReader{br: br}
		events, err := s.stream(bufio.NewReaderSize(sr, streamBufSize))
		if err != nil {
			return err
		}
		// The string must have been read to its closing quote.
		if sr.err != io.EOF {
			if _, err := io.Copy(io.Discard, sr); err != nil {
				return err
			}
		}
		inv.events = events
		// Resume the walk inside Data, after a value.
		return resume(d, `{"d":{"events":null`, br, 5)
	}
	prefix := `{"d":{"events"`
	if colon {
		prefix += ":"
	}
	if err := resume(d, prefix, br, 4); err != nil {
		return err
	}
	var t peeledText
	if err := d.dec.Decode(&t); err != nil {
		return err
	}
	inv.events = t
	return nil
}

// resume replaces d.dec by a decoder reading prefix and then rest, and
// consumes the first `tokens` tokens of prefix: the new decoder's state is that of
// the old one, which the streaming decode bypassed.
func resume(d *decoder, prefix string, rest io.Reader, tokens int) error {
	src := io.MultiReader(strings.NewReader(prefix), rest)
	d.dec, d.src = json.NewDecoder(src), src
	for range tokens {
		if _, err := d.dec.Token(); err != nil {
			return err
		}
	}
	return nil
}

// stream walks the batch text read from r (the unescaped contents of
// Data.events) as forEachStringBody does, handing each body to s.parse. For
// a batch that is not an array of strings (a lone object or string,
// dataType unset) it parses nothing and returns the whole text, for
// forEachBody. An error is a read error of r (a malformed outer string, the
// request limit); a malformed batch text is not an error (s.ok false).
func (s *eventSink) stream(r *bufio.Reader) (fallback []byte, err error) {
	var head []byte
	rest := func() ([]byte, error) {
		b, err := io.ReadAll(r)
		if err != nil {
			return nil, err
		}
		return append(head, b...), nil
	}
	c, err := skipSpaceReader(r, &head)
	if err == io.EOF {
		s.n, s.ok, s.done = 0, true, true
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if c != '[' {
		return rest()
	}
	_, _ = r.Discard(1)
	head = append(head, '[')
	c, err = skipSpaceReader(r, &head)
	if err != nil && err != io.EOF {
		return nil, err
	}
	if err == nil && c == ']' {
		_, _ = r.Discard(1)
		s.ok, err = onlySpace(r)
		s.done = true
		return nil, err
	}
	if err != nil || c != '"' {
		return rest()
	}
	s.done = true
	var raw, buf []byte
	for {
		// One element: its literal as it stands in the batch text, then
		// unescaped exactly as forEachStringBody does.
		raw, err = readLiteral(r, raw[:0])
		if err == io.EOF {
			return nil, drain(r)
		}
		if err != nil {
			return nil, err
		}
		var used int
		var ok bool
		buf, used, ok = jsonstr.Scan(buf[:0], raw)
		if !ok || used != len(raw) {
			return nil, drain(r)
		}
		s.parse(maybeBase64(buf), &s.res)
		s.n++
		c, err = skipSpaceReader(r, nil)
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		_, _ = r.Discard(1)
		switch c {
		case ',':
			c, err = skipSpaceReader(r, nil)
			if err == io.EOF {
				return nil, nil
			}
			if err != nil {
				return nil, err
			}
			if c != '"' {
				return nil, drain(r)
			}
		case ']':
			s.ok, err = onlySpace(r)
			return nil, err
		default:
			return nil, drain(r)
		}
	}
}

// readLiteral appends the JSON string literal at r (from its opening quote
// to the first unescaped quote, both included) to dst. io.EOF means r ended
// inside the literal.
func readLiteral(r *bufio.Reader, dst []byte) ([]byte, error) {
	if _, err := r.Discard(1); err != nil { // the opening quote, peeked
		return dst, err
	}
	dst = append(dst, '"')
	for {
		chunk, err := r.ReadSlice('"')
		dst = append(dst, chunk...)
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err != nil:
			return dst, err
		}
		// The quote ends the literal unless an odd run of backslashes
		// escapes it.
		bs := 0
		for i := len(dst) - 2; i > 0 && dst[i] == '\\'; i-- {
			bs++
		}
		if bs%2 == 0 {
			return dst, nil
		}
	}
}

// skipSpaceReader discards JSON whitespace from r (appending it to consumed
// when non-nil) and peeks at the next byte.
func skipSpaceReader(r *bufio.Reader, consumed *[]byte) (byte, error) {
	for {
		b, err := r.Peek(1)
		if err != nil {
			return 0, err
		}
		switch b[0] {
		case ' ', '\t', '\n', '\r':
			if consumed != nil {
				*consumed = append(*consumed, b[0])
			}
			_, _ = r.Discard(1)
		default:
			return b[0], nil
		}
	}
}

// onlySpace reads r to its end and reports whether it held only whitespace.
func onlySpace(r *bufio.Reader) (bool, error) {
	if _, err := skipSpaceReader(r, nil); err != io.EOF {
		if err != nil {
			return false, err
		}
		return false, drain(r)
	}
	return true, nil
}

// drain reads r to its end; only a read error is returned.
func drain(r *bufio.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

// errBadString reports a Data.events string that is not valid JSON.
var errBadString = errors.New("malformed JSON string")

// strReader reads the contents of a JSON string literal from br, whose
// opening quote has been consumed, with the escapes resolved exactly as
// jsonstr.Scan (and encoding/json) resolve them: surrogate pairs joined,
// lone surrogates and invalid UTF-8 replaced by U+FFFD. It stops after the
// closing quote (then io.EOF); a malformed literal or a read error of br is
// returned, also at every later Read. bufio.Reader.Peek keeps an escape or a
// multi-byte character whole however the request arrives.
type strReader struct {
	br  *bufio.Reader
	err error
	// pend holds decoded bytes that did not fit the caller's buffer.
	pend []byte
	tmp  [utf8.UTFMax]byte
}

// Read implements io.Reader.
func (s *strReader) Read(p []byte) (int, error) {
	n := copy(p, s.pend)
	s.pend = s.pend[n:]
	for n < len(p) && s.err == nil {
		if _, err := s.br.Peek(1); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			s.err = err
			break
		}
		buf, _ := s.br.Peek(s.br.Buffered())
		i := 0
		for i < len(buf) && n < len(p) {
			// Copy the longest run needing no work.
			j := i
			for j < len(buf) && n+j-i < len(p) {
				c := buf[j]
				if c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
					break
				}
				j++
			}
			n += copy(p[n:], buf[i:j])
			i = j
			// A one-character escape, whole in buf, is resolved here (the
			// host's escaped quotes make these most of a batch's escapes).
			if i+1 < len(buf) && n < len(p) && buf[i] == '\\' {
				if v := simpleEscapes[buf[i+1]]; v != 0 {
					p[n] = v
					n++
					i += 2
					continue
				}
			}
			break
		}
		_, _ = s.br.Discard(i)
		if i == len(buf) || n == len(p) {
			continue
		}
		out, err := s.special(s.tmp[:0])
		if err != nil {
			s.err = err
			break
		}
		c := copy(p[n:], out)
		n += c
		s.pend = out[c:]
	}
	if n > 0 {
		return n, nil
	}
	return 0, s.err
}

// special decodes the byte at the head of br that needs work (a quote, an
// escape, a control character or a non-ASCII byte), appending its contents
// to dst (at most utf8.UTFMax bytes). The closing quote gives io.EOF.
func (s *strReader) special(dst []byte) ([]byte, error) {
	b, _ := s.br.Peek(1)
	c := b[0]
	switch {
	case c == '"':
		_, _ = s.br.Discard(1)
		return dst, io.EOF
	case c < 0x20:
		return dst, errBadString
	case c >= utf8.RuneSelf:
		b, _ = s.br.Peek(utf8.UTFMax) // fewer at the end of the input
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 {
			dst = utf8.AppendRune(dst, utf8.RuneError)
		} else {
			dst = append(dst, b[:size]...)
		}
		_, _ = s.br.Discard(size)
		return dst, nil
	}
	// c == '\\'
	b, _ = s.br.Peek(12) // the longest escape: a surrogate pair
	out, n := jsonstr.AppendEscape(dst, b)
	if n == 0 {
		if len(b) < 2 || b[1] == 'u' && len(b) < 6 {
			return dst, s.short() // cut off by the end of the input
		}
		return dst, errBadString
	}
	_, _ = s.br.Discard(n)
	return out, nil
}

// short is the error for an escape cut off by the end of the input: the
// read error that cut it, or io.ErrUnexpectedEOF.
func (s *strReader) short() error {
	if _, err := s.br.Peek(s.br.Buffered() + 1); err != nil && err != io.EOF && err != bufio.ErrBufferFull {
		return err
	}
	return io.ErrUnexpectedEOF
}

// simpleEscapes maps the character after a backslash to what the escape
// stands for; 0 for \u (handled by strReader.special) and invalid escapes.
var simpleEscapes = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}
