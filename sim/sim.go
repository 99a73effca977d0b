// Package sim is a deterministic, truth-labelled simulator of an Azure IoT Hub
// fleet. It produces the inputs disconnect-doctor reads in production — IoT Hub
// resource-log bodies as a diagnostic setting streams them to Event Hubs, Event
// Grid DeviceConnected/DeviceDisconnected deliveries and common-alert-schema
// metric alerts — together with the ground truth: the cause of every 404104 the
// hub emitted, the hub incidents that were injected and the alerts a perfect
// system would raise.
//
// The truth follows the domain (reference/iothub-telemetry.md §2 and §6), never
// a classifier: a 404104 is token-expiry because the simulated hub cut the
// device off at its token's expiry, hub-transient because a simulated incident
// closed the connection, and so on. That is what lets the simulator measure the
// product's accuracy end to end.
//
// Generation is deterministic for a Config: the same seed gives byte-identical
// output. Generate returns a whole run at once; NewStream hands the same run
// out minute by minute (Stream.Next), holding only the records of the last
// minutes, for fleets too big to hold (`handler run --devices 100000`).
// Nothing here does I/O except WriteFiles.
package sim

import (
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
)

// SDK names a device SDK family; it decides how the simulated device renews its
// SAS token (reference/iothub-telemetry.md §6.1) and its MQTT keep-alive (§6.3).
type SDK int

const (
	// DotNet is the .NET device SDK: the hub cuts it off 5–10 min after its
	// 60-min token expires (401003 then 404104), and it reconnects at once.
	DotNet SDK = iota
	// Java behaves as .NET for tokens (60 min + hub grace), keep-alive 230 s.
	Java
	// C renews at 80 % of the TTL (48 min) with a clean MQTT DISCONNECT:
	// an Information deviceDisconnect, never a 404104.
	C
	// Node renews 15 min before expiry (45 min) with a clean MQTT DISCONNECT.
	Node
	// Python renews 120 s before expiry. The Python SDK re-authorizes by
	// disconnecting and reconnecting itself (an MQTT DISCONNECT from the
	// client), so the hub never has to enforce the expiry: we simulate it as a
	// clean renewal every ~58 min with no 401003 and no 404104. The docs only
	// say it "disconnects and reconnects at token lifespan" without naming
	// errors, unlike .NET/Java ("informational events and errors"), and the
	// renewal margin is before expiry — so a hub cut-off is not what happens.
	Python
	numSDKs
)

var sdkNames = [...]string{"dotnet", "java", "c", "node", "python"}

// String returns the lower-case SDK name.
func (s SDK) String() string {
	if s >= 0 && int(s) < len(sdkNames) {
		return sdkNames[s]
	}
	return "sdk?"
}

// Mix gives the relative weights of the SDK families in the fleet. The weights
// need not sum to 1.
type Mix struct {
	DotNet, Java, C, Node, Python float64
}

