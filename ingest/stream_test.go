package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/hamba/avro/v2/ocf"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// labRecords returns the two lab records (testdata/stream) as compact JSON
// objects, and the events ResourceLogs makes of them in one body.
func labRecords(t testing.TB) ([]json.RawMessage, []event.Event) {
	t.Helper()
	raw, err := os.ReadFile("testdata/stream/lab17_formatted.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	var recs []json.RawMessage
	for dec.More() {
		var r json.RawMessage
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		var c bytes.Buffer
		_ = json.Compact(&c, r)
		recs = append(recs, c.Bytes())
	}
	if len(recs) != 2 {
		t.Fatalf("%d lab records, want 2", len(recs))
	}
	res := &Result{}
	ResourceLogs(recordsBody(recs), res)
	if len(res.Events) != 2 {
		t.Fatalf("ResourceLogs kept %d lab records: %s", len(res.Events), res.Summary())
	}
	return recs, res.Events
}

// recordsBody is {"records":[recs…]}.
func recordsBody(recs []json.RawMessage) []byte {
	b, _ := json.Marshal(map[string]any{"records": recs})
	return b
}

func indent(t testing.TB, b []byte) []byte {
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "    "); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestResourceLogStreamLayouts (issue 14 item 5): the lab's two records give
// the same events whatever the layout a user has them in.
func TestResourceLogStreamLayouts(t *testing.T) {
	recs, want := labRecords(t)
	formatted, err := os.ReadFile("testdata/stream/lab17_formatted.json")
	if err != nil {
		t.Fatal(err)
	}
	b := recordsBody(recs)
	quoted, _ := json.Marshal(string(b))
	arr, _ := json.Marshal(recs)
	layouts := map[string][]byte{
		"pretty-printed objects one after another (Format Document)": formatted,
		"the same with CRLF line ends":                               bytes.ReplaceAll(formatted, []byte("\n"), []byte("\r\n")),
		"JSON lines":                                                 []byte(string(recs[0]) + "\n" + string(recs[1]) + "\n"),
		"a records body":                                             b,
		"a pretty-printed records body":                              indent(t, b),
		"records bodies, one record each, no newline":                append(recordsBody(recs[:1]), recordsBody(recs[1:])...),
		"an array of records":                                        arr,
		"a pretty-printed array of records":                          indent(t, arr),
		"an array of records bodies":                                 []byte("[" + string(recordsBody(recs[:1])) + ",\n" + string(recordsBody(recs[1:])) + "]"),
		"a body as a JSON string":                                    quoted,
		"a body with one record a line, unindented":                  []byte("{\"records\":[" + string(recs[0]) + ",\n" + string(recs[1]) + "]}\n"),
		"byte-order mark, blank lines":                               append([]byte("\xef\xbb\xbf\n\n"), formatted...),
	}
	for name, in := range layouts {
		t.Run(name, func(t *testing.T) {
			res := &Result{}
			if err := ResourceLogStream(bytes.NewReader(in), "lab.json", res); err != nil {
				t.Fatal(err)
			}
			if res.Read != 2 || res.SkippedTotal() != 0 || !reflect.DeepEqual(res.Events, want) {
				t.Errorf("%s; problems %q", res.Summary(), res.Problems)
			}
		})
	}
}

// TestResourceLogStreamBadValues: a broken value is located at the line it
// starts on and costs nothing else, in pretty-printed and JSON-lines files.
func TestResourceLogStreamBadValues(t *testing.T) {
	recs, _ := labRecords(t)
	pretty := func(i int) string { return string(indent(t, recs[i])) + "\n" }
	tests := []struct {
		name     string
		in       string
		kept     int
		skipped  map[string]int
		problems []string
	}{
		{"pretty-printed object cut short", pretty(0) + "{\n    \"time\": \"2023-09-21T22:20:00Z\",\n" + pretty(1),
			2, map[string]int{"bad json": 1}, []string{"f.json:10: bad json"}},
		{"JSON line cut short", string(recs[0]) + "\n{\"time\":\"2023\n" + string(recs[1]) + "\n",
			2, map[string]int{"bad json": 1}, []string{"f.json:2: bad json"}},
		{"unbalanced line", string(recs[0]) + "\n{not json\n" + string(recs[1]) + "\n",
			2, map[string]int{"bad json": 1}, []string{"f.json:2: bad json"}},
		{"garbage line", "garbage\n" + string(recs[1]), 1, map[string]int{"bad json": 1}, []string{"f.json:1: bad json"}},
		{"balanced but invalid", "{\"a\":,}\n" + string(recs[1]), 1, map[string]int{"bad json": 1}, []string{"f.json:1: bad json"}},
		{"truncated at the end", string(recs[0]) + "\n{\"time\":", 1, map[string]int{"bad json": 1}, []string{"f.json:2: bad json"}},
		{"string with a raw line end", "\"{\\\"records\n" + string(recs[1]), 1, map[string]int{"bad json": 1}, []string{"f.json:1: bad json"}},
		{"a body with one record a line, one of them broken", "{\"records\":[\n" + string(recs[0]) + ",\n{\"time\": oops},\n" + string(recs[1]) + "\n]}\n",
			2, map[string]int{"bad json": 2}, []string{"f.json:1: bad json", "f.json:3: bad json"}},
		{"scalars in an array: the rest of the line goes", "[1, true]\n" + string(recs[1]), 1, map[string]int{"bad json": 1}, []string{"f.json:1: bad json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := &Result{}
			if err := ResourceLogStream(strings.NewReader(tt.in), "f.json", res); err != nil {
				t.Fatal(err)
			}
			if len(res.Events) != tt.kept || !reflect.DeepEqual(res.Skipped, tt.skipped) ||
				strings.Join(res.Problems, "|") != strings.Join(tt.problems, "|") {
				t.Errorf("%s; problems %q, want kept %d skipped %v problems %q", res.Summary(), res.Problems, tt.kept, tt.skipped, tt.problems)
			}
		})
	}
}

// TestResourceLogStreamLargeValues: a pretty-printed body over MaxEventSize
// whose compact form fits is read; a value over the held bound is skipped
// without being held, and the next one is read.
func TestResourceLogStreamLargeValues(t *testing.T) {
	recs, _ := labRecords(t)
	var many []json.RawMessage
	for len(many)*len(recs[0]) < MaxEventSize*9/10 {
		many = append(many, recs[0])
	}
	body := indent(t, recordsBody(many))
	if len(body) <= MaxEventSize || len(recordsBody(many)) > MaxEventSize {
		t.Fatalf("fixture: pretty %d, compact %d", len(body), len(recordsBody(many)))
	}
	res := &Result{}
	if err := ResourceLogStream(bytes.NewReader(body), "big.json", res); err != nil {
		t.Fatal(err)
	}
	if len(res.Events) != len(many) || res.SkippedTotal() != 0 {
		t.Errorf("pretty body over MaxEventSize: %s", res.Summary())
	}
	huge := `{"records":[` + strings.Repeat(`{"a":"`+strings.Repeat("x", 1000)+`"},`, maxStreamValue/1000) + `{}]}`
	res = &Result{}
	if err := ResourceLogStream(strings.NewReader(huge+"\n"+string(recs[1])), "huge.json", res); err != nil {
		t.Fatal(err)
	}
	if len(res.Events) != 1 || res.Skipped["too large"] != 1 {
		t.Errorf("value over the bound: %s", res.Summary())
	}
}

// TestResourceLogStreamReadError: a read error is returned with its line.
func TestResourceLogStreamReadError(t *testing.T) {
	recs, _ := labRecords(t)
	boom := errors.New("boom")
	res := &Result{}
	r := io.MultiReader(strings.NewReader(string(recs[0])+"\n"+string(recs[1])+"\n"), iotest.ErrReader(boom))
	err := ResourceLogStream(r, "archive.json", res)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "archive.json line 3") {
		t.Fatalf("error %v, want boom at archive.json line 3", err)
	}
	if len(res.Events) != 2 {
		t.Errorf("%s", res.Summary())
	}
}

