package ingest

import (
	"bytes"
	"encoding/json"
	"io"
	"unicode/utf8"

	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/internal/jsonstr"
)

// logRecord is one resource-log record as it appears on the wire. Every field
// is a rawJSON alias into the input, so decoding a body allocates nothing per
// field and a field of an unexpected type cannot fail the body: each record is
// judged on its own afterwards.
type logRecord struct {
	Time              rawJSON `json:"time"`
	ResourceID        rawJSON `json:"resourceId"`
	OperationName     rawJSON `json:"operationName"`
	Category          rawJSON `json:"category"`
	ResultType        rawJSON `json:"resultType"`
	ResultDescription rawJSON `json:"resultDescription"`
	Properties        rawJSON `json:"properties"`
	// MetricName marks an exported platform-metric record, which shares the
	// stream when a diagnostic setting also sends AllMetrics; it has no
	// category and is not evidence.
	MetricName rawJSON `json:"metricName"`
}

// logBody is an Event Hubs event body: {"records":[...]} or, tolerated, one
// bare record. Records is a pointer so that a body without the key is told
// apart from an empty batch.
type logBody struct {
	Records *[]logRecord `json:"records"`
	logRecord
}

// logProps are the keys of a record's properties (after decoding the string
// they usually arrive as) that become event fields.
type logProps struct {
	DeviceID           rawJSON `json:"deviceId"`
	ModuleID           rawJSON `json:"moduleId"`
	SDKVersion         rawJSON `json:"sdkVersion"`
	Protocol           rawJSON `json:"protocol"`
	AuthType           rawJSON `json:"authType"`           // Connections
	AuthenticationType rawJSON `json:"authenticationType"` // other categories
	MaskedIP           rawJSON `json:"maskedIpAddress"`
	ErrorMessage       rawJSON `json:"errorMessage"`
}

// logParser holds the state of parsing one body or file: the result, where
// problems are located (file name and line, for archived files) and two
// scratch buffers reused for the JSON-in-a-string layers of every record.
type logParser struct {
	res   *Result
	name  string // file name; "" for an Event Hubs body (no problems recorded)
	line  int
	props []byte // decoded properties string
	auth  []byte // decoded authType string
	// rid and hub cache the last resource id's hub name: a body's records
	// nearly always come from one hub.
	rid []byte
	hub string
}

// ResourceLogs parses one Event Hubs event body of an IoT Hub diagnostic
// setting, {"records":[...]} (unknown top-level keys ignored), also accepting
// one bare record or a JSON array of records. Connections connects and
// disconnects become event.Connect/event.Disconnect; errors that are hub-side
// evidence (event.HubSideCode), and coded Connections records of other
// operations, become event.Operation; everything else well-formed is Ignored.
// Malformed records are skipped with a reason. It never panics and never
// fails: bad input is counted in res.
func ResourceLogs(body []byte, res *Result) {
	p := logParser{res: res}
	p.body(body)
}

// ResourceLogLines parses a JSON-lines file as a diagnostic setting archives
// to a storage account: one record (or one {"records":[...]} object) per line.
// JSON lines are one layout of ResourceLogStream, which it is.
func ResourceLogLines(r io.Reader, name string, res *Result) error {
	return ResourceLogStream(r, name, res)
}

// skip counts a malformed record and, for a file, locates it.
func (p *logParser) skip(reason string) {
	p.res.Skip(reason)
	if p.name != "" {
		p.res.problem(p.name, p.line, reason)
	}
}

// bad counts an input that could not be split into records as one record
// read and skipped.
func (p *logParser) bad(reason string) {
	p.res.Read++
	p.skip(reason)
}

// body parses one body (or one line): the fast path decodes all records in
// one pass; if that fails (a record that is not an object, invalid UTF-8), the
// slow path splits the records first so that only the bad ones are lost.
func (p *logParser) body(b []byte) {
	if len(b) > MaxEventSize {
		p.bad("too large")
		return
	}
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var ok bool
		if b, ok = peel(b); !ok {
			p.bad("bad json")
			return
		}
	}
	if len(b) == 0 {
		p.bad("empty body")
		return
	}
	if !utf8.Valid(b) {
		p.slow(b)
		return
	}
	switch b[0] {
	case '[':
		var recs []logRecord
		if err := json.Unmarshal(b, &recs); err != nil {
			p.slow(b)
			return
		}
		for i := range recs {
			p.record(&recs[i])
		}
	case '{':
		var env logBody
		if err := json.Unmarshal(b, &env); err != nil {
			p.slow(b)
			return
		}
		if env.Records == nil {
			p.record(&env.logRecord)
			return
		}
		recs := *env.Records
		for i := range recs {
			p.record(&recs[i])
		}
	default:
		p.bad("bad json")
	}
}

