package alert

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// Notifier sends one notification on one channel (Teams, e-mail, webhook).
// retry says whether a failure is worth another attempt (429, 5xx, network,
// SMTP 4xx) or permanent (other 4xx, SMTP 5xx). An error may also implement
// RetryAfterer to ask for a minimum wait. Errors must never contain a secret
// (webhook URL, password): the Dispatcher stores and logs them.
type Notifier interface {
	Notify(ctx context.Context, n *Notification) (retry bool, err error)
}

// RetryAfterer is implemented by errors that carry the server's Retry-After.
type RetryAfterer interface {
	RetryAfter() time.Duration
}

// Dispatcher is the outbox: Enqueue records every notification for every
// channel in the store before anything is sent, and Deliver sends what is
// due, with retries, from there. A restart resumes the pending items;
// delivery is at-least-once, and the only duplicate possible is a send whose
// process died before recording it (same notificationId, so receivers can
// deduplicate).
type Dispatcher struct {
	Store store.Store
	// Channels by name ("teams", "email", "webhook"). Channels fail and
	// retry independently of each other.
	Channels map[string]Notifier
	// Routes choose the channels of each notification (ALERT_ROUTES);
	// nil sends every notification to every channel.
	Routes *Routes
	// Log receives an error line per dead-lettered item and a warning per
	// retry. It never sees a secret because notifiers never return one.
	Log zerolog.Logger
	// DeadAfter dead-letters an item still failing this long after it was
	// created (24h when zero).
	DeadAfter time.Duration
	// MinBackoff and MaxBackoff bound the exponential backoff after a
	// retryable failure (30s and 30m when zero). A longer Retry-After wins.
	MinBackoff, MaxBackoff time.Duration
	// AttemptTimeout bounds one send (30s when zero).
	AttemptTimeout time.Duration
	// Limit is the most items one Deliver handles (200 when zero).
	Limit int
}

// Report says what one Deliver did.
type Report struct {
	Delivered int
	Retrying  int
	Dead      int
	// Deferred items were due but postponed because their channel failed
	// retryably earlier in the same Deliver: they wait as long as the
	// failed item (do not hammer a throttled endpoint).
	Deferred int
	// Outcomes lists the items delivered or dead-lettered, with their
	// channel and alert kind, so the pipeline can watch its channels
	// (watch.Deliveries → notifications-failing).
	Outcomes []Outcome
}

// Outcome is the final fate of one outbox item.
type Outcome struct {
	Channel string
	Kind    classify.SignalKind
	// Dead: dead-lettered (Error says why; never a secret); else delivered.
	Dead  bool
	Error string
}

// Enqueue writes one outbox item per notification and channel its routes
// choose, before any send. Stale notifications are recorded as
// OutboxSuppressed and never sent. Re-enqueueing the same notifications (a recompute after a crash)
// leaves the existing items as they are.
func (d *Dispatcher) Enqueue(ctx context.Context, ns []Notification, now time.Time) error {
	if len(ns) == 0 || len(d.Channels) == 0 {
		return nil
	}
	var items []store.OutboxItem
	for i := range ns {
		n := &ns[i]
		payload, err := EncodePayload(n)
		if err != nil {
			return err
		}
		state := store.OutboxPending
		if n.Stale {
			state = store.OutboxSuppressed
		}
		// Due is staggered by a nanosecond per notification (all at or
		// before now) so that a channel receives them in the order Apply
		// produced them (an incident's resolved before the device alerts it
		// releases), not in the order of their IDs.
		due := now.Add(time.Duration(i - len(ns) + 1))
		chans := d.channelNames()
		// A channel's failure is told on every channel whatever the routes
		// say: routed only to the failing one, nobody would hear of it.
		if d.Routes != nil && n.Kind != classify.NotificationsFailing {
			if chans = d.Routes.Channels(n, chans); len(chans) == 0 {
				d.Log.Info().Str("notificationId", n.NotificationID).Str("group", n.GroupKey).
					Msg("alert: notification routed to no channel (ALERT_ROUTES default [])")
			}
		}
		for _, ch := range chans {
			if n.Digest != nil && !d.digestChannel(ch) {
				continue // never page or post a digest (DigestNotifier)
			}
			items = append(items, store.OutboxItem{ID: n.NotificationID + "/" + ch, NotificationID: n.NotificationID,
				Channel: ch, Payload: payload, Created: now, Due: due, State: state})
		}
	}
	if err := d.Store.Enqueue(ctx, items); err != nil {
		return fmt.Errorf("alert: enqueue %d outbox items: %w", len(items), err)
	}
	return nil
}

func (d *Dispatcher) channelNames() []string {
	names := make([]string, 0, len(d.Channels))
	for ch := range d.Channels {
		names = append(names, ch)
	}
	sort.Strings(names)
	return names
}

