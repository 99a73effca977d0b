package email

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/notify"
)

// TLS modes (SMTP_TLS).
const (
	// TLSStartTLS upgrades a plain connection with STARTTLS (port 587).
	TLSStartTLS = "starttls"
	// TLSImplicit speaks TLS from the first byte (SMTPS, port 465).
	TLSImplicit = "implicit"
	// TLSNone sends in clear text: for a local sink only.
	TLSNone = "none"
)

// AuthXOAuth2 selects SASL XOAUTH2 with a token from Config.Credential
// (SMTP_AUTH=xoauth2).
const AuthXOAuth2 = "xoauth2"

// DefaultHandshakeTimeout bounds connecting, the greeting, EHLO and the
// TLS handshake. A server that says nothing for this long after accepting
// the connection is not going to speak SMTP in clear (typically an
// implicit-TLS port reached with STARTTLS).
const DefaultHandshakeTimeout = 10 * time.Second

// Config configures the e-mail integration (SMTP_* settings).
type Config struct {
	// Host and Port of the submission server (Port 587 when zero).
	Host string
	Port int
	// Username and Password for AUTH PLAIN/LOGIN; no AUTH when Username is
	// empty (and Auth is not xoauth2).
	Username string
	Password notify.Secret
	// From is the sender address; To the recipients (ALERT_EMAIL_TO).
	From string
	To   []string
	// TLS is TLSStartTLS, TLSImplicit or TLSNone (SMTP_TLS); empty chooses
	// by port: implicit TLS on 465, STARTTLS elsewhere. With STARTTLS the
	// server must offer it: never a silent plain-text fallback.
	TLS string
	// Auth is "" (PLAIN or LOGIN with Username and Password, chosen from
	// the server's EHLO) or AuthXOAuth2 (SMTP_AUTH).
	Auth string
	// Credential gives the XOAUTH2 bearer token (scope Scope); required
	// when Auth is AuthXOAuth2. Identity names it in errors ("the managed
	// identity 1234…"), never anything secret.
	Credential azcore.TokenCredential
	Identity   string
	// TLSConfig overrides the TLS settings (tests trust their own CA);
	// ServerName defaults to Host and MinVersion to TLS 1.2.
	TLSConfig *tls.Config
	// HandshakeTimeout bounds dialling, greeting, EHLO, STARTTLS and the TLS
	// handshake (DefaultHandshakeTimeout when zero), so that a TLS mode
	// mismatch fails in seconds instead of the whole attempt's timeout.
	HandshakeTimeout time.Duration
	// Now stamps the Date header (time.Now when nil).
	Now func() time.Time
	// Dialer opens the connection (a *net.Dialer with HandshakeTimeout when
	// nil; tests redirect a host name to a local server).
	Dialer Dialer
}

// Dialer opens TCP connections; *net.Dialer is one.
type Dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// Notifier sends notifications as e-mail through one SMTP server.
type Notifier struct {
	cfg Config
}

