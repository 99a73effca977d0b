package ingest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2/ocf"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// addGolden seeds a fuzz corpus with the golden fixtures whose names match.
func addGolden(f *testing.F, pattern string) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "golden", pattern))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed files for %s: %v", pattern, err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func FuzzResourceLogs(f *testing.F) {
	addGolden(f, "rl_*.json")
	for _, s := range []string{js(rec()), js([]any{rec(), 1}), body(rec("properties", rawProps(props()))), `{"records":null}`, `"{\"records\":[]}"`, "{\"records\":[\xff]}", `[`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		res := &Result{}
		ResourceLogs(b, res)
		checkInvariants(t, res)
		// Parsing is deterministic and appends: a second pass doubles everything.
		n := len(res.Events)
		ResourceLogs(b, res)
		checkInvariants(t, res)
		if len(res.Events) != 2*n {
			t.Fatalf("second pass kept %d, first %d", len(res.Events)-n, n)
		}
		for i := range n {
			if res.Events[i] != res.Events[n+i] {
				t.Fatalf("event %d differs between passes", i)
			}
		}
	})
}

func FuzzResourceLogStream(f *testing.F) {
	addGolden(f, "rl_*")
	f.Add([]byte(js(rec()) + "\r\n\n" + body(rec(), rec()) + "\nbad\n"))
	f.Add([]byte("\xef\xbb\xbf" + js(rec())))
	f.Add([]byte("{\n    \"time\": 1\n}\n{\"a\":\"\\\"}\"}[" + js(rec()) + ",\n" + body(rec()) + "]\"{}\"\n{x\n"))
	if lab, err := os.ReadFile("testdata/stream/lab17_formatted.json"); err == nil {
		f.Add(lab)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		res := &Result{}
		if err := ResourceLogStream(bytes.NewReader(b), "fuzz.json", res); err != nil {
			t.Fatalf("error from an in-memory reader: %v", err)
		}
		checkInvariants(t, res)
		// Every skipped record is located, up to the cap.
		if want := min(res.SkippedTotal(), maxProblems); len(res.Problems) != want {
			t.Fatalf("%d problems for %d skipped", len(res.Problems), res.SkippedTotal())
		}
		// JSON lines: when every line is one JSON object, the stream gives
		// what its lines give one by one.
		each, lines := &Result{}, true
		for i, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSuffix(line, "\r")
			if i == 0 {
				line = strings.TrimPrefix(line, "\xef\xbb\xbf")
			}
			if l := strings.TrimSpace(line); l != "" {
				lines = lines && l[0] == '{' && json.Valid([]byte(l))
				ResourceLogs([]byte(line), each)
			}
		}
		if lines && (each.Read != res.Read || len(each.Events) != len(res.Events) || each.Ignored != res.Ignored) {
			t.Fatalf("lines one by one read/kept/ignored %d/%d/%d, stream %d/%d/%d",
				each.Read, len(each.Events), each.Ignored, res.Read, len(res.Events), res.Ignored)
		}
		// One valid object, however laid out (no line of it starting with
		// "{"), gives what it gives as one Event Hubs body.
		if w := bytes.TrimSpace(b); len(w) > 0 && w[0] == '{' && json.Valid(w) && !bytes.Contains(w, []byte("\n{")) {
			whole := &Result{}
			ResourceLogs(w, whole)
			if whole.Read != res.Read || len(whole.Events) != len(res.Events) || whole.Ignored != res.Ignored {
				t.Fatalf("as one body read/kept/ignored %d/%d/%d, stream %d/%d/%d",
					whole.Read, len(whole.Events), whole.Ignored, res.Read, len(res.Events), res.Ignored)
			}
		}
	})
}

func FuzzCaptureFile(f *testing.F) {
	recs, _ := labRecords(f)
	f.Add(writeCapture(f, ocf.Null, recordsBody(recs[:1]), recordsBody(recs[1:])))
	f.Add(writeCapture(f, ocf.Deflate, recordsBody(recs), []byte("x"), nil))
	f.Add(writeCapture(f, ocf.Null))
	f.Fuzz(func(t *testing.T, b []byte) {
		res := &Result{}
		_ = ResourceLogFile(bytes.NewReader(b), "fuzz.avro", res) // a bad header is an error
		checkInvariants(t, res)
		if want := min(res.SkippedTotal(), maxProblems); len(res.Problems) != want {
			t.Fatalf("%d problems for %d skipped", len(res.Problems), res.SkippedTotal())
		}
	})
}

