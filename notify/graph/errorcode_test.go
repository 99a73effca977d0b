package graph

import (
	"encoding/json"
	"testing"
)

// FuzzErrorCode: any body (Graph's JSON, one cut at 512 bytes, HTML from a
// proxy) gives a code without panicking, and a well-formed Graph error
// gives exactly its error.code.
func FuzzErrorCode(f *testing.F) {
	f.Add(`{"error":{"code":"ErrorInvalidUser","message":"The requested user 'x' is invalid."}}`)
	f.Add(`{"error":{"code":"ErrorAccessDenied","message":"Access is denied. Check cred`)
	f.Add(`<html>502 Bad Gateway</html>`)
	f.Add(`"code":"`)
	f.Fuzz(func(t *testing.T, body string) {
		got := errorCode(body)
		var e struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		if json.Unmarshal([]byte(body), &e) == nil && got != e.Error.Code {
			t.Fatalf("errorCode(%q) = %q, want %q", body, got, e.Error.Code)
		}
	})
}
