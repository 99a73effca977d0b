package funchost

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Invocation is one request the host would POST to /<Function>. The body is
// rebuilt per attempt because RetryContext changes; Data and the rest of
// Metadata do not.
type Invocation struct {
	Function string
	// BindErr is set when the host would fail the invocation while binding,
	// before calling the handler (dataType unset with a non-JSON body, an
	// HTTP route or method the function does not accept).
	BindErr error
	// EventHub, Partition, LastSequence and Count describe an Event Hubs
	// batch (for checkpoints).
	EventHub, Partition string
	FirstSequence       int64
	LastSequence        int64
	Count               int

	data     obj // trigger first, as the host orders Data
	metadata obj // without sys and RetryContext (added per attempt)
	sys      obj
	retry    *RetryPolicy
}

// Payload returns the request body for attempt retryCount (0 = first), with
// RetryContext when the function has a retry policy. prevErr is the previous
// attempt's failure, carried in RetryContext.Exception.
func (inv *Invocation) Payload(retryCount int, prevErr error) []byte {
	md := append(obj{}, inv.metadata...)
	if !md.has("sys") { // a leaked body property named sys wins (reference §2.1)
		md = md.set("sys", inv.sys)
	}
	if inv.retry != nil {
		var exc any
		if retryCount > 0 && prevErr != nil {
			exc = obj{
				{"ClassName", "System.Net.Http.HttpRequestException"},
				{"Message", prevErr.Error()},
				{"Data", nil},
				{"InnerException", nil},
				{"HResult", -2146232800},
				{"Source", "System.Net.Http"},
			}
		}
		md = md.set("RetryContext", obj{
			{"RetryCount", retryCount},
			{"MaxRetryCount", inv.retry.MaxRetryCount},
			{"Exception", exc},
			{"Instance", nil},
			{"State", obj{}},
		})
	}
	return marshal(obj{{"Data", inv.data}, {"Metadata", md}})
}

// Retry returns the retry policy the host applies to inv (the function's,
// else host.json's; nil = none): the emulator re-sends a failed invocation
// under it.
func (inv *Invocation) Retry() *RetryPolicy { return inv.retry }

// EventOption adjusts an Event Hubs batch (sequence numbers, offsets, times,
// partition keys).
type EventOption func(*ehOptions)

type ehOptions struct {
	firstSeq  *int64
	offsets   []int64
	enqueued  []time.Time
	keys      []string
	namespace string
}

// Sequence sets the first event's sequence number (the rest follow by one).
func Sequence(first int64) EventOption { return func(o *ehOptions) { o.firstSeq = &first } }

// Offsets sets the events' offsets.
func Offsets(offs ...int64) EventOption { return func(o *ehOptions) { o.offsets = offs } }

// Enqueued sets the events' enqueued times (the last is repeated).
func Enqueued(ts ...time.Time) EventOption { return func(o *ehOptions) { o.enqueued = ts } }

// PartitionKeys sets the events' partition keys ("" = none, sent as null).
func PartitionKeys(keys ...string) EventOption { return func(o *ehOptions) { o.keys = keys } }

// Namespace overrides the namespace taken from the connection setting.
func Namespace(ns string) EventOption { return func(o *ehOptions) { o.namespace = ns } }

// Host time formats (reference §2.1, §7.2).
const (
	// arrayTime is a DateTime in an array: fraction, no zone.
	arrayTime = "2006-01-02T15:04:05.9999999"
	// utcNowTime is sys.UtcNow: Z and always seven decimals.
	utcNowTime = "2006-01-02T15:04:05.0000000Z"
	// offsetTime is a DateTimeOffset inside an object (TimerInfo).
	offsetTime = "2006-01-02T15:04:05.9999999-07:00"
	// invariantTime is a (string) cast of a JSON date (leaked properties).
	invariantTime = "01/02/2006 15:04:05"
)

// sysObject is Metadata.sys.
func (a *App) sysObject(fn string) obj {
	return obj{
		{"MethodName", fn},
		{"UtcNow", a.Clock().UTC().Format(utcNowTime)},
		{"RandGuid", a.NewGUID()},
	}
}

