package ingest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/hamba/avro/v2"
	"github.com/hamba/avro/v2/ocf"
)

// ResourceLogFile parses a file of resource logs as users keep them, whatever
// its layout: an Event Hubs Capture file (Avro, recognised by its magic
// bytes; see CaptureFile), or else a stream of JSON values (see
// ResourceLogStream). Problems are located in res.Problems under name, which
// should be a file or blob name, never a URL carrying a SAS token. Only an
// error reading r (or a Capture file whose header is unreadable) is returned.
func ResourceLogFile(r io.Reader, name string, res *Result) error {
	br := bufio.NewReaderSize(r, 64<<10)
	if magic, _ := br.Peek(len(avroMagic)); bytes.Equal(magic, avroMagic) {
		return CaptureFile(br, name, res)
	}
	return ResourceLogStream(br, name, res)
}

// avroMagic starts every Avro object container file.
var avroMagic = []byte("Obj\x01")

// ResourceLogStream parses a stream of concatenated JSON values in any
// layout: JSON lines (one record or {"records":[…]} body per line, as a
// diagnostic setting archives them to storage), pretty-printed objects one
// after another (what an editor's "Format Document" makes of an archive or
// a body), {"records":[…]} bodies, JSON arrays of records or bodies (at the
// top level an array is read element by element, never held whole), and
// bodies double-encoded as JSON strings. Blank lines, commas between values
// and a byte-order mark are allowed.
//
// A bad value is skipped, counted and located in res.Problems as
// "name:line: reason" at the line it starts on, and costs nothing else:
// reading resumes at the next line that starts with "{" (where the next
// value of a JSON-lines or pretty-printed file begins). While an object is
// open, such a line ends it early when the line before it cannot continue
// the object (it does not end in ",", "[", ":" or "{": a JSON line cut short,
// "{not json"); an object that reaches the end of the input still open, or
// closes but is not valid JSON, is re-read from the first such line inside
// it (a pretty-printed object missing its end, one bad record in a body).
// A value over 4×MaxEventSize is read to its end without being held.
// Only an error reading r is returned.
func ResourceLogStream(r io.Reader, name string, res *Result) error {
	s := &streamScanner{br: bufio.NewReaderSize(r, 64<<10), line: 1}
	if bom, _ := s.br.Peek(3); bytes.Equal(bom, []byte("\xef\xbb\xbf")) {
		_, _ = s.br.Discard(3)
	}
	p := logParser{res: res, name: name}
	var compact bytes.Buffer
	for {
		c, start, err := s.nextStart()
		if err != nil {
			return s.readErr(name, err)
		}
		p.line = start
		var st valueStatus
		switch c {
		case '{':
			st, err = s.object()
			if st == statusOK && !json.Valid(s.buf) {
				st = statusBroken
			}
			if st == statusBroken && !s.carry && s.resume(start) {
				err = nil // the rest of the input is read again from inside the value
			}
		case '"':
			st, err = s.str()
		default:
			st, err = statusBroken, s.skipLine()
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return s.readErr(name, err)
		}
		switch {
		case st == statusBroken:
			p.bad("bad json")
		case st == statusTooLarge:
			p.bad("too large")
		case len(s.buf) > MaxEventSize:
			// Indentation may have grown a body past the limit the
			// diagnostic setting keeps to: judge its compact form.
			compact.Reset()
			if json.Compact(&compact, s.buf) != nil {
				p.bad("bad json")
			} else {
				p.body(compact.Bytes())
			}
		default:
			p.body(s.buf)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
	}
}

// valueStatus is how the scan of one top-level value ended.
type valueStatus int

const (
	statusOK       valueStatus = iota // s.buf holds the value
	statusBroken                      // unterminated, or not a value at all
	statusTooLarge                    // over maxStreamValue; not held
)

// maxStreamValue bounds one top-level value held in memory: an Event Hubs
// body is at most MaxEventSize, and pretty-printing adds indentation.
const maxStreamValue = 4 * MaxEventSize

// streamScanner splits a byte stream into top-level JSON values by
// tracking strings and bracket depth (syntax is checked afterwards by the
// record parser), counting lines so that problems can be located.
type streamScanner struct {
	br   *bufio.Reader
	line int // line of the next byte, 1-based
	col  int // bytes read on the current line before the next byte
	// last is the last byte read that is not white space.
	last byte
	// held is false when the current value outgrew maxStreamValue.
	held bool
	// carry is set when a value's scan stopped at a "{" that begins a line:
	// that byte, already read, starts the next value (on line carryLine).
	carry     bool
	carryLine int
	buf       []byte // the current value, when held
}

// readByte reads one byte and reports whether it began a line.
func (s *streamScanner) readByte() (c byte, lineStart bool, err error) {
	c, err = s.br.ReadByte()
	if err != nil {
		return 0, false, err
	}
	lineStart = s.col == 0
	switch c {
	case '\n':
		s.line++
		s.col = 0
		return c, lineStart, nil
	case ' ', '\t', '\r':
	default:
		s.last = c
	}
	s.col++
	return c, lineStart, nil
}

// resume is called after the object that started on line start turned out
// broken: if the object was held whole and a line inside it, after its
// first, starts with "{", the input is read again from that line (the rest
// of the object, then the rest of the stream) and resume reports true.
func (s *streamScanner) resume(start int) bool {
	i := bytes.Index(s.buf, []byte("\n{"))
	if !s.held || i < 0 {
		return false
	}
	rest := append([]byte(nil), s.buf[i+1:]...)
	s.line = start + 1 + bytes.Count(s.buf[:i], []byte("\n"))
	s.col = 0
	s.last = 0
	s.br = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(rest), s.br), 64<<10)
	return true
}

