// Package event defines the one normalized event model that every input of
// disconnect-doctor is turned into: IoT Hub resource-log records, Event Grid
// device lifecycle events, routed connection-state messages and Azure Monitor
// metric alerts. Parsers (package ingest) produce events; the engine (package
// classify) consumes them; the store persists them. Nothing here does I/O.
package event

import (
	"encoding/hex"
	"hash/fnv"
	"strconv"
	"strings"
	"time"
)

// Source says which stream an event came from. The resource logs are the only
// stream that carries result codes; the others are corroborating evidence.
type Source uint8

const (
	// ResourceLog is a record of an IoT Hub diagnostic setting (any category).
	ResourceLog Source = iota + 1
	// EventGrid is a Microsoft.Devices.* event delivered by Event Grid.
	EventGrid
	// Route is a DeviceConnectionStateEvents message delivered by IoT Hub
	// message routing to an Event Hub.
	Route
	// Metric is an Azure Monitor metric alert on connectedDeviceCount.
	Metric
)

var sourceNames = [...]string{"", "resourcelog", "eventgrid", "route", "metric"}

// String returns the lower-case name of the source.
func (s Source) String() string {
	if int(s) < len(sourceNames) {
		return sourceNames[s]
	}
	return "source(" + strconv.Itoa(int(s)) + ")"
}

// Kind says what happened, independent of the stream it was reported on.
type Kind uint8

const (
	// Connect is a resource-log deviceConnect. Code 0 means the connection
	// succeeded; a non-zero Code (401003, 500001, 400030 …) means it failed.
	Connect Kind = iota + 1
	// Disconnect is a resource-log deviceDisconnect. Code 0 is a clean,
	// device-initiated disconnect (informational); 404104, 401003, 400027 …
	// are the hub's reasons.
	Disconnect
	// Operation is a resource-log record of another category (twin, telemetry,
	// C2D, direct methods, routes …). Only errors of these are kept as events.
	Operation
	// StateConnected is an Event Grid or routed "device connected" state
	// snapshot (60-second granularity, ordered by Seq).
	StateConnected
	// StateDisconnected is the matching "device disconnected" snapshot.
	StateDisconnected
	// Created is Microsoft.Devices.DeviceCreated.
	Created
	// Deleted is Microsoft.Devices.DeviceDeleted.
	Deleted
	// MetricFired is a Fired connected-devices metric alert for the hub.
	MetricFired
	// MetricResolved is the matching Resolved alert.
	MetricResolved
)

var kindNames = [...]string{"", "connect", "disconnect", "operation", "state-connected",
	"state-disconnected", "created", "deleted", "metric-fired", "metric-resolved"}

// String returns the lower-case name of the kind.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// ParseKind is the inverse of Kind.String; it returns 0 for an unknown name.
func ParseKind(s string) Kind {
	for i, n := range kindNames {
		if i > 0 && n == s {
			return Kind(i)
		}
	}
	return 0
}

// Result codes the classification rules name. IoT Hub writes them as strings
// ("404104") in resultType; parsers turn them into ints.
const (
	CodeConnectionClosedRemotely = 404104 // DeviceConnectionClosedRemotely
	CodeUnauthorized             = 401003 // IoTHubUnauthorized
	CodeClosedOnNewConnection    = 400027 // ConnectionForcefullyClosedOnNewConnection
	CodeLinkCreationConflict     = 409002 // LinkCreationConflict
	CodeClosedOnFaultInjection   = 400029 // platform upgrade closed the connection
	CodeRejectedOnFaultInjection = 400030 // platform upgrade rejected a connection
	CodeFailingOver              = 404012 // IotHubFailingOver
)

// ID identifies an event by its content, so that the same record delivered
// twice (Event Hubs and Event Grid are at-least-once; diagnostic settings
// duplicate records) has the same ID wherever and whenever it is parsed.
type ID [16]byte

// String returns the ID as 32 lower-case hex digits.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether the ID was never set.
func (id ID) IsZero() bool { return id == ID{} }

// ParseID parses the form String returns.
func ParseID(s string) (ID, bool) {
	var id ID
	if len(s) != 32 {
		return id, false
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return ID{}, false
	}
	return id, true
}

// Event is one normalized observation. Fields that a source does not carry are
// left zero. Strings are as the source gave them, except Hub (lower-case).
type Event struct {
	ID     ID
	Source Source
	Kind   Kind
	// Hub is the IoT hub name in lower case (resourceId's last segment, or the
	// Event Grid hubName).
	Hub    string
	Device string
	Module string
	// Time is when it happened (UTC). Resource logs have second precision.
	Time time.Time
	// Category and Operation are the resource-log category and operationName
	// ("Connections", "deviceDisconnect"); empty for other sources.
	Category  string
	Operation string
	// Code is the resultType (404104, 401003, 500001 …); 0 when absent.
	Code int
	// Description is the resultDescription ("DeviceConnectionClosedRemotely").
	Description string
	// Protocol, SDK (sdkVersion), AuthType ("sas", "x509" … from authType's
	// JSON "type"; empty when authType is null), MaskedIP and Message
	// (errorMessage) come from the record's properties.
	Protocol string
	SDK      string
	AuthType string
	MaskedIP string
	Message  string
	// Seq is the Event Grid / routed sequenceNumber: an opaque hex string,
	// comparable only between events of the same device (see SeqLess).
	Seq string
}