// EventHubBatch builds an Event Hubs trigger invocation of fn for one batch
// of partition (reference §2.2): Data.<name> per the binding's cardinality
// and dataType, and the Metadata keys TriggerPartitionContext,
// PartitionContext, PartitionKeyArray, OffsetArray, OffsetStringArray,
// SequenceNumberArray, EnqueuedTimeUtcArray, PropertiesArray,
// SystemPropertiesArray and sys (+ RetryContext per attempt). props[i] are
// event i's application properties (nil = none). Sequence numbers and
// offsets continue from the previous batch of the same partition.
func (a *App) EventHubBatch(fn, partition string, bodies [][]byte, props []map[string]any, opts ...EventOption) *Invocation {
	f := a.Function(fn)
	tb := f.Trigger()
	var o ehOptions
	for _, opt := range opts {
		opt(&o)
	}
	hub := a.resolve(tb.EventHubName)
	ns := o.namespace
	if ns == "" {
		ns = a.namespace(tb.Connection)
	}
	cg := a.resolve(tb.ConsumerGroup)
	if cg == "" {
		cg = "$Default"
	}

	a.mu.Lock()
	st := a.seq[hub+"/"+partition]
	if st == nil {
		st = &partitionState{}
		a.seq[hub+"/"+partition] = st
	}
	if o.firstSeq != nil {
		st.seq = *o.firstSeq
	}
	n := len(bodies)
	seqs := make([]int64, n)
	offs := make([]int64, n)
	for i := range bodies {
		seqs[i] = st.seq
		st.seq++
		if i < len(o.offsets) {
			offs[i] = o.offsets[i]
			st.offset = offs[i]
		} else {
			offs[i] = st.offset
		}
		st.offset += int64(len(bodies[i])) + 64
	}
	a.mu.Unlock()

	now := a.Clock().UTC()
	enq := make([]time.Time, n)
	for i := range enq {
		switch {
		case i < len(o.enqueued):
			enq[i] = o.enqueued[i].UTC()
		case len(o.enqueued) > 0:
			enq[i] = o.enqueued[len(o.enqueued)-1].UTC()
		default:
			enq[i] = now
		}
	}
	keys := make([]any, n)
	for i := range keys {
		if i < len(o.keys) && o.keys[i] != "" {
			keys[i] = o.keys[i]
		}
	}

	inv := &Invocation{Function: fn, EventHub: hub, Partition: partition, Count: n, retry: f.Retry}
	if n > 0 {
		inv.FirstSequence, inv.LastSequence = seqs[0], seqs[n-1]
	}
	many := strings.EqualFold(tb.Cardinality, "many")
	dt := strings.ToLower(tb.DataType)

	// Data.<name>: string[] / byte[][] / object[] → a JSON string holding
	// the array's JSON text; single dispatch → the value encoded alone.
	elem := func(b []byte) (any, error) {
		switch dt {
		case "binary":
			return base64.StdEncoding.EncodeToString(b), nil
		case "string":
			return string(bytes.ToValidUTF8(b, []byte("\uFFFD"))), nil
		default:
			var v any
			if err := json.Unmarshal(b, &v); err != nil {
				return nil, fmt.Errorf("Exception binding parameter '%s': Binding parameters to complex objects (such as 'Object') uses Json.NET serialization: %v", tb.Name, err)
			}
			return json.RawMessage(marshal(json.RawMessage(b))), nil
		}
	}
	if many {
		arr := make([]any, 0, n)
		for _, b := range bodies {
			v, err := elem(b)
			if err != nil {
				inv.BindErr = err
				break
			}
			arr = append(arr, v)
		}
		inv.data = obj{{tb.Name, string(marshal(arr))}}
	} else if n > 0 {
		v, err := elem(bodies[0])
		inv.BindErr = err
		switch v := v.(type) {
		case string:
			if dt == "binary" {
				inv.data = obj{{tb.Name, v}} // byte[]: one base64 layer
			} else {
				inv.data = obj{{tb.Name, string(marshal(v))}}
			}
		default:
			inv.data = obj{{tb.Name, string(marshal(v))}}
		}
	}

	pc := obj{
		{"IsCheckpointingAfterInvocation", true},
		{"FullyQualifiedNamespace", ns},
		{"EventHubName", hub},
		{"ConsumerGroup", cg},
		{"PartitionId", partition},
	}
	sysProps := make([]any, n)
	appProps := make([]any, n)
	offStr := make([]string, n)
	enqStr := make([]string, n)
	for i := range bodies {
		offStr[i] = fmt.Sprint(offs[i])
		enqStr[i] = enq[i].Format(arrayTime)
		sp := obj{
			{"x-opt-sequence-number", seqs[i]},
			{"x-opt-offset", offStr[i]},
			{"x-opt-enqueued-time", enq[i].Format(time.RFC3339Nano)},
		}
		if keys[i] != nil {
			sp = append(sp, field{"x-opt-partition-key", keys[i]})
		}
		sp = append(sp,
			field{"SequenceNumber", seqs[i]},
			field{"Offset", offs[i]},
			field{"OffsetString", offStr[i]},
			field{"PartitionKey", keys[i]},
			field{"EnqueuedTimeUtc", enqStr[i]},
		)
		sysProps[i] = sp
		if i < len(props) && props[i] != nil {
			appProps[i] = props[i]
		} else {
			appProps[i] = obj{}
		}
	}
	if many {
		inv.metadata = obj{
			{"TriggerPartitionContext", pc},
			{"PartitionContext", pc},
			{"PartitionKeyArray", string(marshal(keys))},
			{"OffsetArray", string(marshal(offStr))},
			{"OffsetStringArray", string(marshal(offStr))},
			{"SequenceNumberArray", string(marshal(seqs))},
			{"EnqueuedTimeUtcArray", string(marshal(enqStr))},
			{"PropertiesArray", string(marshal(appProps))},
			{"SystemPropertiesArray", string(marshal(sysProps))},
		}
	} else if n > 0 {
		inv.metadata = obj{
			{"TriggerPartitionContext", pc},
			{"PartitionContext", pc},
		}
		if keys[0] != nil {
			inv.metadata = append(inv.metadata, field{"PartitionKey", string(marshal(keys[0]))})
		}
		inv.metadata = append(inv.metadata,
			field{"Offset", string(marshal(offStr[0]))},
			field{"OffsetString", string(marshal(offStr[0]))},
			field{"SequenceNumber", string(marshal(seqs[0]))},
			field{"EnqueuedTimeUtc", enq[0].Format("2006-01-02T15:04:05")},
			field{"Properties", appProps[0]},
			field{"SystemProperties", sysProps[0]},
		)
		if dt != "binary" {
			inv.metadata = leakProperties(inv.metadata, bodies[0])
		}
	}
	inv.sys = a.sysObject(fn)
	return inv
}

