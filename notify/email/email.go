// Package email delivers notifications by SMTP submission (Azure
// Communication Services, SendGrid, a local sink) with
// github.com/emersion/go-smtp: STARTTLS required unless TLS is explicitly
// off for a local sink, the AUTH mechanism chosen from the server's EHLO
// reply (ACS offers only LOGIN, which net/smtp lacks; PLAIN elsewhere), and
// a multipart/alternative text + HTML message whose Message-ID is derived
// from the notificationId, so the one possible duplicate is recognisable.
// SMTP 4xx replies and network failures are retryable, 5xx are permanent.
package email

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"html"
	"mime"
	"mime/quotedprintable"
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

// Subject renders "[FIRING|RESOLVED] <kind> <hub> …".
func Subject(n *alert.Notification) string {
	return "[" + strings.ToUpper(n.Status) + "] " + string(n.Kind) + " " + n.Hub + ": " + n.DeviceCount() + ", " + alert.KindTitle(n.Kind)
}

// Message renders the RFC 5322 message: headers, and a multipart/alternative
// body with a plain-text and an HTML part, both quoted-printable. The
// boundary and Message-ID derive from the notificationId.
func Message(n *alert.Notification, from string, to []string, now time.Time) []byte {
	boundary := "dd-" + n.NotificationID
	var b bytes.Buffer
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	hdr("From", from)
	hdr("To", strings.Join(to, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", Subject(n)))
	hdr("Date", now.UTC().Format(time.RFC1123Z))
	hdr("Message-ID", "<"+n.NotificationID+"@disconnect-doctor>")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
	hdr("X-Disconnect-Doctor-Group", n.GroupKey)
	b.WriteString("\r\n")
	part := func(ctype, body string) {
		b.WriteString("--" + boundary + "\r\n")
		b.WriteString("Content-Type: " + ctype + "; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
		w := quotedprintable.NewWriter(&b)
		w.Write([]byte(body))
		w.Close()
		b.WriteString("\r\n")
	}
	part("text/plain", Text(n))
	part("text/html", HTML(n))
	b.WriteString("--" + boundary + "--\r\n")
	return b.Bytes()
}

// maxListed bounds how many alerts a message spells out.
const maxListed = 50

// Text renders the plain-text body: what happened, how many devices, since
// when, what to do, then each alert with its evidence.
func Text(n *alert.Notification) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n%s\n\n", n.Title(), alert.Explanation(n.Kind))
	if n.Status == alert.StatusResolved {
		b.WriteString("This is over: the condition has cleared.\n\n")
	}
	fmt.Fprintf(&b, "Hub: %s\nDevices: %s\n", n.Hub, n.DeviceCount())
	if s := n.Since(); !s.IsZero() {
		fmt.Fprintf(&b, "Since: %s\n", s.UTC().Format("2006-01-02 15:04 UTC"))
	}
	if recs := recommendations(n); len(recs) > 0 {
		fmt.Fprintf(&b, "\nWhat to do: %s\n", strings.Join(recs, " "))
	}
	for i, a := range n.Alerts {
		if i == maxListed {
			fmt.Fprintf(&b, "\n…and %d more\n", len(n.Alerts)-maxListed)
			break
		}
		who := a.Hub
		if a.DeviceID != "" {
			who = a.DeviceID
		}
		fmt.Fprintf(&b, "\n* %s (%s): %s\n", who, a.Status, a.Summary)
		for _, e := range a.Evidence {
			fmt.Fprintf(&b, "  - %s\n", e)
		}
	}
	if n.Link != "" {
		fmt.Fprintf(&b, "\nDetails: %s\n", n.Link)
	}
	fmt.Fprintf(&b, "\nNotification %s (%s)\n", n.NotificationID, n.GroupKey)
	return b.String()
}

// HTML renders the HTML body with the same content as Text.
func HTML(n *alert.Notification) string {
	esc := html.EscapeString
	var b strings.Builder
	fmt.Fprintf(&b, "<html><body><h2>%s</h2><p>%s</p>", esc(n.Title()), esc(alert.Explanation(n.Kind)))
	if n.Status == alert.StatusResolved {
		b.WriteString("<p><b>This is over: the condition has cleared.</b></p>")
	}
	fmt.Fprintf(&b, "<table><tr><th align=left>Hub</th><td>%s</td></tr><tr><th align=left>Devices</th><td>%s</td></tr>", esc(n.Hub), esc(n.DeviceCount()))
	if s := n.Since(); !s.IsZero() {
		fmt.Fprintf(&b, "<tr><th align=left>Since</th><td>%s</td></tr>", esc(s.UTC().Format("2006-01-02 15:04 UTC")))
	}
	b.WriteString("</table>")
	if recs := recommendations(n); len(recs) > 0 {
		fmt.Fprintf(&b, "<p><b>What to do:</b> %s</p>", esc(strings.Join(recs, " ")))
	}
	b.WriteString("<ul>")
	for i, a := range n.Alerts {
		if i == maxListed {
			fmt.Fprintf(&b, "<li>…and %d more</li>", len(n.Alerts)-maxListed)
			break
		}
		who := a.Hub
		if a.DeviceID != "" {
			who = a.DeviceID
		}
		fmt.Fprintf(&b, "<li><b>%s</b> (%s): %s", esc(who), esc(a.Status), esc(a.Summary))
		if len(a.Evidence) > 0 {
			b.WriteString("<ul>")
			for _, e := range a.Evidence {
				fmt.Fprintf(&b, "<li>%s</li>", esc(e))
			}
			b.WriteString("</ul>")
		}
		b.WriteString("</li>")
	}
	b.WriteString("</ul>")
	if n.Link != "" {
		fmt.Fprintf(&b, `<p><a href="%s">Details</a></p>`, esc(n.Link))
	}
	fmt.Fprintf(&b, "<p><small>Notification %s (%s)</small></p></body></html>", esc(n.NotificationID), esc(n.GroupKey))
	return b.String()
}

func recommendations(n *alert.Notification) []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range n.Alerts {
		if a.Recommendation != "" && !seen[a.Recommendation] {
			seen[a.Recommendation] = true
			out = append(out, a.Recommendation)
		}
	}
	if len(out) > 3 {
		out = append(out[:3], "…and "+strconv.Itoa(len(out)-3)+" more")
	}
	return out
}

// Compile-time check: Notifier is an alert.Notifier.
var _ alert.Notifier = (*Notifier)(nil)
