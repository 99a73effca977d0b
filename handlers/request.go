package handlers

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/internal/jsonstr"
)

// invocation is what the functions use of one host request. It is filled by
// a streaming walk over the body so that large values are held once: Data's
// Event Hubs batch is kept as the inner JSON text (the outer string layer
// peeled once) and its elements are decoded one at a time later.
type invocation struct {
	// events is Data.events with the host's string layer removed: the JSON
	// text of an array of bodies (nil when absent).
	events []byte
	// event, timer and req are the raw JSON of Data.event, Data.timer and
	// Data.req (nil when absent).
	event, timer, req []byte
	// partition is Metadata.TriggerPartitionContext (or PartitionContext).
	partition *partitionContext
	// properties and enqueued are the JSON texts of PropertiesArray and
	// EnqueuedTimeUtcArray with the string layer removed.
	properties, enqueued []byte
	// retryCount is Metadata.RetryContext.RetryCount (0 on a first attempt).
	retryCount int
	// seqFirst and seqLast are the first and last of
	// Metadata.SequenceNumberArray (seqN of them): they identify an Event
	// Hubs batch, which a retry repeats.
	seqFirst, seqLast int64
	seqN              int
	// bodyLimit, when positive, is the HTTP function's request-body limit:
	// Data.req is then read field by field and the read stops with
	// errBodyTooLarge at a Content-Length header over it, before Body.
	bodyLimit int64
	// sink, when set (by decodeInvocationFor, for a function that parses its
	// bodies without Metadata), receives the bodies of Data.events while the
	// request is read; events then stays nil unless the batch had a shape
	// the stream does not take (sink.done false).
	sink *eventSink
}

// batchID identifies an Event Hubs batch by its partition's sequence
// numbers ("" when the host sent none): the retries of a batch share it,
// so its progress is counted once.
func (inv *invocation) batchID() string {
	if inv.seqN == 0 {
		return ""
	}
	return fmt.Sprintf("%d-%d/%d", inv.seqFirst, inv.seqLast, inv.seqN)
}

// partitionContext is the Event Hubs trigger's TriggerPartitionContext.
type partitionContext struct {
	EventHubName  string `json:"EventHubName"`
	PartitionID   string `json:"PartitionId"`
	ConsumerGroup string `json:"ConsumerGroup"`
}

// decodeInvocation walks {"Data":{…},"Metadata":{…}} with a json.Decoder,
// keeping only the values the functions read. Top-level keys and binding
// names are matched case-insensitively, as the host's own parser does.
func decodeInvocation(r io.Reader) (*invocation, error) {
	return decodeInvocationFor("", r)
}

// decodeInvocationFor is decodeInvocation for function fn: when fn parses
// its Event Hubs bodies without Metadata (DiagnosticLogs), Data.events is
// not kept but streamed through the function's eventSink while the request
// is read (see eventSink.stream), so a batch of large bodies is never held
// whole in memory.
func decodeInvocationFor(fn string, r io.Reader) (*invocation, error) {
	var sink *eventSink
	if newSink := eventSinks[fn]; newSink != nil {
		sink = newSink()
	}
	return decodeWith(r, sink, bodyLimits[fn])
}

// decodeWithSink is decodeInvocation streaming Data.events through sink
// (nil: keep it as text in invocation.events).
func decodeWithSink(r io.Reader, sink *eventSink) (*invocation, error) {
	return decodeWith(r, sink, 0)
}

// decodeWith is decodeWithSink for an HTTP function with a body limit
// (0: none).
func decodeWith(r io.Reader, sink *eventSink, bodyLimit int64) (*invocation, error) {
	inv := &invocation{sink: sink, bodyLimit: bodyLimit}
	d := &decoder{dec: json.NewDecoder(r), src: r}
	err := walkObject(d, func(key string) error {
		switch strings.ToLower(key) {
		case "data":
			return walkObject(d, func(k string) error { return inv.dataValue(d, k) })
		case "metadata":
			return walkObject(d, func(k string) error { return inv.metadataValue(d, k) })
		}
		return d.dec.Decode(new(skipValue))
	})
	if err != nil {
		return nil, fmt.Errorf("handlers: decode invocation: %w", err)
	}
	// Anything after the envelope but whitespace is malformed.
	if _, err := d.dec.Token(); err != io.EOF {
		return nil, errors.New("handlers: decode invocation: data after the top-level object")
	}
	return inv, nil
}