// nextStart skips whitespace, the separators of a top-level array ("[",
// "]", ",") and the closing "}" an object re-read from inside (resume)
// leaves behind, and returns the first byte of the next value and its
// line. io.EOF means the stream ended between values.
func (s *streamScanner) nextStart() (byte, int, error) {
	if s.carry {
		s.carry = false
		return '{', s.carryLine, nil
	}
	for {
		line := s.line
		c, _, err := s.readByte()
		if err != nil {
			return 0, line, err
		}
		switch c {
		case ' ', '\t', '\r', '\n', ',', '[', ']', '}':
			continue
		}
		return c, line, nil
	}
}

// hold appends c to the current value while it is within maxStreamValue.
func (s *streamScanner) hold(c byte, size int) {
	if size <= maxStreamValue {
		s.buf = append(s.buf, c)
	} else {
		s.held = false
	}
}

// object scans the rest of an object whose "{" was read. It stops early at
// a "{" that begins a line while the object is still open, leaving it as the
// start of the next value: the object was broken (a JSON-lines record cut
// short, a pretty-printed one missing its end). A raw line end inside a
// string, which JSON does not allow, also marks the object broken. An
// io.EOF is returned with the status of what was read before it.
func (s *streamScanner) object() (valueStatus, error) {
	s.buf = append(s.buf[:0], '{')
	s.held = true
	depth, size := 1, 1
	inStr, esc, broken := false, false, false
	for depth > 0 {
		line, prev := s.line, s.last
		c, lineStart, err := s.readByte()
		if err != nil {
			return statusBroken, err
		}
		if lineStart && c == '{' && !inStr && !continues(prev) {
			s.carry, s.carryLine = true, line
			return statusBroken, nil
		}
		size++
		s.hold(c, size)
		if inStr {
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			case c == '\n':
				inStr, broken = false, true
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		}
	}
	switch {
	case broken:
		return statusBroken, nil
	case size > maxStreamValue:
		return statusTooLarge, nil
	}
	return statusOK, nil
}

// continues reports whether a line ending in c can be followed by a line
// starting a nested object: after a separator or an opening bracket.
func continues(c byte) bool { return c == ',' || c == '[' || c == ':' || c == '{' }

// str scans the rest of a top-level string (a body encoded as a JSON
// string) whose opening quote was read; it must end on its line.
func (s *streamScanner) str() (valueStatus, error) {
	s.buf = append(s.buf[:0], '"')
	s.held = true
	size, esc := 1, false
	for {
		c, _, err := s.readByte()
		if err != nil {
			return statusBroken, err
		}
		if c == '\n' {
			return statusBroken, nil
		}
		size++
		s.hold(c, size)
		switch {
		case esc:
			esc = false
		case c == '\\':
			esc = true
		case c == '"':
			if size > maxStreamValue {
				return statusTooLarge, nil
			}
			return statusOK, nil
		}
	}
}

// skipLine discards the rest of the current line (after a byte that starts
// no value).
func (s *streamScanner) skipLine() error {
	for {
		c, _, err := s.readByte()
		if err != nil || c == '\n' {
			return err
		}
	}
}

// readErr wraps a read error with where it happened; io.EOF is the end.
func (s *streamScanner) readErr(name string, err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return fmt.Errorf("ingest: read %s line %d: %w", name, s.line, err)
}

// CaptureSchema is the Avro schema Event Hubs Capture writes its files with
// (record Microsoft.ServiceBus.Messaging.EventData): one record per event,
// the event's body in Body, next to its sequence number, offset, enqueued
// time (in the invariant culture, "11/16/2016 4:44:11 PM") and properties.
// Capture writes it uncompressed ("avro.codec" null) or, with the older
// AvroDeflate encoding, deflate-compressed; the reader takes any codec the
// file's header names.
const CaptureSchema = `{"type":"record","name":"EventData","namespace":"Microsoft.ServiceBus.Messaging","fields":[` +
	`{"name":"SequenceNumber","type":"long"},{"name":"Offset","type":"string"},{"name":"EnqueuedTimeUtc","type":"string"},` +
	`{"name":"SystemProperties","type":{"type":"map","values":["long","double","string","bytes"]}},` +
	`{"name":"Properties","type":{"type":"map","values":["long","double","string","bytes","null"]}},` +
	`{"name":"Body","type":["null","bytes"]}]}`

