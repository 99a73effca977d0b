package funchost

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// TestDecodeRequestPath pins the server's decoding of a request path before
// routing (reference §2.5): every escape decoded once, except %2F; malformed
// escapes and invalid UTF-8 left as written; '+' is not a space.
func TestDecodeRequestPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"devices/pump-0042", "devices/pump-0042"},
		{"devices/a%25b", "devices/a%b"},
		{"devices/cell%3A07%2520", "devices/cell:07%20"},
		{"devices/a%2Fb", "devices/a%2Fb"},
		{"devices/a%2fb", "devices/a%2fb"},
		{"devices/100%", "devices/100%"},
		{"devices/%zz%4", "devices/%zz%4"},
		{"devices/a+b", "devices/a+b"},
		{"devices/%23%3F%20", "devices/#? "},
		{"devices/caf%C3%A9", "devices/café"},
		{"devices/bad%C3%28", "devices/bad%C3("},
		{"devices/%FF", "devices/%FF"},
		{"devices/%252F", "devices/%2F"},
	}
	for _, tt := range tests {
		if got := decodeRequestPath(tt.in); got != tt.want {
			t.Errorf("decodeRequestPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzDecodeRequestPath: decoding a path segment escaped by url.PathEscape
// gives back the segment (for valid UTF-8 without '/'), and decoding never
// produces more bytes than it was given.
func FuzzDecodeRequestPath(f *testing.F) {
	for _, s := range []string{"a%b", "cell:07%20", "#?", "%2F", "é", "100%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got := decodeRequestPath(s); len(got) > len(s) {
			t.Fatalf("decodeRequestPath(%q) = %q grew", s, got)
		}
		if !utf8.ValidString(s) || strings.Contains(s, "/") {
			return
		}
		if got := decodeRequestPath(url.PathEscape(s)); got != s {
			t.Fatalf("decodeRequestPath(PathEscape(%q)) = %q", s, got)
		}
	})
}

// TestHTTPParamsDecoded: Params carries the decoded route values, Url the
// encoded path, Metadata the decoded value double-encoded (reference §2.5).
func TestHTTPParamsDecoded(t *testing.T) {
	a := testApp(t, time.Now())
	inv := a.HTTP("Items", "GET", "api/items/a%25b%3F", nil, nil, nil)
	if inv.BindErr != nil {
		t.Fatal(inv.BindErr)
	}
	var body struct {
		Data struct {
			Req struct {
				Url    string
				Params map[string]string
			} `json:"req"`
		}
		Metadata map[string]json.RawMessage
	}
	if err := json.Unmarshal(inv.Payload(0, nil), &body); err != nil {
		t.Fatal(err)
	}
	if got := body.Data.Req.Params["id"]; got != "a%b?" {
		t.Errorf("Params.id = %q, want %q", got, "a%b?")
	}
	if !strings.HasSuffix(body.Data.Req.Url, "/api/items/a%25b%3F") {
		t.Errorf("Url = %q keeps no encoded path", body.Data.Req.Url)
	}
	if got := string(body.Metadata["id"]); got != `"\"a%b?\""` {
		t.Errorf("Metadata.id = %s", got)
	}
}