// TimerOption adjusts a timer invocation.
type TimerOption func(*timerOptions)

type timerOptions struct {
	last, next, updated time.Time
	pastDue             bool
	nullStatus          bool
}

// ScheduleStatus sets TimerInfo.ScheduleStatus.
func ScheduleStatus(last, next, lastUpdated time.Time) TimerOption {
	return func(o *timerOptions) { o.last, o.next, o.updated = last, next, lastUpdated }
}

// PastDue marks the invocation as past due.
func PastDue() TimerOption { return func(o *timerOptions) { o.pastDue = true } }

// Timer builds a timer trigger invocation of fn (reference §2.3): Data.<name>
// is the TimerInfo object; ScheduleStatus is null when the binding's
// useMonitor is false; Metadata is just sys (+ RetryContext).
func (a *App) Timer(fn string, opts ...TimerOption) *Invocation {
	f := a.Function(fn)
	tb := f.Trigger()
	now := a.Clock().UTC()
	o := timerOptions{last: now.Add(-time.Minute).Truncate(time.Second), next: now.Truncate(time.Second)}
	o.updated = o.last
	for _, opt := range opts {
		opt(&o)
	}
	var status any
	if tb.UseMonitor == nil || *tb.UseMonitor {
		status = obj{
			{"Last", o.last.Format(offsetTime)},
			{"Next", o.next.Format(offsetTime)},
			{"LastUpdated", o.updated.Format(offsetTime)},
		}
	}
	ti := obj{
		{"Schedule", obj{{"AdjustForDST", true}}},
		{"ScheduleStatus", status},
		{"IsPastDue", o.pastDue},
	}
	return &Invocation{Function: fn, data: obj{{tb.Name, ti}}, sys: a.sysObject(fn), retry: f.Retry}
}