// Network is the network location of a connect or disconnect record: its
// maskedIpAddress without the last (masked) part, "81.204.17.XXX" →
// "81.204.17" (the /24); an IPv6 form loses its last group. One notion for
// every detector that groups devices by where they are (package suspect's
// spread check, package site's outages).
func Network(masked string) string {
	if i := strings.LastIndexAny(masked, ".:"); i > 0 {
		return masked[:i]
	}
	return masked
}

// Key identifies a device or module identity within a hub.
type Key struct {
	Hub    string
	Device string
	Module string
}

// Key returns the identity the event is about.
func (e *Event) Key() Key { return Key{Hub: e.Hub, Device: e.Device, Module: e.Module} }

// String renders the key as hub/device[/module] for messages and logs.
func (k Key) String() string {
	if k.Module == "" {
		return k.Hub + "/" + k.Device
	}
	return k.Hub + "/" + k.Device + "/" + k.Module
}

// Is404104 reports whether the event is the disconnect the product diagnoses.
func (e *Event) Is404104() bool {
	return e.Source == ResourceLog && e.Code == CodeConnectionClosedRemotely
}

// IsUnauthorized reports whether the event is a 401003 on the device's
// connection: the hub's word that the device's token or credential was
// refused (expired SAS, clock drift, wrong thumbprint, deleted device).
func (e *Event) IsUnauthorized() bool {
	return e.Source == ResourceLog && e.Code == CodeUnauthorized && strings.EqualFold(e.Category, "Connections")
}

// deviceFacing lists the resource-log categories whose server errors speak of
// the hub's health as devices see it (PRODUCT.md §3). Routes is left out on
// purpose: its errors are the customer's own endpoints.
var deviceFacing = map[string]bool{
	"connections":       true,
	"d2ctwinoperations": true,
	"c2dtwinoperations": true,
	"devicetelemetry":   true,
	"c2dcommands":       true,
	"directmethods":     true,
}

// IsHubSide reports whether the event is hub-side evidence (PRODUCT.md §3):
// a server error (5000xx, 503xxx) in a device-facing category, or one of the
// codes IoT Hub uses during platform upgrades and failover (400029, 400030,
// 404012). The customer-configuration families 5003xx–5005xx (model
// repository, managed identity, PnP) are not the hub's health.
func (e *Event) IsHubSide() bool {
	if e.Source != ResourceLog {
		return false
	}
	return HubSideCode(e.Category, e.Code)
}

// HubSideCode is the rule behind IsHubSide, for callers that hold only the
// category and the code (parsers deciding what to keep).
func HubSideCode(category string, code int) bool {
	if !deviceFacing[strings.ToLower(category)] {
		return false
	}
	switch code {
	case CodeClosedOnFaultInjection, CodeRejectedOnFaultInjection, CodeFailingOver:
		return true
	}
	switch {
	case code >= 500000 && code <= 500299: // 500001 ServerError, 500008 GenericTimeout, other 5000xx
		return true
	case code >= 503000 && code <= 503999: // 503xxx service unavailable, partition not found, server busy
		return true
	}
	return false
}

// SeqLess reports whether sequence number a is older than b. Sequence numbers
// are hex strings documented as string-comparable; comparing the length first
// keeps the order right should a source ever drop leading zeros.
func SeqLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return strings.ToUpper(a) < strings.ToUpper(b)
}

// NewID derives an event's ID from the fields that make a record what it is.
// Parsers call it after filling the event; the same record always gives the
// same ID, and records that differ in any of these fields differ in ID.
// extra is source-specific identity (an Event Grid event id, a metric alert
// id), empty for resource logs.
func NewID(e *Event, extra string) ID {
	h := fnv.New128a()
	var buf [8]byte
	ws := func(s string) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	buf[0] = byte(e.Source)
	buf[1] = byte(e.Kind)
	h.Write(buf[:2])
	ws(e.Hub)
	ws(e.Device)
	ws(e.Module)
	t := e.Time.UnixNano()
	for i := range 8 {
		buf[i] = byte(t >> (8 * i))
	}
	h.Write(buf[:])
	ws(strings.ToLower(e.Category))
	ws(strings.ToLower(e.Operation))
	ws(strconv.Itoa(e.Code))
	ws(e.Protocol)
	ws(e.MaskedIP)
	ws(e.Message)
	ws(e.Seq)
	ws(extra)
	var id ID
	copy(id[:], h.Sum(nil))
	return id
}

// Path renders the key as hub/device/module, always three segments (module
// may be empty). IoT Hub allows no '/' in hub names, device ids or module
// ids, so the form is reversible (ParsePath); it names a device's state.
func (k Key) Path() string { return k.Hub + "/" + k.Device + "/" + k.Module }

// ParsePath is the inverse of Key.Path.
func ParsePath(s string) (Key, bool) {
	parts := strings.Split(s, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return Key{}, false
	}
	return Key{Hub: parts[0], Device: parts[1], Module: parts[2]}, true
}
