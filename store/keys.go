package store

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// Both implementations build the same sortable keys with the functions in
// this file, so Memory orders and pages exactly as Table does.

// maxKeyLen is Azure Table's limit on PartitionKey and RowKey (1 KiB of
// UTF-16); we count bytes, which is stricter for non-ASCII.
const maxKeyLen = 1024

// keySep separates the parts of a composite key. EncodeKey escapes every
// character <= '!', so the separator sorts below anything encoded and the
// composite keys order like the tuples they encode.
const keySep = "!"

// EncodeKey turns an arbitrary string (device id, alert key …) into a form
// Table keys accept: `/ \ # ?`, quotes, '%' (the escape character), control
// characters (C0 and C1), characters <= '!' and invalid UTF-8 bytes become
// %XX. It is reversible (DecodeKey) and injective.
func EncodeKey(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1,
			r <= '!', r == '%', r == '\'', r == '/', r == '\\', r == '#', r == '?',
			r == 0x7f, r >= 0x80 && r <= 0x9f:
			for j := range size {
				fmt.Fprintf(&b, "%%%02X", s[i+j])
			}
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// DecodeKey is the inverse of EncodeKey.
func DecodeKey(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+2 >= len(s) {
			return "", fmt.Errorf("store: decode key %q: truncated escape", s)
		}
		v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("store: decode key %q: bad escape", s)
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), nil
}

// stampWidth is the fixed width of a nanosecond Unix time: 19 digits cover
// 1970 to 2262.
const stampWidth = 19

func stampKey(t time.Time) string {
	ns := t.UnixNano()
	if ns < 0 {
		ns = 0
	}
	return fmt.Sprintf("%019d", ns)
}

// minuteKey is the events PartitionKey: the stamp's UTC minute, fixed width
// and sortable.
func minuteKey(t time.Time) string {
	return t.UTC().Truncate(time.Minute).Format("200601021504")
}

// eventRowKey is the events RowKey: stamp (ns) then event ID, so a
// partition-range scan is in stamp order and distinct events never collide.
func eventRowKey(stamp time.Time, id event.ID) string {
	return stampKey(stamp) + "_" + id.String()
}

// markRowKey is the RowKey of an ingest Mark among the events: the stamp,
// then "~m" and the mark ID, so a stamp-range scan returns it with the
// events and it never collides with an event ("_" + ID).
func markRowKey(stamp time.Time, id string) string {
	return stampKey(stamp) + "~m" + EncodeKey(id)
}

// stampOfKey recovers the stamp of an events RowKey (its first 19 digits).
func stampOfKey(rk string) time.Time {
	if len(rk) < 19 {
		return time.Time{}
	}
	ns, err := strconv.ParseInt(rk[:19], 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// markDoc is the stored form of a Mark (its stamp is the row's).
type markDoc struct {
	Writer                       string `json:"w"`
	ID                           string `json:"id"`
	Newest                       int64  `json:"n,omitempty"`
	Read, Kept, Ignored, Skipped int64
}

func encodeMark(m *Mark) ([]byte, error) {
	b, err := json.Marshal(markDoc{m.Writer, m.ID, unixNano(m.Newest), m.Read, m.Kept, m.Ignored, m.Skipped})
	if err != nil {
		return nil, fmt.Errorf("store: encode mark %q: %w", m.Writer, err)
	}
	return b, nil
}

func decodeMark(b []byte, stamp time.Time) (Mark, error) {
	var d markDoc
	if err := json.Unmarshal(b, &d); err != nil {
		return Mark{}, fmt.Errorf("store: decode mark: %w", err)
	}
	return Mark{Writer: d.Writer, ID: d.ID, Newest: fromNano(d.Newest), Read: d.Read, Kept: d.Kept,
		Ignored: d.Ignored, Skipped: d.Skipped, Stamp: stamp}, nil
}

// invTime orders newest first: MaxInt64 - UnixNano, fixed width.
func invTime(t time.Time) string {
	return fmt.Sprintf("%019d", math.MaxInt64-t.UnixNano())
}

// diagRowKey is the diagnoses RowKey: inverted time, then hub, device,
// module, event id, so a forward scan lists newest first then by key.
func diagRowKey(d *classify.Diagnosis) string {
	return invTime(d.Time) + keySep + EncodeKey(d.Key.Hub) + keySep + EncodeKey(d.Key.Device) +
		keySep + EncodeKey(d.Key.Module) + keySep + d.EventID.String()
}

// diagTimeBounds returns the RowKey range [lo, hi) that holds diagnoses with
// Time in [from, to); empty strings mean unbounded.
func diagTimeBounds(from, to time.Time) (lo, hi string) {
	if !to.IsZero() {
		lo = fmt.Sprintf("%019d", math.MaxInt64-to.UnixNano()+1)
	}
	if !from.IsZero() {
		hi = fmt.Sprintf("%019d", math.MaxInt64-from.UnixNano()+1)
	}
	return lo, hi
}

// outboxDueKey is the RowKey of a pending item's due-index row.
func outboxDueKey(due time.Time, id string) string {
	return "d_" + stampKey(due) + keySep + EncodeKey(id)
}

func outboxItemKey(id string) string { return "i_" + EncodeKey(id) }

// encodeCursor and decodeCursor make the diagnoses cursor opaque.
func encodeCursor(rowKey string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(rowKey))
}

func decodeCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", fmt.Errorf("store: bad cursor: %w", err)
	}
	return string(b), nil
}

