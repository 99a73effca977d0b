package sim

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// alertBody is the common alert schema of an Azure Monitor metric alert
// (reference §5 (b)).
type alertBody struct {
	SchemaID string    `json:"schemaId"`
	Data     alertData `json:"data"`
}

type alertData struct {
	Essentials   essentials   `json:"essentials"`
	AlertContext alertContext `json:"alertContext"`
}

type essentials struct {
	AlertID             string   `json:"alertId"`
	AlertRule           string   `json:"alertRule"`
	Severity            string   `json:"severity"`
	SignalType          string   `json:"signalType"`
	MonitorCondition    string   `json:"monitorCondition"`
	MonitoringService   string   `json:"monitoringService"`
	AlertTargetIDs      []string `json:"alertTargetIDs"`
	ConfigurationItems  []string `json:"configurationItems"`
	OriginAlertID       string   `json:"originAlertId"`
	FiredDateTime       string   `json:"firedDateTime"`
	ResolvedDateTime    string   `json:"resolvedDateTime,omitempty"`
	Description         string   `json:"description"`
	EssentialsVersion   string   `json:"essentialsVersion"`
	AlertContextVersion string   `json:"alertContextVersion"`
}

type alertContext struct {
	Properties    any            `json:"properties"`
	ConditionType string         `json:"conditionType"`
	Condition     alertCondition `json:"condition"`
}

type alertCondition struct {
	WindowSize      string          `json:"windowSize"`
	AllOf           []metricCrition `json:"allOf"`
	WindowStartTime string          `json:"windowStartTime"`
	WindowEndTime   string          `json:"windowEndTime"`
}

type metricCrition struct {
	MetricName      string  `json:"metricName"`
	MetricNamespace string  `json:"metricNamespace"`
	Operator        string  `json:"operator"`
	Threshold       string  `json:"threshold"`
	TimeAggregation string  `json:"timeAggregation"`
	Dimensions      []any   `json:"dimensions"`
	MetricValue     float64 `json:"metricValue"`
	WebTestName     any     `json:"webTestName"`
}

// metricAlerts computes connectedDeviceCount (minimum per minute) from the
// devices' real connection states and evaluates a static-threshold metric
// alert on it (Minimum over 5 min, evaluated every minute, auto-mitigated):
// Fired at a dip, Resolved when the window is clean again. The alert follows
// the metric, not the incidents, so a large enough synchronized token renewal
// could fire it too — as it would in Azure.
func (s *sim) metricAlerts(out *Output) {
	r := newRNG(s.cfg.Seed, 4)
	minutes := int(s.cfg.Duration / time.Minute)
	if minutes <= 0 {
		return
	}
	type ev struct {
		t   time.Time
		dev int
		on  bool
	}
	var evs []ev
	for _, d := range s.devices {
		if d.module != "" {
			continue
		}
		for _, c := range d.changes {
			evs = append(evs, ev{c.t, d.idx, c.connected})
		}
	}
	slices.SortStableFunc(evs, func(a, b ev) int { return a.t.Compare(b.t) })
	on := make([]bool, len(s.devices))
	for i := range on {
		on[i] = true
	}
	count := s.cfg.Devices
	mins := make([]int, minutes)
	k := 0
	for m := range minutes {
		lo := count
		mEnd := s.start.Add(time.Duration(m+1) * time.Minute)
		for k < len(evs) && evs[k].t.Before(mEnd) {
			e := evs[k]
			k++
			if on[e.dev] == e.on {
				continue
			}
			on[e.dev] = e.on
			if e.on {
				count++
			} else {
				count--
				lo = min(lo, count)
			}
		}
		mins[m] = lo
	}
	threshold := int(s.cfg.MetricThreshold * float64(s.cfg.Devices))
	target := strings.ToLower("/subscriptions/" + s.cfg.Subscription + "/resourcegroups/" + s.cfg.ResourceGroup +
		"/providers/microsoft.devices/iothubs/" + s.cfg.Hub)
	firing := false
	var alertID, firedAt string
	const window = 5
	for m := 1; m <= minutes; m++ {
		lo := mins[m-1]
		for w := max(0, m-window); w < m; w++ {
			lo = min(lo, mins[w])
		}
		below := lo < threshold
		if below == firing {
			continue
		}
		firing = below
		evalAt := s.start.Add(time.Duration(m)*time.Minute + uniform(r, 30*time.Second, 150*time.Second))
		cond := "Resolved"
		if firing {
			cond = "Fired"
			alertID = "/subscriptions/" + strings.ToLower(s.cfg.Subscription) + "/providers/Microsoft.AlertsManagement/alerts/" + guid(r)
			firedAt = evalAt.Format(fracTime)
			out.Stats.MetricAlertFired++
		}
		b := alertBody{SchemaID: "azureMonitorCommonAlertSchema", Data: alertData{
			Essentials: essentials{AlertID: alertID, AlertRule: s.cfg.Hub + "-connected-devices-dip", Severity: "Sev1",
				SignalType: "Metric", MonitorCondition: cond, MonitoringService: "Platform", AlertTargetIDs: []string{target},
				ConfigurationItems: []string{s.cfg.Hub}, OriginAlertID: fmt.Sprintf("%s_%s", s.cfg.Hub, firedAt[:10]),
				FiredDateTime: firedAt, Description: "Connected devices below threshold", EssentialsVersion: "1.0",
				AlertContextVersion: "1.0"},
			AlertContext: alertContext{ConditionType: "SingleResourceMultipleMetricCriteria", Condition: alertCondition{
				WindowSize: "PT5M",
				AllOf: []metricCrition{{MetricName: "connectedDeviceCount", MetricNamespace: "Microsoft.Devices/IotHubs",
					Operator: "LessThan", Threshold: strconv.Itoa(threshold), TimeAggregation: "Minimum", Dimensions: []any{},
					MetricValue: float64(lo)}},
				WindowStartTime: s.start.Add(time.Duration(m-window) * time.Minute).Format(fracTime),
				WindowEndTime:   s.start.Add(time.Duration(m) * time.Minute).Format(fracTime),
			}},
		}}
		if !firing {
			b.Data.Essentials.ResolvedDateTime = evalAt.Format(fracTime)
		}
		out.MetricAlerts = append(out.MetricAlerts, Message{Body: mustJSON(b), Enqueued: evalAt.Add(uniform(r, time.Second, 20*time.Second)).Round(time.Millisecond)})
	}
}