// Config describes the fleet, its faults and the delivery imperfections of the
// Azure pipelines. Start from DefaultConfig and change what a test needs.
type Config struct {
	// Seed makes the run reproducible: the same Config gives the same Output.
	Seed int64
	// Hub is the IoT hub name, e.g. "contoso-prod-hub". Records carry it in
	// the UPPER-case resourceId like real records; Event Grid in lower case.
	Hub           string
	Subscription  string // subscription GUID of the resourceId
	ResourceGroup string // resource group of the resourceId
	Location      string // hub region, lower case ("westeurope")
	// Devices is the number of device identities (>= 300 typical).
	Devices int
	// Modules is the number of extra module identities (edge modules using
	// the .NET SDK) on the first devices; their records carry moduleId.
	Modules int
	// Start and Duration bound the simulated event time (>= 8h typical).
	Start    time.Time
	Duration time.Duration
	// Settle lets the devices that are away when the run ends come back
	// after it: for Settle past the end the simulator goes on with their
	// reconnects (connect attempts, the successful connect, its Event Grid
	// event) and nothing else — no new disconnect, operation or noise, and
	// no truth. A reader that goes on past the end (handler run waits for
	// verdicts and alerts to settle) then sees a device that was cut off in
	// the last minute come back as a hub's records would show, instead of
	// every device away at the end looking offline for good. Zero ends
	// everything at the end.
	Settle time.Duration
	// Incidents is the number of hub incidents to inject. Each lasts 5–20 min:
	// a large share of connected devices get 404104 within 1–3 min, connects
	// fail with 500001/500008, twin operations and telemetry fail too, then a
	// reconnect storm and recovery.
	Incidents int
	// IncidentShare is the range of the share of connected devices an
	// incident knocks off.
	IncidentShareMin, IncidentShareMax float64
	// SiteOutages is the number of site/network outages: a group of
	// SiteDevices devices behind one masked IP drop together with no hub
	// errors (truth device-or-network).
	SiteOutages int
	SiteDevices int
	// Mix is the SDK population.
	Mix Mix
	// CustomTTLShare is the share of .NET/Java devices with a custom token
	// TTL (20 min, 3 h or 24 h) instead of 60 min.
	CustomTTLShare float64
	// AmqpShare is the share of devices on AMQP: they refresh tokens inside
	// the connection and never disconnect for it.
	AmqpShare float64
	// FlakyShare is the share of devices on an unreliable network: random
	// keep-alive-timeout 404104s, reconnect delays from seconds to tens of
	// minutes. FlakyMeanGap is the mean time between network losses.
	FlakyShare   float64
	FlakyMeanGap time.Duration
	// Crashing devices 404104 once and stay away for hours or for good.
	Crashing int
	// Flapping devices have an hour-long episode of repeated 404104s.
	Flapping int
	// RenewalFailing devices stop getting back in after a token cut-off:
	// repeated 401003 connect failures and no successful connect for hours.
	RenewalFailing int
	// DuplicateIdentity devices have two clients on one identity for a while
	// (400027 / 409002 around 404104s).
	DuplicateIdentity int
	// UnauthorizedShare is the probability that the hub logs a 401003 next to
	// a token-expiry 404104 ("sometimes you also see 401003").
	UnauthorizedShare float64
	// TokenPerConnect makes every SDK sign a new token on every connect, so
	// that a device's token clock restarts whenever it reconnects. The
	// default (false) is what the SDKs do: .NET
	// (AuthenticationWithTokenRefresh.GetTokenAsync returns the cached
	// token until 15% of its life is left), Java
	// (IotHubSasTokenAuthenticationProvider.shouldRefreshToken: expired, or
	// past its 85% buffer) reconnect after a network drop with the token
	// they had, so the hub still cuts them on the old token's schedule;
	// Python renews on an alarm its SasTokenStage starts when the pipeline
	// is initialized and re-arms with each new token, not on a connect,
	// and Node is modelled alike (inferred, not read in its source); only
	// C makes a new token on each connect (iothubtransport_mqtt_common.c
	// measures its refresh from mqtt_connect_time). The simulator of earlier versions restarted every
	// SDK's clock; this switch keeps that fleet for comparison.
	TokenPerConnect bool
	// CutDelayPerCut draws the hub's enforcement delay after a token
	// expires (5–10 minutes, reference §6.2) afresh for every cut-off,
	// instead of once per device with seconds of jitter. Which the hub does
	// is not documented (§9); the default keeps a device's cut-offs
	// regular.
	CutDelayPerCut bool
	// OpsPerDeviceHour is the rate of ordinary, successful twin operations
	// (non-evidence records the product must filter out).
	OpsPerDeviceHour float64
	// NoisePerHour is the rate of isolated background 500xxx records on twin
	// operations and telemetry (no burst). RoutesErrorsPerHour is the rate
	// of Routes-category errors (the customer's endpoints, not hub health).
	NoisePerHour        float64
	RoutesErrorsPerHour float64

	// Delivery imperfections of Azure Monitor resource logs.
	// LossRate is the share of records never delivered; DuplicateRate the
	// share delivered twice. Delays are DelayMin..DelayMax for most records
	// and, for a TailShare of them, up to TailMax.
	LossRate      float64
	DuplicateRate float64
	DelayMin      time.Duration
	DelayMax      time.Duration
	TailShare     float64
	TailMax       time.Duration
	// Partitions is the number of Event Hubs partitions; RecordsPerBody the
	// typical number of records in one Event Hubs body.
	Partitions     int
	RecordsPerBody int

	// Event Grid: CloudEventsShare of deliveries use the CloudEvents schema;
	// EventGridDuplicateRate are delivered twice (at-least-once);
	// BlipEventShare is the chance that a state change hidden inside one
	// 60-s snapshot window still produces a same-state event.
	CloudEventsShare       float64
	EventGridDuplicateRate float64
	BlipEventShare         float64

	// MetricThreshold is the connectedDeviceCount alert threshold as a share
	// of the fleet (static threshold, Minimum over a 5-min window).
	MetricThreshold float64

	// Alert rules used to derive Expect (PRODUCT.md §4 defaults).
	OfflineAfter time.Duration
	FlapCount    int
	FlapWindow   time.Duration
	FlapReset    time.Duration
}

