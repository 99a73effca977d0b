package ingest

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// goldenEvent is the reviewable rendering of an event in a golden file.
type goldenEvent struct {
	ID          string `json:"id"`
	Source      string `json:"source"`
	Kind        string `json:"kind"`
	Hub         string `json:"hub"`
	Device      string `json:"device,omitempty"`
	Module      string `json:"module,omitempty"`
	Time        string `json:"time"`
	Category    string `json:"category,omitempty"`
	Operation   string `json:"operation,omitempty"`
	Code        int    `json:"code,omitempty"`
	Description string `json:"description,omitempty"`
	Protocol    string `json:"protocol,omitempty"`
	SDK         string `json:"sdk,omitempty"`
	AuthType    string `json:"authType,omitempty"`
	MaskedIP    string `json:"maskedIp,omitempty"`
	Message     string `json:"message,omitempty"`
	Seq         string `json:"seq,omitempty"`
}

// goldenResult is the reviewable rendering of a Result.
type goldenResult struct {
	Read     int            `json:"read"`
	Ignored  int            `json:"ignored"`
	Skipped  map[string]int `json:"skipped,omitempty"`
	Problems []string       `json:"problems,omitempty"`
	Newest   string         `json:"newest,omitempty"`
	Events   []goldenEvent  `json:"events"`
}

func render(res *Result) goldenResult {
	g := goldenResult{Read: res.Read, Ignored: res.Ignored, Skipped: res.Skipped, Problems: res.Problems, Events: []goldenEvent{}}
	if !res.Newest.IsZero() {
		g.Newest = res.Newest.Format(time.RFC3339Nano)
	}
	for _, e := range res.Events {
		g.Events = append(g.Events, goldenEvent{
			ID: e.ID.String(), Source: e.Source.String(), Kind: e.Kind.String(), Hub: e.Hub, Device: e.Device,
			Module: e.Module, Time: e.Time.Format(time.RFC3339Nano), Category: e.Category, Operation: e.Operation,
			Code: e.Code, Description: e.Description, Protocol: e.Protocol, SDK: e.SDK, AuthType: e.AuthType,
			MaskedIP: e.MaskedIP, Message: e.Message, Seq: e.Seq,
		})
	}
	return g
}

// routeFixture is how a routed message is written in testdata: the body and
// properties as a Functions Event Hubs trigger exposes them (reference §4).
type routeFixture struct {
	Body             json.RawMessage `json:"body"`
	Properties       map[string]any  `json:"properties"`
	SystemProperties struct {
		Enqueued int64 `json:"x-opt-enqueued-time"`
	} `json:"systemProperties"`
}

// parseFile runs the parser the fixture's name prefix selects.
func parseFile(t *testing.T, path string) *Result {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(path)
	res := &Result{}
	switch {
	case strings.HasPrefix(name, "rl_") && strings.HasSuffix(name, ".jsonl"):
		if err := ResourceLogLines(bytes.NewReader(data), name, res); err != nil {
			t.Fatalf("ResourceLogLines: %v", err)
		}
	case strings.HasPrefix(name, "rl_"):
		ResourceLogs(data, res)
	case strings.HasPrefix(name, "eg_"):
		EventGridEvents(data, res)
	case strings.HasPrefix(name, "route_"):
		var f routeFixture
		if err := json.Unmarshal(data, &f); err != nil {
			t.Fatal(err)
		}
		RouteMessage(f.Body, f.Properties, time.UnixMilli(f.SystemProperties.Enqueued), res)
	case strings.HasPrefix(name, "metric_"):
		MetricAlert(data, res)
	default:
		t.Fatalf("no parser for fixture %s", name)
	}
	return res
}

// TestGolden parses every fixture under testdata/golden (composed from the
// reference's fixtures) and compares the result with its .golden file.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/golden/*.json*")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, in := range inputs {
		t.Run(filepath.Base(in), func(t *testing.T) {
			res := parseFile(t, in)
			checkInvariants(t, res)
			got, err := json.MarshalIndent(render(res), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			gold := strings.TrimSuffix(in, filepath.Ext(in)) + ".golden"
			if *update {
				if err := os.WriteFile(gold, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(gold)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("result differs from %s:\n got: %s\nwant: %s", gold, got, want)
			}
		})
	}
}

// checkInvariants asserts what holds for every Result whatever the input:
// every record is accounted for exactly once, and every kept event is
// complete enough for the engine (ID, Source, Kind, a UTC time, a hub, and a
// device unless it is a metric alert).
func checkInvariants(t testing.TB, res *Result) {
	t.Helper()
	if got := len(res.Events) + res.Ignored + res.SkippedTotal(); res.Read != got {
		t.Fatalf("Read %d != kept %d + ignored %d + skipped %d", res.Read, len(res.Events), res.Ignored, res.SkippedTotal())
	}
	if len(res.Problems) > maxProblems {
		t.Fatalf("%d problems kept, more than %d", len(res.Problems), maxProblems)
	}
	for i, e := range res.Events {
		switch {
		case e.ID.IsZero():
			t.Fatalf("event %d: zero ID: %+v", i, e)
		case e.Source == 0 || e.Kind == 0:
			t.Fatalf("event %d: no source or kind: %+v", i, e)
		case e.Time.IsZero() || e.Time.Location() != time.UTC:
			t.Fatalf("event %d: time %v not a UTC time", i, e.Time)
		case e.Hub == "" || e.Hub != strings.ToLower(e.Hub):
			t.Fatalf("event %d: hub %q", i, e.Hub)
		case e.Device == "" && e.Source != event.Metric:
			t.Fatalf("event %d: no device: %+v", i, e)
		case e.Time.After(res.Newest):
			t.Fatalf("event %d: time %v after Newest %v", i, e.Time, res.Newest)
		}
		if e.ID != event.NewID(&e, "") && e.Source == event.ResourceLog {
			t.Fatalf("event %d: ID is not NewID of its fields", i)
		}
	}
}
