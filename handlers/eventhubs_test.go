package handlers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"reflect"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/disconnect-doctor/disconnect-doctor/ingest"
)

// chunkReader hands its data over at most n bytes per Read, so that escapes,
// surrogate pairs and multi-byte characters straddle read boundaries.
type chunkReader struct {
	b []byte
	n int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	k := min(len(p), r.n, len(r.b))
	copy(p, r.b[:k])
	r.b = r.b[k:]
	return k, nil
}

// decoded is what one decode of an invocation yields for comparison.
type decoded struct {
	Err                  bool
	Bodies               []string
	N                    int
	OK                   bool
	Event, Timer, Req    string
	Partition            *partitionContext
	Properties, Enqueued string
	RetryCount           int
	Summary              string
	Events               int
}

// collectBodies is an eventSink parse func that records each body (in the
// Result's Problems, which the sink resets with the batch).
func collectBodies(b []byte, res *ingest.Result) {
	res.Problems = append(res.Problems, string(b))
	ingest.ResourceLogs(b, res)
}

// referenceDecode is the non-streaming decode: the whole batch text kept,
// then walked by forEachBody. It reads the request in one piece (its
// json.Decoder slides its buffer on every read, quadratic in tiny reads).
func referenceDecode(body []byte) decoded {
	inv, err := decodeInvocation(bytes.NewReader(body))
	if err != nil {
		return decoded{Err: true}
	}
	var res ingest.Result
	n, ok := forEachBody(inv.events, func(_ int, b []byte) { collectBodies(b, &res) })
	return fill(inv, res, n, ok)
}

// streamDecode is the streaming decode DiagnosticLogs uses.
func streamDecode(body []byte, chunk int) decoded {
	inv, err := decodeWithSink(&chunkReader{body, chunk}, &eventSink{parse: collectBodies})
	if err != nil {
		return decoded{Err: true}
	}
	s := inv.sink
	if !s.done {
		// A shape the stream hands over as text (the forEachBody path).
		var res ingest.Result
		n, ok := forEachBody(inv.events, func(_ int, b []byte) { collectBodies(b, &res) })
		return fill(inv, res, n, ok)
	}
	if inv.events != nil {
		return decoded{Err: true, Summary: "streamed and kept events text"}
	}
	return fill(inv, s.res, s.n, s.ok)
}

func fill(inv *invocation, res ingest.Result, n int, ok bool) decoded {
	return decoded{
		Bodies: res.Problems, N: n, OK: ok,
		Event: string(inv.event), Timer: string(inv.timer), Req: string(inv.req),
		Partition: inv.partition, Properties: string(inv.properties), Enqueued: string(inv.enqueued),
		RetryCount: inv.retryCount, Summary: res.Summary(), Events: len(res.Events),
	}
}

