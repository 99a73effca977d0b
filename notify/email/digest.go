package email

import (
	"context"
	"fmt"
	"html"
	"strconv"
	"strings"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
)

// NotifyDigest sends the daily digest (alert.DigestNotifier) to every
// recipient, with the same retry rules as Notify.
func (e *Notifier) NotifyDigest(ctx context.Context, n *alert.Notification) (bool, error) {
	if n.Digest == nil {
		return false, fmt.Errorf("email: %s is not a digest", n.NotificationID)
	}
	retry, err := e.send(ctx, func() []byte { return DigestMessage(n, e.cfg.From, e.cfg.To, e.cfg.Now()) })
	if err != nil {
		return retry, fmt.Errorf("email: digest %s: %w", n.NotificationID, scrub(err, e.cfg.Password))
	}
	return false, nil
}

// DigestSubject is "[DIGEST] contoso-hub 2024-05-14: 412 disconnects, 1
// incident": the tag lets receivers filter digests from alerts.
func DigestSubject(n *alert.Notification) string {
	d := n.Digest
	return fmt.Sprintf("[DIGEST] %s %s: %s, %s", d.Hub, d.To.UTC().Format("2006-01-02"),
		count(d.Disconnects, "disconnect"), count(len(d.Incidents)+d.IncidentsMore, "incident"))
}

// count is "1 incident", "2 incidents".
func count(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// DigestMessage renders the digest as an RFC 5322 message like Message:
// multipart/alternative text and HTML, Message-ID from the notificationId
// (stable per hub and day, so the one possible duplicate is recognisable).
func DigestMessage(n *alert.Notification, from string, to []string, now time.Time) []byte {
	return mimeMessage(n, from, to, now, DigestSubject(n), DigestText(n), DigestHTML(n))
}

// DigestText renders the digest's plain-text body: title, window,
// headline, then each section (digest.Sections) as a list.
func DigestText(n *alert.Notification) string {
	d := n.Digest
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n%s.\n\n%s\n", d.Title(), d.Span(), d.Headline())
	for _, s := range d.Sections() {
		fmt.Fprintf(&b, "\n%s\n", s.Title)
		for _, l := range s.Lines {
			fmt.Fprintf(&b, "  - %s\n", l)
		}
		if s.More > 0 {
			fmt.Fprintf(&b, "  …and %d more\n", s.More)
		}
	}
	if n.Link != "" {
		fmt.Fprintf(&b, "\nThe hub's dashboard (its last 24 hours): %s\n", n.Link)
	}
	fmt.Fprintf(&b, "\nDigest %s (%s)\n", n.NotificationID, n.GroupKey)
	return b.String()
}

// DigestHTML renders the HTML body with the same content as DigestText;
// notify/graph sends it as the message body.
func DigestHTML(n *alert.Notification) string {
	esc := html.EscapeString
	d := n.Digest
	var b strings.Builder
	fmt.Fprintf(&b, "<html><body><h2>%s</h2><p><small>%s.</small></p><p>%s</p>", esc(d.Title()), esc(d.Span()), esc(d.Headline()))
	for _, s := range d.Sections() {
		fmt.Fprintf(&b, "<h3>%s</h3><ul>", esc(s.Title))
		for _, l := range s.Lines {
			fmt.Fprintf(&b, "<li>%s</li>", esc(l))
		}
		if s.More > 0 {
			fmt.Fprintf(&b, "<li>…and %d more</li>", s.More)
		}
		b.WriteString("</ul>")
	}
	if n.Link != "" {
		fmt.Fprintf(&b, `<p><a href="%s">The hub's dashboard (its last 24 hours)</a></p>`, esc(n.Link))
	}
	fmt.Fprintf(&b, "<p><small>Digest %s (%s)</small></p></body></html>", esc(n.NotificationID), esc(n.GroupKey))
	return b.String()
}

// Compile-time check: Notifier takes digests.
var _ alert.DigestNotifier = (*Notifier)(nil)