// captureRecord is a whole Capture record, for writing test files with
// the Avro library's own OCF writer.
type captureRecord struct {
	SequenceNumber   int64          `avro:"SequenceNumber"`
	Offset           string         `avro:"Offset"`
	EnqueuedTimeUtc  string         `avro:"EnqueuedTimeUtc"`
	SystemProperties map[string]any `avro:"SystemProperties"`
	Properties       map[string]any `avro:"Properties"`
	Body             []byte         `avro:"Body"`
}

// writeCapture writes bodies as a Capture file would hold them: one
// EventData record per event, with the codec given.
func writeCapture(t testing.TB, codec ocf.CodecName, bodies ...[]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc, err := ocf.NewEncoder(CaptureSchema, &buf, ocf.WithCodec(codec))
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range bodies {
		r := captureRecord{
			SequenceNumber:  int64(1041 + i),
			Offset:          fmt.Sprint(4294967296 + 1024*i),
			EnqueuedTimeUtc: fmt.Sprintf("9/21/2023 10:%02d:05 PM", 16+i),
			SystemProperties: map[string]any{
				"x-opt-sequence-number": int64(1041 + i),
				"x-opt-offset":          fmt.Sprint(4294967296 + 1024*i),
				"x-opt-enqueued-time":   int64(1695334565000 + int64(i)*60000),
			},
			Properties: map[string]any{},
			Body:       b,
		}
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestCaptureFile (issue 14 item 5): a Capture file built with the Avro
// library's OCF writer and the Capture schema, uncompressed and deflated
// (Capture's two encodings), gives the lab's events; ResourceLogFile
// recognises it by its magic.
func TestCaptureFile(t *testing.T) {
	recs, want := labRecords(t)
	for _, codec := range []ocf.CodecName{ocf.Null, ocf.Deflate} {
		t.Run(string(codec), func(t *testing.T) {
			file := writeCapture(t, codec, recordsBody(recs[:1]), recordsBody(recs[1:]))
			res := &Result{}
			if err := ResourceLogFile(bytes.NewReader(file), "0/2023/09/21/22/16/00.avro", res); err != nil {
				t.Fatal(err)
			}
			if res.Read != 2 || res.SkippedTotal() != 0 || !reflect.DeepEqual(res.Events, want) {
				t.Errorf("%s; problems %q", res.Summary(), res.Problems)
			}
		})
	}
	t.Run("bad and empty bodies located", func(t *testing.T) {
		file := writeCapture(t, ocf.Deflate, recordsBody(recs[:1]), []byte("not json"), nil, recordsBody(recs[1:]))
		res := &Result{}
		if err := CaptureFile(bytes.NewReader(file), "c.avro", res); err != nil {
			t.Fatal(err)
		}
		if len(res.Events) != 2 || strings.Join(res.Problems, "|") != "c.avro:2: bad json|c.avro:3: empty body" {
			t.Errorf("%s; problems %q", res.Summary(), res.Problems)
		}
	})
	t.Run("file cut short", func(t *testing.T) {
		file := writeCapture(t, ocf.Null, recordsBody(recs[:1]))
		res := &Result{}
		if err := CaptureFile(bytes.NewReader(file[:len(file)-20]), "c.avro", res); err != nil {
			t.Fatal(err)
		}
		if res.SkippedTotal() == 0 {
			t.Errorf("a truncated file reported nothing: %s", res.Summary())
		}
	})
	t.Run("not avro after the magic", func(t *testing.T) {
		if err := ResourceLogFile(strings.NewReader("Obj\x01garbage"), "x.avro", &Result{}); err == nil {
			t.Error("no error for an unreadable header")
		}
	})
}
