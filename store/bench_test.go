package store_test

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/internal/azurite"
	"github.com/disconnect-doctor/disconnect-doctor/internal/faultproxy"
	"github.com/disconnect-doctor/disconnect-doctor/store"
	"github.com/disconnect-doctor/disconnect-doctor/store/storetest"
)

// realisticBatch is 2 000 events of a realistic mix (disconnects, connects,
// state events, operation errors) over 300 devices.
func realisticBatch(at time.Time) []event.Event {
	evs := make([]event.Event, 2000)
	for i := range evs {
		evs[i] = storetest.Event(i, "contoso-prod-hub", fmt.Sprintf("sensor-%04d", i%300), at.Add(time.Duration(i)*time.Millisecond))
	}
	return evs
}

func proxiedTable(b *testing.B) (*store.Table, *faultproxy.Proxy) {
	srv := azurite.Start(b, azurite.Options{})
	px := faultproxy.Start(b, "http://"+srv.Addr(), 1)
	return openTable(b, azurite.ConnStringFor(px.URL()), srv.Prefix(), policy.RetryOptions{}), px
}

// BenchmarkAppendEvents measures requests per appended event through the
// proxy (the number that costs money on Azure), and Azurite's throughput.
func BenchmarkAppendEvents(b *testing.B) {
	s, px := proxiedTable(b)
	ctx := b.Context()
	if err := s.AppendEvents(ctx, storetest.T0, realisticBatch(storetest.T0)[:1], nil); err != nil { // creates the table
		b.Fatal(err)
	}
	px.Reset()
	n := 0
	for b.Loop() {
		stamp := storetest.T0.Add(time.Duration(n) * time.Second)
		if err := s.AppendEvents(ctx, stamp, realisticBatch(stamp), nil); err != nil {
			b.Fatal(err)
		}
		n++
	}
	total, by := px.Counts()
	b.ReportMetric(float64(total)/float64(n*2000), "req/event")
	b.ReportMetric(float64(total)/float64(n), "req/op")
	b.Logf("%d appends of 2000 events: %d requests %v, statuses %v", n, total, by, px.Statuses())
}

// BenchmarkPutDeviceBlobs10k measures a mass write of 10 000 device blobs
// of 600 bytes: unconditional, then conditional with the returned ETags.
func BenchmarkPutDeviceBlobs10k(b *testing.B) {
	s, px := proxiedTable(b)
	ctx := b.Context()
	blobs := make([]store.Blob, 10000)
	for i := range blobs {
		blobs[i] = store.Blob{Key: fmt.Sprintf("contoso-prod-hub/sensor-%05d", i), Data: bytes.Repeat([]byte{byte(i)}, 600)}
	}
	if _, err := s.PutBlobs(ctx, store.DeviceBlobs, blobs[:1]); err != nil { // creates the table
		b.Fatal(err)
	}
	px.Reset()
	n := 0
	for b.Loop() {
		for i := range blobs {
			blobs[i].ETag = ""
		}
		tags, err := s.PutBlobs(ctx, store.DeviceBlobs, blobs)
		if err != nil {
			b.Fatal(err)
		}
		for i := range blobs {
			blobs[i].ETag = tags[i]
		}
		if _, err := s.PutBlobs(ctx, store.DeviceBlobs, blobs); err != nil {
			b.Fatal(err)
		}
		n += 2
	}
	total, by := px.Counts()
	b.ReportMetric(float64(total)/float64(n), "req/10k-write")
	b.Logf("%d mass writes of 10k blobs: %d requests %v, statuses %v", n, total, by, px.Statuses())
}

// BenchmarkMemoryPerDevice measures the heap the Memory store holds per
// tracked device (one 600-byte device blob each).
func BenchmarkMemoryPerDevice(b *testing.B) {
	const devices = 20000
	blobs := make([]store.Blob, devices)
	for i := range blobs {
		blobs[i] = store.Blob{Key: fmt.Sprintf("contoso-prod-hub/sensor-%05d", i), Data: bytes.Repeat([]byte{byte(i)}, 600)}
	}
	var perDevice float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		m := store.NewMemory()
		if _, err := m.PutBlobs(b.Context(), store.DeviceBlobs, blobs); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perDevice = float64(after.HeapAlloc-before.HeapAlloc) / devices
		runtime.KeepAlive(m)
	}
	b.ReportMetric(perDevice, "heap-B/device")
}

// BenchmarkMemoryAppendRead is the Memory store's cost per event of an
// append and a read back.
func BenchmarkMemoryAppendRead(b *testing.B) {
	m := store.NewMemory()
	ctx := b.Context()
	n := 0
	for b.Loop() {
		stamp := storetest.T0.Add(time.Duration(n) * time.Second)
		if err := m.AppendEvents(ctx, stamp, realisticBatch(stamp), nil); err != nil {
			b.Fatal(err)
		}
		if err := m.ReadEvents(ctx, stamp, stamp.Add(time.Second), func([]event.Event, []store.Mark) error { return nil }); err != nil {
			b.Fatal(err)
		}
		n++
	}
}