// Deliver sends the outbox items due at now, one goroutine per channel and
// items in creation order within a channel. It returns an error only when
// the store fails (reading the outbox or recording an outcome); a channel's
// failure is recorded on its item and never stops the others.
func (d *Dispatcher) Deliver(ctx context.Context, now time.Time) (Report, error) {
	limit := d.Limit
	if limit <= 0 {
		limit = 200
	}
	items, err := d.Store.DueItems(ctx, now, limit)
	if err != nil {
		return Report{}, fmt.Errorf("alert: read due outbox items: %w", err)
	}
	byChannel := map[string][]store.OutboxItem{}
	for _, it := range items {
		byChannel[it.Channel] = append(byChannel[it.Channel], it)
	}
	var (
		mu   sync.Mutex
		rep  Report
		errs []error
		wg   sync.WaitGroup
	)
	for ch, its := range byChannel {
		wg.Go(func() {
			r, err := d.deliverChannel(ctx, ch, its, now)
			mu.Lock()
			defer mu.Unlock()
			rep.Delivered += r.Delivered
			rep.Retrying += r.Retrying
			rep.Dead += r.Dead
			rep.Deferred += r.Deferred
			rep.Outcomes = append(rep.Outcomes, r.Outcomes...)
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	return rep, errors.Join(errs...)
}

func (d *Dispatcher) deliverChannel(ctx context.Context, ch string, items []store.OutboxItem, now time.Time) (Report, error) {
	var rep Report
	notifier := d.Channels[ch]
	for i, it := range items {
		if ctx.Err() != nil {
			return rep, fmt.Errorf("alert: deliver %s: %w", ch, ctx.Err())
		}
		var retry bool
		var sendErr error
		var kind classify.SignalKind
		if notifier == nil {
			sendErr = fmt.Errorf("channel %q is not configured", ch)
		} else if n, err := DecodePayload(it.Payload); err != nil {
			sendErr = err
		} else {
			kind = n.Kind
			retry, sendErr = d.send(ctx, notifier, n)
		}
		it.Attempts++
		switch {
		case sendErr == nil:
			it.State, it.LastError = store.OutboxDelivered, ""
			rep.Delivered++
			rep.Outcomes = append(rep.Outcomes, Outcome{Channel: ch, Kind: kind})
		case !retry || now.Sub(it.Created) >= d.deadAfter():
			it.State, it.LastError = store.OutboxDead, sendErr.Error()
			rep.Dead++
			rep.Outcomes = append(rep.Outcomes, Outcome{Channel: ch, Kind: kind, Dead: true, Error: it.LastError})
			d.Log.Error().Str("channel", ch).Str("notificationId", it.NotificationID).Int("attempts", it.Attempts).
				Bool("retryable", retry).Str("error", it.LastError).Msg("alert: notification dead-lettered")
		default:
			it.LastError = sendErr.Error()
			it.Due = now.Add(d.backoff(it, sendErr))
			rep.Retrying++
			d.Log.Warn().Str("channel", ch).Str("notificationId", it.NotificationID).Int("attempts", it.Attempts).
				Time("due", it.Due).Str("error", it.LastError).Msg("alert: notification delivery failed; will retry")
		}
		if err := d.Store.UpdateItem(ctx, it); err != nil {
			return rep, fmt.Errorf("alert: record outbox item %s: %w", it.ID, err)
		}
		if sendErr != nil && retry && it.State == store.OutboxPending {
			// The channel is failing (throttled, down): its other items
			// wait as long as this one, so Retry-After holds for the
			// endpoint, not just for one item, and survives a restart.
			for _, rest := range items[i+1:] {
				if rest.Due.Before(it.Due) {
					rest.Due = it.Due
					if err := d.Store.UpdateItem(ctx, rest); err != nil {
						return rep, fmt.Errorf("alert: defer outbox item %s: %w", rest.ID, err)
					}
				}
				rep.Deferred++
			}
			return rep, nil
		}
	}
	return rep, nil
}

func (d *Dispatcher) send(ctx context.Context, n Notifier, notif *Notification) (bool, error) {
	timeout := d.AttemptTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if notif.Digest != nil {
		return sendDigest(ctx, n, notif)
	}
	return n.Notify(ctx, notif)
}

func (d *Dispatcher) deadAfter() time.Duration {
	if d.DeadAfter > 0 {
		return d.DeadAfter
	}
	return 24 * time.Hour
}

// backoff is exponential in the item's attempts, from MinBackoff to
// MaxBackoff, with a deterministic ±20% jitter from the item's ID (so
// channels and items that failed together do not retry in lockstep, and a
// test can predict it); a longer Retry-After wins.
func (d *Dispatcher) backoff(it store.OutboxItem, err error) time.Duration {
	lo, hi := d.MinBackoff, d.MaxBackoff
	if lo <= 0 {
		lo = 30 * time.Second
	}
	if hi <= 0 {
		hi = 30 * time.Minute
	}
	b := lo
	for i := 1; i < it.Attempts && b < hi; i++ {
		b *= 2
	}
	b = min(b, hi)
	h := fnv.New32a()
	h.Write([]byte(it.ID))
	b += time.Duration(int64(b) / 100 * (int64(h.Sum32()%41) - 20))
	var ra RetryAfterer
	if errors.As(err, &ra) && ra.RetryAfter() > b {
		b = ra.RetryAfter()
	}
	return b
}
