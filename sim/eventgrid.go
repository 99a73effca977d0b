package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
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
	// The reconnects after the end (Config.Settle) draw from a stream of
	// their own, so that the deliveries before the end are the same with
	// or without them.
	rt := newRNG(s.cfg.Seed, 6)
	var msgs []egMsg
	for _, d := range s.devices {
		slices.SortStableFunc(d.changes, func(a, b change) int { return a.t.Compare(b.t) })
		// the changes before the end alone, as a run without Settle has them
		n, _ := slices.BinarySearchFunc(d.changes, s.end, func(c change, t time.Time) int { return c.t.Compare(t) })
		i, reported := s.reportChanges(d, d.changes[:n], 0, true, phase, s.end, r, &msgs)
		if s.settled.After(s.end) {
			s.reportChanges(d, d.changes, i, reported, phase, s.settled, rt, &msgs)
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

// reportChanges appends to msgs the Event Grid deliveries of d's changes
// cs (time-sorted) from the i-th on whose snapshot falls before until,
// drawing from r, with reported the state last reported. It returns where
// it stopped (the first change reported at or after until, or the end of
// cs) and the state reported by then.
func (s *sim) reportChanges(d *device, cs []change, i int, reported bool, phase, until time.Time, r *rand.Rand, msgs *[]egMsg) (int, bool) {
	for i < len(cs) {
		tick := int64(math.Ceil(float64(cs[i].t.Sub(phase)) / float64(time.Minute)))
		j := i
		for j+1 < len(cs) && int64(math.Ceil(float64(cs[j+1].t.Sub(phase))/float64(time.Minute))) == tick {
			j++
		}
		last := cs[j]
		if last.connected == reported {
			// Only a blip inside the window: maybe reported, maybe not.
			if r.Float64() >= s.cfg.BlipEventShare {
				i = j + 1
				continue
			}
		}
		snap := phase.Add(time.Duration(tick) * time.Minute)
		if !snap.Before(until) {
			return i, reported
		}
		i = j + 1
		reported = last.connected
		d.seq += 1 + uint64(r.IntN(3))
		m := egMsg{dev: d, connected: last.connected, seq: d.seq,
			eventTime: last.t.Add(time.Duration(r.IntN(10000)) * 100 * time.Nanosecond)}
		m.cloud = r.Float64() < s.cfg.CloudEventsShare
		m.id = guid(r)
		lat := uniform(r, time.Second, 8*time.Second)
		if r.Float64() < 0.03 {
			lat = uniform(r, 8*time.Second, 90*time.Second)
		}
		m.enq, m.order = snap.Add(lat).Round(time.Millisecond), len(*msgs)
		*msgs = append(*msgs, m)
		if r.Float64() < s.cfg.EventGridDuplicateRate {
			m.enq, m.order = snap.Add(lat+uniform(r, 10*time.Second, 5*time.Minute)).Round(time.Millisecond), len(*msgs)
			*msgs = append(*msgs, m)
		}
	}
	return i, reported
}
