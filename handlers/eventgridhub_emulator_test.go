package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/api"
	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost"
	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost/emulator"
	"github.com/disconnect-doctor/disconnect-doctor/sim"
)

// TestEmulatorEventGridThroughEventHub: an Event Grid subscription with an
// Event Hubs endpoint writes one event a message (the simulator's Event Grid
// deliveries: an array of one in the Event Grid schema, or a CloudEvents
// object) with the aeg-* application properties; ConnectionStateRoute reads
// them in the batches the trigger forms under host.json's rule, over two
// partitions. Every event is kept, under the writer
// eventgrid/<EventHubName>/<PartitionId>, and health counts them once.
func TestEmulatorEventGridThroughEventHub(t *testing.T) {
	h := emulator.Start(t, emulator.Options{Env: memoryEnv(), FunctionTimeout: time.Minute})
	ctx := context.Background()
	cfg := sim.DefaultConfig(3)
	cfg.Devices, cfg.Duration, cfg.SiteOutages = 40, time.Hour, 0
	out := sim.Generate(cfg)
	const partitions = 2
	msgs := make([][]sim.Message, partitions)
	events := 0
	for i, m := range out.EventGrid {
		msgs[i%partitions] = append(msgs[i%partitions], m)
		events += len(funchost.SplitEventGrid(m.Body))
	}
	if events != len(out.EventGrid) {
		t.Fatalf("the simulator's deliveries carry %d events for %d deliveries: not one a message", events, len(out.EventGrid))
	}
	rule := h.Host.BatchRule()
	kept, invocations := 0, 0
	for p, ms := range msgs {
		enq := make([]time.Time, len(ms))
		for i, m := range ms {
			enq[i] = m.Enqueued
		}
		var batches []emulator.Batch
		for _, fb := range rule.Form(enq) {
			var b emulator.Batch
			for i := fb.From; i < fb.To; i++ {
				b.Bodies = append(b.Bodies, ms[i].Body)
				b.Props = append(b.Props, map[string]any{"aeg-subscription-name": "DCDOCTOR-CONNECTIONS", "aeg-delivery-count": "0",
					"aeg-event-type": "Notification", "aeg-metadata-version": "1", "aeg-data-version": "1", "aeg-output-event-id": fmt.Sprint(i)})
			}
			b.Opts = []funchost.EventOption{funchost.Enqueued(enq[fb.From:fb.To]...)}
			batches = append(batches, b)
		}
		part := fmt.Sprint(p)
		for _, o := range h.DeliverPartition(ctx, FnConnectionStateRoute, part, batches) {
			invocations++
			r := o.Last()
			if r.Failed() {
				t.Fatalf("partition %s: %v %s", part, r.Err, r.Body)
			}
			logs := strings.Join(r.Logs, "\n")
			n := o.Invocation.Count
			want := fmt.Sprintf("ConnectionStateRoute eventgrid/connection-state/%s: %d messages, read %d, kept %d,", part, n, n, n)
			if !strings.Contains(logs, want) {
				t.Fatalf("Logs %q lack %q", logs, want)
			}
			kept += n
		}
	}
	if kept != events {
		t.Errorf("kept %d of %d events", kept, events)
	}
	if invocations >= events {
		t.Errorf("%d invocations for %d events: the trigger's batching (%+v) formed no batch", invocations, events, rule)
	}
	if r := h.Invoke(ctx, h.Timer(FnEvaluate), 0, nil); r.Failed() {
		t.Fatalf("Evaluate: %v %s", r.Err, r.Body)
	}
	r := h.Invoke(ctx, h.HTTP(FnApi, "GET", "api/v1/health", nil, nil, nil), 0, nil)
	res, err := r.HTTPResponse("res")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("health: %+v %v", res, err)
	}
	var health api.Health
	if err := json.Unmarshal([]byte(res.Body), &health); err != nil {
		t.Fatalf("health %s: %v", res.Body, err)
	}
	if health.Kept != int64(events) || health.Writers != partitions {
		t.Errorf("health kept %d from %d writers, want %d from %d", health.Kept, health.Writers, events, partitions)
	}
	t.Logf("%d events in %d invocations over %d partitions (%+v)", events, invocations, partitions, rule)
}