// EventGridShape selects how Data.<name> of an Event Grid invocation is
// encoded; the host's choice is inferred, not observed (reference §2.4).
type EventGridShape int

const (
	// EventGridText: the event as indented JSON text, double-encoded like any
	// string, with its top-level properties leaked into Metadata (the
	// reference's inference).
	EventGridText EventGridShape = iota
	// EventGridObject: the event as a JSON object.
	EventGridObject
)

// EventGrid builds an Event Grid trigger invocation of fn carrying event (one
// Event Grid or CloudEvents object; an array is passed as given, although
// the host invokes once per event). Metadata: data (the event's data), the
// leaked top-level properties (text shape), sys.
func (a *App) EventGrid(fn string, event []byte, shape EventGridShape) *Invocation {
	f := a.Function(fn)
	tb := f.Trigger()
	inv := &Invocation{Function: fn, sys: a.sysObject(fn), retry: f.Retry}
	var probe struct {
		Data json.RawMessage `json:"data"`
	}
	_ = json.Unmarshal(event, &probe)
	md := obj{}
	if len(probe.Data) > 0 {
		md = md.set("data", encodeJSONValue(probe.Data))
	}
	switch shape {
	case EventGridObject:
		inv.data = obj{{tb.Name, json.RawMessage(marshal(json.RawMessage(event)))}}
	default:
		var ind bytes.Buffer
		if err := json.Indent(&ind, event, "", "  "); err != nil {
			inv.BindErr = fmt.Errorf("funchost: event grid event is not JSON: %w", err)
			ind.Reset()
			ind.Write(event)
		}
		inv.data = obj{{tb.Name, string(marshal(ind.String()))}}
		md = leakProperties(md, event)
	}
	inv.metadata = md
	return inv
}