// slow parses a body record by record, after the one-pass decode failed.
func (p *logParser) slow(b []byte) {
	var raws []rawJSON
	switch b[0] {
	case '[':
		if err := json.Unmarshal(b, &raws); err != nil {
			p.bad("bad json")
			return
		}
	case '{':
		var env struct {
			Records *[]rawJSON `json:"records"`
		}
		if err := json.Unmarshal(b, &env); err != nil {
			p.bad("bad json")
			return
		}
		if env.Records == nil {
			raws = []rawJSON{b}
		} else {
			raws = *env.Records
		}
	default:
		p.bad("bad json")
		return
	}
	for _, r := range raws {
		if len(r) == 0 || r[0] != '{' {
			p.bad("bad record")
			continue
		}
		if !utf8.Valid(r) {
			p.bad("invalid utf-8")
			continue
		}
		var rec logRecord
		if err := json.Unmarshal(r, &rec); err != nil {
			p.bad("bad json")
			continue
		}
		p.record(&rec)
	}
}

// ignore counts a well-formed record that is not evidence; its time still
// moves the batch's Newest, so a partition carrying only such records
// (successful twin reads, C2D, direct methods) does not hold the watermark.
func (p *logParser) ignore(rec *logRecord) {
	p.res.Ignored++
	if ts, ok := inner(rec.Time); ok {
		if t, ok := parseTime(string(ts)); ok {
			p.res.Saw(t)
		}
	}
}

// record turns one decoded record into an event, an ignore or a skip.
func (p *logParser) record(rec *logRecord) {
	p.res.Read++
	cat, ok := inner(rec.Category)
	if !ok || len(cat) == 0 {
		if !rec.MetricName.isNull() {
			p.ignore(rec)
			return
		}
		p.skip("no category")
		return
	}
	op, _ := inner(rec.OperationName)
	code := parseCode(rec.ResultType)
	var kind event.Kind
	if bytes.EqualFold(cat, []byte("Connections")) {
		switch {
		case bytes.EqualFold(op, []byte("deviceConnect")):
			kind = event.Connect
		case bytes.EqualFold(op, []byte("deviceDisconnect")):
			kind = event.Disconnect
		case code != 0:
			kind = event.Operation
		}
	} else if code != 0 && event.HubSideCode(string(cat), code) {
		kind = event.Operation
	}
	if kind == 0 {
		p.ignore(rec)
		return
	}
	ts, ok := inner(rec.Time)
	if !ok {
		p.skip("bad time")
		return
	}
	t, ok := parseTime(string(ts))
	if !ok {
		p.skip("bad time")
		return
	}
	hub := p.hubOf(rec.ResourceID)
	if hub == "" {
		p.skip("no hub")
		return
	}
	var props logProps
	if !p.decodeProps(rec.Properties, &props) {
		p.skip("bad properties")
		return
	}
	device, ok := props.DeviceID.str()
	if !ok || device == "" {
		p.skip("no deviceId")
		return
	}
	module, _ := props.ModuleID.str()
	sdk, _ := props.SDKVersion.str()
	ip, _ := props.MaskedIP.str()
	auth := props.AuthType
	if auth.isNull() {
		auth = props.AuthenticationType
	}
	e := event.Event{
		Source:      event.ResourceLog,
		Kind:        kind,
		Hub:         hub,
		Device:      device,
		Module:      module,
		Time:        t,
		Category:    internRaw(rec.Category),
		Operation:   internRaw(rec.OperationName),
		Code:        code,
		Description: internRaw(rec.ResultDescription),
		Protocol:    internRaw(props.Protocol),
		SDK:         sdk,
		AuthType:    p.authType(auth),
		MaskedIP:    ip,
		Message:     internRaw(props.ErrorMessage),
	}
	e.ID = event.NewID(&e, "")
	p.res.Keep(e)
}

