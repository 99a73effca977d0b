// Package email delivers notifications by SMTP submission (Azure
// Communication Services, SendGrid, Exchange Online, a local sink) with
// github.com/emersion/go-smtp: STARTTLS or implicit TLS (chosen by port,
// overridable by SMTP_TLS; clear text only when explicitly off for a local
// sink), the AUTH mechanism chosen from the server's EHLO reply (ACS offers
// only LOGIN, which net/smtp lacks; PLAIN elsewhere) or XOAUTH2 with a
// managed-identity token, and a multipart/alternative text + HTML message
// whose Message-ID is derived from the notificationId, so the one possible
// duplicate is recognisable. SMTP 4xx replies and network failures are
// retryable, 5xx are permanent; a misconfiguration is a notify.ConfigError.
package email

import (
	"bytes"
	"fmt"
	"html"
	"mime"
	"mime/quotedprintable"
	"strconv"
	"strings"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
)

// Subject renders "[FIRING|RESOLVED] <kind> <hub> …", with "[REMINDER n]"
// after "[FIRING]" for the n-th reminder of alerts still firing, so that
// receivers can filter reminders ("[FIRING][REMINDER 2] device-offline …").
func Subject(n *alert.Notification) string {
	return n.StatusTag() + " " + string(n.Kind) + " " + n.Where() + ": " + n.DeviceCount() + ", " + alert.KindTitle(n.Kind)
}

// Message renders the RFC 5322 message: headers, and a multipart/alternative
// body with a plain-text and an HTML part, both quoted-printable. The
// boundary and Message-ID derive from the notificationId.
func Message(n *alert.Notification, from string, to []string, now time.Time) []byte {
	return mimeMessage(n, from, to, now, Subject(n), Text(n), HTML(n))
}

// mimeMessage is the one RFC 5322 writer of the package (alerts and the
// daily digest): the given subject, a multipart/alternative body with the
// text and HTML parts, both quoted-printable, and a boundary and Message-ID
// derived from the notificationId, so the one possible duplicate of a
// notification is recognisable.
func mimeMessage(n *alert.Notification, from string, to []string, now time.Time, subject, text, html string) []byte {
	boundary := "dd-" + n.NotificationID
	var b bytes.Buffer
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	hdr("From", from)
	hdr("To", strings.Join(to, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", subject))
	hdr("Date", now.UTC().Format(time.RFC1123Z))
	hdr("Message-ID", "<"+n.NotificationID+"@disconnect-doctor>")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
	hdr("X-Disconnect-Doctor-Group", n.GroupKey)
	b.WriteString("\r\n")
	for _, p := range []struct{ ctype, body string }{{"text/plain", text}, {"text/html", html}} {
		b.WriteString("--" + boundary + "\r\n")
		b.WriteString("Content-Type: " + p.ctype + "; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
		w := quotedprintable.NewWriter(&b)
		w.Write([]byte(p.body))
		w.Close()
		b.WriteString("\r\n")
	}
	b.WriteString("--" + boundary + "--\r\n")
	return b.Bytes()
}

// maxListed bounds how many alerts a message spells out.
const maxListed = 50

// Text renders the plain-text body: what happened, how many devices, since
// when, what to do, then each alert with its evidence.
func Text(n *alert.Notification) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", n.Title())
	if r := n.Reminder(); r != "" {
		fmt.Fprintf(&b, "%s\n\n", r)
	}
	fmt.Fprintf(&b, "%s\n\n", alert.Explanation(n.Kind))
	if n.Status == alert.StatusResolved {
		b.WriteString("This is over: each alert below says why (back, cleared, or no longer tracked).\n\n")
	}
	fmt.Fprintf(&b, "Hub: %s\nDevices: %s\n", n.Where(), n.DeviceCount())
	if s := n.Since(); !s.IsZero() {
		fmt.Fprintf(&b, "Since: %s\n", n.TimeText(s))
	}
	if recs := recommendations(n); len(recs) > 0 {
		fmt.Fprintf(&b, "\nWhat to do: %s\n", strings.Join(recs, " "))
	}
	if l := n.Listing(); l != "" {
		fmt.Fprintf(&b, "\n%s\n", l)
	}
	for i, a := range n.Alerts {
		if i == maxListed {
			break
		}
		fmt.Fprintf(&b, "\n* %s (%s): %s\n", a.Identity(), a.Status, a.Summary)
		for _, e := range a.Evidence {
			fmt.Fprintf(&b, "  - %s\n", e)
		}
	}
	if rest := n.AlertCount() - min(len(n.Alerts), maxListed); rest > 0 {
		fmt.Fprintf(&b, "\n…and %d more\n", rest)
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
	fmt.Fprintf(&b, "<html><body><h2>%s</h2>", esc(n.Title()))
	if r := n.Reminder(); r != "" {
		fmt.Fprintf(&b, "<p><b>%s</b></p>", esc(r))
	}
	fmt.Fprintf(&b, "<p>%s</p>", esc(alert.Explanation(n.Kind)))
	if n.Status == alert.StatusResolved {
		b.WriteString("<p><b>This is over: each alert below says why (back, cleared, or no longer tracked).</b></p>")
	}
	fmt.Fprintf(&b, "<table><tr><th align=left>Hub</th><td>%s</td></tr><tr><th align=left>Devices</th><td>%s</td></tr>", esc(n.Where()), esc(n.DeviceCount()))
	if s := n.Since(); !s.IsZero() {
		fmt.Fprintf(&b, "<tr><th align=left>Since</th><td>%s</td></tr>", esc(n.TimeText(s)))
	}
	b.WriteString("</table>")
	if recs := recommendations(n); len(recs) > 0 {
		fmt.Fprintf(&b, "<p><b>What to do:</b> %s</p>", esc(strings.Join(recs, " ")))
	}
	if l := n.Listing(); l != "" {
		fmt.Fprintf(&b, "<p><b>%s</b></p>", esc(l))
	}
	b.WriteString("<ul>")
	for i, a := range n.Alerts {
		if i == maxListed {
			break
		}
		fmt.Fprintf(&b, "<li><b>%s</b> (%s): %s", esc(a.Identity()), esc(a.Status), esc(a.Summary))
		if len(a.Evidence) > 0 {
			b.WriteString("<ul>")
			for _, e := range a.Evidence {
				fmt.Fprintf(&b, "<li>%s</li>", esc(e))
			}
			b.WriteString("</ul>")
		}
		b.WriteString("</li>")
	}
	if rest := n.AlertCount() - min(len(n.Alerts), maxListed); rest > 0 {
		fmt.Fprintf(&b, "<li>…and %d more</li>", rest)
	}
	b.WriteString("</ul>")
	if n.Link != "" {
		fmt.Fprintf(&b, `<p><a href="%s">Details</a></p>`, esc(n.Link))
	}
	if n.List != "" {
		fmt.Fprintf(&b, `<p><a href="%s">All %d (API)</a></p>`, esc(n.List), n.AlertCount())
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
