package email

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/emersion/go-smtp"

	"github.com/disconnect-doctor/disconnect-doctor/notify"
)

// Scope is the token scope for SMTP AUTH XOAUTH2 to Exchange Online with
// the client-credentials flow (application permission SMTP.SendAsApp).
const Scope = "https://outlook.office365.com/.default"

// xoauth2Client is the client side of SASL XOAUTH2 as Microsoft and Google
// document it: one initial response "user=<user>^Aauth=Bearer <token>^A^A"
// (go-smtp base64-encodes it into "AUTH XOAUTH2 <b64>"). A server that
// refuses the token may first send a 334 challenge with a JSON error, to
// which the client answers an empty line; the challenge is kept for the
// error message (it holds no secret).
type xoauth2Client struct {
	user, token string
	challenge   string
}

// Start returns the initial response.
func (x *xoauth2Client) Start() (string, []byte, error) {
	return "XOAUTH2", []byte("user=" + x.user + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}

// Next answers an error challenge with an empty response.
func (x *xoauth2Client) Next(challenge []byte) ([]byte, error) {
	x.challenge = string(challenge)
	return []byte{}, nil
}

// xoauth2 authenticates with a bearer token for Scope from the configured
// credential, as SMTP_USERNAME (or SMTP_FROM when unset). A refused token
// (535) is a ConfigError naming the permission and the Exchange Online
// registration to fix; the token never appears in any error.
func (e *Notifier) xoauth2(ctx context.Context, c *smtp.Client) (bool, error) {
	if ok, mechs := c.Extension("AUTH"); !ok || !hasMech(mechs, "XOAUTH2") {
		return true, &notify.ConfigError{Err: fmt.Errorf("server %s offers AUTH %q, not XOAUTH2", e.addr(), mechs),
			Fix: "SMTP_AUTH=xoauth2 is for Exchange Online (SMTP_HOST=smtp.office365.com, SMTP_PORT=587)"}
	}
	tok, err := e.cfg.Credential.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{Scope}})
	if err != nil {
		// The credential's own errors name the identity endpoint, never a
		// token; a failure here is usually transient (IMDS) or the identity
		// not being assigned to the app, which the message says.
		return true, fmt.Errorf("XOAUTH2: get a token for %s from %s: %w", Scope, e.cfg.Identity, err)
	}
	user := e.cfg.Username
	if user == "" {
		user = e.cfg.From
	}
	x := &xoauth2Client{user: user, token: tok.Token}
	err = c.Auth(x)
	if err == nil {
		return false, nil
	}
	err = scrub(err, notify.Secret(tok.Token))
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code == 535 {
		observed := fmt.Errorf("AUTH XOAUTH2 as %s: %w", user, err)
		if x.challenge != "" {
			observed = fmt.Errorf("AUTH XOAUTH2 as %s: %w (server said %s)", user, err, strings.ReplaceAll(x.challenge, tok.Token, notify.Redacted))
		}
		return true, &notify.ConfigError{Err: observed, Fix: fmt.Sprintf(
			"Exchange Online refused the token of %s: grant its service principal the Office 365 Exchange Online "+
				"application permission SMTP.SendAsApp, register it in Exchange Online with New-ServicePrincipal and "+
				"give it the mailbox %s with Add-MailboxPermission (README: E-mail through Exchange Online with a managed identity)",
			e.cfg.Identity, user)}
	}
	return classify(err, "AUTH XOAUTH2")
}

func hasMech(mechs, want string) bool {
	for _, m := range strings.Fields(mechs) {
		if strings.EqualFold(m, want) {
			return true
		}
	}
	return false
}
