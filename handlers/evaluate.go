package handlers

import (
	"context"
	"encoding/json"
	"fmt"
)

// timerInfo is the part of the host's TimerInfo the Evaluate function
// reports. ScheduleStatus is null when the schedule monitor is off and has
// been seen with unparsable times (azure-functions-host#7391), so it is read
// leniently and only for the log line.
type timerInfo struct {
	IsPastDue      bool `json:"IsPastDue"`
	ScheduleStatus *struct {
		Last string `json:"Last"`
		Next string `json:"Next"`
	} `json:"ScheduleStatus"`
}

// evaluate is the Evaluate function (timer, every 30 s): one Backend tick
// (watermark, verdicts, incidents, alerts, outbox, retention).
func (h *handler) evaluate(ctx context.Context, inv *invocation) response {
	var ti timerInfo
	if len(inv.timer) > 0 {
		_ = json.Unmarshal(inv.timer, &ti) // lenient: a bad TimerInfo changes nothing
	}
	summary, err := h.b.Evaluate(ctx)
	if err != nil {
		return response{err: err}
	}
	line := FnEvaluate + ": " + summary
	if ti.IsPastDue {
		line += " (past due)"
	}
	if inv.retryCount > 0 {
		line += fmt.Sprintf(" (retry %d)", inv.retryCount)
	}
	return response{Logs: []string{line}}
}
