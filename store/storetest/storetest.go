// Package storetest is the conformance suite every store.Store passes: the
// Memory store and the Table store on Azurite run the same cases, so code
// tested against one behaves the same on the other.
package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// NastyKeys are identifiers using every character IoT Hub allows in a device
// id (iothub-telemetry.md §3.1) plus the ones Table keys forbid, quotes that
// would break an OData filter, and non-ASCII text.
var NastyKeys = []string{
	"plain-device",
	"a-b:c.d+e%f_g#h*i?j!k(l)m,n=o@p;q$r's",
	"slash/and\\back",
	"it's",
	"x' or Device ne '",
	"%41%",
	"hash#?query",
	"ünï©ødé-設備",
	"tab\tnew\nline\x7f\u0085",
	"!!",
	"a!b",
	"a",
	"' or '1' eq '1",
}

// T0 is the base time of the suite's data.
var T0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

// Run exercises every method of the store open returns. open must return a
// fresh, empty store for each call (it is called once per subtest) and
// arrange its closing with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	RunCases(t, open, func(string) bool { return true })
}

// Heavy names the cases that move thousands of rows (paging across pages
// of 1000); a caller repeating the suite under fault injection may leave
// them out with RunCases to keep the run short.
var Heavy = map[string]bool{"Events": true, "EventsStop": true, "BlobsPaging": true, "DiagnosesPaging": true, "DiagnosesBigWrite": true}

// RunCases is Run restricted to the cases whose name include accepts.
func RunCases(t *testing.T, open func(t *testing.T) store.Store, include func(name string) bool) {
	cases := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Events", testEvents},
		{"EventsReappend", testEventsReappend},
		{"EventsStop", testEventsStop},
		{"EventsHugeField", testEventsHuge},
		{"Progress", testProgress},
		{"ProgressBatchDelete", testProgressBatch},
		{"Marks", testMarks},
		{"Blobs", testBlobs},
		{"BlobsNastyKeys", testBlobsNasty},
		{"BlobsLarge", testBlobsLarge},
		{"BlobsPaging", testBlobsPaging},
		{"BlobsConcurrentETag", testBlobsConcurrent},
		{"BlobsWrite", testBlobsWrite},
		{"BlobsWriteFenced", testBlobsWriteFenced},
		{"Diagnoses", testDiagnoses},
		{"DiagnosesPaging", testDiagnosesPaging},
		{"DiagnosesQuoteInjection", testDiagnosesInjection},
		{"DiagnosesModules", testDiagnosesModules},
		{"DiagnosesAcrossHubs", testDiagnosesAcrossHubs},
		{"DiagnosesBigWrite", testDiagnosesBigWrite},
		{"Fencing", testFencing},
		{"Incidents", testIncidents},
		{"Outbox", testOutbox},
		{"OutboxConcurrentUpdate", testOutboxConcurrent},
		{"Leases", testLeases},
		{"LeasesConcurrent", testLeasesConcurrent},
		{"Purge", testPurge},
		{"Silences", testSilences},
		{"EventsRejected", testEventsRejected},
		{"DeadLetters", testDeadLetters},
		{"Rollup", testRollup},
		{"Ping", func(t *testing.T, s store.Store) {
			if err := s.Ping(t.Context()); err != nil {
				t.Fatalf("Ping: %v", err)
			}
		}},
	}
	for _, c := range cases {
		if include(c.name) {
			t.Run(c.name, func(t *testing.T) { c.fn(t, open(t)) })
		}
	}
}

// Event returns a realistic event number i of device dev at time at.
func Event(i int, hub, dev string, at time.Time) event.Event {
	kinds := []event.Kind{event.Disconnect, event.Connect, event.StateConnected, event.Operation}
	e := event.Event{
		Source: event.ResourceLog, Kind: kinds[i%len(kinds)], Hub: hub, Device: dev,
		Time: at.UTC(), Category: "Connections", Operation: "deviceDisconnect",
		Code: event.CodeConnectionClosedRemotely, Description: "DeviceConnectionClosedRemotely",
		Protocol: "Mqtt", SDK: "azure-iot-device-iothub-py/2.12.0", AuthType: "sas", MaskedIP: "10.0.0.XXX",
		Message: fmt.Sprintf("message %d", i),
	}
	if i%3 == 0 {
		e.Module = "mod" + fmt.Sprint(i%5)
		e.Source = event.EventGrid
		e.Seq = fmt.Sprintf("%064X", i)
	}
	e.ID = event.NewID(&e, fmt.Sprint(i))
	return e
}

func readAll(t *testing.T, s store.Store, from, to time.Time) ([]event.Event, []int) {
	t.Helper()
	var out []event.Event
	var pages []int
	err := s.ReadEvents(t.Context(), from, to, func(evs []event.Event, _ []store.Mark) error {
		pages = append(pages, len(evs))
		out = append(out, evs...)
		return nil
	})
	if err != nil {
		t.Fatalf("ReadEvents: %v", err)
	}
	return out, pages
}

func sameEvent(a, b event.Event) bool {
	return a.Time.Equal(b.Time) && func() bool { a.Time, b.Time = time.Time{}, time.Time{}; return a == b }()
}

func testEvents(t *testing.T, s store.Store) {
	ctx := t.Context()
	// 2 500 events over 5 stamps spread across minutes, appended out of
	// stamp order, in batches of different sizes.
	stamps := []time.Time{T0.Add(3 * time.Minute), T0, T0.Add(90 * time.Second), T0.Add(time.Nanosecond), T0.Add(time.Hour)}
	sizes := []int{700, 1, 999, 300, 500}
	want := map[time.Time][]event.Event{}
	n := 0
	for i, st := range stamps {
		var evs []event.Event
		for range sizes[i] {
			evs = append(evs, Event(n, "hub1", fmt.Sprintf("dev%03d", n%150), T0.Add(time.Duration(n)*time.Second)))
			n++
		}
		if err := s.AppendEvents(ctx, st, evs, nil); err != nil {
			t.Fatalf("AppendEvents(%v, %d): %v", st, len(evs), err)
		}
		want[st] = evs
	}
	got, pages := readAll(t, s, T0, T0.Add(2*time.Hour))
	if len(got) != n {
		t.Fatalf("ReadEvents returned %d events, want %d", len(got), n)
	}
	if len(pages) < 3 || slices.Max(pages) > 1000 {
		t.Errorf("pages %v: want >= 3 pages of at most 1000", pages)
	}
	// stamp order: group boundaries follow sorted stamps; within a stamp,
	// every event of that stamp.
	sorted := slices.Clone(stamps)
	slices.SortFunc(sorted, func(a, b time.Time) int { return a.Compare(b) })
	i := 0
	for _, st := range sorted {
		w := want[st]
		gotIDs := map[event.ID]event.Event{}
		for _, e := range got[i : i+len(w)] {
			gotIDs[e.ID] = e
		}
		for _, e := range w {
			g, ok := gotIDs[e.ID]
			if !ok || !sameEvent(g, e) {
				t.Fatalf("stamp %v: event %s missing or changed: got %+v want %+v", st, e.ID, g, e)
			}
		}
		i += len(w)
	}
	// Range bounds: from inclusive, to exclusive, at nanosecond precision.
	for _, c := range []struct {
		from, to time.Time
		want     int
	}{
		{T0, T0.Add(time.Nanosecond), 1}, // only the T0 stamp
		{T0.Add(time.Nanosecond), T0.Add(2 * time.Nanosecond), 300},
		{T0.Add(time.Minute), T0.Add(3 * time.Minute), 999},
		{T0.Add(3 * time.Minute), T0.Add(time.Hour), 700},
		{T0.Add(time.Hour + 1), T0.Add(3 * time.Hour), 0},
		{T0.Add(-time.Hour), T0, 0},
	} {
		got, _ := readAll(t, s, c.from, c.to)
		if len(got) != c.want {
			t.Errorf("ReadEvents[%v, %v) = %d events, want %d", c.from, c.to, len(got), c.want)
		}
	}
}

