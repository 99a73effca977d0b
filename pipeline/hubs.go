package pipeline

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/store"
	"github.com/disconnect-doctor/disconnect-doctor/watch"
)

// Hubs are evaluated independently (issue 9): one hub whose stored state
// cannot be read (a blob this version cannot decode) or written (a row the
// store refuses, errors on its partition) is reported — in the log, in
// health and as a hub-state-broken alert — and the other hubs carry on.
// What it could not write stays in memory and is written again at the next
// tick or commit. A store that is down as a whole still fails the tick (so
// that the host retries): the rows every tick reads and writes whatever the
// hubs — lease, progress, events, outbox, meta — fail then.

// brokenHold keeps a hub-state-broken condition firing this long after the
// tick that last found it: long enough to be seen, and it resolves on its
// own once the hub's state is read and written again.
const brokenHold = time.Hour

// hubBroken reports one hub's broken state: logged at once, raised as the
// pipeline's own alert at the next reconcile. what is the alert's subject:
// "hub" or "device" (a blob of that kind could not be read) or "write".
func (p *Pipeline) hubBroken(hub, what string, err error) {
	p.log.Error().Str("hub", hub).Str("state", what).Err(err).Msg("hub state broken; the other hubs carry on")
	summary := fmt.Sprintf("the stored %s state of hub %s cannot be read", what, hub)
	if what == "write" {
		summary = fmt.Sprintf("the state of hub %s cannot be written", hub)
	}
	p.raise(watch.Condition{
		Kind: classify.HubStateBroken, Hub: hub, Subject: what, Hold: brokenHold,
		Summary:  summary,
		Evidence: []string{err.Error()},
		Recommendation: "Check the app's log and the state table's rows for this hub. Unreadable state was dropped and is " +
			"rebuilt from new records; state that cannot be written is kept in memory and written again at each commit.",
	})
}

// saveHubs writes the changed device and hub blobs hub by hub. A hub whose
// writes fail is reported and its blobs stay dirty for the next commit.
func (p *Pipeline) saveHubs(ctx context.Context, devs []event.Key, hubs []string) {
	byHub := map[string][]event.Key{}
	for _, k := range devs {
		byHub[k.Hub] = append(byHub[k.Hub], k)
	}
	names := slices.Clone(hubs)
	for n := range byHub {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	var keepDev []event.Key
	var keepHub []string
	for _, n := range names {
		if err := p.saveHub(ctx, n, byHub[n], slices.Contains(hubs, n)); err != nil {
			keepDev = append(keepDev, byHub[n]...)
			keepHub = append(keepHub, n)
			if ctx.Err() == nil { // not the invocation's own deadline
				p.hubBroken(n, "write", err)
			}
		}
	}
	p.res.engine.ClearDirty()
	p.res.engine.KeepDirty(keepDev, keepHub)
}

// saveHub writes one hub's changed device blobs and (hub) its hub blob.
func (p *Pipeline) saveHub(ctx context.Context, name string, devs []event.Key, hub bool) error {
	blobs := make([]store.Blob, 0, len(devs))
	for _, k := range devs {
		data, err := p.res.engine.MarshalDevice(k)
		if err != nil {
			return fmt.Errorf("encode device %s: %w", k, err)
		}
		blobs = append(blobs, store.Blob{Key: k.Path(), Data: data})
	}
	// WriteBlobs: a transaction per 100 devices, no ETags read back (the
	// engine's blobs are never written conditionally).
	if err := p.st.WriteBlobs(ctx, store.DeviceBlobs, blobs, nil); err != nil {
		return fmt.Errorf("save devices: %w", err)
	}
	if !hub {
		return nil
	}
	data, err := p.res.engine.MarshalHub(name)
	if err != nil {
		return fmt.Errorf("encode hub: %w", err)
	}
	if err := p.st.WriteBlobs(ctx, store.HubBlobs, []store.Blob{{Key: name, Data: data}}, nil); err != nil {
		return fmt.Errorf("save hub: %w", err)
	}
	return nil
}

// hubOfBlob names the hub a stored engine blob belongs to: a device blob's
// key is its device path, a hub blob's key the hub.
func hubOfBlob(kind store.BlobKind, key string) string {
	if kind == store.DeviceBlobs {
		if k, ok := event.ParsePath(key); ok {
			return k.Hub
		}
	}
	return key
}

// heldMax is the most diagnoses and incidents held for the next write
// (putResults): more are written at once, in full transactions.
const heldMax = 1000

// putResults upserts the tick's diagnoses and incidents hub by hub. They are
// held (resident.retry) and written with the commit, or at once when the
// tick notifies (a notification's link must find its diagnosis) or more
// than heldMax are waiting: a crash loses nothing held, since the engine,
// reloaded from the last commit, emits them again. A hub whose rows fail is
// reported and its rows are kept to be written with the next write.
func (p *Pipeline) putResults(ctx context.Context, ds []classify.Diagnosis, is []classify.Incident, now bool) {
	res := p.res
	ds = append(res.retryDiag, ds...)
	is = append(res.retryInc, is...)
	if !now && len(ds)+len(is) <= heldMax {
		res.retryDiag, res.retryInc = ds, is
		return
	}
	res.retryDiag, res.retryInc = nil, nil
	dBy := map[string][]classify.Diagnosis{}
	iBy := map[string][]classify.Incident{}
	var names []string
	add := func(h string) {
		if !slices.Contains(names, h) {
			names = append(names, h)
		}
	}
	for _, d := range ds {
		dBy[d.Key.Hub] = append(dBy[d.Key.Hub], d)
		add(d.Key.Hub)
	}
	for _, in := range is {
		iBy[in.Hub] = append(iBy[in.Hub], in)
		add(in.Hub)
	}
	slices.Sort(names)
	for _, n := range names {
		err := p.st.PutDiagnoses(ctx, newestDiagnoses(dBy[n]))
		if err == nil {
			err = p.st.PutIncidents(ctx, newestIncidents(iBy[n]))
		}
		if err != nil {
			res.retryDiag = append(res.retryDiag, dBy[n]...)
			res.retryInc = append(res.retryInc, iBy[n]...)
			if ctx.Err() == nil {
				p.hubBroken(n, "write", err)
			}
		}
	}
}

// newestDiagnoses keeps the last of several versions of one diagnosis (a
// retried one and its revision): one row is written once per request.
func newestDiagnoses(ds []classify.Diagnosis) []classify.Diagnosis {
	type id struct {
		k event.Key
		e event.ID
	}
	last := make(map[id]int, len(ds))
	for i, d := range ds {
		last[id{d.Key, d.EventID}] = i
	}
	if len(last) == len(ds) {
		return ds
	}
	out := make([]classify.Diagnosis, 0, len(last))
	for i, d := range ds {
		if last[id{d.Key, d.EventID}] == i {
			out = append(out, d)
		}
	}
	return out
}

// newestIncidents keeps the last version of each incident.
func newestIncidents(is []classify.Incident) []classify.Incident {
	last := make(map[string]int, len(is))
	for i, in := range is {
		last[in.ID] = i
	}
	if len(last) == len(is) {
		return is
	}
	out := make([]classify.Incident, 0, len(last))
	for i, in := range is {
		if last[in.ID] == i {
			out = append(out, in)
		}
	}
	return out
}