// streamSeeds are invocations of every shape the handler accepts, and
// malformed ones: both decodes must agree on all of them.
func streamSeeds(tb testing.TB) [][]byte {
	a := app(tb)
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	events := func(inner string) []byte {
		return []byte(`{"Data":{"events":` + q(inner) + `},"Metadata":{"TriggerPartitionContext":{"EventHubName":"h","PartitionId":"3"}}}`)
	}
	body := string(diagBody(1))
	seeds := [][]byte{
		a.EventHubBatch(FnDiagnosticLogs, "0", diagBatch(3), nil).Payload(1, nil),
		// Metadata first, keys in other cases, whitespace everywhere.
		[]byte(" { \"metadata\" : {\"PartitionContext\":{\"EventHubName\":\"x\",\"PartitionId\":\"1\"},\"RetryContext\":{\"RetryCount\":2}} ,\n\"DATA\" :\t{ \"Events\" : " + q(" [ "+q(body)+" , "+q(`{"records":[]}`)+" ] ") + " } }\n"),
		events(`[` + q(body) + `]`),
		events(`[]`), events(` [ ] `), events(`[] x`), events(``), events(`  `),
		events(`[` + q(`{"records":"\u00e9 \ud83d\ude00 \ud800 x"}`) + `]`),
		[]byte(`{"Data":{"events":"[\"\\u00e9\\ud83d\\ude00\\ud800\\udc00\\ud800x\\u0041\"]"}}`),
		[]byte("{\"Data\":{\"events\":\"[\\\"\xff\xfe caf\xc3\xa9 \xe2\x82\\\"]\"}}"),
		[]byte(`{"Data":{"events":"\ud83d\ude00[\"a\"]"}}`),
		[]byte(`{"Data":{"events":"[\"a\\\\\",\"b\\\\\\\"c\"]"}}`),
		// dataType binary and unset, cardinality one.
		[]byte(`{"Data":{"events":"[\"eyJyZWNvcmRzIjpbXX0=\",\"eyJhIjoxfQ==\"]"}}`),
		events(`[{"records":[]},42,null,"x"]`), events(`["a",{"records":[]}]`),
		events(`{"records":[]}`), events(`"{\"records\":[]}"`), events(`42`),
		[]byte(`{"Data":{"events":{"records":[]}}}`), []byte(`{"Data":{"events":["{}"]}}`),
		[]byte(`{"Data":{"events":null}}`), []byte(`{"Data":{"events":42}}`),
		// Repeated keys: the last batch wins.
		[]byte(`{"Data":{"events":"[\"{}\",\"{}\"]","events":"[]"}}`),
		[]byte(`{"Data":{"events":"[\"{}\"]","events":"[\"{}\",\"{}\"]"},"Data":{"events":"[\"1\"]"}}`),
		[]byte(`{"Data":{"events":"[\"{}\"]","events":{"records":[]}}}`),
		// Malformed batch texts (not errors) and malformed strings (errors).
		events(`["a",`), events(`["a" "b"]`), events(`["a"`), events(`["a\q"]`), events(`["a",]`), events(`["a"]]`),
		[]byte(`{"Data":{"events":"[\"a\"]`), []byte(`{"Data":{"events":"[\"a\"]\q"}}`), []byte("{\"Data\":{\"events\":\"[\x01]\"}}"),
		[]byte(`{"Data":{"events":"\u12"}}`), []byte(`{"Data":{"events":"\ud800\u12G4"}}`), []byte(`{"Data":{"events" "[]"}}`),
		[]byte(`{"Data":{"events":"[]"},}`), []byte(`{"Data":{"events":"[]"}} x`), []byte(`{"Data":{"events":"[]"`),
		[]byte(`{"Data":{"events":`), []byte(`{"Data":{"events"`),
		[]byte(`{"Data":{"event":"\"{}\"","timer":{"a":1},"req":{"Body":"x"},"events":"[\"{}\"]"},"Metadata":{"PropertiesArray":"[{}]","EnqueuedTimeUtcArray":"[\"2025-03-01T10:00:00.123\"]"}}`),
	}
	return seeds
}

// TestStreamMatchesDecode checks the streaming decode against the
// non-streaming one on every seed, with the request arriving in reads of
// several sizes (1 byte puts every escape across a read boundary).
func TestStreamMatchesDecode(t *testing.T) {
	for i, seed := range streamSeeds(t) {
		for _, chunk := range []int{1, 2, 3, 5, 7, 13, 4096, 1 << 20} {
			t.Run(fmt.Sprintf("seed%d/chunk%d", i, chunk), func(t *testing.T) {
				want, got := referenceDecode(seed), streamDecode(seed, chunk)
				if !reflect.DeepEqual(want, got) {
					t.Fatalf("input %q\nnon-streaming %+v\nstreaming     %+v", seed, want, got)
				}
			})
		}
	}
}

