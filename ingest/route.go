package ingest

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// RouteMessage parses one IoT Hub message-routing DeviceConnectionStateEvents
// message read from an Event Hub: the application properties props carry
// opType (deviceConnected/deviceDisconnected, or the older
// moduleConnected/moduleDisconnected; case-insensitive), hubName, deviceId,
// moduleId and operationTimestamp; the body {"sequenceNumber":"…"} carries
// the sequence number. enqueued is the event's enqueued time, used when
// operationTimestamp is absent. Messages without opType, with another opType
// or with another iothub-message-schema are Ignored (the same endpoint may
// carry other routed sources); malformed ones are skipped with a reason.
func RouteMessage(body []byte, props map[string]any, enqueued time.Time, res *Result) {
	res.Read++
	op := prop(props, "opType")
	if op == "" {
		res.Ignored++
		res.Saw(enqueued) // the partition moved on, though not with evidence
		return
	}
	if schema := prop(props, "iothub-message-schema"); schema != "" && !strings.EqualFold(schema, "deviceConnectionStateNotification") {
		res.Ignored++
		res.Saw(enqueued) // the partition moved on, though not with evidence
		return
	}
	var kind event.Kind
	switch {
	case strings.EqualFold(op, "deviceConnected"), strings.EqualFold(op, "moduleConnected"):
		kind = event.StateConnected
	case strings.EqualFold(op, "deviceDisconnected"), strings.EqualFold(op, "moduleDisconnected"):
		kind = event.StateDisconnected
	default:
		res.Ignored++
		res.Saw(enqueued) // the partition moved on, though not with evidence
		return
	}
	if len(body) > MaxEventSize {
		res.Skip("too large")
		return
	}
	hub := strings.ToLower(strings.TrimSpace(prop(props, "hubName")))
	if hub == "" {
		res.Skip("no hub")
		return
	}
	device := prop(props, "deviceId")
	if device == "" {
		res.Skip("no deviceId")
		return
	}
	t := enqueued.UTC()
	if ts := prop(props, "operationTimestamp"); ts != "" {
		var ok bool
		if t, ok = parseTime(ts); !ok {
			res.Skip("bad time")
			return
		}
	}
	if t.IsZero() {
		res.Skip("bad time")
		return
	}
	seq, ok := routeSeq(body)
	if !ok {
		res.Skip("bad body")
		return
	}
	e := event.Event{
		Source: event.Route,
		Kind:   kind,
		Hub:    hub,
		Device: device,
		Module: prop(props, "moduleId"),
		Time:   t,
		Seq:    seq,
	}
	e.ID = event.NewID(&e, "")
	res.Keep(e)
}

// routeSeq reads the sequence number from a routed state message body
// (possibly string-encoded by the host). An empty body has none.
func routeSeq(body []byte) (string, bool) {
	if len(bytes.TrimSpace(body)) == 0 {
		return "", true
	}
	if !utf8.Valid(body) {
		return "", false
	}
	b, ok := peel(body)
	if !ok || b[0] != '{' {
		return "", false
	}
	var m struct {
		SequenceNumber rawJSON `json:"sequenceNumber"`
	}
	if json.Unmarshal(b, &m) != nil {
		return "", false
	}
	seq, ok := m.SequenceNumber.str()
	return strings.TrimSpace(seq), ok
}

// prop returns an application property as a string: the exact key first,
// then any key equal to it ignoring case (AMQP keys are case-sensitive, but
// tools that re-serialize them are not always careful). Non-string values
// give "".
func prop(props map[string]any, key string) string {
	v, ok := props[key]
	if !ok {
		for k, kv := range props {
			if strings.EqualFold(k, key) {
				v, ok = kv, true
				break
			}
		}
	}
	if !ok {
		return ""
	}
	s, _ := v.(string)
	return s
}

// StateMessage parses one message of the connection-state Event Hub that
// ConnectionStateRoute reads. Two producers may write there: IoT Hub message
// routing (DeviceConnectionStateEvents, opType in the application
// properties: RouteMessage) and an Event Grid subscription whose endpoint is
// the Event Hub (--endpoint-type eventhub), which writes one event a
// message, in the Event Grid schema or CloudEvents, whether as an array of
// one or as the object itself is not documented (both are taken), with
// aeg-* application properties (EventGridEvents). It reports whether the
// message was taken as Event Grid's: aeg-event-type set, or no opType and a
// body shaped like an event (gridShaped), so that routed messages of other
// sources on the same hub (lifecycle, twin changes) stay Ignored.
func StateMessage(body []byte, props map[string]any, enqueued time.Time, res *Result) (grid bool) {
	if prop(props, "opType") == "" && (prop(props, "aeg-event-type") != "" || gridShaped(body)) {
		EventGridEvents(body, res)
		return true
	}
	RouteMessage(body, props, enqueued, res)
	return false
}

// gridShaped reports whether a body is an Event Grid event, or an array
// whose first element is one: an object with eventType (Event Grid schema)
// or specversion (CloudEvents). No routed body has either: a connection-state
// body is {"sequenceNumber":…}, lifecycle and twin-change bodies are twins.
func gridShaped(body []byte) bool {
	if len(body) > MaxEventSize {
		return false
	}
	b, ok := peel(body)
	if !ok {
		return false
	}
	if b[0] == '[' {
		var arr []rawJSON
		if json.Unmarshal(b, &arr) != nil || len(arr) == 0 {
			return false
		}
		if b, ok = peel(arr[0]); !ok {
			return false
		}
	}
	if b[0] != '{' {
		return false
	}
	var ev struct {
		EventType   rawJSON `json:"eventType"`
		SpecVersion rawJSON `json:"specversion"`
	}
	return json.Unmarshal(b, &ev) == nil && (!ev.EventType.isNull() || !ev.SpecVersion.isNull())
}
