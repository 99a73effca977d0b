package handlers

import (
	"context"
	"encoding/json"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/ingest"
)

// connectionStateRoute is the ConnectionStateRoute function: IoT Hub
// message-routing DeviceConnectionStateEvents delivered to an Event Hub, or
// Event Grid device events delivered to one by a subscription with an Event
// Hubs endpoint (ingest.StateMessage tells them apart). The operation
// (opType), hub and device of a routed message travel in the application
// properties, so each body is parsed together with its PropertiesArray entry
// and its EnqueuedTimeUtcArray entry (the fallback event time).
//
// A batch of Event Grid events only is stored under the writer
// "eventgrid/<EventHubName>/<PartitionId>", which never holds the watermark
// (PRODUCT.md §4: Event Grid is a pushed input whatever carries it — it
// publishes whenever a device's state changes and retries late deliveries
// for up to a day, so a partition's newest event time says nothing about what
// is still to come); a batch carrying any routed message is the partition's
// own, as before.
func (h *handler) connectionStateRoute(ctx context.Context, inv *invocation) response {
	writer := inv.writer(FnConnectionStateRoute)
	var props []map[string]any
	if len(inv.properties) > 0 {
		// A malformed properties array leaves every body without properties:
		// the parser then ignores them (no opType), counted in the summary.
		_ = json.Unmarshal(inv.properties, &props)
	}
	var enqueued []string
	if len(inv.enqueued) > 0 {
		_ = json.Unmarshal(inv.enqueued, &enqueued)
	}
	var res ingest.Result
	routed, grid := 0, 0
	n, ok := forEachBody(inv.events, func(i int, b []byte) {
		var p map[string]any
		if i < len(props) {
			p = props[i]
		}
		var at time.Time
		if i < len(enqueued) {
			at, _ = parseHostTime(enqueued[i])
		}
		if ingest.StateMessage(b, p, at, &res) {
			grid++
		} else {
			routed++
		}
	})
	if grid > 0 && routed == 0 {
		writer = writerEventGrid + "/" + writer
	}
	if !ok {
		res.Skip("bad batch json")
	}
	res.Batch = inv.batchID()
	return h.ingest(ctx, FnConnectionStateRoute, writer, n, &res, inv.retryCount)
}
