package funchost

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// Failure reasons the host distinguishes (reference §3, §4.1). Result.Err
// wraps one of them.
var (
	ErrStatus      = errors.New("response status code does not indicate success")
	ErrContentType = errors.New("unsupported media type (Content-Type must be application/json or text/json)")
	ErrEmptyResult = errors.New("empty or null result: the host waits until functionTimeout")
	ErrBadResponse = errors.New("invalid HttpResponseMessage")
	ErrTransport   = errors.New("request to the custom handler failed")
	ErrTimeout     = errors.New("function timeout")
	ErrBinding     = errors.New("binding failed before the handler was called")
	ErrNotLoaded   = errors.New("function not loaded")
)

// Result is the outcome of one invocation attempt as the host sees it.
type Result struct {
	Function     string
	InvocationID string
	RetryCount   int
	// Status, Header and Body are the raw HTTP answer (Status 0 when none).
	Status int
	Header http.Header
	Body   []byte
	// Outputs (keys case-sensitive), Logs and ReturnValue of a parsed 2xx.
	Outputs     map[string]json.RawMessage
	Logs        []string
	ReturnValue json.RawMessage
	// Err is nil when the invocation succeeded; otherwise it wraps one of
	// the Err* reasons.
	Err error

	fn *Function
}

// Failed reports whether the host would count the invocation as failed.
func (r *Result) Failed() bool { return r.Err != nil }

// ParseResponse judges an HTTP answer already stored in r (Status, Header,
// Body) with the host's rules (reference §3) and fills Outputs, Logs,
// ReturnValue, or Err wrapping one of the Err* reasons. r should come from
// App.NewResult so that the function's bindings apply.
func ParseResponse(r *Result) {
	if r.Status < 200 || r.Status > 299 {
		r.Err = fmt.Errorf("%w: %d", ErrStatus, r.Status)
		return
	}
	if len(bytes.TrimSpace(r.Body)) == 0 || string(bytes.TrimSpace(r.Body)) == "null" {
		r.Err = ErrEmptyResult
		return
	}
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil || (mt != "application/json" && mt != "text/json") {
		r.Err = fmt.Errorf("%w: got %q", ErrContentType, ct)
		return
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &top); err != nil {
		r.Err = fmt.Errorf("%w: %v", ErrBadResponse, err)
		return
	}
	for k, v := range top { // top-level names are case-insensitive
		switch strings.ToLower(k) {
		case "outputs":
			if isNull(v) {
				continue
			}
			if err := json.Unmarshal(v, &r.Outputs); err != nil {
				r.Err = fmt.Errorf("%w: Outputs: %v", ErrBadResponse, err)
				return
			}
		case "logs":
			if isNull(v) {
				continue
			}
			if err := json.Unmarshal(v, &r.Logs); err != nil {
				r.Err = fmt.Errorf("%w: Logs must be an array of strings: %v", ErrBadResponse, err)
				return
			}
		case "returnvalue":
			r.ReturnValue = v
		}
	}
	// Without a $return binding a ReturnValue object is spread into Outputs.
	if r.fn != nil && len(r.ReturnValue) > 0 && !isNull(r.ReturnValue) {
		if _, ok := r.fn.Output("$return"); !ok {
			var spread map[string]json.RawMessage
			if json.Unmarshal(r.ReturnValue, &spread) == nil {
				if r.Outputs == nil {
					r.Outputs = map[string]json.RawMessage{}
				}
				for k, v := range spread {
					r.Outputs[k] = v
				}
			}
		}
	}
	// An http output that cannot be read as a response fails the invocation.
	if r.fn != nil {
		for _, b := range r.fn.Bindings {
			if strings.EqualFold(b.Direction, "out") && strings.EqualFold(b.Type, "http") {
				if _, err := r.HTTPResponse(b.Name); err != nil {
					r.Err = err
					return
				}
			}
		}
	}
}

func isNull(v json.RawMessage) bool { return len(v) == 0 || string(bytes.TrimSpace(v)) == "null" }

// HTTPOutput is what the host makes of an http output binding's value.
type HTTPOutput struct {
	StatusCode int
	Body       string
	Headers    map[string]string
}

// HTTPResponse reads Outputs[name] of an http output binding the way the
// host does (reference §3.4): an object whose statusCode, body and headers
// are matched case-insensitively; a missing value is 200 with body "{}"; a
// string body is written raw, an object body as its JSON.
func (r *Result) HTTPResponse(name string) (HTTPOutput, error) {
	raw, ok := r.Outputs[name]
	if !ok || isNull(raw) {
		return HTTPOutput{StatusCode: 200, Body: "{}"}, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return HTTPOutput{}, fmt.Errorf("%w: Failed while trying to Deserialize to httpOutputBindingResponse: %v", ErrBadResponse, err)
	}
	out := HTTPOutput{StatusCode: 200, Headers: map[string]string{}}
	for k, v := range m {
		switch strings.ToLower(k) {
		case "statuscode", "status":
			var s any
			_ = json.Unmarshal(v, &s)
			n, err := strconv.Atoi(strings.TrimSpace(fmt.Sprint(s)))
			if err != nil {
				return HTTPOutput{}, fmt.Errorf("%w: statusCode %s", ErrBadResponse, v)
			}
			out.StatusCode = n
		case "body":
			var s string
			if json.Unmarshal(v, &s) == nil {
				out.Body = s
			} else {
				var ind bytes.Buffer
				_ = json.Indent(&ind, v, "", "  ")
				out.Body = ind.String()
			}
		case "headers":
			var h map[string]any
			_ = json.Unmarshal(v, &h)
			for hk, hv := range h {
				out.Headers[hk] = fmt.Sprint(hv)
			}
		}
	}
	if _, ok := headerLookup(out.Headers, "Content-Type"); !ok {
		out.Headers["Content-Type"] = "text/plain; charset=utf-8"
	}
	return out, nil
}

// headerLookup finds a header case-insensitively.
func headerLookup(h map[string]string, name string) (string, bool) {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

// Output returns Outputs[name] converted as the host converts a non-http
// output (reference §3.3): unless the binding's dataType is binary, a string
// that is valid base64 becomes bytes ([]byte); other values are decoded
// JSON.
func (r *Result) Output(name string) (any, bool) {
	raw, ok := r.Outputs[name]
	if !ok {
		return nil, false
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, false
	}
	binary := false
	if r.fn != nil {
		if b, ok := r.fn.Output(name); ok {
			binary = strings.EqualFold(b.DataType, "binary")
		}
	}
	if s, ok := v.(string); ok && !binary {
		if b, err := base64.StdEncoding.DecodeString(s); err == nil {
			return b, true
		}
	}
	return v, true
}
