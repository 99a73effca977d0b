package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/internal/jsonstr"
)

const testRID = "/SUBSCRIPTIONS/9F3C2B1A-4D5E-4F60-8A7B-1C2D3E4F5A6B/RESOURCEGROUPS/RG-IOT-PROD/PROVIDERS/MICROSOFT.DEVICES/IOTHUBS/CONTOSO-PROD-HUB"

// rec builds a resource-log record: a Connections 404104 disconnect of
// pump-0042 as in reference §1.4, with fields replaced by kv (a nil value
// removes the field). Properties given as a map are JSON-encoded into a
// string, as IoT Hub writes them.
func rec(kv ...any) map[string]any {
	r := map[string]any{
		"time": "2024-05-14T11:05:14Z", "resourceId": testRID, "operationName": "deviceDisconnect",
		"category": "Connections", "level": "Error", "resultType": "404104",
		"resultDescription": "DeviceConnectionClosedRemotely", "location": "westeurope",
		"properties": map[string]any{"deviceId": "pump-0042", "protocol": "Mqtt", "authType": nil,
			"maskedIpAddress": "81.204.17.XXX", "statusCode": "404",
			"errorMessage": "Device disconnected, see cause and resolution at https://aka.ms/iothub404104"},
	}
	for i := 0; i+1 < len(kv); i += 2 {
		k := kv[i].(string)
		if kv[i+1] == nil {
			delete(r, k)
		} else {
			r[k] = kv[i+1]
		}
	}
	if p, ok := r["properties"].(map[string]any); ok {
		b, _ := json.Marshal(p)
		r["properties"] = string(b)
	}
	return r
}

// props returns the default properties with kv replaced (nil removes).
func props(kv ...any) map[string]any {
	p := map[string]any{"deviceId": "pump-0042", "protocol": "Mqtt", "authType": nil, "maskedIpAddress": "81.204.17.XXX"}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(p, kv[i].(string))
		} else {
			p[kv[i].(string)] = kv[i+1]
		}
	}
	return p
}

// rawProps returns props as a JSON object (not a string), for the
// "properties is an object" quirk.
type rawProps map[string]any

func body(records ...map[string]any) string {
	for _, r := range records {
		if p, ok := r["properties"].(rawProps); ok {
			r["properties"] = map[string]any(p)
		}
	}
	b, err := json.Marshal(map[string]any{"records": records})
	if err != nil {
		panic(err)
	}
	return string(b)
}