// DefaultConfig returns a realistic 300-device, 8-hour fleet with one hub
// incident, one site outage and every device fault, delivered with Azure
// Monitor's usual delays, duplicates and a small loss.
func DefaultConfig(seed int64) Config {
	return Config{
		Seed:                   seed,
		Hub:                    "contoso-prod-hub",
		Subscription:           "9F3C2B1A-4D5E-4F60-8A7B-1C2D3E4F5A6B",
		ResourceGroup:          "RG-IOT-PROD",
		Location:               "westeurope",
		Devices:                300,
		Modules:                3,
		Start:                  time.Date(2024, 5, 14, 6, 0, 0, 0, time.UTC),
		Duration:               8 * time.Hour,
		Incidents:              1,
		IncidentShareMin:       0.55,
		IncidentShareMax:       0.85,
		SiteOutages:            1,
		SiteDevices:            14,
		Mix:                    Mix{DotNet: 0.45, Java: 0.20, C: 0.12, Node: 0.10, Python: 0.13},
		CustomTTLShare:         0.08,
		AmqpShare:              0.04,
		FlakyShare:             0.06,
		FlakyMeanGap:           3 * time.Hour,
		Crashing:               4,
		Flapping:               3,
		RenewalFailing:         2,
		DuplicateIdentity:      2,
		UnauthorizedShare:      0.8,
		OpsPerDeviceHour:       1.5,
		NoisePerHour:           2,
		RoutesErrorsPerHour:    1,
		LossRate:               0.005,
		DuplicateRate:          0.01,
		DelayMin:               time.Minute,
		DelayMax:               5 * time.Minute,
		TailShare:              0.05,
		TailMax:                20 * time.Minute,
		Partitions:             4,
		RecordsPerBody:         20,
		CloudEventsShare:       0.1,
		EventGridDuplicateRate: 0.01,
		BlipEventShare:         0.5,
		MetricThreshold:        0.9,
		OfflineAfter:           15 * time.Minute,
		FlapCount:              3,
		FlapWindow:             time.Hour,
		FlapReset:              time.Hour,
	}
}

// Message is one event body as a consumer receives it: an Event Hubs event
// (resource logs), an Event Grid delivery or a metric-alert webhook call.
type Message struct {
	Body []byte
	// Enqueued is when the message became available to the consumer (its
	// arrival time); messages are listed in this order.
	Enqueued time.Time
	// Partition is the Event Hubs partition ("0".."3"); empty for pushes.
	Partition string
}

