package handlers

import (
	"context"
	"net/http"

	"github.com/disconnect-doctor/disconnect-doctor/ingest"
)

// writerMetric is the ingest writer of Azure Monitor metric alerts.
const writerMetric = "metric"

// metricAlert is the MetricAlert function (POST /api/hooks/metric-alert): an
// Azure Monitor common-alert-schema alert on connectedDeviceCount, which
// corroborates a burst. The caller gets 200 when the alert was read (kept or
// ignored as not ours) and 400 when the body is not an alert; either way the
// invocation succeeds. Only a Backend failure fails it, so the caller sees a
// 5xx and Azure Monitor retries.
func (h *handler) metricAlert(ctx context.Context, inv *invocation) response {
	req := decodeHTTPRequest(inv.req)
	var res ingest.Result
	if b := req.body(); len(b) == 0 {
		res.Skip("empty body")
	} else {
		ingest.MetricAlert(b, &res)
	}
	if err := h.b.Ingest(ctx, writerMetric, &res); err != nil {
		return response{err: err}
	}
	status, out := http.StatusOK, map[string]any{
		"status": "accepted", "read": res.Read, "kept": len(res.Events), "ignored": res.Ignored,
	}
	if len(res.Events) == 0 && res.Ignored == 0 {
		status, out = http.StatusBadRequest, map[string]any{"error": "not a metric alert: " + res.Summary()}
	}
	return response{
		Outputs: httpOutput(status, out),
		Logs:    []string{summaryLine(FnMetricAlert, writerMetric, -1, &res, inv.retryCount)},
	}
}