// clampLimit applies DiagnosisQuery's 1..1000 range (0 means 100).
func clampLimit(n int) int {
	switch {
	case n <= 0:
		return 100
	case n > 1000:
		return 1000
	}
	return n
}

// eventCodecVersion is the first byte of an encoded event.
const eventCodecVersion = 1

// EncodeEvent serializes an event compactly (one Table binary property per
// event): a version byte, ID, source, kind, varint time and code, then
// length-prefixed strings. It is what both stores keep.
func EncodeEvent(e *event.Event) []byte {
	strs := [...]string{e.Hub, e.Device, e.Module, e.Category, e.Operation, e.Description,
		e.Protocol, e.SDK, e.AuthType, e.MaskedIP, e.Message, e.Seq}
	n := 1 + 16 + 2 + 2*binary.MaxVarintLen64
	for _, s := range strs {
		n += binary.MaxVarintLen64 + len(s)
	}
	b := make([]byte, 0, n)
	b = append(b, eventCodecVersion)
	b = append(b, e.ID[:]...)
	b = append(b, byte(e.Source), byte(e.Kind))
	b = binary.AppendVarint(b, e.Time.UnixNano())
	b = binary.AppendVarint(b, int64(e.Code))
	for _, s := range strs {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// maxEventField is the longest string field a stored event keeps; longer
// ones (a runaway errorMessage) are cut at a rune boundary so that one event
// always fits in one binary property (blobPartSize) and never fails a batch.
const maxEventField = 4096

// encodeStored is EncodeEvent after cutting over-long fields: what both
// stores keep.
func encodeStored(e *event.Event) []byte {
	b := EncodeEvent(e)
	if len(b) <= blobPartSize {
		return b
	}
	c := *e
	for _, p := range [...]*string{&c.Hub, &c.Device, &c.Module, &c.Category, &c.Operation, &c.Description,
		&c.Protocol, &c.SDK, &c.AuthType, &c.MaskedIP, &c.Message, &c.Seq} {
		if len(*p) > maxEventField {
			cut := maxEventField
			for cut > 0 && !utf8.RuneStart((*p)[cut]) {
				cut--
			}
			*p = (*p)[:cut]
		}
	}
	return EncodeEvent(&c)
}

var errBadEvent = errors.New("store: malformed stored event")

// DecodeEvent parses what EncodeEvent wrote; it never panics on bad input.
func DecodeEvent(b []byte) (event.Event, error) {
	var e event.Event
	if len(b) < 1+16+2 || b[0] != eventCodecVersion {
		return e, errBadEvent
	}
	copy(e.ID[:], b[1:17])
	e.Source, e.Kind = event.Source(b[17]), event.Kind(b[18])
	b = b[19:]
	t, n := binary.Varint(b)
	if n <= 0 {
		return e, errBadEvent
	}
	b = b[n:]
	code, n := binary.Varint(b)
	if n <= 0 || code < math.MinInt32 || code > math.MaxInt32 {
		return e, errBadEvent
	}
	b = b[n:]
	e.Time = time.Unix(0, t).UTC()
	e.Code = int(code)
	for _, p := range [...]*string{&e.Hub, &e.Device, &e.Module, &e.Category, &e.Operation, &e.Description,
		&e.Protocol, &e.SDK, &e.AuthType, &e.MaskedIP, &e.Message, &e.Seq} {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return e, errBadEvent
		}
		*p = string(b[n : n+int(l)])
		b = b[n+int(l):]
	}
	if len(b) != 0 {
		return e, errBadEvent
	}
	return e, nil
}
