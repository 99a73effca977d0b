package handlers

import (
	"context"

	"github.com/disconnect-doctor/disconnect-doctor/ingest"
)

// writerEventGrid is the ingest writer of Event Grid deliveries: they carry
// no partition, and their progress is tracked as one stream.
const writerEventGrid = "eventgrid"

// connectionEvents is the ConnectionEvents function: Event Grid
// Microsoft.Devices.* events (Event Grid schema or CloudEvents, one or an
// array). How the host hands Data.event over is only inferred (reference
// §2.4), so both shapes are passed on as they came: double-encoded JSON text
// (ingest.EventGridEvents peels string layers itself) or an object.
func (h *handler) connectionEvents(ctx context.Context, inv *invocation) response {
	var res ingest.Result
	if len(inv.event) == 0 || string(inv.event) == "null" {
		res.Skip("no event")
	} else {
		ingest.EventGridEvents(inv.event, &res)
	}
	return h.ingest(ctx, FnConnectionEvents, writerEventGrid, -1, &res, inv.retryCount)
}
