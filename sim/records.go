package sim

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// descriptions are the resultDescription texts of the codes the simulated hub
// logs (reference/iothub-telemetry.md §2.1).
var descriptions = map[int]string{
	400027: "ConnectionForcefullyClosedOnNewConnection",
	401002: "IotHubUnauthorizedAccess",
	401003: "IoTHubUnauthorized",
	403004: "DeviceMaximumQueueDepthExceeded",
	404104: "DeviceConnectionClosedRemotely",
	409002: "LinkCreationConflict",
	500001: "ServerError",
	500008: "GenericTimeout",
	503003: "PartitionNotFound",
	503008: "ReceiveLinkOpensThrottled",
}

// jsonRecord is one resource-log record in the field order of real records
// (reference §1.2): properties is a JSON-encoded string.
type jsonRecord struct {
	Time              string `json:"time"`
	ResourceID        string `json:"resourceId"`
	OperationName     string `json:"operationName"`
	Category          string `json:"category"`
	Level             string `json:"level"`
	ResultType        string `json:"resultType,omitempty"`
	ResultDescription string `json:"resultDescription,omitempty"`
	DurationMs        string `json:"durationMs,omitempty"`
	Properties        string `json:"properties"`
	Location          string `json:"location"`
}

// connProps are the decoded properties of a Connections record (§1.3).
type connProps struct {
	DeviceID   string  `json:"deviceId"`
	ModuleID   string  `json:"moduleId,omitempty"`
	SDKVersion string  `json:"sdkVersion,omitempty"`
	Protocol   string  `json:"protocol"`
	AuthType   *string `json:"authType"`
	MaskedIP   string  `json:"maskedIpAddress"`
	StatusCode *string `json:"statusCode"`
	ErrorMsg   string  `json:"errorMessage"`
}

type d2cTwinProps struct {
	DeviceID    string `json:"deviceId"`
	ModuleID    string `json:"moduleId,omitempty"`
	Protocol    string `json:"protocol"`
	AuthType    string `json:"authenticationType"`
	SDKVersion  string `json:"sdkVersion"`
	MessageSize string `json:"messageSize"`
}

type c2dTwinProps struct {
	DeviceID    string `json:"deviceId"`
	ModuleID    string `json:"moduleId,omitempty"`
	SDKVersion  string `json:"sdkVersion"`
	MessageSize string `json:"messageSize"`
}

type telemetryProps struct {
	DeviceID    string `json:"deviceId"`
	Batching    string `json:"batching"`
	Size        string `json:"messageSizeInBytes"`
	Processed   string `json:"EventProcessedUtcTime"`
	Enqueued    string `json:"EventEnqueuedUtcTime"`
	PartitionID string `json:"partitionId"`
}

type routesProps struct {
	DeviceID     *string `json:"deviceId"`
	EndpointName string  `json:"endpointName"`
	MessageID    string  `json:"messageId"`
	Details      string  `json:"details"`
	RouteName    string  `json:"routeName"`
	StatusCode   string  `json:"statusCode"`
}

const (
	sasAuth  = `{"scope":"device","type":"sas","issuer":"iothub","acceptingIpFilterRule":null}`
	modAuth  = `{"scope":"module","type":"sas","issuer":"iothub","acceptingIpFilterRule":null}`
	recTime  = "2006-01-02T15:04:05Z"
	fracTime = "2006-01-02T15:04:05.0000000Z"
)

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("sim: marshal %T: %v", v, err)) // only fixed, marshalable types reach here
	}
	return b
}

// encode renders r as the JSON a diagnostic setting would stream.
func (s *sim) encode(r *rec) []byte {
	jr := jsonRecord{
		Time:          r.t.UTC().Truncate(time.Second).Format(recTime),
		ResourceID:    s.resID,
		OperationName: r.op,
		Category:      r.cat,
		Level:         r.level,
		Location:      s.cfg.Location,
	}
	if r.code != 0 {
		jr.ResultType = strconv.Itoa(r.code)
		jr.ResultDescription = descriptions[r.code]
	}
	d := r.dev
	auth := sasAuth
	if d != nil && d.module != "" {
		auth = modAuth
	}
	switch r.cat {
	case "Connections":
		p := connProps{DeviceID: d.id, ModuleID: d.module, Protocol: d.protocol, MaskedIP: r.ip, ErrorMsg: r.msg}
		if r.sdk {
			p.SDKVersion = d.sdkVer
		}
		if d.authJSON && r.code != 404104 {
			p.AuthType = &auth
		}
		if r.code != 0 {
			sc := strconv.Itoa(r.code / 1000)
			p.StatusCode = &sc
		}
		jr.Properties = string(mustJSON(p))
	case "D2CTwinOperations":
		jr.DurationMs = strconv.Itoa(r.dur)
		jr.Properties = string(mustJSON(d2cTwinProps{DeviceID: d.id, ModuleID: d.module, Protocol: d.protocol,
			AuthType: auth, SDKVersion: d.sdkVer, MessageSize: strconv.Itoa(r.size)}))
	case "C2DTwinOperations":
		jr.DurationMs = strconv.Itoa(r.dur)
		jr.Properties = string(mustJSON(c2dTwinProps{DeviceID: d.id, ModuleID: d.module, SDKVersion: d.sdkVer,
			MessageSize: strconv.Itoa(r.size)}))
	case "DeviceTelemetry":
		ts := r.t.UTC()
		jr.Properties = string(mustJSON(telemetryProps{DeviceID: d.id, Batching: "0", Size: strconv.Itoa(r.size),
			Processed: ts.Add(131 * time.Millisecond).Format(fracTime), Enqueued: ts.Format(fracTime), PartitionID: r.extra}))
	case "Routes":
		jr.Properties = string(mustJSON(routesProps{EndpointName: r.extra, MessageID: fmt.Sprintf("msg-%06d", r.order),
			Details: r.msg, RouteName: "telemetry-to-servicebus", StatusCode: strconv.Itoa(r.code / 1000)}))
	}
	return mustJSON(jr)
}