// New returns an e-mail Notifier. It fails on a configuration that cannot
// work (no host, sender or recipient, a malformed address, an unknown TLS
// or AUTH mode, XOAUTH2 without a credential).
func New(cfg Config) (*Notifier, error) {
	if cfg.Host == "" {
		return nil, errors.New("email: SMTP_HOST is empty")
	}
	if cfg.Port == 0 {
		cfg.Port = 587
	}
	switch cfg.TLS {
	case "":
		cfg.TLS = TLSStartTLS
		if cfg.Port == 465 {
			cfg.TLS = TLSImplicit
		}
	case TLSStartTLS, TLSImplicit, TLSNone:
	default:
		return nil, fmt.Errorf("email: SMTP_TLS %q is not starttls, implicit or none", cfg.TLS)
	}
	switch cfg.Auth {
	case "":
	case AuthXOAuth2:
		if cfg.Credential == nil {
			return nil, errors.New("email: SMTP_AUTH=xoauth2 needs a token credential")
		}
		if cfg.TLS == TLSNone {
			return nil, errors.New("email: SMTP_AUTH=xoauth2 would send a bearer token in clear text: not with SMTP_TLS=none")
		}
	default:
		return nil, fmt.Errorf("email: SMTP_AUTH %q is not xoauth2", cfg.Auth)
	}
	if _, err := mail.ParseAddress(cfg.From); err != nil {
		return nil, fmt.Errorf("email: SMTP_FROM %q: %w", cfg.From, err)
	}
	if len(cfg.To) == 0 {
		return nil, errors.New("email: ALERT_EMAIL_TO is empty")
	}
	for _, to := range cfg.To {
		if _, err := mail.ParseAddress(to); err != nil {
			return nil, fmt.Errorf("email: ALERT_EMAIL_TO %q: %w", to, err)
		}
	}
	if cfg.Identity == "" {
		cfg.Identity = "the app's identity"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.Dialer == nil {
		cfg.Dialer = &net.Dialer{Timeout: cfg.HandshakeTimeout}
	}
	return &Notifier{cfg: cfg}, nil
}

// Notify sends n to every recipient. A recipient the server refuses (550)
// does not stop the others; the refusal is reported as a permanent error
// after the message went to the rest. A misconfiguration (TLS mode, XOAUTH2
// permission) is a notify.ConfigError naming the fix.
func (e *Notifier) Notify(ctx context.Context, n *alert.Notification) (bool, error) {
	retry, err := e.send(ctx, func() []byte { return Message(n, e.cfg.From, e.cfg.To, e.cfg.Now()) })
	if err != nil {
		return retry, fmt.Errorf("email: notification %s: %w", n.NotificationID, scrub(err, e.cfg.Password))
	}
	return false, nil
}

// send submits the message render returns (rendered once connected, so its
// Date is the time of sending) to every recipient.
func (e *Notifier) send(ctx context.Context, render func() []byte) (bool, error) {
	c, done, retry, err := e.connect(ctx)
	if err != nil {
		return retry, err
	}
	defer done()
	if retry, err := e.authenticate(ctx, c); err != nil {
		return retry, err
	}
	msg := render()
	if err := c.Mail(e.cfg.From, nil); err != nil {
		return classify(err, "MAIL FROM")
	}
	var refused []error
	accepted := 0
	for _, to := range e.cfg.To {
		if err := c.Rcpt(to, nil); err != nil {
			var se *smtp.SMTPError
			if errors.As(err, &se) {
				refused = append(refused, fmt.Errorf("RCPT TO %s: %w", to, err))
				continue
			}
			return classify(err, "RCPT TO")
		}
		accepted++
	}
	if accepted == 0 {
		retry := true
		for _, r := range refused {
			if rr, _ := classify(r, ""); !rr {
				retry = false
			}
		}
		return retry, errors.Join(refused...)
	}
	w, err := c.Data()
	if err != nil {
		return classify(err, "DATA")
	}
	if _, err := w.Write(msg); err != nil {
		return classify(err, "DATA")
	}
	if err := w.Close(); err != nil {
		return classify(err, "DATA")
	}
	c.Quit()
	if len(refused) > 0 {
		// Sent to the others; retrying would duplicate it for them.
		return false, fmt.Errorf("sent to %d of %d recipients: %w", accepted, len(e.cfg.To), errors.Join(refused...))
	}
	return false, nil
}

func (e *Notifier) addr() string { return net.JoinHostPort(e.cfg.Host, strconv.Itoa(e.cfg.Port)) }

// connect dials, sets up TLS as configured and says EHLO, all within
// HandshakeTimeout; afterwards the session is bounded by ctx only. done
// closes the connection.
func (e *Notifier) connect(ctx context.Context) (c *smtp.Client, done func(), retry bool, err error) {
	addr := e.addr()
	raw, err := e.cfg.Dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, true, fmt.Errorf("dial %s: %w", addr, err)
	}
	conn := &boundedConn{Conn: raw}
	dl, _ := ctx.Deadline()
	conn.bound(earliest(time.Now().Add(e.cfg.HandshakeTimeout), dl))
	stop := context.AfterFunc(ctx, conn.cancel)
	c, err = e.handshake(conn)
	if err != nil {
		stop()
		raw.Close()
		retry, err = e.handshakeError(conn, err)
		return nil, nil, retry, err
	}
	conn.bound(dl)
	return c, func() { stop(); c.Close() }, false, nil
}

