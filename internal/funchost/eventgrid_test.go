package funchost

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestSplitEventGrid(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{`[{"id":"a"},{"id":"b"}]`, []string{`{"id":"a"}`, `{"id":"b"}`}},
		{` [ {"id":"a"} ] `, []string{`{"id":"a"}`}},
		{`{"id":"c"}`, []string{`{"id":"c"}`}},
		{`[]`, []string{}},
		{`not json`, []string{`not json`}},
	}
	for _, c := range cases {
		got := SplitEventGrid([]byte(c.in))
		if len(got) != len(c.want) {
			t.Fatalf("%s: %q", c.in, got)
		}
		for i := range got {
			if string(got[i]) != c.want[i] {
				t.Errorf("%s: event %d = %s, want %s", c.in, i, got[i], c.want[i])
			}
		}
	}
}

// TestEventGridDelivery: cardinality many makes one invocation whose
// Data.<name> is a string holding an array of indented event texts; the
// default makes one invocation per event (reference §2.4).
func TestEventGridDelivery(t *testing.T) {
	a := testApp(t, time.Now())
	body := []byte(`[{"id":"1","eventType":"A","data":{"k":1}},{"id":"2","eventType":"B"}]`)
	if invs := a.EventGridDelivery("OnBlob", body, EventGridText); len(invs) != 2 {
		t.Fatalf("cardinality one: %d invocations, want 2", len(invs))
	}
	a.Function("OnBlob").Bindings[0].Cardinality = "many"
	invs := a.EventGridDelivery("OnBlob", body, EventGridText)
	if len(invs) != 1 || invs[0].BindErr != nil {
		t.Fatalf("cardinality many: %d invocations", len(invs))
	}
	var req struct {
		Data     map[string]json.RawMessage
		Metadata map[string]json.RawMessage
	}
	if err := json.Unmarshal(invs[0].Payload(0, nil), &req); err != nil {
		t.Fatal(err)
	}
	var text string
	if err := json.Unmarshal(req.Data["eventGridEvent"], &text); err != nil {
		t.Fatalf("Data is not a string: %s", req.Data["eventGridEvent"])
	}
	var events []string
	if err := json.Unmarshal([]byte(text), &events); err != nil || len(events) != 2 {
		t.Fatalf("Data string is not an array of 2 strings: %s", text)
	}
	if !strings.Contains(events[0], "\n  \"id\": \"1\"") {
		t.Errorf("event text is not indented JSON: %q", events[0])
	}
	if _, ok := req.Metadata["sys"]; !ok || len(req.Metadata) != 1 {
		t.Errorf("Metadata = %v, want sys only", req.Metadata)
	}
	if bad := a.EventGridBatch("OnBlob", [][]byte{[]byte(`{"id":`)}); bad.BindErr == nil {
		t.Error("a non-JSON event bound")
	}
}
