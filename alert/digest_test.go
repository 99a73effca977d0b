package alert_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/digest"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// plain is a channel that does not take digests; people takes them.
type plain struct{ got []*alert.Notification }

func (p *plain) Notify(_ context.Context, n *alert.Notification) (bool, error) {
	p.got = append(p.got, n)
	return false, nil
}

type people struct {
	plain
	digests []*alert.Notification
}

func (p *people) NotifyDigest(_ context.Context, n *alert.Notification) (bool, error) {
	p.digests = append(p.digests, n)
	return false, nil
}

func sampleDigest() *digest.Digest {
	to := time.Date(2024, 5, 14, 8, 0, 0, 0, time.UTC)
	d := digest.Summarise("contoso-hub", to, digest.Data{Diagnoses: []classify.Diagnosis{
		{Key: event.Key{Hub: "contoso-hub", Device: "pump-1"}, Time: to.Add(-time.Hour), Cause: classify.TokenExpiry}}})
	return &d
}

func TestDigestPayloadRoundTrip(t *testing.T) {
	n := alert.DigestNotification(sampleDigest(), "https://dd.example.com/")
	b, err := alert.EncodePayload(&n)
	if err != nil {
		t.Fatal(err)
	}
	got, err := alert.DecodePayload(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*got, n) {
		t.Errorf("round trip\n%+v\nwant\n%+v", *got, n)
	}
	if n.Link != "https://dd.example.com/api/v1/ui/hubs/contoso-hub" {
		t.Errorf("link %q", n.Link)
	}
	if again := alert.DigestNotification(sampleDigest(), ""); again.NotificationID != n.NotificationID {
		t.Error("the same hub and day got another id")
	}
}

// TestDigestOnlyToPeople: the Dispatcher enqueues a digest only for the
// channels that take digests, and delivers it through NotifyDigest; an
// item left for another channel fails permanently instead of being sent
// as an alert.
func TestDigestOnlyToPeople(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	teams, hook := &people{}, &plain{}
	d := &alert.Dispatcher{Store: st, Channels: map[string]alert.Notifier{"teams": teams, "webhook": hook}}
	now := time.Date(2024, 5, 14, 8, 5, 0, 0, time.UTC)
	n := alert.DigestNotification(sampleDigest(), "")
	if err := d.Enqueue(ctx, []alert.Notification{n}, now); err != nil {
		t.Fatal(err)
	}
	if err := d.Enqueue(ctx, []alert.Notification{n}, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	items, err := st.ListItems(ctx, now, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].Channel != "teams" {
		t.Fatalf("items %+v", items)
	}
	// An item for the webhook, as a version without the filter left it.
	left := items[0]
	left.ID, left.Channel, left.ETag = n.NotificationID+"/webhook", "webhook", ""
	if err := st.Enqueue(ctx, []store.OutboxItem{left}); err != nil {
		t.Fatal(err)
	}
	rep, err := d.Deliver(ctx, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Delivered != 1 || rep.Dead != 1 || len(teams.digests) != 1 || len(teams.got) != 0 || len(hook.got) != 0 {
		t.Errorf("report %+v; teams digests %d alerts %d; webhook %d", rep, len(teams.digests), len(teams.got), len(hook.got))
	}
	if got := teams.digests[0].Digest; got == nil || got.Disconnects != 1 {
		t.Errorf("delivered digest %+v", got)
	}
	var dead *alert.Outcome
	for i := range rep.Outcomes {
		if rep.Outcomes[i].Dead {
			dead = &rep.Outcomes[i]
		}
	}
	if dead == nil || dead.Channel != "webhook" || dead.Error == "" {
		t.Errorf("outcomes %+v", rep.Outcomes)
	}
}