// TestStreamSeedsDecodeBodies pins what a few of the shapes above decode
// to, so that the comparison cannot pass with both paths equally wrong.
func TestStreamSeedsDecodeBodies(t *testing.T) {
	tests := []struct {
		in     string
		bodies []string
		n      int
		ok     bool
	}{
		{`{"Data":{"events":"[\"{\\\"a\\\":1}\",\"x\"]"}}`, []string{`{"a":1}`, "x"}, 2, true},
		{`{"Data":{"events":"[\"\\u00e9\\ud83d\\ude00\\ud800x\"]"}}`, []string{"é😀\uFFFDx"}, 1, true},
		{`{"Data":{"events":"[\"\u00e9\ud83d\ude00\ud800\"]"}}`, []string{"é😀\uFFFD"}, 1, true},
		{`{"Data":{"events":"[\"eyJhIjoxfQ==\"]"}}`, []string{`{"a":1}`}, 1, true},
		{`{"Data":{"events":"[\"a\",\"b\" x"}}`, []string{"a", "b"}, 2, false},
		{`{"Data":{"events":"[\"a\"]","events":"[\"b\"]"}}`, []string{"b"}, 1, true},
		{`{"Data":{"events":" "}}`, nil, 0, true},
	}
	for _, tt := range tests {
		for _, chunk := range []int{1, 4096} {
			got := streamDecode([]byte(tt.in), chunk)
			if got.Err || !reflect.DeepEqual(got.Bodies, tt.bodies) || got.N != tt.n || got.OK != tt.ok {
				t.Errorf("%s (chunk %d): got %+v, want bodies %q n %d ok %v", tt.in, chunk, got, tt.bodies, tt.n, tt.ok)
			}
		}
	}
}

// FuzzStreamMatchesDecode compares the streaming decode of Data.events with
// the non-streaming one on arbitrary invocations and read sizes: same
// error-ness, same bodies in order, same count, well-formedness, parsed
// Result and Metadata values.
func FuzzStreamMatchesDecode(f *testing.F) {
	// The large seeds (whole diagnostic bodies) stay in
	// TestStreamMatchesDecode: with inputs of tens of KB the fuzzer's
	// mutator makes next to no progress.
	for _, s := range streamSeeds(f) {
		if len(s) <= 4096 {
			f.Add(uint8(0), s)
			f.Add(uint8(2), s)
		}
	}
	f.Fuzz(func(t *testing.T, chunk uint8, body []byte) {
		n := int(chunk) + 1
		want, got := referenceDecode(body), streamDecode(body, n)
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("input %q chunk %d\nnon-streaming %+v\nstreaming     %+v", body, n, want, got)
		}
	})
}

// largeDiagBody returns a resource-log body of about size bytes (records of
// the realistic mix, repeated).
func largeDiagBody(m, size int) []byte {
	one := diagBody(m)
	var v struct{ Records []json.RawMessage }
	_ = json.Unmarshal(one, &v)
	recs := v.Records
	per := len(one) / len(recs)
	for i := 0; len(recs)*per < size; i++ {
		recs = append(recs, v.Records[i%len(v.Records)])
	}
	b, _ := json.Marshal(map[string]any{"records": recs})
	return b
}

// peakHeap runs fn once and returns the peak growth of the live heap during
// it: with GOGC at 1 the heap is collected whenever it grows by 1 % of the
// live heap, so the heap's object bytes, sampled every 100 µs, follow what
// fn holds (within that 1 % and one sampling interval).
func peakHeap(fn func()) uint64 {
	defer debug.SetGCPercent(debug.SetGCPercent(1))
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	runtime.GC()
	base := read()
	stop, peak := make(chan struct{}), make(chan uint64)
	go func() {
		var max uint64
		t := time.NewTicker(100 * time.Microsecond)
		defer t.Stop()
		for {
			if v := read(); v > max {
				max = v
			}
			select {
			case <-stop:
				peak <- max
				return
			case <-t.C:
			}
		}
	}()
	fn()
	close(stop)
	p := <-peak
	if p < base {
		return 0
	}
	return p - base
}