func js(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

type counts struct {
	read, kept, ignored int
	skipped             map[string]int
}

func checkCounts(t *testing.T, res *Result, want counts) {
	t.Helper()
	checkInvariants(t, res)
	if res.Read != want.read || len(res.Events) != want.kept || res.Ignored != want.ignored {
		t.Errorf("read/kept/ignored = %d/%d/%d, want %d/%d/%d (skipped %v)",
			res.Read, len(res.Events), res.Ignored, want.read, want.kept, want.ignored, res.Skipped)
	}
	if len(want.skipped) != len(res.Skipped) {
		t.Errorf("skipped %v, want %v", res.Skipped, want.skipped)
	}
	for k, n := range want.skipped {
		if res.Skipped[k] != n {
			t.Errorf("skipped %v, want %v", res.Skipped, want.skipped)
		}
	}
}

func TestResourceLogs(t *testing.T) {
	ts := time.Date(2024, 5, 14, 11, 5, 14, 0, time.UTC)
	type check func(t *testing.T, ev []event.Event)
	field := func(get func(e event.Event) any, want ...any) check {
		return func(t *testing.T, ev []event.Event) {
			t.Helper()
			if len(ev) != len(want) {
				t.Fatalf("%d events, want %d", len(ev), len(want))
			}
			for i, w := range want {
				if g := get(ev[i]); g != w {
					t.Errorf("event %d: got %#v, want %#v", i, g, w)
				}
			}
		}
	}
	kind := func(k ...any) check { return field(func(e event.Event) any { return e.Kind }, k...) }
	tests := []struct {
		name  string
		body  string
		want  counts
		check check
	}{
		{"envelope with unknown top-level keys", `{"EventProcessedUtcTime":"x","records":[` + js(rec()) + `],"PartitionId":3}`,
			counts{read: 1, kept: 1}, func(t *testing.T, ev []event.Event) {
				e := ev[0]
				if e.Kind != event.Disconnect || e.Code != 404104 || e.Hub != "contoso-prod-hub" || e.Device != "pump-0042" ||
					!e.Time.Equal(ts) || e.Description != "DeviceConnectionClosedRemotely" || e.Protocol != "Mqtt" ||
					e.MaskedIP != "81.204.17.XXX" || e.Message == "" || e.Source != event.ResourceLog || e.Category != "Connections" ||
					e.Operation != "deviceDisconnect" || e.ID != event.NewID(&e, "") {
					t.Errorf("event %+v", e)
				}
			}},
		{"bare record", js(rec()), counts{read: 1, kept: 1}, kind(event.Disconnect)},
		{"array of records", js([]any{rec("operationName", "deviceConnect", "resultType", nil, "resultDescription", nil), rec()}),
			counts{read: 2, kept: 2}, kind(event.Connect, event.Disconnect)},
		{"body string-encoded once more", js(body(rec())), counts{read: 1, kept: 1}, kind(event.Disconnect)},
		{"empty batch", `{"records":[]}`, counts{}, nil},
		{"category and operation case-insensitive", body(rec("category", "CONNECTIONS", "operationName", "DeviceConnect")),
			counts{read: 1, kept: 1}, kind(event.Connect)},
		{"informational disconnect without resultType", body(rec("level", "Information", "resultType", nil, "resultDescription", nil)),
			counts{read: 1, kept: 1}, field(func(e event.Event) any { return fmt.Sprint(e.Kind, e.Code, e.Description) }, "disconnect 0")},
		{"non-numeric resultType keeps description", body(rec("resultType", "n/a")),
			counts{read: 1, kept: 1}, field(func(e event.Event) any { return fmt.Sprint(e.Code, e.Description) }, "0DeviceConnectionClosedRemotely")},
		{"numeric resultType", body(rec("resultType", 401003)), counts{read: 1, kept: 1},
			field(func(e event.Event) any { return e.Code }, 401003)},
		{"properties as an object", body(rec("properties", rawProps(props("moduleId", "m1")))), counts{read: 1, kept: 1},
			field(func(e event.Event) any { return e.Device + "/" + e.Module }, "pump-0042/m1")},
		{"authType JSON string", body(rec("properties", props("authType", `{"scope":"device","type":"sas","issuer":"iothub","acceptingIpFilterRule":null}`))),
			counts{read: 1, kept: 1}, field(func(e event.Event) any { return e.AuthType }, "sas")},
		{"authType object", body(rec("properties", rawProps(props("authType", map[string]any{"scope": "device", "type": "x509"})))),
			counts{read: 1, kept: 1}, field(func(e event.Event) any { return e.AuthType }, "x509")},
		{"authType null", body(rec()), counts{read: 1, kept: 1}, field(func(e event.Event) any { return e.AuthType }, "")},
		{"authType undecodable is dropped, record kept", body(rec("properties", props("authType", `{"type":`))),
			counts{read: 1, kept: 1}, field(func(e event.Event) any { return e.AuthType }, "")},
		{"authenticationType in other categories", body(rec("category", "D2CTwinOperations", "operationName", "update", "resultType", "500001",
			"properties", props("authType", nil, "authenticationType", `{"scope":"device","type":"sas"}`))),
			counts{read: 1, kept: 1}, field(func(e event.Event) any { return e.AuthType + " " + e.Kind.String() }, "sas operation")},
		{"sdkVersion", body(rec("operationName", "deviceConnect", "properties", props("sdkVersion", "azure-iot-device/1.17.1 (node v10.16.0; Windows_NT 10.0.18363; x64)"))),
			counts{read: 1, kept: 1}, field(func(e event.Event) any { return e.SDK }, "azure-iot-device/1.17.1 (node v10.16.0; Windows_NT 10.0.18363; x64)")},
		{"device ids as given", body(rec("properties", props("deviceId", `dev#1?'*%$;:.+_!(),=@ "ü"`))), counts{read: 1, kept: 1},
			field(func(e event.Event) any { return e.Device }, `dev#1?'*%$;:.+_!(),=@ "ü"`)},
		{"no deviceId", body(rec("properties", props("deviceId", nil))), counts{read: 1, skipped: map[string]int{"no deviceId": 1}}, nil},
		{"empty deviceId", body(rec("properties", props("deviceId", ""))), counts{read: 1, skipped: map[string]int{"no deviceId": 1}}, nil},
		{"no properties", body(rec("properties", nil)), counts{read: 1, skipped: map[string]int{"no deviceId": 1}}, nil},
		{"properties a number", body(rec("properties", 7)), counts{read: 1, skipped: map[string]int{"bad properties": 1}}, nil},
		{"properties string not JSON", body(rec("properties", "deviceId=x")), counts{read: 1, skipped: map[string]int{"bad properties": 1}}, nil},
		{"hub lower-cased from lower-case resourceId", body(rec("resourceId", strings.ToLower(testRID))), counts{read: 1, kept: 1},
			field(func(e event.Event) any { return e.Hub }, "contoso-prod-hub")},
		{"resourceId not an IoT hub", body(rec("resourceId", "/SUBSCRIPTIONS/X/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.STORAGE/STORAGEACCOUNTS/SA")),
			counts{read: 1, skipped: map[string]int{"no hub": 1}}, nil},
		{"no resourceId", body(rec("resourceId", nil)), counts{read: 1, skipped: map[string]int{"no hub": 1}}, nil},
		{"time with fraction", body(rec("time", "2024-05-14T11:05:14.1234567Z")), counts{read: 1, kept: 1},
			field(func(e event.Event) any { return e.Time }, ts.Add(123456700))},
		{"zone-less time is UTC", body(rec("time", "2024-05-14T11:05:14.1234567")), counts{read: 1, kept: 1},
			field(func(e event.Event) any { return e.Time }, ts.Add(123456700))},
		{"offset time converted to UTC", body(rec("time", "2024-05-14T13:05:14+02:00")), counts{read: 1, kept: 1},
			field(func(e event.Event) any { return e.Time }, ts)},
		{"bad time", body(rec("time", "yesterday")), counts{read: 1, skipped: map[string]int{"bad time": 1}}, nil},
		{"time of wrong type", body(rec("time", 1715684714), rec()), counts{read: 2, kept: 1, skipped: map[string]int{"bad time": 1}}, nil},
		{"no time", body(rec("time", nil)), counts{read: 1, skipped: map[string]int{"bad time": 1}}, nil},
		{"no category", body(rec("category", nil)), counts{read: 1, skipped: map[string]int{"no category": 1}}, nil},
		{"exported metric record ignored", `{"records":[{"count":1,"total":5,"resourceId":"` + testRID + `","time":"2024-05-14T13:22:00.0000000Z","metricName":"d2c.telemetry.ingress.success","timeGrain":"PT1M"}]}`,
			counts{read: 1, ignored: 1}, nil},
		{"hub-side and other categories", body(
			rec("category", "DeviceTelemetry", "operationName", "ingress", "resultType", "500001"),
			rec("category", "C2DCommands", "operationName", "messageExpired", "resultType", "503003"),
			rec("category", "DirectMethods", "operationName", "send", "resultType", "404012"),
			rec("category", "D2CTwinOperations", "operationName", "update", "resultType", "400029"),
			rec("category", "Routes", "operationName", "endpointUnhealthy", "resultType", "500001"),
			rec("category", "D2CTwinOperations", "operationName", "update", "resultType", "500301"),
			rec("category", "C2DTwinOperations", "operationName", "read", "level", "Information", "resultType", nil),
			rec("category", "DeviceTelemetry", "operationName", "ingress", "resultType", "403002"),
			rec("category", "SomethingNew", "operationName", "x", "resultType", "500001"),
		), counts{read: 9, kept: 4, ignored: 5}, kind(event.Operation, event.Operation, event.Operation, event.Operation)},
		{"coded Connections record of another operation", body(
			rec("operationName", "linkCreate", "resultType", "409002"),
			rec("operationName", "somethingElse", "resultType", nil, "level", "Information"),
		), counts{read: 2, kept: 1, ignored: 1}, kind(event.Operation)},
		{"not JSON", `{"records":[`, counts{read: 1, skipped: map[string]int{"bad json": 1}}, nil},
		{"not an object", `42`, counts{read: 1, skipped: map[string]int{"bad json": 1}}, nil},
		{"empty body", `  `, counts{read: 1, skipped: map[string]int{"empty body": 1}}, nil},
		{"records not an array", `{"records":{"a":1}}`, counts{read: 1, skipped: map[string]int{"bad json": 1}}, nil},
		{"one record not an object", `{"records":[` + js(rec()) + `,17,"x",` + js(rec("operationName", "deviceConnect")) + `]}`,
			counts{read: 4, kept: 2, skipped: map[string]int{"bad record": 2}}, kind(event.Disconnect, event.Connect)},
		{"invalid UTF-8 in one record", `{"records":[` + js(rec()) + `,` + strings.Replace(js(rec()), "pump-0042", "pump-\xff\xfe", 1) + `]}`,
			counts{read: 2, kept: 1, skipped: map[string]int{"invalid utf-8": 1}}, kind(event.Disconnect)},
		{"escapes in properties", `{"records":[{"time":"2024-05-14T11:05:14Z","resourceId":"` + testRID + `","operationName":"deviceDisconnect","category":"Connections","resultType":"404104","properties":"{\"deviceId\":\"p\\u00fcmp\\/\\ud83d\\ude00\\t\",\"protocol\":\"Mqtt\"}"}]}`,
			counts{read: 1, kept: 1}, field(func(e event.Event) any { return e.Device }, "pümp/😀\t")},
		{"bad escape in properties", `{"records":[{"time":"2024-05-14T11:05:14Z","resourceId":"` + testRID + `","operationName":"deviceDisconnect","category":"Connections","resultType":"404104","properties":"{\"deviceId\":\"p\\x\"}"}]}`,
			counts{read: 1, skipped: map[string]int{"bad properties": 1}}, nil},
		{"too large", `{"records":[` + js(rec("location", strings.Repeat("x", MaxEventSize))) + `]}`,
			counts{read: 1, skipped: map[string]int{"too large": 1}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := &Result{}
			ResourceLogs([]byte(tt.body), res)
			checkCounts(t, res, tt.want)
			if tt.check != nil {
				tt.check(t, res.Events)
			}
			if len(res.Problems) != 0 {
				t.Errorf("problems %v for an Event Hubs body (no file to locate)", res.Problems)
			}
		})
	}
}

// TestResourceLogsIdempotentID: the same record gives the same ID in any
// envelope and any batch; a different record a different one.
func TestResourceLogsIdempotentID(t *testing.T) {
	inputs := []string{js(rec()), body(rec()), js([]any{rec("operationName", "deviceConnect"), rec()}), body(rec("properties", rawProps(props("errorMessage", "Device disconnected, see cause and resolution at https://aka.ms/iothub404104", "statusCode", "404"))))}
	var ids []event.ID
	for _, in := range inputs {
		res := &Result{}
		ResourceLogs([]byte(in), res)
		ids = append(ids, res.Events[len(res.Events)-1].ID)
	}
	for i, id := range ids {
		if id != ids[0] {
			t.Errorf("input %d: ID %s, want %s", i, id, ids[0])
		}
	}
	res := &Result{}
	ResourceLogs([]byte(body(rec("time", "2024-05-14T11:05:15Z"))), res)
	if res.Events[0].ID == ids[0] {
		t.Error("a record one second later has the same ID")
	}
}

func TestResourceLogLines(t *testing.T) {
	line := func(kv ...any) string { return js(rec(kv...)) }
	big := line("properties", props("sdkVersion", strings.Repeat("s", 200<<10))) // over bufio's 64 KiB
	huge := line("properties", props("sdkVersion", strings.Repeat("h", MaxEventSize)))
	tests := []struct {
		name     string
		in       string
		want     counts
		problems []string
	}{
		{"lines, blank lines, CRLF, no final newline", line() + "\n\n  \r\n" + line("operationName", "deviceConnect") + "\r\n" + line(),
			counts{read: 3, kept: 3}, nil},
		{"byte-order mark", "\xef\xbb\xbf" + line() + "\n", counts{read: 1, kept: 1}, nil},
		{"records objects per line", body(rec(), rec()) + "\n" + line() + "\n", counts{read: 3, kept: 3}, nil},
		{"bad lines located", line() + "\nnot json\n" + line("properties", props("deviceId", nil)) + "\n" + body(rec(), rec("time", "x")) + "\n",
			counts{read: 5, kept: 2, skipped: map[string]int{"bad json": 1, "no deviceId": 1, "bad time": 1}},
			[]string{"f.json:2: bad json", "f.json:3: no deviceId", "f.json:4: bad time"}},
		{"line longer than the reader's buffer", big + "\n" + line() + "\n", counts{read: 2, kept: 2}, nil},
		{"line over MaxEventSize skipped", line() + "\n" + huge + "\n" + line() + "\n",
			counts{read: 3, kept: 2, skipped: map[string]int{"too large": 1}}, []string{"f.json:2: too large"}},
		{"huge last line without newline", line() + "\n" + huge, counts{read: 2, kept: 1, skipped: map[string]int{"too large": 1}}, []string{"f.json:2: too large"}},
		{"empty file", "", counts{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := &Result{}
			if err := ResourceLogLines(strings.NewReader(tt.in), "f.json", res); err != nil {
				t.Fatal(err)
			}
			checkCounts(t, res, tt.want)
			if strings.Join(res.Problems, "|") != strings.Join(tt.problems, "|") {
				t.Errorf("problems %q, want %q", res.Problems, tt.problems)
			}
			if tt.name == "line longer than the reader's buffer" && len(res.Events[0].SDK) != 200<<10 {
				t.Errorf("long line's sdkVersion has %d bytes", len(res.Events[0].SDK))
			}
		})
	}
}

func TestResourceLogLinesReadError(t *testing.T) {
	boom := errors.New("boom")
	res := &Result{}
	r := io.MultiReader(strings.NewReader(js(rec())+"\n"+js(rec())+"\n"), iotest.ErrReader(boom))
	err := ResourceLogLines(r, "archive.json", res)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "archive.json line 3") {
		t.Fatalf("error %v, want boom at archive.json line 3", err)
	}
	checkCounts(t, res, counts{read: 2, kept: 2})
}

