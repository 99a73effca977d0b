// Package graph delivers notifications as e-mail through Microsoft Graph
// (POST /v1.0/users/{sender}/sendMail) with a bearer token from an
// azidentity credential — the Function App's managed identity, granted the
// application permission Mail.Send — so no password exists anywhere. The
// message is the one notify/email renders (subject and HTML body); Graph
// answers 202 and sends it from the sender's mailbox. Status classification
// is notify.Poster's (2xx ok; 429/5xx retry with Retry-After; other 4xx
// permanent), except that the two misconfigurations a person must fix — the
// permission not granted (403) and a sender that is not a mailbox (404
// ErrorInvalidUser) — are notify.ConfigErrors naming the fix.
package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/notify"
	"github.com/disconnect-doctor/disconnect-doctor/notify/email"
)

// Scope is the token scope for Microsoft Graph application permissions.
const Scope = "https://graph.microsoft.com/.default"

// DefaultBaseURL is the global Microsoft Graph endpoint.
const DefaultBaseURL = "https://graph.microsoft.com"

// Config configures the Graph integration.
type Config struct {
	// Sender is the mailbox that sends (GRAPH_SENDER): its user principal
	// name or object id.
	Sender string
	// To are the recipients (ALERT_EMAIL_TO).
	To []string
	// Credential gives the bearer token (scope Scope); Identity names it in
	// errors ("user-assigned managed identity 1234…").
	Credential azcore.TokenCredential
	Identity   string
	// BaseURL replaces DefaultBaseURL (tests, national clouds).
	BaseURL string
	// Client sends the requests (http.DefaultClient when nil).
	Client *http.Client
}

// Notifier sends notifications with Graph sendMail.
type Notifier struct {
	cfg    Config
	url    string
	poster notify.Poster
}

// New returns a Graph Notifier. It fails on a configuration that cannot
// work (no sender, credential or recipient, a malformed recipient).
func New(cfg Config) (*Notifier, error) {
	if cfg.Sender == "" {
		return nil, errors.New("graph: GRAPH_SENDER is empty")
	}
	if cfg.Credential == nil {
		return nil, errors.New("graph: no token credential")
	}
	if len(cfg.To) == 0 {
		return nil, errors.New("graph: ALERT_EMAIL_TO is empty")
	}
	for _, to := range cfg.To {
		if _, err := mail.ParseAddress(to); err != nil {
			return nil, fmt.Errorf("graph: ALERT_EMAIL_TO %q: %w", to, err)
		}
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.Identity == "" {
		cfg.Identity = "the app's identity"
	}
	u := strings.TrimRight(cfg.BaseURL, "/") + "/v1.0/users/" + url.PathEscape(cfg.Sender) + "/sendMail"
	return &Notifier{cfg: cfg, url: u, poster: notify.Poster{Client: cfg.Client}}, nil
}

// Request is the sendMail body.
type Request struct {
	Message         Message `json:"message"`
	SaveToSentItems bool    `json:"saveToSentItems"`
}

// Message is the Graph message resource, as much of it as an alert needs.
type Message struct {
	Subject      string      `json:"subject"`
	Body         Body        `json:"body"`
	ToRecipients []Recipient `json:"toRecipients"`
}

// Body is an itemBody: contentType "HTML" or "Text".
type Body struct {
	ContentType string `json:"contentType"`
	Content     string `json:"content"`
}

// Recipient wraps an emailAddress.
type Recipient struct {
	EmailAddress Address `json:"emailAddress"`
}

// Address is an emailAddress.
type Address struct {
	Address string `json:"address"`
}

// Render builds the sendMail body for n with notify/email's subject and
// HTML body (the plain-text rendering is the same content, and Graph takes
// one body). Sent copies are not kept: alerts would fill the sender's
// Sent Items.
func Render(n *alert.Notification, to []string) ([]byte, error) {
	b, err := json.Marshal(request(email.Subject(n), email.HTML(n), to))
	if err != nil {
		return nil, fmt.Errorf("graph: encode %s: %w", n.NotificationID, err)
	}
	return b, nil
}

// request is a sendMail body with an HTML body to the recipients.
func request(subject, html string, to []string) Request {
	r := Request{Message: Message{Subject: subject, Body: Body{ContentType: "HTML", Content: html}}}
	for _, a := range to {
		r.Message.ToRecipients = append(r.Message.ToRecipients, Recipient{EmailAddress: Address{Address: a}})
	}
	return r
}

// Notify sends n. Errors never carry the token.
func (g *Notifier) Notify(ctx context.Context, n *alert.Notification) (bool, error) {
	body, err := Render(n, g.cfg.To)
	if err != nil {
		return false, err
	}
	retry, err := g.send(ctx, body)
	if err != nil {
		return retry, fmt.Errorf("graph: notification %s: %w", n.NotificationID, err)
	}
	return false, nil
}

// send posts a rendered sendMail body with a fresh token.
func (g *Notifier) send(ctx context.Context, body []byte) (bool, error) {
	tok, err := g.cfg.Credential.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{Scope}})
	if err != nil {
		return true, fmt.Errorf("get a token for %s from %s: %w", Scope, g.cfg.Identity, err)
	}
	h := http.Header{}
	h.Set("Authorization", "Bearer "+tok.Token)
	retry, err := g.poster.PostJSON(ctx, notify.Secret(g.url), h, body)
	if err != nil {
		return g.explain(retry, notify.Scrub(err, notify.Secret(tok.Token)))
	}
	return false, nil
}

// explain turns the two answers a person must act on into ConfigErrors
// naming the fix; everything else keeps Poster's classification.
func (g *Notifier) explain(retry bool, err error) (bool, error) {
	var he *notify.HTTPError
	if !errors.As(err, &he) {
		return retry, err
	}
	code := errorCode(he.Body)
	switch {
	case he.Status == http.StatusForbidden:
		return true, &notify.ConfigError{Err: err, Fix: fmt.Sprintf(
			"the Microsoft Graph application permission Mail.Send is not granted to %s, or an Exchange application "+
				"access policy keeps it from sending as %s: grant it with az rest POST "+
				"…/servicePrincipals/<identity object id>/appRoleAssignments (README: E-mail through Microsoft Graph)",
			g.cfg.Identity, g.cfg.Sender)}
	case he.Status == http.StatusNotFound && (code == "ErrorInvalidUser" || code == "ResourceNotFound" || code == "MailboxNotEnabledForRESTAPI"):
		return true, &notify.ConfigError{Err: err, Fix: fmt.Sprintf(
			"GRAPH_SENDER %q is not a mailbox in this tenant: set it to the user principal name of a licensed or shared mailbox", g.cfg.Sender)}
	case he.Status == http.StatusUnauthorized:
		return true, &notify.ConfigError{Err: err, Fix: fmt.Sprintf(
			"Graph refused the token of %s: the identity must be in the mailbox's tenant", g.cfg.Identity)}
	}
	return retry, err
}

// errorCode reads error.code from a Graph error body ("" when it is not
// one; the body may be cut at 512 bytes, so a prefix match is the fallback).
func errorCode(body string) string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal([]byte(body), &e) == nil {
		return e.Error.Code
	}
	if _, rest, ok := strings.Cut(body, `"code":"`); ok {
		if code, _, ok := strings.Cut(rest, `"`); ok {
			return code
		}
	}
	return ""
}

// Compile-time check: Notifier is an alert.Notifier.
var _ alert.Notifier = (*Notifier)(nil)
