package funchost

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// SplitEventGrid returns the events of one Event Grid delivery: an array's
// elements; a single object, or a body that is not an array, stays whole.
// How the host turns them into invocations depends on the function's
// cardinality: see App.EventGridDelivery.
func SplitEventGrid(b []byte) [][]byte {
	var arr []json.RawMessage
	if err := json.Unmarshal(b, &arr); err != nil {
		return [][]byte{b}
	}
	out := make([][]byte, len(arr))
	for i, e := range arr {
		out[i] = e
	}
	return out
}

// EventGridDelivery builds the invocations the host makes for one Event
// Grid POST to fn (reference §2.4): with "cardinality": "many" the whole
// delivery is one invocation (Data.<name> a string holding a JSON array of
// the events as indented text; batch dispatch); otherwise one invocation
// per event, each built as EventGrid(fn, event, shape).
func (a *App) EventGridDelivery(fn string, body []byte, shape EventGridShape) []*Invocation {
	evs := SplitEventGrid(body)
	if !strings.EqualFold(a.Function(fn).Trigger().Cardinality, "many") {
		out := make([]*Invocation, len(evs))
		for i, ev := range evs {
			out[i] = a.EventGrid(fn, ev, shape)
		}
		return out
	}
	return []*Invocation{a.EventGridBatch(fn, evs)}
}

// EventGridBatch builds the batch-dispatch invocation of an Event Grid
// function with "cardinality": "many": the host binds the events as an
// array of strings, each the event as indented JSON text (the extension's
// JToken → string conversion), so Data.<name> is, by the §2.1 rule for
// arrays, a JSON string holding that array. Metadata carries sys only (no
// per-event binding data for an array). An event that is not JSON fails
// binding, as in the host.
func (a *App) EventGridBatch(fn string, events [][]byte) *Invocation {
	f := a.Function(fn)
	tb := f.Trigger()
	inv := &Invocation{Function: fn, sys: a.sysObject(fn), retry: f.Retry, metadata: obj{}}
	texts := make([]string, len(events))
	for i, ev := range events {
		var ind bytes.Buffer
		if err := json.Indent(&ind, bytes.TrimSpace(ev), "", "  "); err != nil {
			inv.BindErr = fmt.Errorf("funchost: event grid event %d is not JSON: %w", i, err)
			texts[i] = string(ev)
			continue
		}
		texts[i] = ind.String()
	}
	inv.data = obj{{tb.Name, string(marshal(texts))}}
	return inv
}