func TestResourceLogLinesProblemsBounded(t *testing.T) {
	res := &Result{}
	in := strings.Repeat("garbage\n", 3*maxProblems)
	if err := ResourceLogLines(strings.NewReader(in), "g", res); err != nil {
		t.Fatal(err)
	}
	checkCounts(t, res, counts{read: 3 * maxProblems, skipped: map[string]int{"bad json": 3 * maxProblems}})
	if len(res.Problems) != maxProblems || res.Problems[maxProblems-1] != fmt.Sprintf("g:%d: bad json", maxProblems) {
		t.Errorf("%d problems, last %q", len(res.Problems), res.Problems[len(res.Problems)-1])
	}
}

// TestAppendUnquoted checks the properties-string decoder against
// encoding/json on the cases that matter (FuzzUnquote checks the rest).
func TestAppendUnquoted(t *testing.T) {
	for _, in := range []string{`""`, `"abc"`, `"a\"b\\c\/d"`, `"\b\f\n\r\t"`, `"\u00e9\u20ac"`, `"\ud83d\ude00"`,
		`"\ud83d"`, `"\ude00x"`, `"\ud83d\u0041"`, "\"\xff\"", `"é"`, `"\x"`, `"\u12"`, `"a"b"`, "\"\n\"", `"abc`, `"\"`} {
		var want string
		werr := json.Unmarshal([]byte(in), &want)
		got, ok := jsonstr.AppendUnquoted(nil, []byte(in))
		if ok != (werr == nil) || (ok && string(got) != want) {
			t.Errorf("%q: got %q %v, encoding/json %q %v", in, got, ok, want, werr)
		}
	}
}

