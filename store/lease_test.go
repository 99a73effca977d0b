package store_test

import (
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/disconnect-doctor/disconnect-doctor/internal/azurite"
	"github.com/disconnect-doctor/disconnect-doctor/internal/faultproxy"
	"github.com/disconnect-doctor/disconnect-doctor/store/storetest"
)

// TestTableLeaseRenewalIsOneRequest: a holder renewing the lease row its
// process last wrote does it with one conditional write; once another
// process (its own Table) has taken the lease, that write fails on the
// ETag and the old holder, reading the row, is refused — the renewal
// shortcut never lets a stale holder keep a lease it lost.
func TestTableLeaseRenewalIsOneRequest(t *testing.T) {
	t.Parallel() // its own Azurite: runs beside the other Azurite tests
	srv := azurite.Start(t, azurite.Options{})
	px := faultproxy.Start(t, "http://"+srv.Addr(), 1)
	prefix := srv.Prefix() // both processes on the same tables
	a := openTable(t, azurite.ConnStringFor(px.URL()), prefix, policy.RetryOptions{})
	b := openTable(t, azurite.ConnStringFor(px.URL()), prefix, policy.RetryOptions{})
	ctx := t.Context()
	t0 := storetest.T0
	if ep, err := a.AcquireLease(ctx, "evaluate", "a", t0, t0.Add(time.Minute)); ep != 1 || err != nil {
		t.Fatalf("first acquire = %d, %v", ep, err)
	}
	for i := 1; i <= 3; i++ {
		before, _ := px.Counts()
		now := t0.Add(time.Duration(i) * 30 * time.Second)
		if ep, err := a.AcquireLease(ctx, "evaluate", "a", now, now.Add(time.Minute)); ep != 1 || err != nil {
			t.Fatalf("renewal %d = %d, %v", i, ep, err)
		}
		if after, _ := px.Counts(); after-before != 1 {
			t.Errorf("renewal %d took %d requests, want 1", i, after-before)
		}
	}
	// b cannot take a live lease; once it has run out, b takes it.
	if ep, err := b.AcquireLease(ctx, "evaluate", "b", t0.Add(2*time.Minute), t0.Add(3*time.Minute)); ep != 0 || err != nil {
		t.Fatalf("b on a live lease = %d, %v; want refused", ep, err)
	}
	if ep, err := b.AcquireLease(ctx, "evaluate", "b", t0.Add(3*time.Minute), t0.Add(4*time.Minute)); ep != 2 || err != nil {
		t.Fatalf("b after expiry = %d, %v; want epoch 2", ep, err)
	}
	// a, paused meanwhile, tries its one-write renewal: refused.
	if ep, err := a.AcquireLease(ctx, "evaluate", "a", t0.Add(3*time.Minute+time.Second), t0.Add(5*time.Minute)); ep != 0 || err != nil {
		t.Fatalf("stale holder a = %d, %v; want refused", ep, err)
	}
	// b renews with one request; a takes the lease back only after b's ran out.
	before, _ := px.Counts()
	if ep, err := b.AcquireLease(ctx, "evaluate", "b", t0.Add(3*time.Minute+30*time.Second), t0.Add(5*time.Minute)); ep != 2 || err != nil {
		t.Fatalf("b renews = %d, %v", ep, err)
	}
	if after, _ := px.Counts(); after-before != 1 {
		t.Errorf("b's renewal took %d requests, want 1", after-before)
	}
	if ep, err := a.AcquireLease(ctx, "evaluate", "a", t0.Add(5*time.Minute), t0.Add(6*time.Minute)); ep != 3 || err != nil {
		t.Fatalf("a after b's expiry = %d, %v; want epoch 3", ep, err)
	}
}
