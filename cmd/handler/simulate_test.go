package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azeventhubs/v2"

	"github.com/disconnect-doctor/disconnect-doctor/sim"
)

// fakeBatcher stands at the Event Hubs boundary: batches hold at most limit
// bytes, as the hub's batch size limit makes the SDK's batches do.
type fakeBatcher struct {
	limit   int
	sent    [][][]byte
	failAt  int // fail the n-th Send (1-based); 0 never
	created int
}

type fakeBatch struct {
	limit  int
	bodies [][]byte
	size   int
}

func (f *fakeBatcher) NewBatch(context.Context) (batch, error) {
	f.created++
	return &fakeBatch{limit: f.limit}, nil
}

func (f *fakeBatcher) Send(_ context.Context, b batch) error {
	if f.failAt > 0 && len(f.sent)+1 == f.failAt {
		return errors.New("link detached")
	}
	f.sent = append(f.sent, b.(*fakeBatch).bodies)
	return nil
}

func (b *fakeBatch) Add(body []byte) error {
	if b.size+len(body) > b.limit {
		return azeventhubs.ErrEventDataTooLarge
	}
	b.bodies = append(b.bodies, body)
	b.size += len(body)
	return nil
}

func (b *fakeBatch) Len() int { return len(b.bodies) }

func msgs(sizes ...int) []sim.Message {
	out := make([]sim.Message, len(sizes))
	for i, n := range sizes {
		out[i] = sim.Message{Body: bytes.Repeat([]byte{byte('a' + i)}, n)}
	}
	return out
}

func TestSendAllSplitsAtTheSizeLimit(t *testing.T) {
	fb := &fakeBatcher{limit: 100}
	st, err := sendAll(context.Background(), fb, msgs(40, 40, 40, 100, 10), nil)
	if err != nil {
		t.Fatal(err)
	}
	// 40+40 fit; the third 40 does not, so the batch goes and a new one
	// starts; the 100 cannot join the 40; the 10 cannot join the 100.
	want := [][]int{{40, 40}, {40}, {100}, {10}}
	if st.bodies != 5 || st.batches != len(want) || len(fb.sent) != len(want) {
		t.Fatalf("stats %+v, sent %d batches", st, len(fb.sent))
	}
	next := byte('a')
	for i, b := range fb.sent {
		if len(b) != len(want[i]) {
			t.Fatalf("batch %d has %d bodies, want %v", i, len(b), want)
		}
		for j, body := range b {
			if len(body) != want[i][j] || body[0] != next {
				t.Fatalf("batch %d body %d: %d bytes of %q, want %d of %q", i, j, len(body), body[0], want[i][j], next)
			}
			next++
		}
	}
}

func TestSendAllRejectsABodyThatNeverFits(t *testing.T) {
	fb := &fakeBatcher{limit: 50}
	st, err := sendAll(context.Background(), fb, msgs(10, 60, 10), nil)
	if err == nil || !strings.Contains(err.Error(), "body 1 (60 bytes)") || !errors.Is(err, azeventhubs.ErrEventDataTooLarge) {
		t.Fatalf("err %v", err)
	}
	if st.bodies != 1 {
		t.Errorf("bodies %d", st.bodies)
	}
}

func TestSendAllReportsSendFailures(t *testing.T) {
	fb := &fakeBatcher{limit: 50, failAt: 2}
	_, err := sendAll(context.Background(), fb, msgs(30, 30, 30), nil)
	if err == nil || !strings.Contains(err.Error(), "send batch 2") {
		t.Fatalf("err %v", err)
	}
}

func TestSendAllPacesOnTheFleetClock(t *testing.T) {
	t0 := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	now := t0
	var slept []time.Duration
	fb := &fakeBatcher{limit: 1000}
	p := &pacer{now: func() time.Time { return now }, sleep: func(_ context.Context, d time.Duration) error {
		slept = append(slept, d)
		now = now.Add(d)
		return nil
	}}
	ms := msgs(10, 10, 10)
	ms[0].Enqueued = t0
	ms[1].Enqueued = t0.Add(30 * time.Second)
	ms[2].Enqueued = t0.Add(30 * time.Second)
	st, err := sendAll(context.Background(), fb, ms, p)
	if err != nil {
		t.Fatal(err)
	}
	// The first body goes out before waiting for the second's time; the
	// second and third share a batch.
	if len(slept) != 1 || slept[0] != 30*time.Second || st.batches != 2 || len(fb.sent[0]) != 1 || len(fb.sent[1]) != 2 {
		t.Fatalf("slept %v, stats %+v, sent %d/%d", slept, st, len(fb.sent[0]), len(fb.sent[1]))
	}
}

func TestSimulateFlags(t *testing.T) {
	var out bytes.Buffer
	if err := simulate(context.Background(), []string{"--out", t.TempDir(), "--eventhub"}, &out); err == nil {
		t.Error("both --out and --eventhub accepted")
	}
	if err := simulate(context.Background(), nil, &out); err == nil {
		t.Error("neither --out nor --eventhub accepted")
	}
	t.Setenv(connEnv, "")
	if err := simulate(context.Background(), []string{"--eventhub", "--hours", "0.1"}, &out); err == nil ||
		!strings.Contains(err.Error(), "--namespace") {
		t.Errorf("--eventhub without namespace: %v", err)
	}
	t.Setenv(connEnv, "Endpoint=nonsense;SharedAccessKey=TOPSECRET")
	err := simulate(context.Background(), []string{"--eventhub", "--hours", "0.1"}, &out)
	if err == nil || strings.Contains(err.Error(), "TOPSECRET") {
		t.Errorf("bad connection string: %v", err)
	}
}
