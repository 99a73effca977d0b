// Package smtptest runs a real SMTP submission server in-process for tests
// (github.com/emersion/go-smtp): STARTTLS, or implicit TLS (SMTPS, port 465
// style), with a self-signed certificate generated at start, AUTH restricted
// to the mechanisms a test names (the server sides of LOGIN and XOAUTH2 are
// implemented here, since go-sasl ships neither), recipients it can be told
// to refuse, every accepted message kept for inspection, and the session
// transcript so a test can check the exact bytes of an exchange. It exists because the e-mail integration must
// be tested against the protocol, not a mock.
package smtptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Options configure a Server.
type Options struct {
	// Mechanisms offered for AUTH ("LOGIN", "PLAIN", "XOAUTH2"); none: no AUTH.
	Mechanisms []string
	// Username and Password the server accepts.
	Username, Password string
	// Token is the bearer token XOAUTH2 accepts (with Username as user=).
	Token string
	// XOAuth2Challenge makes a refused XOAUTH2 answer as Gmail does: a 334
	// challenge carrying a JSON error, then 535 after the client's empty
	// reply. Without it the refusal is a plain 535 (Exchange Online).
	XOAuth2Challenge bool
	// NoTLS serves plain SMTP without STARTTLS (a local sink).
	NoTLS bool
	// ImplicitTLS serves SMTPS: TLS from the first byte, no STARTTLS.
	ImplicitTLS bool
	// Refuse maps a recipient to the reply RCPT TO gets (e.g. 550).
	Refuse map[string]*smtp.SMTPError
}

// Message is one accepted message.
type Message struct {
	From string
	To   []string
	Data []byte
	// TLS and Mech record how the session was secured and authenticated;
	// User is the authenticated user name.
	TLS  bool
	Mech string
	User string
}

// Server is a running in-process SMTP server.
type Server struct {
	// Addr is host:port on loopback.
	Addr string
	// Host and Port split Addr.
	Host string
	Port int
	// RootCAs trusts the server's self-signed certificate.
	RootCAs *x509.CertPool

	opts Options
	srv  *smtp.Server
	mu   sync.Mutex
	msgs []Message
	// AuthFailures counts rejected AUTH attempts.
	authFailures int
	transcript   transcript
}

// transcript records both directions of every session (go-smtp's Debug).
type transcript struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (t *transcript) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.b.Write(p)
}

// Start runs a server on 127.0.0.1:0 until the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{opts: opts}
	srv := smtp.NewServer(s)
	srv.Domain = "localhost"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.AllowInsecureAuth = opts.NoTLS
	srv.Debug = &s.transcript
	if !opts.NoTLS {
		cert, pool, err := selfSigned()
		if err != nil {
			t.Fatalf("smtptest: certificate: %v", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.RootCAs = pool
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: listen: %v", err)
	}
	s.srv = srv
	s.Addr = l.Addr().String()
	if opts.ImplicitTLS {
		l = tls.NewListener(l, srv.TLSConfig)
		srv.TLSConfig = nil // no STARTTLS inside TLS
	}
	s.Host = "127.0.0.1"
	s.Port = l.Addr().(*net.TCPAddr).Port
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(l)
	}()
	t.Cleanup(func() {
		srv.Close()
		// Close misses a listener Serve has not registered yet: close it
		// here too, or Serve would block in Accept forever.
		l.Close()
		<-done
	})
	return s
}

// Messages returns the accepted messages so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Transcript returns every byte exchanged so far, both directions, after
// TLS decryption (go-smtp's Debug output).
func (s *Server) Transcript() string {
	s.transcript.mu.Lock()
	defer s.transcript.mu.Unlock()
	return s.transcript.b.String()
}

// AuthFailures returns how many AUTH attempts were refused.
func (s *Server) AuthFailures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authFailures
}

// NewSession implements smtp.Backend.
func (s *Server) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: s, c: c}, nil
}

type session struct {
	s      *Server
	c      *smtp.Conn
	authed bool
	mech   string
	user   string
	msg    Message
}

var errAuthFailed = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "authentication failed"}

var errAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "authentication required"}

func (ss *session) AuthMechanisms() []string {
	if !ss.s.opts.NoTLS && !ss.s.opts.ImplicitTLS {
		if _, ok := ss.c.TLSConnectionState(); !ok {
			return nil // like real submission servers: AUTH only after STARTTLS
		}
	}
	return ss.s.opts.Mechanisms
}

