package ingest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

const testSeq = "000000000000000001DAA1BEC0CAF0F00000000300000000000000000000004A"

// gridEv builds an Event Grid schema DeviceDisconnected event as in
// reference §3.4 with fields replaced by kv (nil removes); "data.x" keys
// replace data fields.
func gridEv(kv ...any) map[string]any {
	data := map[string]any{"deviceConnectionStateEventInfo": map[string]any{"sequenceNumber": testSeq},
		"hubName": "contoso-prod-hub", "deviceId": "pump-0042"}
	e := map[string]any{"id": "5d1f0c9e-7a3b-4e21-9f6d-2b8c4a7e1d03", "topic": testRID, "subject": "devices/pump-0042",
		"eventType": "Microsoft.Devices.DeviceDisconnected", "eventTime": "2024-05-14T11:05:41.5127734Z",
		"dataVersion": "1", "metadataVersion": "1"}
	for i := 0; i+1 < len(kv); i += 2 {
		k := kv[i].(string)
		m := e
		if d, ok := strings.CutPrefix(k, "data."); ok {
			k, m = d, data
		}
		if kv[i+1] == nil {
			delete(m, k)
		} else {
			m[k] = kv[i+1]
		}
	}
	if _, ok := e["data"]; !ok {
		e["data"] = data
	}
	return e
}

// cloudEv turns an Event Grid schema event into CloudEvents 1.0.
func cloudEv(e map[string]any) map[string]any {
	e["source"], e["type"], e["time"], e["specversion"] = e["topic"], e["eventType"], e["eventTime"], "1.0"
	for _, k := range []string{"topic", "eventType", "eventTime", "dataVersion", "metadataVersion"} {
		delete(e, k)
	}
	return e
}