func FuzzEventGrid(f *testing.F) {
	addGolden(f, "eg_*")
	for _, s := range []string{js([]any{gridEv(), 1}), js(js([]string{indented(gridEv())})), js(cloudEv(gridEv("subject", "devices/a/modules/b", "data.deviceId", nil))), `"\"\\\"x\\\"\""`, `[[]]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		res := &Result{}
		EventGridEvents(b, res)
		checkInvariants(t, res)
	})
}

func FuzzRouteMessage(f *testing.F) {
	f.Add([]byte(`{"sequenceNumber":"`+testSeq+`"}`), "deviceConnected", "Contoso-Hub", "dev#1", "", "2024-05-14T11:05:31.4470012Z", "deviceConnectionStateNotification", int64(1715684762241))
	f.Add([]byte(`"{\"sequenceNumber\":\"1\"}"`), "moduleDisconnected", "h", "d", "m", "", "", int64(0))
	f.Add([]byte(``), "", "", "", "", "bad", "other", int64(-1))
	f.Fuzz(func(t *testing.T, body []byte, op, hub, dev, mod, ts, schema string, enq int64) {
		props := map[string]any{}
		for k, v := range map[string]string{"opType": op, "hubName": hub, "deviceId": dev, "moduleId": mod, "operationTimestamp": ts, "iothub-message-schema": schema} {
			if v != "" {
				props[k] = v
			}
		}
		var enqueued time.Time
		if enq != 0 {
			enqueued = time.UnixMilli(enq)
		}
		res := &Result{}
		RouteMessage(body, props, enqueued, res)
		checkInvariants(t, res)
	})
}

func FuzzStateMessage(f *testing.F) {
	goldens, _ := filepath.Glob(filepath.Join("testdata", "golden", "eg_*.json"))
	for _, p := range goldens {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b, "", "Notification")
		}
	}
	f.Add([]byte(js([]any{gridEv()})), "", "Notification")
	f.Add([]byte(js(cloudEv(gridEv()))), "", "")
	f.Add([]byte(`{"sequenceNumber":"`+testSeq+`"}`), "deviceConnected", "")
	f.Add([]byte(`[{"specversion":null},{"eventType":1}]`), "", "")
	f.Add([]byte(`"[\"{}\"]"`), "", "Notification")
	f.Fuzz(func(t *testing.T, body []byte, op, aegType string) {
		props := map[string]any{"hubName": "h", "deviceId": "d"}
		if op != "" {
			props["opType"] = op
		}
		if aegType != "" {
			props["aeg-event-type"] = aegType
		}
		res := &Result{}
		grid := StateMessage(body, props, time.UnixMilli(1715684762241), res)
		checkInvariants(t, res)
		if res.Read == 0 && !grid { // an empty Event Grid array holds no event to read
			t.Fatal("a message read nothing")
		}
		// A message taken as Event Grid's gives what EventGridEvents gives.
		if grid {
			direct := &Result{}
			EventGridEvents(body, direct)
			if direct.Read != res.Read || len(direct.Events) != len(res.Events) || direct.Ignored != res.Ignored {
				t.Fatalf("as Event Grid read/kept/ignored %d/%d/%d, directly %d/%d/%d",
					res.Read, len(res.Events), res.Ignored, direct.Read, len(direct.Events), direct.Ignored)
			}
		}
		for _, e := range res.Events {
			if grid != (e.Source == event.EventGrid) {
				t.Fatalf("grid %v but event source %v", grid, e.Source)
			}
		}
	})
}

func FuzzMetricAlert(f *testing.F) {
	addGolden(f, "metric_*")
	f.Add([]byte(`{"schemaId":"azureMonitorCommonAlertSchema","data":{"essentials":{"monitorCondition":"Fired","alertTargetIDs":["/x/iothubs/H"],"firedDateTime":"2024-05-14T13:24:03Z"},"alertContext":{"condition":{"allOf":[{"metricName":"connectedDeviceCount"}]}}}}`))
	f.Add([]byte(`{"schemaId":"azureMonitorCommonAlertSchema","data":{"essentials":{"alertTargetIDs":"x"}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		res := &Result{}
		MetricAlert(b, res)
		checkInvariants(t, res)
	})
}