// decoder is the walk's json.Decoder. The streaming decode of Data.events
// reads the request past the decoder and then replaces dec with one
// positioned at the same place (see invocation.streamEvents), so the walk
// always goes through d.dec and never keeps its own copy.
type decoder struct {
	dec *json.Decoder
	// src is the request body dec reads from.
	src io.Reader
}

// dataValue decodes one Data entry; unknown bindings are skipped unread.
func (inv *invocation) dataValue(d *decoder, key string) error {
	dec := d.dec
	switch strings.ToLower(key) {
	case "events":
		if inv.sink != nil {
			if err := inv.streamEvents(d); err != nil {
				return fmt.Errorf("Data.%s: %w", key, err)
			}
			return nil
		}
		var t peeledText
		if err := dec.Decode(&t); err != nil {
			return fmt.Errorf("Data.%s: %w", key, err)
		}
		inv.events = t
	case "event":
		return decodeRaw(dec, &inv.event)
	case "timer":
		return decodeRaw(dec, &inv.timer)
	case "req":
		if inv.bodyLimit > 0 {
			return inv.readHTTPRequest(d)
		}
		return decodeRaw(dec, &inv.req)
	default:
		return dec.Decode(new(skipValue))
	}
	return nil
}

// metadataValue decodes one Metadata entry; unknown keys are skipped unread.
// Values are tolerated in either shape (object, or the host's string layer
// around it), since versions of the extension differ.
func (inv *invocation) metadataValue(d *decoder, key string) error {
	dec := d.dec
	switch strings.ToLower(key) {
	case "triggerpartitioncontext", "partitioncontext":
		var t peeledText
		if err := dec.Decode(&t); err != nil {
			return fmt.Errorf("Metadata.%s: %w", key, err)
		}
		var pc partitionContext
		// A malformed context leaves the writer unknown; it does not fail.
		if json.Unmarshal(t, &pc) == nil && (inv.partition == nil || strings.EqualFold(key, "TriggerPartitionContext")) {
			inv.partition = &pc
		}
	case "propertiesarray":
		var t peeledText
		if err := dec.Decode(&t); err != nil {
			return fmt.Errorf("Metadata.%s: %w", key, err)
		}
		inv.properties = t
	case "enqueuedtimeutcarray":
		var t peeledText
		if err := dec.Decode(&t); err != nil {
			return fmt.Errorf("Metadata.%s: %w", key, err)
		}
		inv.enqueued = t
	case "sequencenumberarray":
		var t peeledText
		if err := dec.Decode(&t); err != nil {
			return fmt.Errorf("Metadata.%s: %w", key, err)
		}
		var seqs []int64
		if json.Unmarshal(t, &seqs) == nil && len(seqs) > 0 {
			inv.seqFirst, inv.seqLast, inv.seqN = seqs[0], seqs[len(seqs)-1], len(seqs)
		}
	case "retrycontext":
		var t peeledText
		if err := dec.Decode(&t); err != nil {
			return fmt.Errorf("Metadata.%s: %w", key, err)
		}
		var rc struct{ RetryCount int }
		if json.Unmarshal(t, &rc) == nil {
			inv.retryCount = rc.RetryCount
		}
	default:
		return dec.Decode(new(skipValue))
	}
	return nil
}