// captureAvro decodes Capture records with room for the largest event body
// an Event Hubs tier accepts (20 MB on Dedicated), so that an oversized body
// is skipped as "too large" by the body parser rather than stopping the
// decoder (whose default bound is 1 MiB).
var captureAvro = avro.Config{MaxByteSliceSize: 32 << 20}.Freeze()

// captureEvent is the part of a Capture record the parser needs: the body
// (a diagnostic setting's {"records":[…]}). Fields of the file's schema that
// are not here are skipped by the decoder.
type captureEvent struct {
	SequenceNumber int64  `avro:"SequenceNumber"`
	Body           []byte `avro:"Body"`
}

// CaptureFile parses an Event Hubs Capture file (an Avro object container
// file with CaptureSchema, as Capture writes to Blob Storage or Data Lake
// under {Namespace}/{EventHub}/{PartitionId}/{Year}/…): each event's Body is
// one Event Hubs body, parsed like a DiagnosticLogs body. A bad body or
// record is skipped, counted and located as "name:N: reason", N being the
// event's position in the file (1-based).
//
// The file is read into memory and its container framing checked before the
// Avro decoder sees it (the decoder allocates whatever size a block header
// claims, so a corrupt file could exhaust memory or panic it): a file cut
// short or corrupt keeps the events of its intact blocks and reports the
// rest as one "corrupt avro file" problem. A file whose header cannot be
// read is an error.
func CaptureFile(r io.Reader, name string, res *Result) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("ingest: read %s: %w", name, err)
	}
	intact, whole := ocfIntactPrefix(data)
	dec, err := ocf.NewDecoder(bytes.NewReader(data[:intact]), ocf.WithDecoderConfig(captureAvro))
	if err != nil {
		return fmt.Errorf("ingest: %s: not a readable Avro file: %w", name, err)
	}
	p := logParser{res: res, name: name}
	var ev captureEvent
	for dec.HasNext() {
		p.line++
		ev = captureEvent{}
		if err := dec.Decode(&ev); err != nil {
			p.bad("bad avro record")
			whole = true // the decoder stops here; the problem is reported
			break
		}
		if len(ev.Body) == 0 {
			p.bad("empty body")
			continue
		}
		p.body(ev.Body)
	}
	if err := dec.Error(); (err != nil && !errors.Is(err, io.EOF)) || !whole {
		p.line++
		p.bad("corrupt avro file")
	}
	return nil
}

// ocfIntactPrefix walks the framing of an Avro object container file —
// the header (magic, metadata map, sync marker), then blocks of (count,
// size, size bytes, sync marker) — and returns the length of the prefix
// made of the header and whole, well-framed blocks, and whether that is the
// whole file. A header it cannot walk gives the whole length back, so that
// the decoder reports the error.
func ocfIntactPrefix(b []byte) (n int, whole bool) {
	w := ocfWalker{b: b, i: len(avroMagic)}
	if !bytes.HasPrefix(b, avroMagic) || !w.skipMap() || w.i+16 > len(b) {
		return len(b), true
	}
	sync := b[w.i : w.i+16]
	w.i += 16
	for {
		n = w.i
		if w.i == len(b) {
			return n, true
		}
		count, ok1 := w.long()
		size, ok2 := w.long()
		if !ok1 || !ok2 || count < 0 || size < 0 || size > int64(len(b)-w.i) {
			return n, false
		}
		w.i += int(size)
		if w.i+16 > len(b) || !bytes.Equal(b[w.i:w.i+16], sync) {
			return n, false
		}
		w.i += 16
	}
}

// ocfWalker reads Avro's zig-zag varints and byte strings from a buffer.
type ocfWalker struct {
	b []byte
	i int
}

// long reads one zig-zag varint long.
func (w *ocfWalker) long() (int64, bool) {
	var u uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if w.i >= len(w.b) {
			return 0, false
		}
		c := w.b[w.i]
		w.i++
		u |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return int64(u>>1) ^ -int64(u&1), true
		}
	}
	return 0, false
}

// skipBytes skips one length-prefixed byte string.
func (w *ocfWalker) skipBytes() bool {
	l, ok := w.long()
	if !ok || l < 0 || l > int64(len(w.b)-w.i) {
		return false
	}
	w.i += int(l)
	return true
}

// skipMap skips the header's metadata map (blocks of entries, a negative
// count followed by a byte size, ended by a zero count).
func (w *ocfWalker) skipMap() bool {
	for {
		count, ok := w.long()
		if !ok {
			return false
		}
		if count == 0 {
			return true
		}
		if count < 0 {
			count = -count
			if _, ok := w.long(); !ok {
				return false
			}
		}
		for range count {
			if !w.skipBytes() || !w.skipBytes() {
				return false
			}
		}
	}
}