func testEventsReappend(t *testing.T, s store.Store) {
	ctx := t.Context()
	var evs []event.Event
	for i := range 150 {
		evs = append(evs, Event(i, "hub1", "dev", T0.Add(time.Duration(i)*time.Second)))
	}
	evs = append(evs, evs[0]) // a duplicate within one batch
	for range 2 {
		if err := s.AppendEvents(ctx, T0, evs, nil); err != nil {
			t.Fatalf("AppendEvents: %v", err)
		}
	}
	if err := s.AppendEvents(ctx, T0, nil, nil); err != nil {
		t.Fatalf("AppendEvents(nil): %v", err)
	}
	got, _ := readAll(t, s, T0, T0.Add(time.Second))
	if len(got) != 150 {
		t.Fatalf("re-append with the same stamp: %d events, want 150", len(got))
	}
	// Another stamp stores it again; readers deduplicate by ID.
	if err := s.AppendEvents(ctx, T0.Add(time.Second), evs[:1], nil); err != nil {
		t.Fatalf("AppendEvents: %v", err)
	}
	got, _ = readAll(t, s, T0, T0.Add(time.Hour))
	if len(got) != 151 || got[150].ID != evs[0].ID {
		t.Fatalf("re-append with a later stamp: %d events, last %v; want 151 ending with %v", len(got), got[len(got)-1].ID, evs[0].ID)
	}
}

func testEventsStop(t *testing.T, s store.Store) {
	var evs []event.Event
	for i := range 1500 {
		evs = append(evs, Event(i, "h", "d", T0))
	}
	if err := s.AppendEvents(t.Context(), T0, evs, nil); err != nil {
		t.Fatalf("AppendEvents: %v", err)
	}
	stop := errors.New("stop here")
	calls := 0
	err := s.ReadEvents(t.Context(), T0, T0.Add(time.Minute), func([]event.Event, []store.Mark) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("ReadEvents with failing fn: err %v after %d calls, want %v after 1", err, calls, stop)
	}
}

// testEventsHuge: an event with a runaway field is stored with the field
// cut (at 4 KiB) rather than failing the whole append.
func testEventsHuge(t *testing.T, s store.Store) {
	evs := []event.Event{Event(1, "h", "d", T0), Event(2, "h", "d", T0)}
	evs[0].Message = strings.Repeat("é", 60_000)
	if err := s.AppendEvents(t.Context(), T0, evs, nil); err != nil {
		t.Fatalf("AppendEvents(huge message): %v", err)
	}
	got, _ := readAll(t, s, T0, T0.Add(time.Second))
	if len(got) != 2 {
		t.Fatalf("%d events, want 2", len(got))
	}
	for _, g := range got {
		if g.ID != evs[0].ID {
			if !sameEvent(g, evs[1]) {
				t.Errorf("the ordinary event changed: %+v", g)
			}
			continue
		}
		want := evs[0]
		if len(g.Message) < 4000 || len(g.Message) > 4096 || !strings.HasPrefix(want.Message, g.Message) || !utf8.ValidString(g.Message) {
			t.Errorf("huge message stored as %d bytes", len(g.Message))
		}
		g.Message, want.Message = "", ""
		if !sameEvent(g, want) {
			t.Errorf("other fields of the huge event changed: %+v", g)
		}
	}
}

func testProgress(t *testing.T, s store.Store) {
	ctx := t.Context()
	ps := []store.Progress{
		{Writer: "insights-logs-connections/0", Newest: T0, Updated: T0.Add(time.Second), Read: 10, Kept: 5, Ignored: 4, Skipped: 1},
		{Writer: "insights-logs-connections/1", Newest: T0.Add(time.Minute), Updated: T0.Add(time.Minute), Read: 1 << 40},
		{Writer: "eventgrid"},
	}
	for _, p := range ps {
		if err := s.PutProgress(ctx, p); err != nil {
			t.Fatalf("PutProgress: %v", err)
		}
	}
	ps[0].Read, ps[0].Newest = 20, T0.Add(time.Hour)
	if err := s.PutProgress(ctx, ps[0]); err != nil {
		t.Fatalf("PutProgress: %v", err)
	}
	got, err := s.ListProgress(ctx)
	if err != nil {
		t.Fatalf("ListProgress: %v", err)
	}
	if len(got) != len(ps) {
		t.Fatalf("ListProgress: %d writers, want %d: %+v", len(got), len(ps), got)
	}
	for _, w := range ps {
		i := slices.IndexFunc(got, func(p store.Progress) bool { return p.Writer == w.Writer })
		if i < 0 {
			t.Fatalf("writer %q missing", w.Writer)
		}
		g := got[i]
		if !g.Newest.Equal(w.Newest) || !g.Updated.Equal(w.Updated) || g.Read != w.Read || g.Kept != w.Kept ||
			g.Ignored != w.Ignored || g.Skipped != w.Skipped {
			t.Errorf("progress %q = %+v, want %+v", w.Writer, g, w)
		}
	}
}

