package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// Silence returns a realistic silence number i.
func Silence(id string, start, end time.Time) store.Silence {
	return store.Silence{ID: id, Hub: "contoso-prod-*", Device: "sensor-0?[0-9]*", Kind: "device-offline",
		StartsAt: start, EndsAt: end, CreatedBy: "oncall@contoso.com",
		Comment: "firmware roll-out on line 3: devices restart, ünïcödé and 'quotes'", UpdatedAt: start}
}

func sameSilence(a, b store.Silence) bool {
	a.ETag, b.ETag = "", ""
	return a.ID == b.ID && a.Hub == b.Hub && a.Device == b.Device && a.Kind == b.Kind &&
		a.StartsAt.Equal(b.StartsAt) && a.EndsAt.Equal(b.EndsAt) && a.UpdatedAt.Equal(b.UpdatedAt) &&
		a.CreatedBy == b.CreatedBy && a.Comment == b.Comment
}

func testSilences(t *testing.T, s store.Store) {
	ctx := t.Context()
	if got, err := s.ListSilences(ctx); err != nil || len(got) != 0 {
		t.Fatalf("empty ListSilences = %v, %v", got, err)
	}
	if _, err := s.GetSilence(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetSilence(missing) = %v, want ErrNotFound", err)
	}
	// Inserted out of StartsAt order, one of them with a key Table forbids;
	// times with nanoseconds survive the round trip.
	in := []store.Silence{
		Silence("b-later", T0.Add(time.Hour), T0.Add(3*time.Hour)),
		Silence(NastyKeys[1], T0.Add(123456789), T0.Add(2*time.Hour)),
		Silence("a-later", T0.Add(time.Hour), T0.Add(2*time.Hour)),
	}
	in[2].Hub, in[2].Device, in[2].Kind = "", "", ""
	tags := map[string]string{}
	for _, sl := range in {
		tag, err := s.PutSilence(ctx, sl)
		if err != nil || tag == "" {
			t.Fatalf("PutSilence(%s) = %q, %v", sl.ID, tag, err)
		}
		tags[sl.ID] = tag
	}
	got, err := s.ListSilences(ctx)
	if err != nil {
		t.Fatalf("ListSilences: %v", err)
	}
	want := []store.Silence{in[1], in[2], in[0]}
	if len(got) != len(want) {
		t.Fatalf("ListSilences = %d silences, want %d", len(got), len(want))
	}
	for i := range want {
		if !sameSilence(got[i], want[i]) {
			t.Errorf("ListSilences[%d] = %+v, want %+v", i, got[i], want[i])
		}
		if got[i].ETag != tags[got[i].ID] {
			t.Errorf("ListSilences[%d] ETag %q, PutSilence returned %q", i, got[i].ETag, tags[got[i].ID])
		}
	}
	one, err := s.GetSilence(ctx, NastyKeys[1])
	if err != nil || !sameSilence(one, in[1]) || one.ETag != tags[NastyKeys[1]] {
		t.Fatalf("GetSilence = %+v, %v", one, err)
	}

	// Expiring is a conditional replace: the first writer wins, a stale
	// ETag is a conflict and changes nothing, a vanished silence is not
	// found.
	exp := one
	exp.EndsAt, exp.UpdatedAt = T0.Add(time.Minute), T0.Add(time.Minute)
	newTag, err := s.PutSilence(ctx, exp)
	if err != nil || newTag == "" || newTag == one.ETag {
		t.Fatalf("conditional PutSilence = %q, %v", newTag, err)
	}
	stale := one
	stale.Comment = "lost update"
	if _, err := s.PutSilence(ctx, stale); !errors.Is(err, store.ErrConflict) {
		t.Errorf("PutSilence with a stale ETag = %v, want ErrConflict", err)
	}
	if cur, err := s.GetSilence(ctx, exp.ID); err != nil || !sameSilence(cur, exp) || cur.ETag != newTag {
		t.Errorf("after the conflict GetSilence = %+v, %v; want %+v", cur, err, exp)
	}
	ghost := Silence("ghost", T0, T0.Add(time.Hour))
	ghost.ETag = newTag
	if _, err := s.PutSilence(ctx, ghost); !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrConflict) {
		t.Errorf("conditional PutSilence of a missing silence = %v, want ErrNotFound or ErrConflict", err)
	}
	if _, err := s.GetSilence(ctx, "ghost"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a failed conditional write created the silence: %v", err)
	}
	if _, err := s.PutSilence(ctx, store.Silence{}); err == nil {
		t.Error("PutSilence without an ID succeeded")
	}

	// Purge removes the silences that ended before its cut-off only.
	if err := s.Purge(ctx, T0.Add(-48*time.Hour), T0.Add(90*time.Minute)); err != nil {
		t.Fatalf("Purge: %v", err)
	}
	got, err = s.ListSilences(ctx)
	if err != nil {
		t.Fatalf("ListSilences: %v", err)
	}
	var ids []string
	for _, sl := range got {
		ids = append(ids, sl.ID)
	}
	if !slices.Equal(ids, []string{"a-later", "b-later"}) {
		t.Errorf("after purge silences = %q, want [a-later b-later]", ids)
	}
}
