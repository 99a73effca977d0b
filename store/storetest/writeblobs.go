package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// blobMap lists every blob of a kind as key → data.
func blobMap(t *testing.T, s store.Store, kind store.BlobKind) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	if err := s.ListBlobs(t.Context(), kind, func(bs []store.Blob) error {
		for _, b := range bs {
			out[b.Key] = b.Data
		}
		return nil
	}); err != nil {
		t.Fatalf("ListBlobs(%s): %v", kind, err)
	}
	return out
}

// testBlobsWrite: WriteBlobs puts and deletes in one call, unconditionally,
// with the put winning over a delete of the same key, missing deletes
// ignored, large and nasty-keyed blobs and more than one transaction's
// worth of rows.
func testBlobsWrite(t *testing.T, s store.Store) {
	ctx := t.Context()
	kind := store.MetaBlobs
	if _, err := s.PutBlobs(ctx, kind, []store.Blob{{Key: "old", Data: []byte("old")}, {Key: "keep", Data: []byte("v1")}}); err != nil {
		t.Fatalf("PutBlobs: %v", err)
	}
	large := bytes.Repeat([]byte("0123456789abcdef"), 20_000) // several entity properties
	puts := []store.Blob{
		{Key: "keep", Data: []byte("v2"), ETag: "W/\"stale\""}, // ETags are ignored
		{Key: "new", Data: []byte{}},
		{Key: "large", Data: large},
		{Key: "both", Data: []byte("put wins")},
	}
	for i, k := range NastyKeys {
		puts = append(puts, store.Blob{Key: "n/" + k, Data: []byte(fmt.Sprint(i))})
	}
	if err := s.WriteBlobs(ctx, kind, puts, []string{"old", "never-there", "both", "never-there"}); err != nil {
		t.Fatalf("WriteBlobs: %v", err)
	}
	want := map[string][]byte{"keep": []byte("v2"), "new": {}, "large": large, "both": []byte("put wins")}
	for i, k := range NastyKeys {
		want["n/"+k] = []byte(fmt.Sprint(i))
	}
	if got := blobMap(t, s, kind); !maps.EqualFunc(got, want, bytes.Equal) {
		t.Fatalf("after WriteBlobs keys = %q, want %q", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	// Written rows are ordinary blobs: a conditional put on the ETag read
	// works.
	b, err := s.GetBlob(ctx, kind, "keep")
	if err != nil || string(b.Data) != "v2" || b.ETag == "" {
		t.Fatalf("GetBlob(keep) = %+v, %v", b, err)
	}
	if _, err := s.PutBlobs(ctx, kind, []store.Blob{{Key: "keep", Data: []byte("v3"), ETag: b.ETag}}); err != nil {
		t.Fatalf("PutBlobs on WriteBlobs' row with its ETag: %v", err)
	}

	// More rows than one transaction holds, with deletes among them.
	var many []store.Blob
	for i := range 250 {
		many = append(many, store.Blob{Key: fmt.Sprintf("m%03d", i), Data: []byte{byte(i)}})
	}
	if err := s.WriteBlobs(ctx, store.DeviceBlobs, many, nil); err != nil {
		t.Fatalf("WriteBlobs(250): %v", err)
	}
	var gone []string
	for i := 0; i < 250; i += 2 {
		gone = append(gone, fmt.Sprintf("m%03d", i))
	}
	if err := s.WriteBlobs(ctx, store.DeviceBlobs, []store.Blob{{Key: "m001", Data: []byte("x")}}, gone); err != nil {
		t.Fatalf("WriteBlobs(delete 125): %v", err)
	}
	got := blobMap(t, s, store.DeviceBlobs)
	if len(got) != 125 || string(got["m001"]) != "x" || got["m002"] != nil || !bytes.Equal(got["m249"], []byte{249}) {
		t.Fatalf("after deleting the even rows: %d rows, m001=%q m002=%q m249=%v", len(got), got["m001"], got["m002"], got["m249"])
	}
	// Nothing to do is no error; invalid input is refused before any write.
	if err := s.WriteBlobs(ctx, kind, nil, nil); err != nil {
		t.Fatalf("WriteBlobs(nothing): %v", err)
	}
	for _, bad := range [][]store.Blob{
		{{Key: ""}},
		{{Key: "k"}, {Key: "k"}},
		{{Key: "ok", Data: []byte("ok")}, {Key: "big", Data: make([]byte, store.MaxBlobSize+1)}},
	} {
		if err := s.WriteBlobs(ctx, kind, bad, nil); err == nil {
			t.Errorf("WriteBlobs(%d blobs, first key %q) accepted invalid input", len(bad), bad[0].Key)
		}
	}
	if _, err := s.GetBlob(ctx, kind, "ok"); err == nil {
		t.Errorf("WriteBlobs with an invalid blob wrote the valid one beside it")
	}
}

// testBlobsWriteFenced: WriteBlobs carries the context's fence like the
// other state writes: a late holder's puts and deletes are refused with
// ErrFenced and change nothing, on device blobs (spread over partitions)
// and meta rows alike; the successor writes on.
func testBlobsWriteFenced(t *testing.T, s store.Store) {
	ctx := t.Context()
	old := store.WithFence(ctx, store.Fence{Name: "evaluate", Epoch: 1})
	succ := store.WithFence(ctx, store.Fence{Name: "evaluate", Epoch: 2})
	rows := func(data string) []store.Blob {
		bs := make([]store.Blob, 40)
		for i := range bs {
			bs[i] = store.Blob{Key: fmt.Sprintf("hub/dev%02d", i), Data: []byte(data)}
		}
		return bs
	}
	for _, w := range []struct {
		ctx  context.Context
		data string
	}{{old, "epoch 1"}, {succ, "epoch 2"}} {
		if err := s.WriteBlobs(w.ctx, store.DeviceBlobs, rows(w.data), nil); err != nil {
			t.Fatalf("WriteBlobs(%s): %v", w.data, err)
		}
		if err := s.WriteBlobs(w.ctx, store.MetaBlobs, []store.Blob{{Key: "watch", Data: []byte(w.data)}}, nil); err != nil {
			t.Fatalf("WriteBlobs(meta, %s): %v", w.data, err)
		}
	}
	if err := s.WriteBlobs(old, store.DeviceBlobs, rows("late"), nil); !errors.Is(err, store.ErrFenced) {
		t.Errorf("the late holder's device rows: %v, want ErrFenced", err)
	}
	if err := s.WriteBlobs(old, store.MetaBlobs, []store.Blob{{Key: "watch", Data: []byte("late")}}, []string{"hub/dev01"}); !errors.Is(err, store.ErrFenced) {
		t.Errorf("the late holder's meta row: %v, want ErrFenced", err)
	}
	if err := s.WriteBlobs(old, store.DeviceBlobs, nil, []string{"hub/dev01"}); !errors.Is(err, store.ErrFenced) {
		t.Errorf("the late holder's delete: %v, want ErrFenced", err)
	}
	got := blobMap(t, s, store.DeviceBlobs)
	if len(got) != 40 {
		t.Fatalf("%d device rows after the late writes, want 40", len(got))
	}
	for k, v := range got {
		if string(v) != "epoch 2" {
			t.Errorf("device row %s = %q after the late writes, want the successor's", k, v)
		}
	}
	if b, err := s.GetBlob(ctx, store.MetaBlobs, "watch"); err != nil || string(b.Data) != "epoch 2" {
		t.Errorf("meta row = %q, %v; want the successor's", b.Data, err)
	}
	if err := s.WriteBlobs(succ, store.DeviceBlobs, rows("epoch 2 again"), []string{"hub/never-written"}); err != nil {
		t.Fatalf("the successor writes on: %v", err)
	}
}