// BenchmarkDiagnosticLogsLarge measures a batch of 100 bodies of about
// 1 MB each (issue 2) through the handler: records/s, the bytes allocated
// per request byte (alloc-B/req-B, mostly the parser's short-lived garbage)
// and the peak live heap the request adds per request byte (peak-B/req-B,
// one extra run under peakHeap; the request bytes themselves are not
// counted, they are held by the benchmark).
// "kept-text" is the non-streaming decode of the same request (the batch
// text kept whole, then walked), "parse-only" ingest.ResourceLogs on the bare
// bodies (per request byte, to compare), "plain-json" encoding/json on them.
func BenchmarkDiagnosticLogsLarge(b *testing.B) {
	a := app(b)
	bodies := make([][]byte, 100)
	var records int
	for i := range bodies {
		bodies[i] = largeDiagBody(i, 1<<20)
		var v struct{ Records []json.RawMessage }
		_ = json.Unmarshal(bodies[i], &v)
		records += len(v.Records)
	}
	payload := a.EventHubBatch(FnDiagnosticLogs, "0", bodies, nil).Payload(0, nil)
	report := func(b *testing.B, before runtime.MemStats, op func()) {
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		per := float64(after.TotalAlloc-before.TotalAlloc) / float64(b.N)
		elapsed := b.Elapsed()
		b.StopTimer()
		b.ReportMetric(float64(peakHeap(op))/float64(len(payload)), "peak-B/req-B")
		b.ReportMetric(float64(records)*float64(b.N)/elapsed.Seconds(), "records/s")
		b.ReportMetric(per/float64(len(payload)), "alloc-B/req-B")
		b.ReportMetric(float64(len(payload)), "req-B")
	}
	b.Run("handler", func(b *testing.B) {
		h := New(&recorder{discard: true}, zerolog.Nop(), Options{})
		op := func() {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("POST", "/DiagnosticLogs", bytes.NewReader(payload)))
			if w.Code != 200 {
				b.Fatalf("status %d", w.Code)
			}
		}
		b.SetBytes(int64(len(payload)))
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		for b.Loop() {
			op()
		}
		report(b, before, op)
	})
	b.Run("kept-text", func(b *testing.B) {
		op := func() {
			inv, err := decodeInvocation(bytes.NewReader(payload))
			if err != nil {
				b.Fatal(err)
			}
			var res ingest.Result
			if n, ok := forEachBody(inv.events, func(_ int, b []byte) { ingest.ResourceLogs(b, &res) }); n != 100 || !ok {
				b.Fatalf("%d bodies, ok %v", n, ok)
			}
		}
		b.SetBytes(int64(len(payload)))
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		for b.Loop() {
			op()
		}
		report(b, before, op)
	})
	// The floor: the parser alone on the bare bodies, its Result kept as the
	// handler keeps it until the Backend has it.
	b.Run("parse-only", func(b *testing.B) {
		op := func() {
			var res ingest.Result
			for _, body := range bodies {
				ingest.ResourceLogs(body, &res)
			}
			runtime.KeepAlive(&res)
		}
		b.SetBytes(int64(len(payload)))
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		for b.Loop() {
			op()
		}
		report(b, before, op)
	})
	b.Run("plain-json", func(b *testing.B) {
		var n int64
		for _, body := range bodies {
			n += int64(len(body))
		}
		b.SetBytes(n)
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		op := func() {
			for _, body := range bodies {
				var v struct{ Records []map[string]any }
				if err := json.Unmarshal(body, &v); err != nil {
					b.Fatal(err)
				}
			}
		}
		for b.Loop() {
			op()
		}
		report(b, before, op)
	})
}

// TestStreamBodyLimit checks that a request over the body limit is still
// reported as too large when the limit is hit inside the streamed
// Data.events string (the read error keeps its identity through the
// streaming decode), at any point of it.
func TestStreamBodyLimit(t *testing.T) {
	a := app(t)
	payload := a.EventHubBatch(FnDiagnosticLogs, "0", diagBatch(3), nil).Payload(0, nil)
	start := bytes.Index(payload, []byte(`"events":"`))
	if start < 0 {
		t.Fatal("no Data.events in the payload")
	}
	for _, limit := range []int{start + 10, start + 11, start + 2000, len(payload) / 2, len(payload) - 200} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			rec := &recorder{}
			h := New(rec, zerolog.Nop(), Options{MaxBodyBytes: int64(limit)})
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("POST", "/DiagnosticLogs", bytes.NewReader(payload)))
			var env struct{ Logs []string }
			if err := json.Unmarshal(w.Body.Bytes(), &env); err != nil || w.Code != 200 {
				t.Fatalf("status %d body %s: %v", w.Code, w.Body, err)
			}
			want := fmt.Sprintf("DiagnosticLogs: invocation skipped: request larger than %d bytes", limit)
			if len(env.Logs) != 1 || env.Logs[0] != want {
				t.Fatalf("Logs %q, want %q", env.Logs, want)
			}
			if rec.calls() != 0 {
				t.Fatalf("a truncated batch reached the Backend")
			}
		})
	}
}
