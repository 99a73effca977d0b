// Package sink runs local receivers for notifications — an HTTP endpoint
// standing in for a Teams Workflows webhook or a generic webhook, and an SMTP
// server — that save what they receive to a folder. `handler run` points the
// real notification channels at them, so the simulated fleet's alerts travel
// the same code as in production and end up as files under out/.
package sink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Saved is one received message.
type Saved struct {
	Path string // file it was written to
	Key  string // Idempotency-Key header (HTTP) or empty
	Body []byte
}

// store numbers and writes received messages.
type store struct {
	dir, ext string
	mu       sync.Mutex
	saved    []Saved
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func (s *store) save(key string, body []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := fmt.Sprintf("%04d", len(s.saved)+1)
	if key != "" {
		name += "-" + unsafeName.ReplaceAllString(key, "_")
	}
	p := filepath.Join(s.dir, name+s.ext)
	if err := os.WriteFile(p, body, 0o644); err != nil {
		return fmt.Errorf("sink: save %s: %w", p, err)
	}
	s.saved = append(s.saved, Saved{Path: p, Key: key, Body: body})
	return nil
}

func (s *store) list() []Saved {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Saved(nil), s.saved...)
}

// HTTP is a local webhook receiver: every POST body is saved as a .json file
// and answered 202, as a Teams Workflows webhook does.
type HTTP struct {
	URL string
	srv *http.Server
	st  *store
}

// NewHTTP starts a receiver on a free loopback port that saves into dir.
func NewHTTP(dir string) (*HTTP, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("sink: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sink: listen: %w", err)
	}
	h := &HTTP{URL: "http://" + ln.Addr().String() + "/hook", st: &store{dir: dir, ext: ".json"}}
	h.srv = &http.Server{Handler: http.HandlerFunc(h.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = h.srv.Serve(ln) }()
	return h, nil
}

func (h *HTTP) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := h.st.save(r.Header.Get("Idempotency-Key"), body); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// Received returns what was received so far, in order.
func (h *HTTP) Received() []Saved { return h.st.list() }

// Close stops the receiver.
func (h *HTTP) Close() error { return h.srv.Close() }

// SMTP is a local mail sink without TLS or authentication (SMTP_TLS=none):
// every message is saved as an .eml file.
type SMTP struct {
	Addr string // host:port
	srv  *smtp.Server
	st   *store
}

// NewSMTP starts a sink on a free loopback port that saves into dir.
func NewSMTP(dir string) (*SMTP, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("sink: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("sink: listen: %w", err)
	}
	s := &SMTP{Addr: ln.Addr().String(), st: &store{dir: dir, ext: ".eml"}}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{st: s.st}, nil }))
	s.srv.Domain = "localhost"
	s.srv.ReadTimeout = 30 * time.Second
	s.srv.WriteTimeout = 30 * time.Second
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Received returns the messages received so far, in order.
func (s *SMTP) Received() []Saved { return s.st.list() }

// Close stops the sink.
func (s *SMTP) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil && !errors.Is(err, smtp.ErrServerClosed) {
		return err
	}
	return nil
}

type session struct {
	st       *store
	haveFrom bool
	rcpts    int
}

func (s *session) Reset()        { s.haveFrom, s.rcpts = false, 0 }
func (s *session) Logout() error { return nil }
func (s *session) Mail(string, *smtp.MailOptions) error {
	s.haveFrom = true
	return nil
}
func (s *session) Rcpt(string, *smtp.RcptOptions) error {
	s.rcpts++
	return nil
}
func (s *session) Data(r io.Reader) error {
	if !s.haveFrom || s.rcpts == 0 {
		return &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "MAIL and RCPT first"}
	}
	body, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	return s.st.save("", body)
}