// Output is everything one simulation run produces.
type Output struct {
	// Diagnostics are resource-log bodies {"records":[...]} in arrival order
	// (about RecordsPerBody records each, over Partitions partitions), mixed
	// categories, with late, shuffled, duplicated and missing records.
	Diagnostics []Message
	// EventGrid are Event Grid deliveries in arrival order: a JSON array with
	// one Event Grid schema event, or (CloudEventsShare) one CloudEvents
	// object.
	EventGrid []Message
	// MetricAlerts are common-alert-schema bodies (Fired, then Resolved) of a
	// static-threshold connectedDeviceCount alert, in arrival order.
	MetricAlerts []Message
	// Truth has one entry per 404104 the hub emitted, even if its record was
	// lost or delayed, in event-time order.
	Truth []Truth
	// Incidents are the injected hub incidents.
	Incidents []TruthIncident
	// Sites are the injected site outages (their 404104s are truth
	// device-or-network, seed cause 2).
	Sites []TruthSite
	// Expect are the alert conditions a perfect system raises.
	Expect []TruthAlert
	// Stats counts what was generated, for reports and tests.
	Stats Stats
}

// Truth is the real cause of one 404104.
type Truth struct {
	Hub    string         `json:"hub"`
	Device string         `json:"deviceId"`
	Module string         `json:"moduleId,omitempty"`
	Time   time.Time      `json:"time"`
	Cause  classify.Cause `json:"cause"`
	// Lost is true when every copy of the record was lost in delivery.
	Lost bool `json:"lost,omitempty"`
	// SDK is the device's SDK family (for accuracy breakdowns).
	SDK string `json:"sdk"`
	// Incident is the ID of the injected incident that caused a
	// hub-transient 404104 (or during which a token expiry fell).
	Incident string `json:"incident,omitempty"`
}

// TruthIncident is one injected hub incident.
// TruthSite is an injected site outage: the identities behind one masked
// IP prefix whose network was down from Start to End.
type TruthSite struct {
	Hub string `json:"hub"`
	// Network is the location package site groups by (event.Network).
	Network string    `json:"network"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	// Devices are the member identities, "device[/module]".
	Devices []string `json:"devices"`
}

type TruthIncident struct {
	ID    string    `json:"id"`
	Hub   string    `json:"hub"`
	Start time.Time `json:"start"` // first hub-caused disconnect
	End   time.Time `json:"end"`   // hub healthy again (end of recovery)
	// Devices is the number of distinct devices the incident knocked off.
	Devices int `json:"devices"`
	// HubErrors is the number of hub-side error records (5xxxxx) it caused.
	HubErrors int `json:"hubErrors"`
}

// TruthAlert is an alert condition a perfect system raises: Kind on Hub (and
// Device for device alerts), beginning at Since — the incident start, or the
// 404104 that started the device condition (the FlapCount-th one for
// flapping).
type TruthAlert struct {
	Kind   classify.SignalKind `json:"kind"`
	Hub    string              `json:"hub"`
	Device string              `json:"deviceId,omitempty"`
	Module string              `json:"moduleId,omitempty"`
	Since  time.Time           `json:"since"`
	// Until is when the condition cleared in simulated time (zero if it was
	// still on at the end of the run).
	Until time.Time `json:"until,omitzero"`
}

// Stats counts what a run generated.
type Stats struct {
	Records          int            `json:"records"`          // records the hub emitted
	Delivered        int            `json:"delivered"`        // record copies delivered (with duplicates)
	Lost             int            `json:"lost"`             // records never delivered
	Duplicated       int            `json:"duplicated"`       // records delivered twice
	ByCategory       map[string]int `json:"byCategory"`       // emitted records per category
	EventGridEvents  int            `json:"eventGridEvents"`  // Event Grid deliveries (with duplicates)
	TruthByCause     map[string]int `json:"truthByCause"`     // 404104s per true cause
	MetricAlertFired int            `json:"metricAlertFired"` // Fired metric alerts
}