func indented(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

func TestEventGridEvents(t *testing.T) {
	when := time.Date(2024, 5, 14, 11, 5, 41, 512773400, time.UTC)
	base := &Result{}
	EventGridEvents([]byte(js(gridEv())), base)
	baseID := base.Events[0].ID
	type want struct {
		kind          event.Kind
		hub, dev, mod string
		seq           string
		sameIDAsBase  bool
	}
	tests := []struct {
		name   string
		in     string
		counts counts
		want   []want
	}{
		{"Event Grid schema array", js([]any{gridEv()}), counts{read: 1, kept: 1},
			[]want{{event.StateDisconnected, "contoso-prod-hub", "pump-0042", "", testSeq, true}}},
		{"CloudEvents object", js(cloudEv(gridEv())), counts{read: 1, kept: 1},
			[]want{{event.StateDisconnected, "contoso-prod-hub", "pump-0042", "", testSeq, true}}},
		{"host: indented text double-encoded", js(js(indented(gridEv()))), counts{read: 1, kept: 1},
			[]want{{event.StateDisconnected, "contoso-prod-hub", "pump-0042", "", testSeq, true}}},
		{"single-encoded text", js(indented(gridEv())), counts{read: 1, kept: 1},
			[]want{{event.StateDisconnected, "contoso-prod-hub", "pump-0042", "", testSeq, true}}},
		{"cardinality many: array of event texts, double-encoded", js(js([]string{indented(gridEv()), indented(gridEv("eventType", "Microsoft.Devices.DeviceConnected", "id", "e2"))})),
			counts{read: 2, kept: 2}, []want{{event.StateDisconnected, "contoso-prod-hub", "pump-0042", "", testSeq, true},
				{event.StateConnected, "contoso-prod-hub", "pump-0042", "", testSeq, false}}},
		{"data as a JSON string", js(gridEv("data", js(map[string]any{"hubName": "contoso-prod-hub", "deviceId": "pump-0042"}))), counts{read: 1, kept: 1},
			[]want{{event.StateDisconnected, "contoso-prod-hub", "pump-0042", "", "", false}}},
		{"hub from topic when data has none", js(gridEv("data.hubName", nil)), counts{read: 1, kept: 1},
			[]want{{event.StateDisconnected, "contoso-prod-hub", "pump-0042", "", testSeq, true}}},
		{"hub from CloudEvents source, any case", js(cloudEv(gridEv("data.hubName", nil, "topic", "/SUBSCRIPTIONS/X/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.DEVICES/IOTHUBS/IOT-DEMO"))),
			counts{read: 1, kept: 1}, []want{{event.StateDisconnected, "iot-demo", "pump-0042", "", testSeq, false}}},
		{"hubName lower-cased", js(gridEv("data.hubName", "Contoso-PROD-Hub")), counts{read: 1, kept: 1},
			[]want{{event.StateDisconnected, "contoso-prod-hub", "pump-0042", "", testSeq, true}}},
		{"device and module from subject", js(gridEv("data.deviceId", nil, "subject", "devices/edge1/$edgeHub")), counts{read: 1, kept: 1},
			[]want{{event.StateDisconnected, "contoso-prod-hub", "edge1", "$edgeHub", testSeq, false}}},
		{"subject with a modules/ segment", js(gridEv("data.deviceId", nil, "subject", "devices/edge1/modules/opc")), counts{read: 1, kept: 1},
			[]want{{event.StateDisconnected, "contoso-prod-hub", "edge1", "opc", testSeq, false}}},
		{"empty data.moduleId", js(gridEv("data.moduleId", "")), counts{read: 1, kept: 1},
			[]want{{event.StateDisconnected, "contoso-prod-hub", "pump-0042", "", testSeq, true}}},
		{"data.moduleId", js(gridEv("data.moduleId", "opcPublisher", "subject", "devices/pump-0042/opcPublisher")), counts{read: 1, kept: 1},
			[]want{{event.StateDisconnected, "contoso-prod-hub", "pump-0042", "opcPublisher", testSeq, false}}},
		{"device ids as given", js(gridEv("data.deviceId", "d#1?'*%$;")), counts{read: 1, kept: 1},
			[]want{{event.StateDisconnected, "contoso-prod-hub", "d#1?'*%$;", "", testSeq, false}}},
		{"created and deleted", js([]any{gridEv("eventType", "Microsoft.Devices.DeviceCreated", "data", map[string]any{"hubName": "h", "deviceId": "d", "twin": map[string]any{}}),
			gridEv("eventType", "microsoft.devices.devicedeleted", "data", map[string]any{"hubName": "h", "deviceId": "d"})}), counts{read: 2, kept: 2},
			[]want{{event.Created, "h", "d", "", "", false}, {event.Deleted, "h", "d", "", "", false}}},
		{"other event types ignored", js([]any{gridEv("eventType", "Microsoft.Devices.DeviceTelemetry"), gridEv("eventType", "Microsoft.Storage.BlobCreated"), gridEv()}),
			counts{read: 3, kept: 1, ignored: 2}, []want{{event.StateDisconnected, "contoso-prod-hub", "pump-0042", "", testSeq, true}}},
		{"no event type", js(gridEv("eventType", nil)), counts{read: 1, skipped: map[string]int{"no event type": 1}}, nil},
		{"bad time", js(gridEv("eventTime", "03/01/2025 10:00:00")), counts{read: 1, skipped: map[string]int{"bad time": 1}}, nil},
		{"no hub", js(gridEv("data.hubName", nil, "topic", nil)), counts{read: 1, skipped: map[string]int{"no hub": 1}}, nil},
		{"no device", js(gridEv("data.deviceId", nil, "subject", "other")), counts{read: 1, skipped: map[string]int{"no deviceId": 1}}, nil},
		{"data not an object", js(gridEv("data", 5)), counts{read: 1, skipped: map[string]int{"bad data": 1}}, nil},
		{"array element not an object", `[1,` + js(gridEv()) + `]`, counts{read: 2, kept: 1, skipped: map[string]int{"bad event": 1}},
			[]want{{event.StateDisconnected, "contoso-prod-hub", "pump-0042", "", testSeq, true}}},
		{"invalid UTF-8", strings.Replace(js(gridEv()), "pump-0042", "pump\xff", 1), counts{read: 1, skipped: map[string]int{"invalid utf-8": 1}}, nil},
		{"not JSON", `{"id":`, counts{read: 1, skipped: map[string]int{"bad json": 1}}, nil},
		{"plain text", `hello`, counts{read: 1, skipped: map[string]int{"bad json": 1}}, nil},
		{"too large", js(gridEv("data.pad", strings.Repeat("x", MaxEventSize))), counts{read: 1, skipped: map[string]int{"too large": 1}}, nil},
		{"empty array", `[]`, counts{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := &Result{}
			EventGridEvents([]byte(tt.in), res)
			checkCounts(t, res, tt.counts)
			if len(res.Events) != len(tt.want) {
				t.Fatalf("%d events, want %d", len(res.Events), len(tt.want))
			}
			for i, w := range tt.want {
				e := res.Events[i]
				if e.Source != event.EventGrid || e.Kind != w.kind || e.Hub != w.hub || e.Device != w.dev || e.Module != w.mod || e.Seq != w.seq {
					t.Errorf("event %d: %+v, want %+v", i, e, w)
				}
				if w.hub == "contoso-prod-hub" && !e.Time.Equal(when) {
					t.Errorf("event %d: time %v", i, e.Time)
				}
				if (e.ID == baseID) != w.sameIDAsBase {
					t.Errorf("event %d: ID %s same as the base event's: %v, want %v", i, e.ID, e.ID == baseID, w.sameIDAsBase)
				}
			}
		})
	}
}

func TestRouteMessage(t *testing.T) {
	enq := time.Date(2024, 5, 14, 11, 6, 2, 241e6, time.FixedZone("x", 3600))
	opTime := time.Date(2024, 5, 14, 11, 5, 31, 447001200, time.UTC)
	pr := func(kv ...any) map[string]any {
		p := map[string]any{"hubName": "Contoso-Prod-Hub", "deviceId": "pump-0042", "opType": "deviceConnected",
			"iothub-message-schema": "deviceConnectionStateNotification", "operationTimestamp": "2024-05-14T11:05:31.4470012Z"}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(p, kv[i].(string))
			} else {
				p[kv[i].(string)] = kv[i+1]
			}
		}
		return p
	}
	body := `{"sequenceNumber":"` + testSeq + `"}`
	tests := []struct {
		name   string
		body   string
		props  map[string]any
		counts counts
		kind   event.Kind
		module string
		time   time.Time
		seq    string
	}{
		{"device connected", body, pr(), counts{read: 1, kept: 1}, event.StateConnected, "", opTime, testSeq},
		{"device disconnected, case-insensitive", body, pr("opType", "DEVICEDISCONNECTED"), counts{read: 1, kept: 1}, event.StateDisconnected, "", opTime, testSeq},
		{"module connected (2022 opType)", body, pr("opType", "moduleConnected", "moduleId", "m1"), counts{read: 1, kept: 1}, event.StateConnected, "m1", opTime, testSeq},
		{"module disconnected (2024 opType + moduleId)", body, pr("opType", "deviceDisconnected", "moduleId", "m1"), counts{read: 1, kept: 1}, event.StateDisconnected, "m1", opTime, testSeq},
		{"no operationTimestamp: enqueued time", body, pr("operationTimestamp", nil), counts{read: 1, kept: 1}, event.StateConnected, "", enq.UTC(), testSeq},
		{"body string-encoded", js(body), pr(), counts{read: 1, kept: 1}, event.StateConnected, "", opTime, testSeq},
		{"empty body", "", pr(), counts{read: 1, kept: 1}, event.StateConnected, "", opTime, ""},
		{"property keys in another case", body, map[string]any{"HUBNAME": "h", "DeviceId": "d", "optype": "deviceConnected", "OperationTimestamp": "2024-05-14T11:05:31.4470012Z"},
			counts{read: 1, kept: 1}, event.StateConnected, "", opTime, testSeq},
		{"no opType", body, pr("opType", nil), counts{read: 1, ignored: 1}, 0, "", time.Time{}, ""},
		{"other opType", body, pr("opType", "createDeviceIdentity"), counts{read: 1, ignored: 1}, 0, "", time.Time{}, ""},
		{"other schema", body, pr("iothub-message-schema", "twinChangeNotification"), counts{read: 1, ignored: 1}, 0, "", time.Time{}, ""},
		{"no hub", body, pr("hubName", nil), counts{read: 1, skipped: map[string]int{"no hub": 1}}, 0, "", time.Time{}, ""},
		{"no device", body, pr("deviceId", 42), counts{read: 1, skipped: map[string]int{"no deviceId": 1}}, 0, "", time.Time{}, ""},
		{"bad operationTimestamp", body, pr("operationTimestamp", "soon"), counts{read: 1, skipped: map[string]int{"bad time": 1}}, 0, "", time.Time{}, ""},
		{"bad body", `{"sequenceNumber":`, pr(), counts{read: 1, skipped: map[string]int{"bad body": 1}}, 0, "", time.Time{}, ""},
		{"invalid UTF-8 body", "{\"sequenceNumber\":\"\xff\"}", pr(), counts{read: 1, skipped: map[string]int{"bad body": 1}}, 0, "", time.Time{}, ""},
		{"too large", strings.Repeat(" ", MaxEventSize+1), pr(), counts{read: 1, skipped: map[string]int{"too large": 1}}, 0, "", time.Time{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := &Result{}
			RouteMessage([]byte(tt.body), tt.props, enq, res)
			checkCounts(t, res, tt.counts)
			if tt.kind == 0 {
				return
			}
			e := res.Events[0]
			if e.Source != event.Route || e.Kind != tt.kind || e.Module != tt.module || !e.Time.Equal(tt.time) || e.Seq != tt.seq ||
				e.Hub != strings.ToLower(prop(tt.props, "hubName")) || e.Device != prop(tt.props, "deviceId") {
				t.Errorf("event %+v", e)
			}
		})
	}
}