// testProgressBatch: many writers in one PutProgress; DeleteProgress
// removes some (missing ones are no error).
func testProgressBatch(t *testing.T, s store.Store) {
	ctx := t.Context()
	var ps []store.Progress
	for i := range 130 {
		ps = append(ps, store.Progress{Writer: fmt.Sprintf("hub/%d", i), Newest: T0.Add(time.Duration(i) * time.Second), Read: int64(i)})
	}
	if err := s.PutProgress(ctx, ps...); err != nil {
		t.Fatalf("PutProgress(130): %v", err)
	}
	if err := s.DeleteProgress(ctx, "hub/0", "hub/129", "never-was", "hub/0"); err != nil {
		t.Fatalf("DeleteProgress: %v", err)
	}
	if err := s.DeleteProgress(ctx); err != nil {
		t.Fatalf("DeleteProgress(): %v", err)
	}
	got, err := s.ListProgress(ctx)
	if err != nil || len(got) != 128 {
		t.Fatalf("ListProgress = %d writers, %v; want 128", len(got), err)
	}
	for _, g := range got {
		if g.Writer == "hub/0" || g.Writer == "hub/129" {
			t.Errorf("deleted writer %q still listed", g.Writer)
		}
	}
}

// testMarks: a mark appended with events (or alone) is read back with them,
// in its stamp's range only, with its stamp set.
func testMarks(t *testing.T, s store.Store) {
	ctx := t.Context()
	evs := []event.Event{Event(1, "h", "d1", T0), Event(2, "h", "d2", T0)}
	m1 := store.Mark{Writer: "insights-logs-connections/3", ID: "batch/1 #?'%", Newest: T0.Add(-time.Minute), Read: 7, Kept: 2, Ignored: 4, Skipped: 1}
	if err := s.AppendEvents(ctx, T0.Add(time.Second), evs, &m1); err != nil {
		t.Fatalf("AppendEvents with mark: %v", err)
	}
	m2 := store.Mark{Writer: "insights-logs-connections/4", ID: "only-ignored", Newest: T0, Read: 3, Ignored: 3}
	if err := s.AppendEvents(ctx, T0.Add(2*time.Second), nil, &m2); err != nil {
		t.Fatalf("AppendEvents(mark only): %v", err)
	}
	var gotEv int
	var marks []store.Mark
	err := s.ReadEvents(ctx, T0, T0.Add(time.Minute), func(e []event.Event, m []store.Mark) error {
		gotEv += len(e)
		marks = append(marks, m...)
		return nil
	})
	if err != nil || gotEv != 2 || len(marks) != 2 {
		t.Fatalf("ReadEvents = %d events, marks %+v, %v; want 2 and 2", gotEv, marks, err)
	}
	m1.Stamp, m2.Stamp = T0.Add(time.Second), T0.Add(2*time.Second)
	for i, want := range []store.Mark{m1, m2} {
		g := marks[i]
		if g.Writer != want.Writer || g.ID != want.ID || !g.Newest.Equal(want.Newest) || !g.Stamp.Equal(want.Stamp) ||
			g.Read != want.Read || g.Kept != want.Kept || g.Ignored != want.Ignored || g.Skipped != want.Skipped {
			t.Errorf("mark %d = %+v, want %+v", i, g, want)
		}
	}
	marks = nil
	if err := s.ReadEvents(ctx, T0.Add(2*time.Second), T0.Add(time.Minute), func(_ []event.Event, m []store.Mark) error {
		marks = append(marks, m...)
		return nil
	}); err != nil || len(marks) != 1 || marks[0].ID != "only-ignored" {
		t.Errorf("ReadEvents from the second stamp: marks %+v, %v", marks, err)
	}
	if err := s.Purge(ctx, T0.Add(time.Minute), T0.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	marks = nil
	if err := s.ReadEvents(ctx, T0, T0.Add(time.Minute), func(_ []event.Event, m []store.Mark) error {
		marks = append(marks, m...)
		return nil
	}); err != nil || len(marks) != 0 {
		t.Errorf("marks after purge: %+v, %v", marks, err)
	}
}

func testBlobs(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.GetBlob(ctx, store.DeviceBlobs, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetBlob(missing) = %v, want ErrNotFound", err)
	}
	tags, err := s.PutBlobs(ctx, store.DeviceBlobs, []store.Blob{{Key: "a", Data: []byte("one")}, {Key: "b", Data: []byte{}}})
	if err != nil || len(tags) != 2 || tags[0] == "" || tags[1] == "" {
		t.Fatalf("PutBlobs = %q, %v", tags, err)
	}
	b, err := s.GetBlob(ctx, store.DeviceBlobs, "a")
	if err != nil || string(b.Data) != "one" || b.ETag != tags[0] || b.Key != "a" {
		t.Fatalf("GetBlob = %+v, %v; want data one, etag %s", b, err, tags[0])
	}
	// kinds are separate
	if _, err := s.GetBlob(ctx, store.HubBlobs, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetBlob(other kind) = %v, want ErrNotFound", err)
	}
	// conditional replace with the current ETag
	t2, err := s.PutBlobs(ctx, store.DeviceBlobs, []store.Blob{{Key: "a", Data: []byte("two"), ETag: tags[0]}})
	if err != nil || t2[0] == tags[0] {
		t.Fatalf("PutBlobs(current etag) = %q, %v", t2, err)
	}
	// stale ETag: conflict, nothing of that blob written; others written
	t3, err := s.PutBlobs(ctx, store.DeviceBlobs, []store.Blob{
		{Key: "a", Data: []byte("three"), ETag: tags[0]},
		{Key: "c", Data: []byte("c")},
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("PutBlobs(stale etag) = %v, want ErrConflict", err)
	}
	if len(t3) != 2 || t3[0] != "" || t3[1] == "" {
		t.Errorf("PutBlobs(stale, fresh) tags = %q, want [\"\", non-empty]", t3)
	}
	if b, _ := s.GetBlob(ctx, store.DeviceBlobs, "a"); string(b.Data) != "two" || b.ETag != t2[0] {
		t.Errorf("after conflict blob a = %q/%s, want two/%s", b.Data, b.ETag, t2[0])
	}
	if b, err := s.GetBlob(ctx, store.DeviceBlobs, "c"); err != nil || string(b.Data) != "c" {
		t.Errorf("blob c beside a conflict = %q, %v", b.Data, err)
	}
	// an ETag for a blob that does not exist is a conflict too
	if _, err := s.PutBlobs(ctx, store.DeviceBlobs, []store.Blob{{Key: "gone", Data: []byte("x"), ETag: t2[0]}}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("PutBlobs(etag on missing) = %v, want ErrConflict", err)
	}
	// unconditional overwrite
	if _, err := s.PutBlobs(ctx, store.DeviceBlobs, []store.Blob{{Key: "a", Data: []byte("four")}}); err != nil {
		t.Fatalf("PutBlobs(unconditional): %v", err)
	}
	// invalid input
	for _, bad := range [][]store.Blob{
		{{Key: "", Data: nil}},
		{{Key: "k"}, {Key: "k"}},
		{{Key: "big", Data: make([]byte, store.MaxBlobSize+1)}},
	} {
		if _, err := s.PutBlobs(ctx, store.DeviceBlobs, bad); err == nil {
			t.Errorf("PutBlobs(%d blobs, first key %q) accepted invalid input", len(bad), bad[0].Key)
		}
	}
	if err := s.DeleteBlobs(ctx, store.DeviceBlobs, []string{"a", "missing", "b"}); err != nil {
		t.Fatalf("DeleteBlobs: %v", err)
	}
	var keys []string
	if err := s.ListBlobs(ctx, store.DeviceBlobs, func(bs []store.Blob) error {
		for _, b := range bs {
			keys = append(keys, b.Key)
		}
		return nil
	}); err != nil {
		t.Fatalf("ListBlobs: %v", err)
	}
	if !slices.Equal(keys, []string{"c"}) {
		t.Errorf("after delete, keys = %q, want [c]", keys)
	}
}

func testBlobsNasty(t *testing.T, s store.Store) {
	ctx := t.Context()
	var in []store.Blob
	for i, k := range NastyKeys {
		in = append(in, store.Blob{Key: k, Data: []byte(fmt.Sprintf("data %d", i))})
	}
	tags, err := s.PutBlobs(ctx, store.AlertBlobs, in)
	if err != nil {
		t.Fatalf("PutBlobs(nasty keys): %v", err)
	}
	for i, k := range NastyKeys {
		b, err := s.GetBlob(ctx, store.AlertBlobs, k)
		if err != nil || b.Key != k || !bytes.Equal(b.Data, in[i].Data) || b.ETag != tags[i] {
			t.Errorf("GetBlob(%q) = %+v, %v", k, b, err)
		}
	}
	got := map[string]string{}
	if err := s.ListBlobs(ctx, store.AlertBlobs, func(bs []store.Blob) error {
		for _, b := range bs {
			got[b.Key] = string(b.Data)
		}
		return nil
	}); err != nil {
		t.Fatalf("ListBlobs: %v", err)
	}
	if len(got) != len(NastyKeys) {
		t.Errorf("ListBlobs returned %d keys, want %d: %q", len(got), len(NastyKeys), got)
	}
	for i, k := range NastyKeys {
		if got[k] != string(in[i].Data) {
			t.Errorf("ListBlobs key %q = %q", k, got[k])
		}
	}
	if err := s.DeleteBlobs(ctx, store.AlertBlobs, NastyKeys); err != nil {
		t.Fatalf("DeleteBlobs(nasty): %v", err)
	}
	for _, k := range NastyKeys {
		if _, err := s.GetBlob(ctx, store.AlertBlobs, k); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("after delete GetBlob(%q) = %v", k, err)
		}
	}
}

func testBlobsLarge(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, n := range []int{59999, 60000, 60001, 250_000, store.MaxBlobSize} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i*7 + n)
		}
		key := fmt.Sprintf("big%d", n)
		if _, err := s.PutBlobs(ctx, store.HubBlobs, []store.Blob{{Key: key, Data: data}}); err != nil {
			t.Fatalf("PutBlobs(%d bytes): %v", n, err)
		}
		b, err := s.GetBlob(ctx, store.HubBlobs, key)
		if err != nil || !bytes.Equal(b.Data, data) {
			t.Fatalf("GetBlob(%d bytes) = %d bytes, %v", n, len(b.Data), err)
		}
	}
	// shrinking a multi-part blob leaves no stale parts behind
	if _, err := s.PutBlobs(ctx, store.HubBlobs, []store.Blob{{Key: "big250000", Data: []byte("small")}}); err != nil {
		t.Fatalf("PutBlobs(shrink): %v", err)
	}
	if b, err := s.GetBlob(ctx, store.HubBlobs, "big250000"); err != nil || string(b.Data) != "small" {
		t.Fatalf("after shrink = %d bytes, %v", len(b.Data), err)
	}
}

