package ingest

import (
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// commonAlert is the part of the Azure Monitor common alert schema a
// connected-devices metric alert needs.
type commonAlert struct {
	SchemaID rawJSON `json:"schemaId"`
	Data     struct {
		Essentials struct {
			AlertID          rawJSON   `json:"alertId"`
			MonitorCondition rawJSON   `json:"monitorCondition"`
			AlertTargetIDs   []rawJSON `json:"alertTargetIDs"`
			FiredDateTime    rawJSON   `json:"firedDateTime"`
			ResolvedDateTime rawJSON   `json:"resolvedDateTime"`
		} `json:"essentials"`
		AlertContext struct {
			Condition struct {
				AllOf []struct {
					MetricName rawJSON `json:"metricName"`
				} `json:"allOf"`
			} `json:"condition"`
		} `json:"alertContext"`
	} `json:"data"`
}

// MetricAlert parses an Azure Monitor alert in the common alert schema, as an
// action group posts it to the MetricAlert function. Only alerts on the
// connected-devices metric (connectedDeviceCount, or the deprecated
// devices.connectedDevices.allProtocol) of an IoT hub are kept, as
// event.MetricFired / event.MetricResolved with Device empty; other alerts are
// Ignored; malformed ones are skipped with a reason.
func MetricAlert(body []byte, res *Result) {
	res.Read++
	if len(body) > MaxEventSize {
		res.Skip("too large")
		return
	}
	if !utf8.Valid(body) {
		res.Skip("invalid utf-8")
		return
	}
	b, ok := peel(body)
	if !ok || b[0] != '{' {
		res.Skip("bad json")
		return
	}
	var a commonAlert
	if err := json.Unmarshal(b, &a); err != nil {
		res.Skip("bad json")
		return
	}
	schema, _ := a.SchemaID.str()
	if !strings.EqualFold(schema, "azureMonitorCommonAlertSchema") {
		res.Ignored++
		return
	}
	connected := false
	for _, c := range a.Data.AlertContext.Condition.AllOf {
		name, _ := c.MetricName.str()
		if strings.EqualFold(name, "connectedDeviceCount") || strings.EqualFold(name, "devices.connectedDevices.allProtocol") {
			connected = true
			break
		}
	}
	if !connected {
		res.Ignored++
		return
	}
	ess := &a.Data.Essentials
	cond, _ := ess.MonitorCondition.str()
	var kind event.Kind
	var ts string
	switch {
	case strings.EqualFold(cond, "Fired"):
		kind = event.MetricFired
		ts, _ = ess.FiredDateTime.str()
	case strings.EqualFold(cond, "Resolved"):
		kind = event.MetricResolved
		ts, _ = ess.ResolvedDateTime.str()
	default:
		res.Skip("bad monitorCondition")
		return
	}
	var hub string
	if len(ess.AlertTargetIDs) > 0 {
		target, _ := ess.AlertTargetIDs[0].str()
		hub = hubFromResourceID(target)
	}
	if hub == "" {
		res.Skip("no hub")
		return
	}
	t, ok := parseTime(ts)
	if !ok {
		res.Skip("bad time")
		return
	}
	alertID, _ := ess.AlertID.str()
	e := event.Event{
		Source: event.Metric,
		Kind:   kind,
		Hub:    hub,
		Time:   t,
	}
	e.ID = event.NewID(&e, alertID+cond)
	res.Keep(e)
}
