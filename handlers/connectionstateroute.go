package handlers

import (
	"context"
	"encoding/json"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/ingest"
)

// connectionStateRoute is the ConnectionStateRoute function: IoT Hub
// message-routing DeviceConnectionStateEvents delivered to an Event Hub. The
// operation (opType), hub and device travel in the application properties,
// so each body is parsed together with its PropertiesArray entry and its
// EnqueuedTimeUtcArray entry (the fallback event time).
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
	n, ok := forEachBody(inv.events, func(i int, b []byte) {
		var p map[string]any
		if i < len(props) {
			p = props[i]
		}
		var at time.Time
		if i < len(enqueued) {
			at, _ = parseHostTime(enqueued[i])
		}
		ingest.RouteMessage(b, p, at, &res)
	})
	if !ok {
		res.Skip("bad batch json")
	}
	res.Batch = inv.batchID()
	return h.ingest(ctx, FnConnectionStateRoute, writer, n, &res, inv.retryCount)
}