func (ss *session) check(user, pass string) error {
	if user != ss.s.opts.Username || pass != ss.s.opts.Password {
		ss.s.mu.Lock()
		ss.s.authFailures++
		ss.s.mu.Unlock()
		return errAuthFailed
	}
	ss.authed = true
	ss.user = user
	return nil
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	offered := false
	for _, m := range ss.AuthMechanisms() {
		offered = offered || m == mech
	}
	if !offered {
		return nil, &smtp.SMTPError{Code: 504, EnhancedCode: smtp.EnhancedCode{5, 5, 4}, Message: "mechanism not offered"}
	}
	ss.mech = mech
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, pass string) error { return ss.check(user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: ss.check}, nil
	case "XOAUTH2":
		return &xoauth2Server{ss: ss}, nil
	}
	return nil, errors.New("unsupported")
}

// loginServer is the server side of AUTH LOGIN (draft-murchison-sasl-login):
// challenge "Username:", then "Password:", each answered base64 (the smtp
// package does the base64).
type loginServer struct {
	step  int
	user  string
	check func(user, pass string) error
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step++
		if len(resp) > 0 { // initial response carries the username
			l.user = string(resp)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		l.user = string(resp)
		l.step++
		return []byte("Password:"), false, nil
	case 2:
		l.step++
		return nil, true, l.check(l.user, string(resp))
	}
	return nil, true, errors.New("unexpected LOGIN step")
}

// xoauth2Server is the server side of SASL XOAUTH2 (the format Google and
// Microsoft document): one initial response
// "user=<user>\x01auth=Bearer <token>\x01\x01". A malformed response is
// refused outright; a wrong user or token is refused with 535, after a 334
// JSON challenge when Options.XOAuth2Challenge is set.
type xoauth2Server struct {
	ss      *session
	refused bool
}

// errMalformed is the reply to a response that is not XOAUTH2's format.
var errMalformed = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 5, 2}, Message: "malformed XOAUTH2 response"}

func (x *xoauth2Server) Next(resp []byte) ([]byte, bool, error) {
	if x.refused { // the client's empty reply to the error challenge
		return nil, true, errAuthFailed
	}
	user, token, ok := ParseXOAuth2(resp)
	if !ok {
		return nil, true, errMalformed
	}
	if user == x.ss.s.opts.Username && token == x.ss.s.opts.Token && token != "" {
		x.ss.authed = true
		x.ss.user = user
		return nil, true, nil
	}
	x.ss.s.mu.Lock()
	x.ss.s.authFailures++
	x.ss.s.mu.Unlock()
	if x.ss.s.opts.XOAuth2Challenge {
		x.refused = true
		return []byte(`{"status":"401","schemes":"bearer","scope":"https://outlook.office365.com/.default"}`), false, nil
	}
	return nil, true, errAuthFailed
}

// ParseXOAuth2 splits an XOAUTH2 initial response (decoded from base64)
// into its user and bearer token; ok is false unless it is exactly
// "user=" user "\x01auth=Bearer " token "\x01\x01".
func ParseXOAuth2(resp []byte) (user, token string, ok bool) {
	rest, ok := strings.CutPrefix(string(resp), "user=")
	if !ok {
		return "", "", false
	}
	user, rest, ok = strings.Cut(rest, "\x01auth=Bearer ")
	if !ok || user == "" {
		return "", "", false
	}
	token, ok = strings.CutSuffix(rest, "\x01\x01")
	if !ok || token == "" || strings.ContainsRune(token, 1) {
		return "", "", false
	}
	return user, token, true
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if len(ss.s.opts.Mechanisms) > 0 && !ss.authed {
		return errAuthRequired
	}
	ss.msg = Message{From: from, User: ss.user}
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if e := ss.s.opts.Refuse[strings.ToLower(to)]; e != nil {
		return e
	}
	ss.msg.To = append(ss.msg.To, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	var b bytes.Buffer
	if _, err := io.Copy(&b, r); err != nil {
		return err
	}
	ss.msg.Data = b.Bytes()
	_, ss.msg.TLS = ss.c.TLSConnectionState()
	ss.msg.Mech = ss.mech
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, ss.msg)
	ss.s.mu.Unlock()
	return nil
}

func (ss *session) Reset()        { ss.msg = Message{} }
func (ss *session) Logout() error { return nil }

// selfSigned makes a loopback certificate and a pool that trusts it.
func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}