// walkObject reads one value from d. If it is an object, fn is called with
// each key and must consume exactly that key's value; any other value (null,
// a scalar, an array) is consumed and ignored. fn may replace d.dec.
func walkObject(d *decoder, fn func(key string) error) error {
	tok, err := d.dec.Token()
	if err != nil {
		return err
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil // scalar or null: nothing to walk
	}
	if delim == '[' {
		return skipRest(d.dec, 1)
	}
	for d.dec.More() {
		tok, err := d.dec.Token()
		if err != nil {
			return err
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("object key is %T", tok)
		}
		if err := fn(key); err != nil {
			return err
		}
	}
	_, err = d.dec.Token() // the closing '}'
	return err
}

// skipRest consumes tokens until depth open delimiters are closed.
func skipRest(dec *json.Decoder, depth int) error {
	for depth > 0 {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '[' || d == '{' {
				depth++
			} else {
				depth--
			}
		}
	}
	return nil
}

// skipValue consumes one JSON value without copying it.
type skipValue struct{}

// UnmarshalJSON accepts and discards any value.
func (skipValue) UnmarshalJSON([]byte) error { return nil }

// decodeRaw copies one JSON value (the decoder's buffer is reused).
func decodeRaw(dec *json.Decoder, dst *[]byte) error {
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return err
	}
	*dst = raw
	return nil
}

// peeledText is a JSON value with at most one layer of JSON string encoding
// removed: a string value becomes its contents (the host's double encoding,
// reference §2.1 row 6), any other value its own JSON text. null becomes nil.
type peeledText []byte

// UnmarshalJSON peels the string layer in one copy.
func (p *peeledText) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) > 0 && b[0] == '"':
		*p = appendUnquote(make([]byte, 0, len(b)), b)
	case string(b) == "null":
		*p = nil
	default:
		*p = append([]byte(nil), b...)
	}
	return nil
}

// body is one element of an Event Hubs batch, decoded into a buffer reused
// from one element to the next (the parsers do not retain it).
type body struct{ buf []byte }

// UnmarshalJSON stores the element: a string's contents (dataType string;
// for dataType binary the base64 is decoded), or any other value's JSON text
// (dataType unset delivers the bodies as JSON values).
func (e *body) UnmarshalJSON(b []byte) error {
	e.buf = e.buf[:0]
	if len(b) == 0 || b[0] != '"' {
		if string(b) != "null" {
			e.buf = append(e.buf, b...)
		}
		return nil
	}
	e.buf = appendUnquote(e.buf, b)
	e.buf = maybeBase64(e.buf)
	return nil
}

// maybeBase64 decodes a body that is base64 of JSON (a function configured
// with dataType binary): text bodies of this app are JSON objects or arrays,
// which never form valid base64 themselves.
func maybeBase64(b []byte) []byte {
	if len(b) < 4 || len(b)%4 != 0 || b[0] == '{' || b[0] == '[' || bytes.ContainsAny(b, " {\"") {
		return b
	}
	n := base64.StdEncoding.DecodedLen(len(b))
	out := make([]byte, n)
	n, err := base64.StdEncoding.Decode(out, b)
	if err != nil {
		return b
	}
	out = out[:n]
	if t := bytes.TrimLeft(out, " \t\r\n"); len(t) == 0 || (t[0] != '{' && t[0] != '[') {
		return b
	}
	return out
}

// appendUnquote appends the contents of the JSON string literal q (quotes
// included, syntax already checked by the decoder) to dst, exactly as
// encoding/json would decode it.
func appendUnquote(dst, q []byte) []byte {
	out, _, _ := jsonstr.Scan(dst, q)
	return out
}

// hostTimeLayouts are the timestamp forms the host sends (reference §7.2):
// array metadata has a fraction and no zone, single values no fraction, some
// values an offset or Z.
var hostTimeLayouts = []string{
	"2006-01-02T15:04:05.9999999",
	time.RFC3339Nano,
	"2006-01-02T15:04:05.9999999Z07:00",
	"01/02/2006 15:04:05",
}

// parseHostTime parses a host timestamp as UTC; zone-less forms are UTC.
func parseHostTime(s string) (time.Time, bool) {
	for _, l := range hostTimeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}
