package sim

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// parsedRecord is a resource-log record decoded the way a consumer would,
// checked against the documented fields (reference/iothub-telemetry.md §1).
type parsedRecord struct {
	Time      time.Time
	Category  string
	Operation string
	Level     string
	Code      int
	Device    string
	Module    string
	MaskedIP  string
	SDK       string
	AuthType  string // "type" of authType's JSON; "" when null
	Message   string
	Raw       string
	Body      int // index of the body it arrived in
}

var (
	secondTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)
	fracTimeRe = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$`)
	seqRe      = regexp.MustCompile(`^[0-9A-F]{64}$`)
)

// parseRecords decodes every body of out.Diagnostics, failing the test on any
// departure from the documented record format.
func parseRecords(t testing.TB, cfg Config, out *Output) []parsedRecord {
	t.Helper()
	parsedMu.Lock()
	defer parsedMu.Unlock()
	if recs, ok := parsed[out]; ok {
		return recs
	}
	recs := parseRecordsUncached(t, cfg, out)
	parsed[out] = recs
	return recs
}

// parsed caches parseRecords per output: several tests inspect one run.
var (
	parsedMu sync.Mutex
	parsed   = map[*Output][]parsedRecord{}
)

func parseRecordsUncached(t testing.TB, cfg Config, out *Output) []parsedRecord {
	t.Helper()
	wantRes := "/SUBSCRIPTIONS/" + strings.ToUpper(cfg.Subscription) + "/RESOURCEGROUPS/" + strings.ToUpper(cfg.ResourceGroup) +
		"/PROVIDERS/MICROSOFT.DEVICES/IOTHUBS/" + strings.ToUpper(cfg.Hub)
	var recs []parsedRecord
	for bi, m := range out.Diagnostics {
		var body struct {
			Records []json.RawMessage `json:"records"`
		}
		if err := json.Unmarshal(m.Body, &body); err != nil {
			t.Fatalf("body %d: %v", bi, err)
		}
		if len(body.Records) == 0 {
			t.Fatalf("body %d: no records", bi)
		}
		for ri, rawBytes := range body.Records {
			where := fmt.Sprintf("body %d record %d", bi, ri)
			var raw map[string]json.RawMessage
			if err := json.Unmarshal(rawBytes, &raw); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			str := func(k string, required bool) string {
				v, ok := raw[k]
				if !ok {
					if required {
						t.Fatalf("%s: no %q", where, k)
					}
					return ""
				}
				var s string
				if err := json.Unmarshal(v, &s); err != nil {
					t.Fatalf("%s: %q is not a string: %s", where, k, v)
				}
				return s
			}
			var p parsedRecord
			p.Body = bi
			ts := str("time", true)
			if !secondTime.MatchString(ts) {
				t.Fatalf("%s: time %q is not second precision", where, ts)
			}
			p.Time, _ = time.Parse(time.RFC3339, ts)
			if got := str("resourceId", true); got != wantRes {
				t.Fatalf("%s: resourceId %q, want %q", where, got, wantRes)
			}
			p.Category = str("category", true)
			p.Operation = str("operationName", true)
			p.Level = str("level", true)
			if p.Level != "Information" && p.Level != "Error" {
				t.Fatalf("%s: level %q", where, p.Level)
			}
			if str("location", true) != cfg.Location {
				t.Fatalf("%s: location", where)
			}
			if rt := str("resultType", false); rt != "" {
				c, err := strconv.Atoi(rt)
				if err != nil {
					t.Fatalf("%s: resultType %q", where, rt)
				}
				p.Code = c
				if str("resultDescription", true) == "" {
					t.Fatalf("%s: empty resultDescription", where)
				}
				if p.Level != "Error" {
					t.Fatalf("%s: resultType on a %s record", where, p.Level)
				}
			} else if p.Level == "Error" {
				t.Fatalf("%s: Error record without resultType", where)
			}
			if p.Category == "Connections" {
				if _, ok := raw["durationMs"]; ok {
					t.Fatalf("%s: durationMs on Connections", where)
				}
			}
			propStr := str("properties", true) // a JSON-encoded string, as in real records
			var props map[string]json.RawMessage
			if err := json.Unmarshal([]byte(propStr), &props); err != nil {
				t.Fatalf("%s: properties: %v", where, err)
			}
			pstr := func(k string) string {
				var s string
				if v, ok := props[k]; ok && string(v) != "null" {
					if err := json.Unmarshal(v, &s); err != nil {
						t.Fatalf("%s: properties.%s not a string: %s", where, k, v)
					}
				}
				return s
			}
			p.Device = pstr("deviceId")
			p.Module = pstr("moduleId")
			if p.Device == "" && p.Category != "Routes" {
				t.Fatalf("%s: no deviceId", where)
			}
			if p.Category == "Connections" {
				for _, k := range []string{"protocol", "authType", "maskedIpAddress", "statusCode", "errorMessage"} {
					if _, ok := props[k]; !ok {
						t.Fatalf("%s: Connections properties lack %q: %s", where, k, propStr)
					}
				}
				p.MaskedIP = pstr("maskedIpAddress")
				if !strings.HasSuffix(p.MaskedIP, ".XXX") {
					t.Fatalf("%s: maskedIpAddress %q", where, p.MaskedIP)
				}
				p.SDK = pstr("sdkVersion")
				p.Message = pstr("errorMessage")
				if at := pstr("authType"); at != "" {
					var a struct{ Type string }
					if err := json.Unmarshal([]byte(at), &a); err != nil || a.Type == "" {
						t.Fatalf("%s: authType %q", where, at)
					}
					p.AuthType = a.Type
				}
				sc := pstr("statusCode")
				if (p.Code == 0) != (sc == "") || (p.Code != 0 && sc != strconv.Itoa(p.Code/1000)) {
					t.Fatalf("%s: statusCode %q for resultType %d", where, sc, p.Code)
				}
				if p.Code == 404104 && p.Message != "Device disconnected, see cause and resolution at https://aka.ms/iothub404104" {
					t.Fatalf("%s: 404104 errorMessage %q", where, p.Message)
				}
			}
			p.Raw = string(rawBytes)
			recs = append(recs, p)
		}
	}
	return recs
}

// egParsed is one Event Grid delivery decoded in either schema.
type egParsed struct {
	ID, Type, Device, Module, Seq string
	Time                          time.Time
	CloudEvents                   bool
}

func parseEventGrid(t testing.TB, cfg Config, out *Output) []egParsed {
	t.Helper()
	var evs []egParsed
	for i, m := range out.EventGrid {
		var p egParsed
		var data egData
		switch {
		case len(m.Body) > 0 && m.Body[0] == '[':
			var arr []egEvent
			if err := json.Unmarshal(m.Body, &arr); err != nil || len(arr) != 1 {
				t.Fatalf("event grid %d: want an array with one event: %v", i, err)
			}
			e := arr[0]
			if e.DataVersion != "1" || e.MetadataVersion != "1" || e.Topic == "" || e.ID == "" {
				t.Fatalf("event grid %d: missing envelope fields: %s", i, m.Body)
			}
			p = egParsed{ID: e.ID, Type: e.EventType}
			data = e.Data
			ts := e.EventTime
			if !fracTimeRe.MatchString(ts) {
				t.Fatalf("event grid %d: eventTime %q", i, ts)
			}
			p.Time, _ = time.Parse(time.RFC3339Nano, ts)
			if !strings.HasSuffix(e.Subject, data.DeviceID+suffix(data.ModuleID)) || !strings.HasPrefix(e.Subject, "devices/") {
				t.Fatalf("event grid %d: subject %q", i, e.Subject)
			}
		default:
			var e ceEvent
			if err := json.Unmarshal(m.Body, &e); err != nil || e.SpecVersion != "1.0" || e.Source == "" {
				t.Fatalf("event grid %d: bad CloudEvent: %v %s", i, err, m.Body)
			}
			p = egParsed{ID: e.ID, Type: e.Type, CloudEvents: true}
			data = e.Data
			p.Time, _ = time.Parse(time.RFC3339Nano, e.Time)
		}
		if p.Type != "Microsoft.Devices.DeviceConnected" && p.Type != "Microsoft.Devices.DeviceDisconnected" {
			t.Fatalf("event grid %d: type %q", i, p.Type)
		}
		if data.HubName != strings.ToLower(cfg.Hub) {
			t.Fatalf("event grid %d: hubName %q", i, data.HubName)
		}
		if !seqRe.MatchString(data.Info.SequenceNumber) {
			t.Fatalf("event grid %d: sequenceNumber %q", i, data.Info.SequenceNumber)
		}
		p.Device, p.Module, p.Seq = data.DeviceID, data.ModuleID, data.Info.SequenceNumber
		evs = append(evs, p)
	}
	return evs
}

func suffix(module string) string {
	if module == "" {
		return ""
	}
	return "/" + module
}

// defaultRun caches the default simulation, which several tests inspect.
var defaultRun = sync.OnceValues(func() (*sim, *Output) { return generate(DefaultConfig(7)) })