// hubOf returns the hub of a record's resourceId (see hubFromResourceID),
// reusing the previous record's answer when the id is the same.
func (p *logParser) hubOf(raw rawJSON) string {
	if p.rid != nil && bytes.Equal(raw, p.rid) {
		return p.hub
	}
	rid, _ := raw.str()
	p.hub = hubFromResourceID(rid)
	p.rid = append(p.rid[:0], raw...)
	return p.hub
}

// decodeProps decodes a record's properties: a JSON object, or (as IoT Hub
// writes it) a JSON string holding one, decoded into a reused buffer. Absent
// or null properties decode to nothing.
func (p *logParser) decodeProps(raw rawJSON, props *logProps) bool {
	switch {
	case raw.isNull():
		return true
	case raw[0] == '{':
		return json.Unmarshal(raw, props) == nil
	case raw.isString():
		var ok bool
		p.props, ok = jsonstr.AppendUnquoted(p.props[:0], raw)
		if !ok {
			return false
		}
		b := bytes.TrimSpace(p.props)
		if len(b) == 0 {
			return true
		}
		if b[0] != '{' {
			return false
		}
		return json.Unmarshal(b, props) == nil
	}
	return false
}

// authType returns the "type" of an authType/authenticationType value: null,
// a JSON string holding an object, or an object. A plain string that is not
// JSON is taken as the type itself; an undecodable value gives "" (the field
// is corroborating detail, not worth losing the record for).
func (p *logParser) authType(raw rawJSON) string {
	var obj []byte
	switch {
	case raw.isNull():
		return ""
	case raw[0] == '{':
		obj = raw
	case raw.isString():
		var ok bool
		p.auth, ok = jsonstr.AppendUnquoted(p.auth[:0], raw)
		if !ok {
			return ""
		}
		obj = bytes.TrimSpace(p.auth)
		if len(obj) == 0 || obj[0] != '{' {
			return intern(obj)
		}
	default:
		return ""
	}
	var a struct {
		Type rawJSON `json:"type"`
	}
	if json.Unmarshal(obj, &a) != nil {
		return ""
	}
	return internRaw(a.Type)
}

// inner returns the contents of a JSON string without its quotes (escapes
// left as they are), or nil and false if raw is not a string. It lets the
// parser compare categories and operation names without allocating.
func inner(raw rawJSON) ([]byte, bool) {
	if !raw.isString() {
		return nil, false
	}
	return raw[1 : len(raw)-1], true
}

// internRaw returns a JSON string value as a Go string, interned (see
// intern); anything but a string gives "".
func internRaw(raw rawJSON) string {
	b, ok := inner(raw)
	if !ok {
		return ""
	}
	if bytes.IndexByte(b, '\\') >= 0 {
		s, _ := raw.str()
		return s
	}
	return intern(b)
}

// intern returns b as a string, sharing one copy of the values that repeat in
// every record (categories, operations, protocols, descriptions) instead of
// allocating each time. The switch on string(b) does not allocate.
func intern(b []byte) string {
	switch string(b) {
	case "":
		return ""
	case "Connections":
		return "Connections"
	case "deviceConnect":
		return "deviceConnect"
	case "deviceDisconnect":
		return "deviceDisconnect"
	case "Mqtt":
		return "Mqtt"
	case "MqttWs":
		return "MqttWs"
	case "Amqp":
		return "Amqp"
	case "AmqpWs":
		return "AmqpWs"
	case "Https":
		return "Https"
	case "sas":
		return "sas"
	case "x509":
		return "x509"
	case "DeviceConnectionClosedRemotely":
		return "DeviceConnectionClosedRemotely"
	case "IoTHubUnauthorized":
		return "IoTHubUnauthorized"
	case "ServerError":
		return "ServerError"
	case "GenericTimeout":
		return "GenericTimeout"
	case "Device disconnected, see cause and resolution at https://aka.ms/iothub404104":
		return "Device disconnected, see cause and resolution at https://aka.ms/iothub404104"
	case "Authentication failed for this device, renew token or certificate and reconnect":
		return "Authentication failed for this device, renew token or certificate and reconnect"
	}
	return string(b)
}