// HTTP builds a non-forwarded HTTP trigger invocation of fn (reference
// §2.5) for a request to /api/<path>: Data.<name> = {Url, Method, Query,
// Headers, Params, Body}; Metadata = Query, Headers (joined strings), one
// double-encoded entry per query parameter (except code) and route
// parameter, the body's leaked top-level properties, sys. A method or path
// the function's binding does not accept sets BindErr (the host answers 404
// without invoking).
func (a *App) HTTP(fn, method, path string, query url.Values, headers http.Header, body []byte) *Invocation {
	f := a.Function(fn)
	tb := f.Trigger()
	inv := &Invocation{Function: fn, sys: a.sysObject(fn), retry: f.Retry}
	if len(tb.Methods) > 0 {
		ok := false
		for _, m := range tb.Methods {
			ok = ok || strings.EqualFold(m, method)
		}
		if !ok {
			inv.BindErr = fmt.Errorf("funchost: %s does not accept %s", fn, method)
		}
	}
	prefix := "api"
	if p := a.Host.Extensions.HTTP.RoutePrefix; p != nil {
		prefix = *p
	}
	route := tb.Route
	if route == "" {
		route = fn
	}
	// Routing sees the path as the server decoded it (every escape but %2F);
	// Url keeps the encoded form (reference §2.5).
	params, ok := matchRoute(route, decodeRequestPath(strings.TrimPrefix(strings.TrimPrefix(path, "/"), prefix+"/")))
	if !ok && inv.BindErr == nil {
		inv.BindErr = fmt.Errorf("funchost: %s does not match route %q", path, route)
	}
	u := "http://localhost:7071/" + prefix + "/" + strings.TrimPrefix(strings.TrimPrefix(path, "/"), prefix+"/")
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	qObj := obj{}
	for _, k := range sortedKeys(query) {
		qObj = append(qObj, field{k, strings.Join(query[k], ",")})
	}
	hObj, hJoined := obj{}, obj{}
	hdr := headers.Clone()
	if hdr == nil {
		hdr = http.Header{}
	}
	// The host passes Body only when the request had a Content-Length > 0
	// (reference §2.5): a chunked request (Transfer-Encoding, no
	// Content-Length) arrives without its body. Otherwise the request
	// carries the length its body has, as an HTTP client sends it.
	if strings.EqualFold(hdr.Get("Transfer-Encoding"), "chunked") && hdr.Get("Content-Length") == "" {
		body = nil
	} else if len(body) > 0 {
		hdr.Set("Content-Length", fmt.Sprint(len(body)))
	}
	for _, k := range sortedKeys(hdr) {
		hObj = append(hObj, field{k, hdr[k]})
		hJoined = append(hJoined, field{k, strings.Join(hdr[k], ",")})
	}
	pObj := obj{}
	for _, k := range sortedKeys(params) {
		pObj = append(pObj, field{k, params[k][0]})
	}
	req := obj{{"Url", u}, {"Method", strings.ToUpper(method)}, {"Query", qObj}, {"Headers", hObj}, {"Params", pObj}}
	if len(body) > 0 {
		ct := strings.ToLower(hdr.Get("Content-Type"))
		if strings.HasPrefix(ct, "application/octet-stream") || strings.HasPrefix(ct, "multipart/") {
			req = append(req, field{"Body", base64.StdEncoding.EncodeToString(body)})
		} else {
			req = append(req, field{"Body", string(body)})
		}
	}
	inv.data = obj{{tb.Name, req}}
	md := obj{{"Query", qObj}, {"Headers", hJoined}}
	for _, k := range sortedKeys(query) {
		if !strings.EqualFold(k, "code") {
			md = md.set(k, string(marshal(strings.Join(query[k], ","))))
		}
	}
	for _, k := range sortedKeys(params) {
		md = md.set(k, string(marshal(params[k][0])))
	}
	inv.metadata = leakProperties(md, body)
	return inv
}

// matchRoute matches an HTTP trigger route template ("v1/{*path}",
// "items/{id?}", "hooks/metric-alert") against a path and returns the route
// values.
func matchRoute(route, path string) (map[string][]string, bool) {
	rs := strings.Split(strings.Trim(route, "/"), "/")
	ps := strings.Split(strings.Trim(path, "/"), "/")
	if path == "" {
		ps = nil
	}
	vals := map[string][]string{}
	for i, seg := range rs {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			name := seg[1 : len(seg)-1]
			if strings.HasPrefix(name, "*") {
				vals[strings.TrimPrefix(name, "*")] = []string{strings.Join(ps[min(i, len(ps)):], "/")}
				return vals, true
			}
			optional := strings.HasSuffix(name, "?")
			name = strings.TrimSuffix(name, "?")
			if i >= len(ps) {
				if optional {
					continue
				}
				return nil, false
			}
			vals[name] = []string{ps[i]}
			continue
		}
		if i >= len(ps) || !strings.EqualFold(seg, ps[i]) {
			return nil, false
		}
	}
	if len(ps) > len(rs) {
		return nil, false
	}
	return vals, true
}

