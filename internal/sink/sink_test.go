package sink

import (
	"bytes"
	"net/http"
	"net/smtp"
	"os"
	"strings"
	"testing"
)

func TestHTTPSavesBodies(t *testing.T) {
	dir := t.TempDir()
	h, err := NewHTTP(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	req, _ := http.NewRequest(http.MethodPost, h.URL, strings.NewReader(`{"a":1}`))
	req.Header.Set("Idempotency-Key", "n/1:firing")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("status %d, want 202", resp.StatusCode)
	}
	got := h.Received()
	if len(got) != 1 || got[0].Key != "n/1:firing" || string(got[0].Body) != `{"a":1}` {
		t.Fatalf("received %+v", got)
	}
	if !strings.HasSuffix(got[0].Path, "0001-n_1_firing.json") {
		t.Errorf("path %s: key not made file-safe", got[0].Path)
	}
	b, err := os.ReadFile(got[0].Path)
	if err != nil || !bytes.Equal(b, got[0].Body) {
		t.Fatalf("file %q, %v", b, err)
	}
	resp, err = http.Get(h.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET status %d", resp.StatusCode)
	}
}

func TestSMTPSavesMessages(t *testing.T) {
	s, err := NewSMTP(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	msg := "Subject: [FIRING] test\r\n\r\nhello\r\n"
	if err := smtp.SendMail(s.Addr, nil, "a@example.com", []string{"b@example.com", "c@example.com"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	got := s.Received()
	if len(got) != 1 || !strings.Contains(string(got[0].Body), "Subject: [FIRING] test") || !strings.HasSuffix(got[0].Path, ".eml") {
		t.Fatalf("received %+v", got)
	}
}