func TestParseTime(t *testing.T) {
	want := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		in string
		ok bool
		d  time.Duration
	}{
		{"2025-03-01T10:00:00Z", true, 0},
		{"2025-03-01T10:00:00.1234567Z", true, 123456700},
		{"2025-03-01T10:00:00", true, 0},
		{"2025-03-01T10:00:00.123", true, 123 * time.Millisecond},
		{"2025-03-01T11:00:00+01:00", true, 0},
		{"2025-03-01 10:00:00", true, 0},
		{"0001-01-01T00:00:00", false, 0},
		{"2300-01-01T00:00:00Z", false, 0}, // past the nanosecond clock (2262)
		{"03/01/2025 10:00:00", false, 0},
		{"", false, 0},
	} {
		got, ok := parseTime(tt.in)
		if ok != tt.ok || (ok && (!got.Equal(want.Add(tt.d)) || got.Location() != time.UTC)) {
			t.Errorf("parseTime(%q) = %v %v", tt.in, got, ok)
		}
	}
}

func TestHubFromResourceID(t *testing.T) {
	for in, want := range map[string]string{
		testRID: "contoso-prod-hub",
		"/subscriptions/x/resourceGroups/RG/providers/Microsoft.Devices/IotHubs/My-Hub":  "my-hub",
		"/subscriptions/x/resourceGroups/RG/providers/Microsoft.Devices/IotHubs/My-Hub/": "my-hub",
		"/subscriptions/x/providers/Microsoft.Devices/provisioningServices/dps":          "",
		"": "",
	} {
		if got := hubFromResourceID(in); got != want {
			t.Errorf("hubFromResourceID(%q) = %q, want %q", in, got, want)
		}
	}
}
