package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// httpRequest is Data.req of a non-forwarded HTTP trigger (reference §2.5):
// Query an object of comma-joined strings (older hosts: the string "{}"),
// Headers an object of arrays, Params the route values, Body the raw body as
// one string layer (absent for an empty or chunked request).
type httpRequest struct {
	URL     string          `json:"Url"`
	Method  string          `json:"Method"`
	Query   json.RawMessage `json:"Query"`
	Headers json.RawMessage `json:"Headers"`
	Params  json.RawMessage `json:"Params"`
	Body    json.RawMessage `json:"Body"`
}

// decodeHTTPRequest reads Data.req leniently: fields of an unexpected shape
// are left empty rather than failing the invocation.
func decodeHTTPRequest(raw []byte) httpRequest {
	var r httpRequest
	if len(raw) > 0 {
		var t peeledText
		_ = t.UnmarshalJSON(raw) // tolerate a string layer around the object
		_ = json.Unmarshal(t, &r)
	}
	return r
}

// stringMap decodes an object (or the JSON text of one, in a string) whose
// values are strings, numbers or arrays of those, into name → values.
func stringMap(raw json.RawMessage) map[string][]string {
	var t peeledText
	if len(raw) == 0 || t.UnmarshalJSON(raw) != nil {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(t, &m) != nil {
		return nil
	}
	out := make(map[string][]string, len(m))
	for k, v := range m {
		switch v := v.(type) {
		case nil:
		case []any:
			for _, e := range v {
				out[k] = append(out[k], fmt.Sprint(e))
			}
		default:
			out[k] = append(out[k], fmt.Sprint(v))
		}
	}
	return out
}

// query returns the request's query parameters without "code": that is the
// function key, a secret that must reach neither the Backend nor a log.
func (r *httpRequest) query() url.Values {
	q := url.Values{}
	for k, vs := range stringMap(r.Query) {
		if strings.EqualFold(k, "code") {
			continue
		}
		q[k] = vs
	}
	return q
}

// functionKey returns the "code" query parameter (the function key the host
// authorized the request with), "" when the key came as a header.
func (r *httpRequest) functionKey() string {
	for k, vs := range stringMap(r.Query) {
		if strings.EqualFold(k, "code") && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}

// param returns a route parameter ("" when absent).
func (r *httpRequest) param(name string) string {
	for k, vs := range stringMap(r.Params) {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}

// body returns the request body text: Body is a single string layer; any
// other JSON value is taken as the body's own JSON.
func (r *httpRequest) body() []byte {
	b := bytes.TrimSpace(r.Body)
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	if b[0] == '"' {
		return appendUnquote(nil, b)
	}
	return b
}

// RawBody is a Backend.Query answer that is not JSON (a dashboard page):
// its headers, Content-Type among them, and body are sent as they are.
type RawBody interface {
	RawBody() (headers map[string]string, body []byte)
}

// httpOutput builds Outputs.res for an http output binding (reference §3.4):
// the host deserializes it case-insensitively into StatusCode, Body and
// Headers and writes a string body raw, so the JSON response travels as a
// JSON string with an explicit content type (the default is text/plain). A
// RawBody travels the same way with its own headers.
func httpOutput(status int, v any) map[string]any {
	if rb, ok := v.(RawBody); ok {
		hdr, body := rb.RawBody()
		return map[string]any{"res": map[string]any{"statusCode": status, "body": string(body), "headers": hdr}}
	}
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"response encoding failed"}`)
	}
	return map[string]any{"res": map[string]any{
		"statusCode": status,
		"body":       string(b),
		"headers":    map[string]string{"Content-Type": "application/json"},
	}}
}

// errBodyTooLarge stops the decode of an HTTP invocation whose request
// declares a body over the function's limit.
var errBodyTooLarge = errors.New("request body over the function's limit")

// readHTTPRequest reads Data.req one field at a time, so that a
// Content-Length header over inv.bodyLimit (the host copies the headers
// before Body, and sends Body only with a Content-Length) stops the read
// before the body is buffered. The fields read are kept as inv.req, the
// JSON the functions decode with decodeHTTPRequest.
func (inv *invocation) readHTTPRequest(d *decoder) error {
	tok, err := d.dec.Token()
	if err != nil {
		return err
	}
	if s, ok := tok.(string); ok { // a string layer around the object
		inv.req, err = json.Marshal(s)
		return err
	}
	if delim, ok := tok.(json.Delim); !ok || delim != '{' {
		if ok {
			return skipRest(d.dec, 1)
		}
		return nil
	}
	fields := map[string]json.RawMessage{}
	for d.dec.More() {
		tok, err := d.dec.Token()
		if err != nil {
			return err
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("Data.req key is %T", tok)
		}
		if strings.EqualFold(key, "Body") && inv.declaredTooLarge(fields) {
			return errBodyTooLarge
		}
		var raw json.RawMessage
		if err := d.dec.Decode(&raw); err != nil {
			return fmt.Errorf("Data.req.%s: %w", key, err)
		}
		fields[key] = raw
	}
	if _, err := d.dec.Token(); err != nil { // the closing '}'
		return err
	}
	inv.req, err = json.Marshal(fields)
	return err
}

// declaredTooLarge reports whether the headers read so far declare a
// Content-Length over inv.bodyLimit.
func (inv *invocation) declaredTooLarge(fields map[string]json.RawMessage) bool {
	for k, raw := range fields {
		if !strings.EqualFold(k, "Headers") {
			continue
		}
		for name, vs := range stringMap(raw) {
			if !strings.EqualFold(name, "Content-Length") || len(vs) == 0 {
				continue
			}
			n, err := strconv.ParseInt(strings.TrimSpace(vs[0]), 10, 64)
			if err == nil && n > inv.bodyLimit {
				return true
			}
		}
	}
	return false
}
