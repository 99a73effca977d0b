package handlers

import (
	"context"

	"github.com/disconnect-doctor/disconnect-doctor/ingest"
)

// diagnosticLogs is the DiagnosticLogs function: an Event Hubs batch of IoT
// Hub resource-log bodies ({"records":[…]}, any category) streamed by a
// diagnostic setting. Each body goes through ingest.ResourceLogs; the batch's
// events are stored under the partition's writer.
func (h *handler) diagnosticLogs(ctx context.Context, inv *invocation) response {
	writer := inv.writer(FnDiagnosticLogs)
	var res *ingest.Result
	var n int
	var ok bool
	if s := inv.sink; s != nil && s.done {
		// Parsed while the request was read (decodeInvocationFor).
		res, n, ok = &s.res, s.n, s.ok
	} else {
		res = new(ingest.Result)
		n, ok = forEachBody(inv.events, func(_ int, b []byte) {
			ingest.ResourceLogs(b, res)
		})
	}
	if !ok {
		res.Skip("bad batch json")
	}
	res.Batch = inv.batchID()
	return h.ingest(ctx, FnDiagnosticLogs, writer, n, res, inv.retryCount)
}

// ingest hands a parsed batch to the Backend and renders the invocation's
// answer: the summary line in Logs, or the Backend's error (500, retried).
func (h *handler) ingest(ctx context.Context, fn, writer string, messages int, res *ingest.Result, retry int) response {
	if err := h.b.Ingest(ctx, writer, res); err != nil {
		return response{err: err}
	}
	return response{Logs: []string{summaryLine(fn, writer, messages, res, retry)}}
}
