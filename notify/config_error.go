package notify

import (
	"errors"
	"time"
)

// ConfigRetry is how long a channel waits after a ConfigError before it
// tries again. A misconfigured channel (a setting pointing at the wrong TLS
// mode, a permission not granted, a sender that is not a mailbox, a wrong
// routing key) fails the same way until a person fixes it, so retrying at the
// usual 30 s backoff only repeats the error; but the fix usually comes within
// hours (a grant, a changed app setting) and needs no redeploy, so the
// notification is kept pending and tried again at this slow pace until the
// Dispatcher's DeadAfter dead-letters it. Permission changes in Entra ID and
// Exchange Online take minutes to an hour to reach new tokens anyway.
const ConfigRetry = 30 * time.Minute

// ConfigError is a failure caused by the channel's configuration, with the
// fix spelled out: which setting or permission to change. Notifiers return
// it with retry=true; its RetryAfter (alert.RetryAfterer) slows the retries
// to ConfigRetry. It never carries a secret.
type ConfigError struct {
	// Fix says what to set or grant, e.g. "set SMTP_TLS=implicit".
	Fix string
	// Err is the failure observed (a TLS error, an HTTP answer), if any.
	Err error
}

// Error prints the observed failure, then the fix.
func (e *ConfigError) Error() string {
	if e.Err == nil {
		return "misconfigured: " + e.Fix
	}
	return e.Err.Error() + ": misconfigured: " + e.Fix
}

// Unwrap returns the observed failure.
func (e *ConfigError) Unwrap() error { return e.Err }

// RetryAfter returns ConfigRetry.
func (e *ConfigError) RetryAfter() time.Duration { return ConfigRetry }

// IsConfig reports whether err is (or wraps) a ConfigError.
func IsConfig(err error) bool {
	var ce *ConfigError
	return errors.As(err, &ce)
}