func testBlobsPaging(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 2100
	in := make([]store.Blob, n)
	for i := range in {
		in[i] = store.Blob{Key: fmt.Sprintf("hub1/dev%05d", i), Data: bytes.Repeat([]byte{byte(i)}, 600)}
	}
	tags, err := s.PutBlobs(ctx, store.DeviceBlobs, in)
	if err != nil || len(tags) != n {
		t.Fatalf("PutBlobs(%d) = %d tags, %v", n, len(tags), err)
	}
	var pages []int
	seen := map[string]string{}
	if err := s.ListBlobs(ctx, store.DeviceBlobs, func(bs []store.Blob) error {
		pages = append(pages, len(bs))
		for _, b := range bs {
			seen[b.Key] = b.ETag
			if len(b.Data) != 600 {
				return fmt.Errorf("blob %s has %d bytes", b.Key, len(b.Data))
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("ListBlobs: %v", err)
	}
	if len(seen) != n || len(pages) < 3 || slices.Max(pages) > 1000 {
		t.Fatalf("ListBlobs: %d keys in pages %v, want %d in >= 3 pages of <= 1000", len(seen), pages, n)
	}
	// the ETags PutBlobs returned are the stored ones: a conditional write
	// with each succeeds
	for i, b := range in {
		if seen[b.Key] != tags[i] {
			t.Fatalf("blob %s: listed ETag %s, PutBlobs returned %s", b.Key, seen[b.Key], tags[i])
		}
		in[i].ETag = tags[i]
	}
	if _, err := s.PutBlobs(ctx, store.DeviceBlobs, in[:250]); err != nil {
		t.Fatalf("conditional PutBlobs with returned ETags: %v", err)
	}
	// a mass write with one stale ETag: that blob is refused, the rest written
	batch := slices.Clone(in[250:280])
	for i := range batch {
		batch[i].Data = []byte("second")
	}
	batch[7].ETag = tags[0] // blob 0 was rewritten above: its old ETag matches nothing
	got, err := s.PutBlobs(ctx, store.DeviceBlobs, batch)
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("mass write with a stale ETag: %v, want ErrConflict", err)
	}
	for i, b := range batch {
		stored, gerr := s.GetBlob(ctx, store.DeviceBlobs, b.Key)
		if gerr != nil {
			t.Fatalf("GetBlob(%s): %v", b.Key, gerr)
		}
		if i == 7 {
			if got[i] != "" || string(stored.Data) == "second" {
				t.Errorf("stale blob %s was written (tag %q)", b.Key, got[i])
			}
		} else if got[i] == "" || got[i] != stored.ETag || string(stored.Data) != "second" {
			t.Errorf("blob %s beside the stale one: tag %q, stored %q/%s", b.Key, got[i], stored.Data, stored.ETag)
		}
	}
}

func testBlobsConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	tags, err := s.PutBlobs(ctx, store.MetaBlobs, []store.Blob{{Key: "cursor", Data: []byte("0")}})
	if err != nil {
		t.Fatalf("PutBlobs: %v", err)
	}
	for round := range 3 {
		const writers = 8
		var wins, conflicts atomic.Int32
		var wg sync.WaitGroup
		var winner atomic.Value
		for w := range writers {
			wg.Go(func() {
				data := fmt.Sprintf("round %d writer %d", round, w)
				nt, err := s.PutBlobs(ctx, store.MetaBlobs, []store.Blob{{Key: "cursor", Data: []byte(data), ETag: tags[0]}})
				switch {
				case err == nil:
					wins.Add(1)
					winner.Store([2]string{data, nt[0]})
				case errors.Is(err, store.ErrConflict):
					conflicts.Add(1)
				default:
					t.Errorf("writer %d: %v", w, err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 || conflicts.Load() != writers-1 {
			t.Fatalf("round %d: %d wins, %d conflicts; want exactly one winner", round, wins.Load(), conflicts.Load())
		}
		w := winner.Load().([2]string)
		b, err := s.GetBlob(ctx, store.MetaBlobs, "cursor")
		if err != nil || string(b.Data) != w[0] || b.ETag != w[1] {
			t.Fatalf("round %d: stored %q/%s, winner wrote %q/%s (%v)", round, b.Data, b.ETag, w[0], w[1], err)
		}
		tags[0] = w[1]
	}
}

// Diagnosis returns diagnosis i of dev on hub at time at.
func Diagnosis(i int, hub, dev string, at time.Time) classify.Diagnosis {
	causes := []classify.Cause{classify.TokenExpiry, classify.DeviceOrNetwork, classify.HubTransient, classify.Pending}
	e := Event(i, hub, dev, at)
	return classify.Diagnosis{
		Key: event.Key{Hub: hub, Device: dev}, Time: at, EventID: e.ID, Cause: causes[i%len(causes)],
		Final: i%4 != 3, Confidence: 0.25 * float64(i%4), Evidence: []string{"401003 at " + at.Format(time.RFC3339), fmt.Sprint(i)},
		Recommendation: "nothing to do", Revisions: i % 2, Incident: fmt.Sprint("inc", i%3),
	}
}

func sameDiag(a, b classify.Diagnosis) bool {
	return a.Key == b.Key && a.Time.Equal(b.Time) && a.EventID == b.EventID && a.Cause == b.Cause &&
		a.Final == b.Final && a.Confidence == b.Confidence && slices.Equal(a.Evidence, b.Evidence) &&
		a.Recommendation == b.Recommendation && a.Revisions == b.Revisions && a.Incident == b.Incident
}

func listDiags(t *testing.T, s store.Store, q store.DiagnosisQuery) []classify.Diagnosis {
	t.Helper()
	var out []classify.Diagnosis
	for pages := 0; ; pages++ {
		ds, next, err := s.ListDiagnoses(t.Context(), q)
		if err != nil {
			t.Fatalf("ListDiagnoses(%+v): %v", q, err)
		}
		if q.Limit > 0 && len(ds) > q.Limit {
			t.Fatalf("ListDiagnoses returned %d > limit %d", len(ds), q.Limit)
		}
		out = append(out, ds...)
		if next == "" {
			return out
		}
		if pages > 10000 {
			t.Fatal("ListDiagnoses: cursor never ends")
		}
		q.Cursor = next
	}
}

func checkNewestFirst(t *testing.T, ds []classify.Diagnosis) {
	t.Helper()
	for i := 1; i < len(ds); i++ {
		if ds[i].Time.After(ds[i-1].Time) {
			t.Fatalf("diagnosis %d (%v) is newer than %d (%v)", i, ds[i].Time, i-1, ds[i-1].Time)
		}
	}
}

func testDiagnoses(t *testing.T, s store.Store) {
	ctx := t.Context()
	var all []classify.Diagnosis
	for i := range 60 {
		hub := []string{"hub-a", "hub-b"}[i%2]
		dev := NastyKeys[i%len(NastyKeys)]
		all = append(all, Diagnosis(i, hub, dev, T0.Add(time.Duration(i%20)*time.Minute)))
	}
	if err := s.PutDiagnoses(ctx, all); err != nil {
		t.Fatalf("PutDiagnoses: %v", err)
	}
	// upsert: the same (Key, EventID) revised
	rev := all[7]
	rev.Cause, rev.Final, rev.Revisions = classify.HubTransient, true, 3
	if err := s.PutDiagnoses(ctx, []classify.Diagnosis{rev}); err != nil {
		t.Fatalf("PutDiagnoses(revision): %v", err)
	}
	all[7] = rev
	filter := func(f func(d classify.Diagnosis) bool) []classify.Diagnosis {
		var out []classify.Diagnosis
		for _, d := range all {
			if f(d) {
				out = append(out, d)
			}
		}
		return out
	}
	for _, c := range []struct {
		name string
		q    store.DiagnosisQuery
		want []classify.Diagnosis
	}{
		{"all", store.DiagnosisQuery{}, all},
		{"hub", store.DiagnosisQuery{Hub: "hub-a", Limit: 7}, filter(func(d classify.Diagnosis) bool { return d.Key.Hub == "hub-a" })},
		{"device", store.DiagnosisQuery{Device: NastyKeys[1], Limit: 2}, filter(func(d classify.Diagnosis) bool { return d.Key.Device == NastyKeys[1] })},
		{"hub+device", store.DiagnosisQuery{Hub: "hub-b", Device: "it's"}, filter(func(d classify.Diagnosis) bool { return d.Key.Device == "it's" && d.Key.Hub == "hub-b" })},
		{"cause", store.DiagnosisQuery{Cause: classify.HubTransient, Limit: 5}, filter(func(d classify.Diagnosis) bool { return d.Cause == classify.HubTransient })},
		{"time", store.DiagnosisQuery{From: T0.Add(5 * time.Minute), To: T0.Add(10 * time.Minute), Limit: 4},
			filter(func(d classify.Diagnosis) bool {
				return !d.Time.Before(T0.Add(5*time.Minute)) && d.Time.Before(T0.Add(10*time.Minute))
			})},
		{"incident", store.DiagnosisQuery{Hub: "hub-a", Incident: "inc1", From: T0.Add(3 * time.Minute), To: T0.Add(17 * time.Minute), Limit: 2},
			filter(func(d classify.Diagnosis) bool {
				return d.Key.Hub == "hub-a" && d.Incident == "inc1" && !d.Time.Before(T0.Add(3*time.Minute)) && d.Time.Before(T0.Add(17*time.Minute))
			})},
		{"none", store.DiagnosisQuery{Hub: "hub-c"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := listDiags(t, s, c.q)
			checkNewestFirst(t, got)
			if len(got) != len(c.want) {
				t.Fatalf("%d diagnoses, want %d", len(got), len(c.want))
			}
			for _, w := range c.want {
				i := slices.IndexFunc(got, func(g classify.Diagnosis) bool { return g.Key == w.Key && g.EventID == w.EventID })
				if i < 0 || !sameDiag(got[i], w) {
					t.Fatalf("diagnosis %v/%v missing or changed", w.Key, w.EventID)
				}
			}
		})
	}
	if _, _, err := s.ListDiagnoses(ctx, store.DiagnosisQuery{Cursor: "%%%not a cursor"}); err == nil {
		t.Errorf("ListDiagnoses accepted a malformed cursor")
	}
}

func testDiagnosesPaging(t *testing.T, s store.Store) {
	var all []classify.Diagnosis
	for i := range 1201 {
		// several diagnoses share a time: order falls back to the key
		all = append(all, Diagnosis(i, "hub", fmt.Sprintf("dev%04d", i), T0.Add(time.Duration(i/3)*time.Second)))
	}
	if err := s.PutDiagnoses(t.Context(), all); err != nil {
		t.Fatalf("PutDiagnoses: %v", err)
	}
	first, next, err := s.ListDiagnoses(t.Context(), store.DiagnosisQuery{Limit: 1000})
	if err != nil || len(first) != 1000 || next == "" {
		t.Fatalf("first page: %d, next %q, %v", len(first), next, err)
	}
	got := listDiags(t, s, store.DiagnosisQuery{Limit: 1000})
	if len(got) != len(all) {
		t.Fatalf("paged through %d diagnoses, want %d", len(got), len(all))
	}
	checkNewestFirst(t, got)
	seen := map[event.ID]bool{}
	for _, d := range got {
		if seen[d.EventID] {
			t.Fatalf("diagnosis %v listed twice", d.EventID)
		}
		seen[d.EventID] = true
	}
	// the order is total and stable: same answer with small pages
	small := listDiags(t, s, store.DiagnosisQuery{Limit: 77, Hub: "hub"})
	for i := range got {
		if got[i].EventID != small[i].EventID {
			t.Fatalf("order differs between page sizes at %d", i)
		}
	}
}

// testDiagnosesModules: module identities (IoT Edge $edgeHub, $edgeAgent,
// custom modules, a quote) are kept and filtered by DiagnosisQuery.Module:
// with a device, across devices, the device identity alone, paged.
func testDiagnosesModules(t *testing.T, s store.Store) {
	mods := []string{"", "$edgeHub", "$edgeAgent", "it's a module", "filter"}
	var all []classify.Diagnosis
	for i := range 40 {
		d := Diagnosis(i, "edge", []string{"gw-1", "gw-2"}[i%2], T0.Add(time.Duration(i)*time.Second))
		d.Key.Module = mods[(i/2)%len(mods)]
		e := Event(i, "edge", d.Key.Device, d.Time)
		e.Module = d.Key.Module
		d.EventID = event.NewID(&e, "")
		all = append(all, d)
	}
	if err := s.PutDiagnoses(t.Context(), all); err != nil {
		t.Fatalf("PutDiagnoses: %v", err)
	}
	count := func(f func(k event.Key) bool) int {
		n := 0
		for _, d := range all {
			if f(d.Key) {
				n++
			}
		}
		return n
	}
	for _, c := range []struct {
		name string
		q    store.DiagnosisQuery
		want func(k event.Key) bool
	}{
		{"device and all its modules", store.DiagnosisQuery{Hub: "edge", Device: "gw-1"}, func(k event.Key) bool { return k.Device == "gw-1" }},
		{"device identity alone", store.DiagnosisQuery{Hub: "edge", Device: "gw-1", ByModule: true},
			func(k event.Key) bool { return k.Device == "gw-1" && k.Module == "" }},
		{"one module of a device", store.DiagnosisQuery{Hub: "edge", Device: "gw-2", Module: "$edgeHub", ByModule: true, Limit: 1},
			func(k event.Key) bool { return k.Device == "gw-2" && k.Module == "$edgeHub" }},
		{"a module across devices", store.DiagnosisQuery{Hub: "edge", Module: "$edgeAgent", ByModule: true, Limit: 2},
			func(k event.Key) bool { return k.Module == "$edgeAgent" }},
		{"a quoted module, every hub", store.DiagnosisQuery{Module: "it's a module", ByModule: true, Limit: 3},
			func(k event.Key) bool { return k.Module == "it's a module" }},
		{"no such module", store.DiagnosisQuery{Hub: "edge", Device: "gw-1", Module: "nope", ByModule: true}, func(event.Key) bool { return false }},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := listDiags(t, s, c.q)
			checkNewestFirst(t, got)
			for _, d := range got {
				if !c.want(d.Key) {
					t.Fatalf("%s listed", d.Key)
				}
			}
			if n := count(c.want); len(got) != n || (n == 0 && c.name != "no such module") {
				t.Fatalf("%d diagnoses, want %d", len(got), n)
			}
		})
	}
}

func testDiagnosesInjection(t *testing.T, s store.Store) {
	var ds []classify.Diagnosis
	for i, dev := range NastyKeys {
		ds = append(ds, Diagnosis(i, "hub", dev, T0.Add(time.Duration(i)*time.Minute)))
		ds = append(ds, Diagnosis(i+100, "hub'x", dev, T0.Add(time.Duration(i)*time.Minute)))
	}
	if err := s.PutDiagnoses(t.Context(), ds); err != nil {
		t.Fatalf("PutDiagnoses: %v", err)
	}
	for _, dev := range NastyKeys {
		for _, hub := range []string{"hub", "hub'x", ""} {
			got := listDiags(t, s, store.DiagnosisQuery{Hub: hub, Device: dev})
			want := 1
			if hub == "" {
				want = 2
			}
			if len(got) != want {
				t.Errorf("hub %q device %q: %d diagnoses, want %d", hub, dev, len(got), want)
			}
			for _, d := range got {
				if d.Key.Device != dev || (hub != "" && d.Key.Hub != hub) {
					t.Errorf("query hub %q device %q returned %v", hub, dev, d.Key)
				}
			}
		}
	}
	if got := listDiags(t, s, store.DiagnosisQuery{Hub: "hub' or PartitionKey ne '"}); len(got) != 0 {
		t.Errorf("injected hub returned %d diagnoses", len(got))
	}
}

func testIncidents(t *testing.T, s store.Store) {
	ctx := t.Context()
	is := []classify.Incident{
		{ID: "hub-a/202611261000", Hub: "hub-a", Open: true, Start: T0, Devices: 40, HubErrors: 120, Evidence: []string{"e1"}},
		{ID: "hub-a/202611260900", Hub: "hub-a", Start: T0.Add(-time.Hour), End: T0.Add(-50 * time.Minute), Devices: 12, MetricCorroborated: true},
		{ID: "hub'b/202611261010", Hub: "hub'b", Open: true, Start: T0.Add(10 * time.Minute), Devices: 11},
	}
	if err := s.PutIncidents(ctx, is); err != nil {
		t.Fatalf("PutIncidents: %v", err)
	}
	is[0].Open, is[0].End, is[0].Devices = false, T0.Add(20*time.Minute), 41
	if err := s.PutIncidents(ctx, is[:1]); err != nil {
		t.Fatalf("PutIncidents(update): %v", err)
	}
	yes, no := true, false
	for _, c := range []struct {
		hub  string
		open *bool
		want []int
	}{
		{"", nil, []int{2, 0, 1}},
		{"hub-a", nil, []int{0, 1}},
		{"hub-a", &yes, nil},
		{"hub-a", &no, []int{0, 1}},
		{"", &yes, []int{2}},
		{"hub'b", nil, []int{2}},
		{"hub", nil, nil},
	} {
		got, err := s.ListIncidents(ctx, c.hub, c.open)
		if err != nil {
			t.Fatalf("ListIncidents(%q): %v", c.hub, err)
		}
		if len(got) != len(c.want) {
			t.Fatalf("ListIncidents(%q, %v) = %d incidents, want %d", c.hub, c.open, len(got), len(c.want))
		}
		for i, w := range c.want {
			g, e := got[i], is[w]
			if g.ID != e.ID || g.Hub != e.Hub || g.Open != e.Open || !g.Start.Equal(e.Start) || !g.End.Equal(e.End) ||
				g.Devices != e.Devices || g.HubErrors != e.HubErrors || g.MetricCorroborated != e.MetricCorroborated ||
				!slices.Equal(g.Evidence, e.Evidence) {
				t.Errorf("ListIncidents(%q)[%d] = %+v, want %+v", c.hub, i, g, e)
			}
		}
	}
}

func item(id string, created, due time.Time) store.OutboxItem {
	return store.OutboxItem{ID: id + "/teams", NotificationID: id, Channel: "teams", Payload: []byte(`{"id":"` + id + `"}`),
		Created: created, Due: due, State: store.OutboxPending}
}

func testOutbox(t *testing.T, s store.Store) {
	ctx := t.Context()
	items := []store.OutboxItem{
		item("n3", T0, T0.Add(3*time.Minute)),
		item("n1", T0, T0.Add(time.Minute)),
		item("n2'x", T0.Add(time.Second), T0.Add(2*time.Minute)),
		item("n0/#?", T0.Add(2*time.Second), T0.Add(time.Minute)), // same due as n1: ID breaks the tie
		item("later", T0.Add(3*time.Second), T0.Add(time.Hour)),
	}
	if err := s.Enqueue(ctx, items); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	// idempotent: re-enqueueing (even changed) leaves the items as they are
	again := slices.Clone(items)
	again[0].Payload, again[0].Due = []byte("changed"), T0
	if err := s.Enqueue(ctx, again); err != nil {
		t.Fatalf("Enqueue again: %v", err)
	}
	ids := func(its []store.OutboxItem) []string {
		var out []string
		for _, it := range its {
			out = append(out, it.NotificationID)
		}
		return out
	}
	due, err := s.DueItems(ctx, T0.Add(3*time.Minute), 10)
	if err != nil {
		t.Fatalf("DueItems: %v", err)
	}
	if want := []string{"n0/#?", "n1", "n2'x", "n3"}; !slices.Equal(ids(due), want) {
		t.Fatalf("DueItems = %q, want %q", ids(due), want)
	}
	if string(due[3].Payload) != `{"id":"n3"}` || !due[3].Due.Equal(T0.Add(3*time.Minute)) {
		t.Errorf("re-enqueue changed the item: %+v", due[3])
	}
	if d, _ := s.DueItems(ctx, T0.Add(3*time.Minute), 2); !slices.Equal(ids(d), []string{"n0/#?", "n1"}) {
		t.Errorf("DueItems(limit 2) = %q", ids(d))
	}
	if d, _ := s.DueItems(ctx, T0, 10); len(d) != 0 {
		t.Errorf("DueItems(before any due) = %q", ids(d))
	}
	// deliver n1; retry n0 later; stale ETag conflicts
	n1 := due[1]
	n1.State, n1.Attempts = store.OutboxDelivered, 1
	if err := s.UpdateItem(ctx, n1); err != nil {
		t.Fatalf("UpdateItem(delivered): %v", err)
	}
	if err := s.UpdateItem(ctx, n1); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("UpdateItem(stale) = %v, want ErrConflict", err)
	}
	n0 := due[0]
	n0.Due, n0.Attempts, n0.LastError = T0.Add(10*time.Minute), 1, "503 from teams"
	if err := s.UpdateItem(ctx, n0); err != nil {
		t.Fatalf("UpdateItem(retry): %v", err)
	}
	missing := item("never", T0, T0)
	missing.ETag = n0.ETag
	if err := s.UpdateItem(ctx, missing); err == nil || !(errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConflict)) {
		t.Errorf("UpdateItem(missing) = %v, want ErrNotFound or ErrConflict", err)
	}
	due, err = s.DueItems(ctx, T0.Add(10*time.Minute), 10)
	if err != nil {
		t.Fatalf("DueItems: %v", err)
	}
	if want := []string{"n2'x", "n3", "n0/#?"}; !slices.Equal(ids(due), want) {
		t.Fatalf("DueItems after updates = %q, want %q", ids(due), want)
	}
	if due[2].Attempts != 1 || due[2].LastError != "503 from teams" {
		t.Errorf("updated item = %+v", due[2])
	}
	list, err := s.ListItems(ctx, T0, T0.Add(3*time.Second))
	if err != nil {
		t.Fatalf("ListItems: %v", err)
	}
	if want := []string{"n1", "n3", "n2'x", "n0/#?"}; !slices.Equal(ids(list), want) {
		t.Fatalf("ListItems = %q, want %q", ids(list), want)
	}
	if list[0].State != store.OutboxDelivered || list[0].Attempts != 1 || list[0].Channel != "teams" || !list[0].Created.Equal(T0) {
		t.Errorf("ListItems delivered item = %+v", list[0])
	}
}

func testOutboxConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	if err := s.Enqueue(ctx, []store.OutboxItem{item("c", T0, T0)}); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	due, err := s.DueItems(ctx, T0, 1)
	if err != nil || len(due) != 1 {
		t.Fatalf("DueItems = %v, %v", due, err)
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			it := due[0]
			it.State, it.Attempts = store.OutboxDelivered, w+1
			switch err := s.UpdateItem(ctx, it); {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, store.ErrConflict):
				t.Errorf("UpdateItem: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent UpdateItem calls won, want 1", wins.Load())
	}
	if d, _ := s.DueItems(ctx, T0.Add(time.Hour), 10); len(d) != 0 {
		t.Errorf("delivered item still due: %+v", d)
	}
}

func testLeases(t *testing.T, s store.Store) {
	ctx := t.Context()
	steps := []struct {
		name, holder string
		now, until   time.Duration
		want         int64 // epoch; 0: refused
	}{
		{"free", "a", 0, time.Minute, 1},
		{"held by other", "b", 30 * time.Second, 90 * time.Second, 0},
		{"renew by holder", "a", 50 * time.Second, 2 * time.Minute, 1},
		{"still held after renewal", "b", 90 * time.Second, 3 * time.Minute, 0},
		{"expired at now", "b", 2 * time.Minute, 3 * time.Minute, 2},
		{"old holder locked out", "a", 150 * time.Second, 4 * time.Minute, 0},
		{"holder takes its own expired lease back", "b", 5 * time.Minute, 6 * time.Minute, 2},
		{"back to the first holder", "a", 7 * time.Minute, 8 * time.Minute, 3},
	}
	for _, st := range steps {
		got, err := s.AcquireLease(ctx, "evaluate", st.holder, T0.Add(st.now), T0.Add(st.until))
		if err != nil || got != st.want {
			t.Fatalf("%s: AcquireLease(%s) = %v, %v; want epoch %v", st.name, st.holder, got, err, st.want)
		}
	}
	// leases are independent by name, names may be nasty
	for _, n := range NastyKeys {
		if ep, err := s.AcquireLease(ctx, n, "c", T0, T0.Add(time.Minute)); ep != 1 || err != nil {
			t.Fatalf("AcquireLease(%q) = %v, %v", n, ep, err)
		}
	}
}

func testLeasesConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	for round := range 3 {
		now := T0.Add(time.Duration(round) * time.Hour) // the previous round's lease has expired
		var wins atomic.Int32
		var wg sync.WaitGroup
		for w := range 6 {
			wg.Go(func() {
				ep, err := s.AcquireLease(ctx, "evaluate", fmt.Sprintf("r%dw%d", round, w), now, now.Add(time.Minute))
				if err != nil {
					t.Errorf("AcquireLease: %v", err)
				}
				if ep > 0 {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("round %d: %d holders acquired the lease, want 1", round, wins.Load())
		}
	}
}

func testPurge(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i, st := range []time.Time{T0.Add(-2 * time.Hour), T0.Add(-time.Minute), T0, T0.Add(time.Minute)} {
		if err := s.AppendEvents(ctx, st, []event.Event{Event(i, "h", "d", st)}, nil); err != nil {
			t.Fatalf("AppendEvents: %v", err)
		}
	}
	if err := s.PutDiagnoses(ctx, []classify.Diagnosis{
		Diagnosis(1, "h", "old", T0.Add(-48*time.Hour)), Diagnosis(2, "h", "new", T0),
	}); err != nil {
		t.Fatalf("PutDiagnoses: %v", err)
	}
	if err := s.PutIncidents(ctx, []classify.Incident{
		{ID: "resolved-old", Hub: "h", Start: T0.Add(-50 * time.Hour), End: T0.Add(-49 * time.Hour)},
		{ID: "open-old", Hub: "h", Open: true, Start: T0.Add(-50 * time.Hour)},
		{ID: "resolved-new", Hub: "h", Start: T0.Add(-2 * time.Hour), End: T0.Add(-time.Hour)},
	}); err != nil {
		t.Fatalf("PutIncidents: %v", err)
	}
	old := T0.Add(-48 * time.Hour)
	its := []store.OutboxItem{item("pending-old", old, old), item("done-old", old, old), item("dead-old", old, old), item("done-new", T0, T0)}
	if err := s.Enqueue(ctx, its); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	due, err := s.DueItems(ctx, T0, 10)
	if err != nil {
		t.Fatalf("DueItems: %v", err)
	}
	for _, it := range due {
		switch it.NotificationID {
		case "done-old", "done-new":
			it.State = store.OutboxDelivered
		case "dead-old":
			it.State = store.OutboxDead
		default:
			continue
		}
		if err := s.UpdateItem(ctx, it); err != nil {
			t.Fatalf("UpdateItem: %v", err)
		}
	}
	if err := s.Purge(ctx, T0, T0.Add(-24*time.Hour)); err != nil {
		t.Fatalf("Purge: %v", err)
	}
	evs, _ := readAll(t, s, time.Unix(0, 0), T0.Add(time.Hour))
	if len(evs) != 2 {
		t.Errorf("after purge %d events, want 2 (stamped >= T0)", len(evs))
	}
	ds := listDiags(t, s, store.DiagnosisQuery{})
	if len(ds) != 1 || ds[0].Key.Device != "new" {
		t.Errorf("after purge diagnoses = %v", ds)
	}
	is, err := s.ListIncidents(ctx, "", nil)
	if err != nil {
		t.Fatalf("ListIncidents: %v", err)
	}
	var ids []string
	for _, in := range is {
		ids = append(ids, in.ID)
	}
	if !slices.Equal(ids, []string{"resolved-new", "open-old"}) {
		t.Errorf("after purge incidents = %q, want [resolved-new open-old]", ids)
	}
	list, err := s.ListItems(ctx, old.Add(-time.Hour), T0.Add(time.Hour))
	if err != nil {
		t.Fatalf("ListItems: %v", err)
	}
	ids = nil
	for _, it := range list {
		ids = append(ids, it.NotificationID)
	}
	if !slices.Equal(ids, []string{"pending-old", "done-new"}) {
		t.Errorf("after purge items = %q, want [pending-old done-new]", ids)
	}
	if d, _ := s.DueItems(ctx, T0, 10); len(d) != 1 || d[0].NotificationID != "pending-old" {
		t.Errorf("after purge due items = %+v", d)
	}
}
