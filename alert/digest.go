package alert

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/digest"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// KindDigest is the kind of the daily digest's notifications. It is not an
// alert kind: a digest never fires, resolves, repeats or pages.
const KindDigest classify.SignalKind = digest.Kind

// StatusDigest is a digest notification's status.
const StatusDigest = "digest"

// DigestNotifier is implemented by the channels that deliver the daily
// digest to people: Teams, e-mail and Graph e-mail. The paging and machine
// channels (PagerDuty, the generic webhook, whose body is the alert
// contract of PRODUCT.md §7) do not implement it, and the Dispatcher never
// gives them a digest. n.Digest is set.
type DigestNotifier interface {
	NotifyDigest(ctx context.Context, n *Notification) (retry bool, err error)
}

// DigestNotification wraps hub's digest for the outbox. Its
// NotificationID is stable per hub and digest hour (digest.NotificationID),
// so enqueueing it again after a crash or on another instance is a no-op.
// The link, when a public base URL is configured, is the hub's dashboard
// page (its last 24 hours, which the digest's day ends), like every other
// card's link: a person opens it in a browser, where the API's JSON behind
// a function key would be of no use.
func DigestNotification(d *digest.Digest, publicBaseURL string) Notification {
	n := Notification{Version: Version, NotificationID: digest.NotificationID(d.Hub, d.To),
		GroupKey: string(KindDigest) + "/" + d.Hub, Status: StatusDigest, Alerts: []Alert{},
		Kind: KindDigest, Hub: d.Hub, Due: d.To, Digest: d}
	if publicBaseURL != "" {
		n.Link = strings.TrimRight(publicBaseURL, "/") + "/api/v1/ui/hubs/" + url.PathEscape(d.Hub)
	}
	return n
}

// digestChannel reports whether a channel takes digests.
func (d *Dispatcher) digestChannel(ch string) bool {
	_, ok := d.Channels[ch].(DigestNotifier)
	return ok
}

// sendDigest hands a digest to a channel that takes digests; any other
// channel (an item left by a version that routed differently) fails
// permanently.
func sendDigest(ctx context.Context, n Notifier, notif *Notification) (bool, error) {
	dn, ok := n.(DigestNotifier)
	if !ok {
		return false, fmt.Errorf("alert: %s is a daily digest, which this channel does not take", notif.NotificationID)
	}
	return dn.NotifyDigest(ctx, notif)
}

// DigestSilence is how the digest shows a silence on hub, and whether the
// silence's hub matcher selects that hub at all.
func DigestSilence(s *store.Silence, hub string) (digest.Silence, bool) {
	if !globMatch(s.Hub, hub) {
		return digest.Silence{}, false
	}
	var ms []string
	for _, m := range []struct{ name, v string }{{"hub", s.Hub}, {"device", s.Device}, {"kind", s.Kind}} {
		if m.v != "" {
			ms = append(ms, m.name+"="+m.v)
		}
	}
	if len(ms) == 0 {
		ms = []string{"every alert"}
	}
	return digest.Silence{Matchers: strings.Join(ms, " "), EndsAt: s.EndsAt, CreatedBy: s.CreatedBy, Comment: s.Comment}, true
}