// TestStateMessage: the connection-state Event Hub carries routed
// messages and, with an Event Grid subscription whose endpoint is the Event
// Hub, Event Grid events (one a message, as an array of one or the object);
// each is parsed by its own parser, and routed messages of other sources
// stay Ignored (not skipped as malformed events).
func TestStateMessage(t *testing.T) {
	enq := time.Date(2024, 5, 14, 11, 6, 2, 0, time.UTC)
	routed := map[string]any{"hubName": "contoso-prod-hub", "deviceId": "pump-0042", "opType": "deviceConnected",
		"iothub-message-schema": "deviceConnectionStateNotification"}
	aeg := map[string]any{"aeg-subscription-name": "DCDOCTOR", "aeg-delivery-count": "0", "aeg-event-type": "Notification",
		"aeg-metadata-version": "1", "aeg-data-version": "1", "aeg-output-event-id": "5d1f0c9e"}
	tests := []struct {
		name   string
		body   string
		props  map[string]any
		grid   bool
		counts counts
		source event.Source
	}{
		{"routed connection state", `{"sequenceNumber":"` + testSeq + `"}`, routed, false, counts{read: 1, kept: 1}, event.Route},
		{"Event Grid schema, array of one", js([]any{gridEv()}), aeg, true, counts{read: 1, kept: 1}, event.EventGrid},
		{"Event Grid schema, the object", js(gridEv()), aeg, true, counts{read: 1, kept: 1}, event.EventGrid},
		{"CloudEvents, the object", js(cloudEv(gridEv())), map[string]any{"aeg-metadata-version": "1.0"}, true, counts{read: 1, kept: 1}, event.EventGrid},
		{"CloudEvents, array of one, no properties", js([]any{cloudEv(gridEv())}), nil, true, counts{read: 1, kept: 1}, event.EventGrid},
		{"Event Grid, string-encoded body", js(js([]any{gridEv()})), nil, true, counts{read: 1, kept: 1}, event.EventGrid},
		{"Event Grid event of another type", js(gridEv("eventType", "Microsoft.Devices.DeviceTelemetry")), aeg, true, counts{read: 1, ignored: 1}, 0},
		{"aeg-event-type with a broken body", `[{"eventType":`, aeg, true, counts{read: 1, skipped: map[string]int{"bad json": 1}}, 0},
		{"routed twin change (no opType)", `{"deviceId":"pump-0042","etag":"AAAA","properties":{"desired":{}}}`,
			map[string]any{"hubName": "contoso-prod-hub", "iothub-message-schema": "twinChangeNotification"}, false, counts{read: 1, ignored: 1}, 0},
		{"routed telemetry array (no opType)", `[{"temp":21}]`, nil, false, counts{read: 1, ignored: 1}, 0},
		{"empty body, no properties", ``, nil, false, counts{read: 1, ignored: 1}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := &Result{}
			if grid := StateMessage([]byte(tt.body), tt.props, enq, res); grid != tt.grid {
				t.Errorf("grid = %v, want %v", grid, tt.grid)
			}
			checkCounts(t, res, tt.counts)
			if tt.source != 0 && (len(res.Events) != 1 || res.Events[0].Source != tt.source || res.Events[0].Device != "pump-0042") {
				t.Errorf("events %+v, want one %v event of pump-0042", res.Events, tt.source)
			}
		})
	}
	// An event through the Event Hub is the event the webhook delivers: the
	// same ID, so a subscription switched from one endpoint to the other
	// (or both at once) stores it once.
	viaHub, viaWebhook := &Result{}, &Result{}
	StateMessage([]byte(js([]any{gridEv()})), aeg, enq, viaHub)
	EventGridEvents([]byte(js([]any{gridEv()})), viaWebhook)
	if viaHub.Events[0] != viaWebhook.Events[0] {
		t.Errorf("through the Event Hub %+v, through the webhook %+v", viaHub.Events[0], viaWebhook.Events[0])
	}
}