// decodeRequestPath decodes a request path as ASP.NET Core's server does
// before routing (IHttpRequestFeature.Path, "fully decoded by the server
// except for '%2F'"): every %HH escape becomes its byte, except %2F (and
// %2f), which stays as written so that route segments are not split; the
// escapes of bytes that are not valid UTF-8, and a '%' not followed by two
// hex digits, stay as written. '+' is not a space in a path.
func decodeRequestPath(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); {
		if p[i] != '%' {
			b.WriteByte(p[i])
			i++
			continue
		}
		// A run of escapes (one UTF-8 sequence may take several).
		start, run := i, []byte(nil)
		for i+2 < len(p) && p[i] == '%' && isHex(p[i+1]) && isHex(p[i+2]) {
			c := unhex(p[i+1])<<4 | unhex(p[i+2])
			if c == '/' {
				break
			}
			run = append(run, c)
			i += 3
		}
		switch {
		case len(run) == 0 && i == start && i+2 < len(p) && isHex(p[i+1]) && isHex(p[i+2]):
			b.WriteString(p[i : i+3]) // %2F kept
			i += 3
		case len(run) == 0:
			b.WriteByte('%') // a lone '%'
			i++
		default:
			// Valid UTF-8 sequences are decoded; each byte of an invalid one
			// stays as its escape (byte j of run is p[start+3j:start+3j+3]).
			for j := 0; j < len(run); {
				r, n := utf8.DecodeRune(run[j:])
				if r == utf8.RuneError && n <= 1 {
					b.WriteString(p[start+3*j : start+3*j+3])
					j++
					continue
				}
				b.Write(run[j : j+n])
				j += n
			}
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	default:
		return c - 'a' + 10
	}
}

// leakProperties adds the top-level properties of a JSON-object text to
// metadata as the host does (reference §2.1): objects stay objects, other
// values become their (string) cast, double-encoded; ISO dates become the
// invariant-culture MM/dd/yyyy HH:mm:ss. Existing keys are overwritten in
// place.
func leakProperties(md obj, text []byte) obj {
	t := bytes.TrimSpace(text)
	if len(t) == 0 || t[0] != '{' {
		return md
	}
	dec := json.NewDecoder(bytes.NewReader(t))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return md
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return md
		}
		k, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return md
		}
		md = md.set(k, leakValue(raw))
	}
	return md
}

// leakValue converts one leaked property value.
func leakValue(raw json.RawMessage) any {
	r := bytes.TrimSpace(raw)
	switch {
	case len(r) == 0:
		return nil
	case r[0] == '{':
		return json.RawMessage(marshal(json.RawMessage(r)))
	case r[0] == '[':
		return string(marshal(json.RawMessage(r)))
	case r[0] == '"':
		var s string
		_ = json.Unmarshal(r, &s)
		for _, l := range []string{time.RFC3339Nano, arrayTime} {
			if t, err := time.Parse(l, s); err == nil && strings.Contains(s, "T") {
				return string(marshal(t.UTC().Format(invariantTime)))
			}
		}
		return string(marshal(s))
	case string(r) == "true":
		return string(marshal("True"))
	case string(r) == "false":
		return string(marshal("False"))
	case string(r) == "null":
		return nil
	}
	return string(marshal(string(r)))
}

// encodeJSONValue applies the §2.1 rule to a JSON value: objects stay
// objects, anything else becomes its JSON text in a string.
func encodeJSONValue(raw json.RawMessage) any {
	r := bytes.TrimSpace(raw)
	if len(r) > 0 && r[0] == '{' {
		return json.RawMessage(marshal(json.RawMessage(r)))
	}
	return string(marshal(json.RawMessage(r)))
}

// obj is a JSON object that keeps its key order (the host's, for golden
// files); field values are marshalled with HTML escaping off, as Newtonsoft
// writes them.
type obj []field

type field struct {
	K string
	V any
}

// set replaces key k in place or appends it; a nil value is dropped (the
// host skips null metadata).
func (o obj) set(k string, v any) obj {
	for i := range o {
		if o[i].K == k {
			o[i].V = v
			return o
		}
	}
	return append(o, field{k, v})
}

// has reports whether key k is present.
func (o obj) has(k string) bool {
	for _, f := range o {
		if f.K == k {
			return true
		}
	}
	return false
}

// MarshalJSON writes the fields in order.
func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(marshal(f.K))
		b.WriteByte(':')
		b.Write(marshal(f.V))
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// marshal encodes v compactly without HTML escaping; values here always
// encode (they are built by this package).
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("funchost: marshal %T: %v", v, err))
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// sortedKeys returns a map's keys in order (stable payloads).
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
