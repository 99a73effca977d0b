package classify

import (
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// Cause is the verdict on one 404104 (PRODUCT.md §5).
type Cause string

const (
	// Pending: the watermark has not yet passed t + ReconnectGrace.
	Pending Cause = "pending"
	// TokenExpiry: the SAS token expired and the device renewed it (seed 1).
	TokenExpiry Cause = "token-expiry"
	// TokenRenewalFailed: the token expired and the device is not getting
	// back in: 401003s continue and no successful connect follows (seed 1).
	TokenRenewalFailed Cause = "token-renewal-failed"
	// DeviceOrNetwork: keep-alive timeout, TCP reset, crash (seed 2).
	DeviceOrNetwork Cause = "device-or-network"
	// DuplicateIdentity: two clients share one identity and knock each other
	// off (400027 / 409002 around the 404104); seed 2.
	DuplicateIdentity Cause = "duplicate-identity"
	// HubTransient: the disconnect falls inside a hub incident (seed 3).
	HubTransient Cause = "hub-transient"
)

// SeedCause returns the cause of PRODUCT.md §1 the verdict belongs to:
// 1 token, 2 device or network, 3 IoT Hub; 0 while pending.
func (c Cause) SeedCause() int {
	switch c {
	case TokenExpiry, TokenRenewalFailed:
		return 1
	case DeviceOrNetwork, DuplicateIdentity:
		return 2
	case HubTransient:
		return 3
	}
	return 0
}

// Valid reports whether c is one of the causes above.
func (c Cause) Valid() bool {
	return c == Pending || c.SeedCause() != 0
}

// Diagnosis is the engine's verdict on one 404104, the unit the query API
// lists. A diagnosis is emitted when the 404104 is first seen (Pending), when
// it becomes final, and again whenever late evidence revises it.
type Diagnosis struct {
	Key     event.Key
	Time    time.Time // event time of the 404104
	EventID event.ID  // ID of the 404104 record
	Cause   Cause
	// Final is true once the watermark has passed Time + ReconnectGrace.
	Final bool
	// Confidence is in [0,1]; 0 while pending.
	Confidence float64
	// Evidence are the records that decided the verdict, in words.
	Evidence []string
	// Recommendation is the operator's next step.
	Recommendation string
	// Revisions counts how often a final verdict was changed by late evidence.
	Revisions int
	// Incident is the ID of the hub incident the disconnect fell in, if any.
	Incident string
}

// Incident is a hub-wide problem: a burst of disconnects of many devices,
// not explained by their own evidence, with hub-side errors above the hub's
// usual rate.
type Incident struct {
	// ID is stable: hub and the minute the incident started.
	ID    string
	Hub   string
	Open  bool
	Start time.Time // event time of the first minute of the burst
	// End is the event time the hub was back to its baseline; zero while open.
	End time.Time
	// Devices counts distinct devices whose 404104 fell in the incident.
	Devices int
	// HubErrors counts hub-side error records (PRODUCT.md §3) in the incident.
	HubErrors int
	// MetricCorroborated is true when a Fired connected-devices metric alert
	// overlapped the incident.
	MetricCorroborated bool
	Evidence           []string
}

// SignalKind names the alert conditions of PRODUCT.md §7.
type SignalKind string

const (
	HubIncident         SignalKind = "hub-incident"
	TokenRenewalFailing SignalKind = "token-renewal-failed"
	DeviceOffline       SignalKind = "device-offline"
	DeviceFlapping      SignalKind = "device-flapping"
	// SiteOutage: several devices behind one network location lost their
	// connection together, with nothing on the hub's side (package site);
	// its devices' own alerts are held back while it fires. Key.Device is
	// the network ("203.0.113"), not a device.
	SiteOutage SignalKind = "site-outage"
)

// Kinds the pipeline raises about itself (package watch), not the engine:
// the product's own health. They reach alert.Manager as Signals like the
// engine's, so they are grouped, repeated and resolved the same way.
const (
	// PipelineSilent: a hub's resource logs stopped while its Event Grid or
	// routed events show devices connecting or disconnecting, or a hub with
	// steady traffic stopped delivering anything (PIPELINE_SILENT_AFTER).
	PipelineSilent SignalKind = "pipeline-silent"
	// PipelineLagging: the watermark is behind the wall clock by more than
	// LAG_ALERT_AFTER (the app is falling behind its input).
	PipelineLagging SignalKind = "pipeline-lagging"
	// NotificationsFailing: a channel's notifications are being
	// dead-lettered.
	NotificationsFailing SignalKind = "notifications-failing"
	// HubStateBroken: one hub's stored state cannot be read or written (a
	// blob this version cannot decode, a row the store refuses, errors on
	// its partition). That hub is reported and the other hubs are
	// evaluated as usual (issue 9).
	HubStateBroken SignalKind = "hub-state-broken"
	// RecordsRejected: the state store refused input records for good (an
	// HTTP 400 for an entity it will never accept); they were set aside as
	// dead letters so that their batches could move on (issue 10 item 9).
	RecordsRejected SignalKind = "records-rejected"
)

// Kinds lists every alert kind, for checking the kinds users name in
// ALERT_ROUTES and silences.
func Kinds() []SignalKind {
	return []SignalKind{HubIncident, TokenRenewalFailing, DeviceOffline, DeviceFlapping, SiteOutage,
		PipelineSilent, PipelineLagging, NotificationsFailing, RecordsRejected, HubStateBroken}
}

// Valid reports whether k is one of Kinds.
func (k SignalKind) Valid() bool {
	for _, v := range Kinds() {
		if k == v {
			return true
		}
	}
	return false
}

// Severity returns the alert severity of the kind (PRODUCT.md §7).
func (k SignalKind) Severity() string {
	switch k {
	case HubIncident, TokenRenewalFailing, PipelineSilent, NotificationsFailing, HubStateBroken:
		return "critical"
	}
	return "warning"
}

// AboutDevice reports whether alerts of the kind are about one device (its
// key's Device is a device id). Other kinds are about a hub or about the app
// itself, where the key's Device, if any, names the subject (a channel).
func (k SignalKind) AboutDevice() bool {
	switch k {
	case TokenRenewalFailing, DeviceOffline, DeviceFlapping:
		return true
	}
	return false
}

// Signal is a transition of an alert condition: it starts (Firing) or ends.
// The engine emits each transition exactly once; the alert package turns
// them into notifications (grouping, inhibition, repeats).
type Signal struct {
	Kind SignalKind
	// Key is the hub (Device empty) for HubIncident, the device otherwise.
	Key    event.Key
	Firing bool
	// Since is the event time the condition began (for DeviceOffline, the
	// disconnect the device has been away from since); At the event time of
	// this transition (equal to Since for a firing signal, except
	// DeviceOffline's, which fires OfflineAfter after its disconnect).
	Since time.Time
	At    time.Time
	// Incident: for a device signal, the ID of the open hub incident the
	// device was caught in (the alert side holds such alerts back while that
	// incident is firing); for HubIncident, the incident's own ID.
	Incident       string
	Summary        string
	Evidence       []string
	Recommendation string
	// Devices is the number of devices involved (HubIncident), else 1.
	Devices int
	// Suspected marks a HubIncident raised early from Event Grid alone
	// (package suspect), before the resource logs that can confirm it: its
	// firing says "suspected, cause pending"; the engine's own incident
	// signal for the hub then confirms it (same alert key and episode), or a
	// Suspected end withdraws it.
	Suspected bool
	// Site: for a device signal, the network of the open site outage
	// (package site) the device was caught in — Incident is then that
	// outage's ID; for SiteOutage, its own network.
	Site string
}

// AlertKey returns the stable alert key kind/hub[/device[/module]].
func (s *Signal) AlertKey() string {
	k := string(s.Kind) + "/" + s.Key.Hub
	if s.Key.Device != "" {
		k += "/" + s.Key.Device
		if s.Key.Module != "" {
			k += "/" + s.Key.Module
		}
	}
	return k
}