func earliest(a, b time.Time) time.Time {
	if b.IsZero() || a.Before(b) {
		return a
	}
	return b
}

// handshake brings the session to the point where AUTH may start: greeting
// and EHLO, with TLS first (implicit) or upgraded in between (STARTTLS). The
// TLS handshake of STARTTLS happens on the second EHLO, so it is inside the
// handshake deadline too.
func (e *Notifier) handshake(conn net.Conn) (*smtp.Client, error) {
	var c *smtp.Client
	switch e.cfg.TLS {
	case TLSNone:
		c = smtp.NewClient(conn)
	case TLSImplicit:
		tc := tls.Client(conn, e.tlsConfig())
		if err := tc.Handshake(); err != nil {
			return nil, &tlsStartError{err}
		}
		c = smtp.NewClient(tc)
	default:
		var err error
		if c, err = smtp.NewClientStartTLS(conn, e.tlsConfig()); err != nil {
			return nil, err
		}
	}
	if err := c.Hello("localhost"); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func (e *Notifier) tlsConfig() *tls.Config {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if e.cfg.TLSConfig != nil {
		tc = e.cfg.TLSConfig.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = e.cfg.Host
	}
	return tc
}

// tlsStartError marks a failed implicit-TLS handshake.
type tlsStartError struct{ err error }

func (t *tlsStartError) Error() string { return "TLS handshake: " + t.err.Error() }
func (t *tlsStartError) Unwrap() error { return t.err }

// handshakeError explains a session that could not be set up. The two TLS
// mode mismatches are configuration errors with the setting to change: a
// server that accepts the connection but stays silent is waiting for a TLS
// ClientHello (implicit TLS reached without it), and a TLS handshake
// answered in clear text reached a STARTTLS or plain server.
func (e *Notifier) handshakeError(conn *boundedConn, err error) (bool, error) {
	addr := e.addr()
	var rh tls.RecordHeaderError
	switch {
	case conn.cancelled():
		return true, fmt.Errorf("connect %s: %w", addr, err)
	case e.cfg.TLS != TLSImplicit && errors.Is(err, os.ErrDeadlineExceeded) && conn.bytesRead() == 0:
		observed := fmt.Errorf("connect %s: no SMTP greeting within %s", addr, e.cfg.HandshakeTimeout)
		if e.cfg.Port == 465 {
			return true, &notify.ConfigError{Err: observed,
				Fix: "port 465 expects implicit TLS: set SMTP_TLS=implicit (or unset it), or SMTP_PORT=587 for STARTTLS"}
		}
		return true, &notify.ConfigError{Err: observed,
			Fix: fmt.Sprintf("a server silent after connecting is waiting for TLS: if port %d is an implicit-TLS (SMTPS) port set SMTP_TLS=implicit, else check SMTP_HOST/SMTP_PORT", e.cfg.Port)}
	case e.cfg.TLS == TLSImplicit && errors.As(err, &rh):
		return true, &notify.ConfigError{Err: fmt.Errorf("connect %s: the server answered the TLS handshake in clear text", addr),
			Fix: "it expects STARTTLS: set SMTP_TLS=starttls, or SMTP_PORT=465 if the server offers implicit TLS there"}
	case strings.Contains(err.Error(), "support STARTTLS"):
		return false, fmt.Errorf("server %s does not offer STARTTLS (SMTP_TLS=none is only for a local sink): %w", addr, err)
	}
	step := "connect"
	if e.cfg.TLS != TLSNone {
		step = "connect (" + e.cfg.TLS + ")"
	}
	return classify(err, step)
}

// boundedConn caps every deadline set on the connection at a bound: the
// handshake deadline while the session is set up, then the context's
// deadline. go-smtp sets its own five-minute deadline before every command
// and clears it after, which would otherwise replace the caller's; once the
// context is cancelled every deadline is in the past.
type boundedConn struct {
	net.Conn
	mu    sync.Mutex
	limit time.Time // zero: none
	stop  bool
	read  int64
}

func (b *boundedConn) bound(t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stop {
		return
	}
	b.limit = t
	b.Conn.SetDeadline(t)
}

func (b *boundedConn) cancel() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stop, b.limit = true, time.Unix(1, 0)
	b.Conn.SetDeadline(b.limit)
}