func TestMetricAlert(t *testing.T) {
	alert := func(kv ...any) string {
		ess := map[string]any{"alertId": "/subscriptions/x/providers/Microsoft.AlertsManagement/alerts/a1", "alertRule": "dip",
			"severity": "Sev2", "signalType": "Metric", "monitorCondition": "Fired", "monitoringService": "Platform",
			"alertTargetIDs": []string{strings.ToLower(testRID)}, "firedDateTime": "2024-05-14T13:24:03.5120833Z"}
		cond := []any{map[string]any{"metricName": "connectedDeviceCount", "operator": "LessThan", "threshold": "1800", "metricValue": 1206}}
		a := map[string]any{"schemaId": "azureMonitorCommonAlertSchema"}
		for i := 0; i+1 < len(kv); i += 2 {
			switch k := kv[i].(string); k {
			case "schemaId":
				a[k] = kv[i+1]
			case "allOf":
				cond = kv[i+1].([]any)
			default:
				if kv[i+1] == nil {
					delete(ess, k)
				} else {
					ess[k] = kv[i+1]
				}
			}
		}
		a["data"] = map[string]any{"essentials": ess, "alertContext": map[string]any{"condition": map[string]any{"allOf": cond}}}
		return indented(a)
	}
	fired := time.Date(2024, 5, 14, 13, 24, 3, 512083300, time.UTC)
	tests := []struct {
		name   string
		in     string
		counts counts
		kind   event.Kind
		time   time.Time
	}{
		{"fired", alert(), counts{read: 1, kept: 1}, event.MetricFired, fired},
		{"resolved", alert("monitorCondition", "Resolved", "resolvedDateTime", "2024-05-14T13:41:07Z"), counts{read: 1, kept: 1}, event.MetricResolved, time.Date(2024, 5, 14, 13, 41, 7, 0, time.UTC)},
		{"string-encoded body", js(alert()), counts{read: 1, kept: 1}, event.MetricFired, fired},
		{"deprecated metric", alert("allOf", []any{map[string]any{"metricName": "devices.connectedDevices.allProtocol"}}), counts{read: 1, kept: 1}, event.MetricFired, fired},
		{"second condition", alert("allOf", []any{map[string]any{"metricName": "d2c.telemetry.ingress.success"}, map[string]any{"metricName": "connectedDeviceCount"}}), counts{read: 1, kept: 1}, event.MetricFired, fired},
		{"other metric ignored", alert("allOf", []any{map[string]any{"metricName": "d2c.telemetry.ingress.success"}}), counts{read: 1, ignored: 1}, 0, time.Time{}},
		{"other schema ignored", alert("schemaId", "Microsoft.Insights/activityLogs"), counts{read: 1, ignored: 1}, 0, time.Time{}},
		{"bad monitorCondition", alert("monitorCondition", "Maybe"), counts{read: 1, skipped: map[string]int{"bad monitorCondition": 1}}, 0, time.Time{}},
		{"resolved without resolvedDateTime", alert("monitorCondition", "Resolved"), counts{read: 1, skipped: map[string]int{"bad time": 1}}, 0, time.Time{}},
		{"target not an IoT hub", alert("alertTargetIDs", []string{"/subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa"}), counts{read: 1, skipped: map[string]int{"no hub": 1}}, 0, time.Time{}},
		{"no targets", alert("alertTargetIDs", nil), counts{read: 1, skipped: map[string]int{"no hub": 1}}, 0, time.Time{}},
		{"targets of wrong type", alert("alertTargetIDs", "x"), counts{read: 1, skipped: map[string]int{"bad json": 1}}, 0, time.Time{}},
		{"not JSON", `{"schemaId":`, counts{read: 1, skipped: map[string]int{"bad json": 1}}, 0, time.Time{}},
		{"invalid UTF-8", strings.Replace(alert(), "dip", "d\xffp", 1), counts{read: 1, skipped: map[string]int{"invalid utf-8": 1}}, 0, time.Time{}},
		{"too large", alert("pad", strings.Repeat("x", MaxEventSize)), counts{read: 1, skipped: map[string]int{"too large": 1}}, 0, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := &Result{}
			MetricAlert([]byte(tt.in), res)
			checkCounts(t, res, tt.counts)
			if tt.kind == 0 {
				return
			}
			e := res.Events[0]
			if e.Source != event.Metric || e.Kind != tt.kind || e.Hub != "contoso-prod-hub" || e.Device != "" || !e.Time.Equal(tt.time) {
				t.Errorf("event %+v", e)
			}
		})
	}
	a, b := &Result{}, &Result{}
	MetricAlert([]byte(alert()), a)
	MetricAlert([]byte(alert("monitorCondition", "Resolved", "resolvedDateTime", "2024-05-14T13:24:03.5120833Z")), b)
	if a.Events[0].ID == b.Events[0].ID {
		t.Error("Fired and Resolved of one alert share an ID")
	}
}
