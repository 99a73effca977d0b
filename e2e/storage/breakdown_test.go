package storage_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/internal/faultproxy"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// attributing is a Store that charges the HTTP requests the proxy counts
// during each call to what made them: the store method, the blob kind and
// the kind of key (a meta blob's family, a rollup day or minute). It only
// works for calls made one at a time (the benchmarks' pipeline is), which
// is what makes the per-purpose breakdown of a tick possible without
// instrumenting the Table store itself.
type attributing struct {
	store.Store
	px *faultproxy.Proxy
	mu sync.Mutex
	n  map[string]int64
}

func newAttributing(st store.Store, px *faultproxy.Proxy) *attributing {
	return &attributing{Store: st, px: px, n: map[string]int64{}}
}

// charge runs fn and adds the requests it made to label.
func (a *attributing) charge(label string, fn func() error) error {
	before, _ := a.px.Counts()
	err := fn()
	after, _ := a.px.Counts()
	a.mu.Lock()
	a.n[label] += after - before
	a.mu.Unlock()
	return err
}

// table returns the breakdown, largest first, as lines "label: n".
func (a *attributing) table() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	keys := make([]string, 0, len(a.n))
	for k, v := range a.n {
		if v > 0 {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(x, y string) int {
		if a.n[x] != a.n[y] {
			return int(a.n[y] - a.n[x])
		}
		return strings.Compare(x, y)
	})
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  %-40s %6d", k, a.n[k])
	}
	return b.String()
}

// keyClass names the family of a blob key.
func keyClass(kind store.BlobKind, key string) string {
	switch kind {
	case store.MetaBlobs:
		if i := strings.IndexByte(key, '/'); i >= 0 {
			return key[:i+1]
		}
		return key
	case store.RollupBlobs:
		if strings.HasPrefix(key, "*") {
			return key
		}
		return "day"
	case store.RollupMemberBlobs:
		return "minute"
	}
	return ""
}

func blobLabel(method string, kind store.BlobKind, keys []string) string {
	fams := map[string]bool{}
	for _, k := range keys {
		fams[keyClass(kind, k)] = true
	}
	names := make([]string, 0, len(fams))
	for f := range fams {
		if f != "" {
			names = append(names, f)
		}
	}
	slices.Sort(names)
	l := method + " " + string(kind)
	if len(names) > 0 {
		l += " " + strings.Join(names, ",")
	}
	return l
}

func (a *attributing) AppendEvents(ctx context.Context, s time.Time, e []event.Event, m *store.Mark) error {
	label := "AppendEvents"
	if m != nil { // by input: the writer's first segment (event hub, "eventgrid", "metric")
		first, _, _ := strings.Cut(m.Writer, "/")
		label += " " + first
	}
	return a.charge(label, func() error { return a.Store.AppendEvents(ctx, s, e, m) })
}
func (a *attributing) ReadEvents(ctx context.Context, from, to time.Time, fn func([]event.Event, []store.Mark) error) error {
	return a.charge("ReadEvents", func() error { return a.Store.ReadEvents(ctx, from, to, fn) })
}
func (a *attributing) PutProgress(ctx context.Context, ps ...store.Progress) error {
	return a.charge("PutProgress", func() error { return a.Store.PutProgress(ctx, ps...) })
}
func (a *attributing) DeleteProgress(ctx context.Context, ws ...string) error {
	return a.charge("DeleteProgress", func() error { return a.Store.DeleteProgress(ctx, ws...) })
}
func (a *attributing) ListProgress(ctx context.Context) (ps []store.Progress, err error) {
	err = a.charge("ListProgress", func() error { ps, err = a.Store.ListProgress(ctx); return err })
	return ps, err
}
func (a *attributing) GetBlob(ctx context.Context, k store.BlobKind, key string) (b store.Blob, err error) {
	err = a.charge(blobLabel("GetBlob", k, []string{key}), func() error { b, err = a.Store.GetBlob(ctx, k, key); return err })
	return b, err
}
func (a *attributing) ListBlobs(ctx context.Context, k store.BlobKind, fn func([]store.Blob) error) error {
	return a.charge("ListBlobs "+string(k), func() error { return a.Store.ListBlobs(ctx, k, fn) })
}
func (a *attributing) PutBlobs(ctx context.Context, k store.BlobKind, bs []store.Blob) (tags []string, err error) {
	keys := make([]string, len(bs))
	for i := range bs {
		keys[i] = bs[i].Key
	}
	err = a.charge(blobLabel("PutBlobs", k, keys), func() error { tags, err = a.Store.PutBlobs(ctx, k, bs); return err })
	return tags, err
}
func (a *attributing) WriteBlobs(ctx context.Context, k store.BlobKind, puts []store.Blob, dels []string) error {
	keys := make([]string, 0, len(puts)+len(dels))
	for i := range puts {
		keys = append(keys, puts[i].Key)
	}
	return a.charge(blobLabel("WriteBlobs", k, append(keys, dels...)), func() error { return a.Store.WriteBlobs(ctx, k, puts, dels) })
}
func (a *attributing) DeleteBlobs(ctx context.Context, k store.BlobKind, keys []string) error {
	return a.charge(blobLabel("DeleteBlobs", k, keys), func() error { return a.Store.DeleteBlobs(ctx, k, keys) })
}
func (a *attributing) PutDiagnoses(ctx context.Context, ds []classify.Diagnosis) error {
	return a.charge("PutDiagnoses", func() error { return a.Store.PutDiagnoses(ctx, ds) })
}
func (a *attributing) PutIncidents(ctx context.Context, is []classify.Incident) error {
	return a.charge("PutIncidents", func() error { return a.Store.PutIncidents(ctx, is) })
}
func (a *attributing) Enqueue(ctx context.Context, it []store.OutboxItem) error {
	return a.charge("Enqueue", func() error { return a.Store.Enqueue(ctx, it) })
}
func (a *attributing) DueItems(ctx context.Context, now time.Time, l int) (its []store.OutboxItem, err error) {
	err = a.charge("DueItems", func() error { its, err = a.Store.DueItems(ctx, now, l); return err })
	return its, err
}
func (a *attributing) UpdateItem(ctx context.Context, it store.OutboxItem) error {
	return a.charge("UpdateItem", func() error { return a.Store.UpdateItem(ctx, it) })
}
func (a *attributing) AcquireLease(ctx context.Context, name, holder string, now, until time.Time) (e int64, err error) {
	err = a.charge("AcquireLease", func() error { e, err = a.Store.AcquireLease(ctx, name, holder, now, until); return err })
	return e, err
}
func (a *attributing) Purge(ctx context.Context, eb, b time.Time) error {
	return a.charge("Purge", func() error { return a.Store.Purge(ctx, eb, b) })
}
func (a *attributing) ListSilences(ctx context.Context) (s []store.Silence, err error) {
	err = a.charge("ListSilences", func() error { s, err = a.Store.ListSilences(ctx); return err })
	return s, err
}
func (a *attributing) ListDeadLetters(ctx context.Context, from, to time.Time, limit int) (d []store.DeadLetter, err error) {
	err = a.charge("ListDeadLetters", func() error { d, err = a.Store.ListDeadLetters(ctx, from, to, limit); return err })
	return d, err
}
