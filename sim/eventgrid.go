package sim

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// egData is the data of a DeviceConnected/DeviceDisconnected event (§3.1).
type egData struct {
	Info     egInfo `json:"deviceConnectionStateEventInfo"`
	HubName  string `json:"hubName"`
	DeviceID string `json:"deviceId"`
	ModuleID string `json:"moduleId,omitempty"`
}

type egInfo struct {
	SequenceNumber string `json:"sequenceNumber"`
}

// egEvent is the Event Grid schema.
type egEvent struct {
	ID              string `json:"id"`
	Topic           string `json:"topic"`
	Subject         string `json:"subject"`
	EventType       string `json:"eventType"`
	EventTime       string `json:"eventTime"`
	Data            egData `json:"data"`
	DataVersion     string `json:"dataVersion"`
	MetadataVersion string `json:"metadataVersion"`
}

// ceEvent is the CloudEvents 1.0 schema of the same event.
type ceEvent struct {
	ID          string `json:"id"`
	Source      string `json:"source"`
	SpecVersion string `json:"specversion"`
	Type        string `json:"type"`
	Subject     string `json:"subject"`
	Time        string `json:"time"`
	Data        egData `json:"data"`
}

// egMsg is one Event Grid delivery, decided but not yet rendered: Stream
// renders its body when it arrives, so a big fleet's deliveries never all
// exist as JSON at once.
type egMsg struct {
	enq       time.Time
	order     int
	dev       *device
	connected bool
	cloud     bool // CloudEvents schema, not Event Grid's
	seq       uint64
	eventTime time.Time
	id        string
}

// eventGrid turns each identity's connection-state changes into Event Grid
// deliveries with the 60-second snapshot semantics of reference §3.3: the hub
// reports the state at each snapshot when it differs from the last reported
// one; a change that came and went inside one window is reported (as the same
// state again, with a higher sequence number) only sometimes. It returns them
// in arrival order.
func (s *sim) eventGrid() []egMsg {
	r := newRNG(s.cfg.Seed, 3)
	phase := s.start.Add(time.Duration(r.IntN(60000)) * time.Millisecond)
	var msgs []egMsg
	for _, d := range s.devices {
		slices.SortStableFunc(d.changes, func(a, b change) int { return a.t.Compare(b.t) })
		reported := true
		for i := 0; i < len(d.changes); {
			tick := int64(math.Ceil(float64(d.changes[i].t.Sub(phase)) / float64(time.Minute)))
			j := i
			for j+1 < len(d.changes) && int64(math.Ceil(float64(d.changes[j+1].t.Sub(phase))/float64(time.Minute))) == tick {
				j++
			}
			last := d.changes[j]
			i = j + 1
			if last.connected == reported {
				// Only a blip inside the window: maybe reported, maybe not.
				if r.Float64() >= s.cfg.BlipEventShare {
					continue
				}
			}
			reported = last.connected
			snap := phase.Add(time.Duration(tick) * time.Minute)
			if !snap.Before(s.settled) {
				break
			}
			d.seq += 1 + uint64(r.IntN(3))
			m := egMsg{dev: d, connected: last.connected, seq: d.seq,
				eventTime: last.t.Add(time.Duration(r.IntN(10000)) * 100 * time.Nanosecond)}
			m.cloud = r.Float64() < s.cfg.CloudEventsShare
			m.id = guid(r)
			lat := uniform(r, time.Second, 8*time.Second)
			if r.Float64() < 0.03 {
				lat = uniform(r, 8*time.Second, 90*time.Second)
			}
			m.enq, m.order = snap.Add(lat).Round(time.Millisecond), len(msgs)
			msgs = append(msgs, m)
			if r.Float64() < s.cfg.EventGridDuplicateRate {
				m.enq, m.order = snap.Add(lat+uniform(r, 10*time.Second, 5*time.Minute)).Round(time.Millisecond), len(msgs)
				msgs = append(msgs, m)
			}
		}
	}
	slices.SortStableFunc(msgs, func(a, b egMsg) int {
		if c := a.enq.Compare(b.enq); c != 0 {
			return c
		}
		return a.order - b.order
	})
	return msgs
}

// render returns m as delivered: a JSON array with one Event Grid schema
// event, or one CloudEvents object.
func (s *sim) render(m *egMsg) Message {
	d := m.dev
	seq := fmt.Sprintf("0000000000000000%s00000002%024X", d.seqHi, m.seq)
	typ := "Microsoft.Devices.DeviceDisconnected"
	if m.connected {
		typ = "Microsoft.Devices.DeviceConnected"
	}
	subject := "devices/" + d.id
	if d.module != "" {
		subject += "/" + d.module
	}
	et := m.eventTime.UTC().Format(fracTime)
	data := egData{Info: egInfo{SequenceNumber: seq}, HubName: s.hubLower, DeviceID: d.id, ModuleID: d.module}
	var body []byte
	if m.cloud {
		body = mustJSON(ceEvent{ID: m.id, Source: s.resID, SpecVersion: "1.0", Type: typ, Subject: subject, Time: et, Data: data})
	} else {
		body = mustJSON([]egEvent{{ID: m.id, Topic: s.resID, Subject: subject, EventType: typ, EventTime: et,
			Data: data, DataVersion: "1", MetadataVersion: "1"}})
	}
	return Message{Body: body, Enqueued: m.enq}
}