func (b *boundedConn) cancelled() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stop
}

func (b *boundedConn) bytesRead() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.read
}

func (b *boundedConn) capped(t time.Time) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.limit.IsZero() && (t.IsZero() || t.After(b.limit)) {
		return b.limit
	}
	return t
}

func (b *boundedConn) Read(p []byte) (int, error) {
	n, err := b.Conn.Read(p)
	b.mu.Lock()
	b.read += int64(n)
	b.mu.Unlock()
	return n, err
}

func (b *boundedConn) SetDeadline(t time.Time) error { return b.Conn.SetDeadline(b.capped(t)) }
func (b *boundedConn) SetReadDeadline(t time.Time) error {
	return b.Conn.SetReadDeadline(b.capped(t))
}
func (b *boundedConn) SetWriteDeadline(t time.Time) error {
	return b.Conn.SetWriteDeadline(b.capped(t))
}

// authenticate runs AUTH as configured: XOAUTH2, PLAIN/LOGIN with a
// password, or nothing.
func (e *Notifier) authenticate(ctx context.Context, c *smtp.Client) (bool, error) {
	if e.cfg.Auth == AuthXOAuth2 {
		return e.xoauth2(ctx, c)
	}
	if e.cfg.Username == "" {
		return false, nil
	}
	auth, err := e.auth(c)
	if err != nil {
		return false, err
	}
	if err := c.Auth(auth); err != nil {
		return classify(err, "AUTH")
	}
	return false, nil
}

// auth picks the SASL mechanism from the server's EHLO reply: PLAIN when
// offered, else LOGIN (the only one ACS offers).
func (e *Notifier) auth(c *smtp.Client) (sasl.Client, error) {
	ok, mechs := c.Extension("AUTH")
	if !ok {
		return nil, errors.New("server offers no AUTH but SMTP_USERNAME is set")
	}
	offered := map[string]bool{}
	for _, m := range strings.Fields(mechs) {
		offered[strings.ToUpper(m)] = true
	}
	switch {
	case offered["PLAIN"]:
		return sasl.NewPlainClient("", e.cfg.Username, e.cfg.Password.Reveal()), nil
	case offered["LOGIN"]:
		return sasl.NewLoginClient(e.cfg.Username, e.cfg.Password.Reveal()), nil
	}
	return nil, fmt.Errorf("server offers AUTH %q; supported: PLAIN, LOGIN", mechs)
}

// classify says whether an SMTP failure is worth retrying: a reply 4xx
// yes, 5xx no; anything else (network, TLS handshake) yes.
func classify(err error, step string) (bool, error) {
	if step != "" {
		err = fmt.Errorf("%s: %w", step, err)
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code < 500, err
	}
	var ce *tls.CertificateVerificationError
	if errors.As(err, &ce) {
		return false, err // a certificate we do not trust will not change by retrying
	}
	return true, err
}

// scrub removes the password from an error's text should a server ever
// echo it.
func scrub(err error, pw notify.Secret) error {
	if p := pw.Reveal(); p != "" && strings.Contains(err.Error(), p) {
		return errors.New(strings.ReplaceAll(err.Error(), p, notify.Redacted))
	}
	return err
}

// Compile-time check: Notifier is an alert.Notifier.
var _ alert.Notifier = (*Notifier)(nil)
