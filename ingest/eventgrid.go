package ingest

import (
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// gridEvent is one Event Grid event in either schema: Event Grid (topic,
// eventType, eventTime) or CloudEvents 1.0 (source, type, time).
type gridEvent struct {
	ID        rawJSON `json:"id"`
	Topic     rawJSON `json:"topic"`
	Source    rawJSON `json:"source"`
	Subject   rawJSON `json:"subject"`
	EventType rawJSON `json:"eventType"`
	Type      rawJSON `json:"type"`
	EventTime rawJSON `json:"eventTime"`
	Time      rawJSON `json:"time"`
	Data      rawJSON `json:"data"`
}

// gridData holds the data fields of the Microsoft.Devices device events.
type gridData struct {
	HubName  rawJSON `json:"hubName"`
	DeviceID rawJSON `json:"deviceId"`
	ModuleID rawJSON `json:"moduleId"`
	Info     rawJSON `json:"deviceConnectionStateEventInfo"`
}

// EventGridEvents parses Microsoft.Devices.DeviceConnected, DeviceDisconnected,
// DeviceCreated and DeviceDeleted events in the Event Grid or CloudEvents 1.0
// schema, one object or an array, given as an object/array or as JSON text
// wrapped in up to three layers of JSON string encoding (the Functions host
// hands an Event Grid event over as indented, double-encoded text). Other
// event types are Ignored; malformed events are skipped with a reason.
//
// A batch (the host's batch dispatch with "cardinality": "many": a string
// holding an array of event texts) may be up to MaxGridBatch as delivered;
// each event in it is held to MaxEventSize.
func EventGridEvents(data []byte, res *Result) {
	if len(data) > MaxGridBatch {
		res.Read++
		res.Skip("too large")
		return
	}
	b, ok := peel(data)
	if !ok {
		res.Read++
		res.Skip("bad json")
		return
	}
	if b[0] == '{' {
		if len(b) > MaxEventSize {
			res.Read++
			res.Skip("too large")
			return
		}
		gridOne(b, res)
		return
	}
	var raws []rawJSON
	if err := json.Unmarshal(b, &raws); err != nil {
		res.Read++
		res.Skip("bad json")
		return
	}
	for _, r := range raws {
		gridOne(r, res)
	}
}

// MaxGridBatch bounds one Event Grid invocation's data as the host hands it
// over: a delivery of up to 1 MB (Event Grid's largest preferred batch size)
// grows by indentation and two layers of string escaping.
const MaxGridBatch = 16 * MaxEventSize

// gridOne parses one event of EventGridEvents.
func gridOne(b []byte, res *Result) {
	res.Read++
	if len(b) > 4*MaxEventSize { // a string layer escapes quotes: allow for it
		res.Skip("too large")
		return
	}
	if len(b) > 0 && b[0] == '"' { // an array of event texts (cardinality many)
		var ok bool
		if b, ok = peel(b); !ok || b[0] != '{' {
			res.Skip("bad event")
			return
		}
	}
	if len(b) > MaxEventSize {
		res.Skip("too large")
		return
	}
	if len(b) == 0 || b[0] != '{' {
		res.Skip("bad event")
		return
	}
	if !utf8.Valid(b) {
		res.Skip("invalid utf-8")
		return
	}
	var ev gridEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		res.Skip("bad json")
		return
	}
	typ, ok := ev.EventType.str()
	if !ok || typ == "" {
		typ, ok = ev.Type.str()
	}
	if !ok || typ == "" {
		res.Skip("no event type")
		return
	}
	var kind event.Kind
	name := typ
	if len(name) > len("Microsoft.Devices.") && strings.EqualFold(name[:len("Microsoft.Devices.")], "Microsoft.Devices.") {
		switch name = name[len("Microsoft.Devices."):]; {
		case strings.EqualFold(name, "DeviceConnected"):
			kind = event.StateConnected
		case strings.EqualFold(name, "DeviceDisconnected"):
			kind = event.StateDisconnected
		case strings.EqualFold(name, "DeviceCreated"):
			kind = event.Created
		case strings.EqualFold(name, "DeviceDeleted"):
			kind = event.Deleted
		}
	}
	if kind == 0 {
		res.Ignored++
		return
	}
	var data gridData
	if !ev.Data.isNull() {
		d := []byte(ev.Data)
		if d[0] == '"' {
			if d, ok = peel(d); !ok {
				res.Skip("bad data")
				return
			}
		}
		if d[0] != '{' || json.Unmarshal(d, &data) != nil {
			res.Skip("bad data")
			return
		}
	}
	ts, _ := ev.EventTime.str()
	if ts == "" {
		ts, _ = ev.Time.str()
	}
	t, ok := parseTime(ts)
	if !ok {
		res.Skip("bad time")
		return
	}
	hub, _ := data.HubName.str()
	if hub == "" {
		topic, _ := ev.Topic.str()
		if topic == "" {
			topic, _ = ev.Source.str()
		}
		if hub = hubFromResourceID(topic); hub == "" {
			hub = lastSegment(topic)
		}
	}
	hub = strings.ToLower(strings.TrimSpace(hub))
	if hub == "" {
		res.Skip("no hub")
		return
	}
	subject, _ := ev.Subject.str()
	subjDevice, subjModule := parseSubject(subject)
	device, _ := data.DeviceID.str()
	if device == "" {
		device = subjDevice
	}
	if device == "" {
		res.Skip("no deviceId")
		return
	}
	module, _ := data.ModuleID.str()
	if module == "" && device == subjDevice {
		module = subjModule
	}
	var seq string
	if (kind == event.StateConnected || kind == event.StateDisconnected) && !data.Info.isNull() && data.Info[0] == '{' {
		var info struct {
			SequenceNumber rawJSON `json:"sequenceNumber"`
		}
		if json.Unmarshal(data.Info, &info) == nil {
			seq, _ = info.SequenceNumber.str()
		}
	}
	id, _ := ev.ID.str()
	e := event.Event{
		Source: event.EventGrid,
		Kind:   kind,
		Hub:    hub,
		Device: device,
		Module: module,
		Time:   t,
		Seq:    seq,
	}
	e.ID = event.NewID(&e, id)
	res.Keep(e)
}

// parseSubject splits an Event Grid subject devices/{deviceId}[/{moduleId}]
// (module events have no modules/ segment; one is tolerated). Device ids
// cannot contain '/', so the split is unambiguous.
func parseSubject(s string) (device, module string) {
	const prefix = "devices/"
	if len(s) <= len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return "", ""
	}
	s = s[len(prefix):]
	device, rest, _ := strings.Cut(s, "/")
	if len(rest) > len("modules/") && strings.EqualFold(rest[:len("modules/")], "modules/") {
		rest = rest[len("modules/"):]
	}
	module, _, _ = strings.Cut(rest, "/")
	return device, module
}
