package email

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/notify"
)

// Config configures the e-mail integration (SMTP_* settings).
type Config struct {
	// Host and Port of the submission server (Port 587 when zero).
	Host string
	Port int
	// Username and Password for AUTH; no AUTH when Username is empty.
	Username string
	Password notify.Secret
	// From is the sender address; To the recipients (ALERT_EMAIL_TO).
	From string
	To   []string
	// NoTLS disables STARTTLS (SMTP_TLS=none), for a local sink only.
	// Otherwise STARTTLS is required: a server that does not offer it is
	// an error, never a silent plain-text fallback.
	NoTLS bool
	// TLSConfig overrides the TLS settings (tests trust their own CA);
	// ServerName defaults to Host and MinVersion to TLS 1.2.
	TLSConfig *tls.Config
	// Now stamps the Date header (time.Now when nil).
	Now func() time.Time
	// Dialer opens the connection (a net.Dialer with a 30s timeout when nil).
	Dialer *net.Dialer
}

// Notifier sends notifications as e-mail through one SMTP server.
type Notifier struct {
	cfg Config
}

// New returns an e-mail Notifier. It fails on a configuration that cannot
// work (no host, sender or recipient, a malformed address).
func New(cfg Config) (*Notifier, error) {
	if cfg.Host == "" {
		return nil, errors.New("email: SMTP_HOST is empty")
	}
	if cfg.Port == 0 {
		cfg.Port = 587
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
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Dialer == nil {
		cfg.Dialer = &net.Dialer{Timeout: 30 * time.Second}
	}
	return &Notifier{cfg: cfg}, nil
}

// Notify sends n to every recipient. A recipient the server refuses (550)
// does not stop the others; the refusal is reported as a permanent error
// after the message went to the rest.
func (e *Notifier) Notify(ctx context.Context, n *alert.Notification) (bool, error) {
	retry, err := e.send(ctx, n)
	if err != nil {
		return retry, fmt.Errorf("email: notification %s: %w", n.NotificationID, scrub(err, e.cfg.Password))
	}
	return false, nil
}

func (e *Notifier) send(ctx context.Context, n *alert.Notification) (bool, error) {
	addr := net.JoinHostPort(e.cfg.Host, strconv.Itoa(e.cfg.Port))
	conn, err := e.cfg.Dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return true, fmt.Errorf("dial %s: %w", addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	var c *smtp.Client
	if e.cfg.NoTLS {
		c = smtp.NewClient(conn)
	} else {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if e.cfg.TLSConfig != nil {
			tc = e.cfg.TLSConfig.Clone()
		}
		if tc.ServerName == "" {
			tc.ServerName = e.cfg.Host
		}
		if c, err = smtp.NewClientStartTLS(conn, tc); err != nil {
			conn.Close()
			if strings.Contains(err.Error(), "support STARTTLS") {
				return false, fmt.Errorf("server %s does not offer STARTTLS (SMTP_TLS=none is only for a local sink): %w", addr, err)
			}
			return classify(err, "STARTTLS")
		}
	}
	defer c.Close()
	if e.cfg.Username != "" {
		auth, err := e.auth(c)
		if err != nil {
			return false, err
		}
		if err := c.Auth(auth); err != nil {
			return classify(err, "AUTH")
		}
	}
	msg := Message(n, e.cfg.From, e.cfg.To, e.cfg.Now())
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
