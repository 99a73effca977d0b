package storage_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
)

// dropConfig shapes massDrop's scenario: a hub whose every device drops
// within two minutes of dropT0.
type dropConfig struct {
	devices int
	// grid adds the Event Grid DeviceConnected / DeviceDisconnected event of
	// every connection change, arriving 1–8 s after it; events arriving in
	// the same second make one delivery (at most 500), as ConnectionEvents
	// ("cardinality": "many") receives them.
	grid bool
	// heartbeatUntil: each partition carries a successful twin read every
	// 15 s from the start until then (zero: none).
	heartbeatUntil time.Duration
	// controls of the devices (the first ones) have a disconnect of their
	// own 25 to 5 minutes before the drop, and are back before it: every
	// other one a token expiry 65 minutes after its connect (a 401003
	// beside the 404104, back within 20 s), the rest device-or-network (no
	// evidence, back 3–10 minutes later). They give the truth more than one
	// cause.
	controls int
}

// dropTruth is the cause of one 404104 of massDrop's scenario.
type dropTruth struct {
	device string
	at     time.Time // the record's time (whole seconds)
	cause  classify.Cause
}

// dropT0 is when massDrop's hub starts to drop.
var dropT0 = time.Date(2024, 5, 14, 9, 0, 0, 0, time.UTC)

const dropResID = "/SUBSCRIPTIONS/9F3C2B1A-4D5E-4F60-8A7B-1C2D3E4F5A6B/RESOURCEGROUPS/RG-IOT-PROD/PROVIDERS/MICROSOFT.DEVICES/IOTHUBS/CONTOSO-PROD-HUB"

// dropRec is one resource-log record of massDrop before it is put in a body.
type dropRec struct {
	at   time.Time
	part int
	json []byte
}

// dropGen accumulates massDrop's records, Event Grid events and truth.
type dropGen struct {
	rng   *rand.Rand // the records' draws (the same sequence with or without extras)
	extra *rand.Rand // the controls' draws
	recs  []dropRec
	grid  []gridEvent
	truth []dropTruth
	seq   map[string]int
}

// gridEvent is one Event Grid event with its arrival time.
type gridEvent struct {
	at   time.Time
	body json.RawMessage
}

// conn adds a Connections record (a connect, or a 404104 disconnect).
func (g *dropGen) conn(dev string, at time.Time, op string, code int, level string) {
	props := map[string]any{"deviceId": dev, "protocol": "Mqtt", "authType": nil, "maskedIpAddress": "40.242.33.XXX",
		"statusCode": nil, "errorMessage": ""}
	r := map[string]any{"time": at.Format("2006-01-02T15:04:05Z"), "resourceId": dropResID, "operationName": op,
		"category": "Connections", "level": level, "location": "westeurope"}
	if code != 0 {
		r["resultType"] = strconv.Itoa(code)
		r["resultDescription"] = map[int]string{404104: "DeviceConnectionClosedRemotely", 500001: "ServerError", 401003: "IoTHubUnauthorized"}[code]
		props["statusCode"] = strconv.Itoa(code / 1000)
		if code == 404104 {
			props["errorMessage"] = "Device disconnected, see cause and resolution at https://aka.ms/iothub404104"
		}
	} else {
		props["sdkVersion"] = "azure-iot-device/1.42.0 (.NET 8.0; Linux; x64)"
	}
	p, _ := json.Marshal(props)
	r["properties"] = string(p)
	b, _ := json.Marshal(r)
	g.recs = append(g.recs, dropRec{at, g.rng.IntN(4), b})
}

// twinErr adds a 500008 on a twin update (hub-side evidence).
func (g *dropGen) twinErr(dev string, at time.Time) {
	p, _ := json.Marshal(map[string]any{"deviceId": dev, "protocol": "Mqtt", "authenticationType": `{"scope":"device","type":"sas","issuer":"iothub","acceptingIpFilterRule":null}`,
		"sdkVersion": "azure-iot-device/1.42.0 (.NET 8.0; Linux; x64)", "messageSize": "377"})
	b, _ := json.Marshal(map[string]any{"time": at.Format("2006-01-02T15:04:05Z"), "resourceId": dropResID, "operationName": "update",
		"category": "D2CTwinOperations", "level": "Error", "resultType": "500008", "resultDescription": "GenericTimeout",
		"durationMs": "1848", "properties": string(p), "location": "westeurope"})
	g.recs = append(g.recs, dropRec{at, g.rng.IntN(4), b})
}

// heartbeat adds a successful twin read on partition part: a healthy
// hub's steady trickle of operations, which moves event time on even when
// no device connects or drops (WATERMARK=eventtime).
func (g *dropGen) heartbeat(dev string, at time.Time, part int) {
	p, _ := json.Marshal(map[string]any{"deviceId": dev, "protocol": "Mqtt", "authenticationType": `{"scope":"device","type":"sas","issuer":"iothub","acceptingIpFilterRule":null}`,
		"sdkVersion": "azure-iot-device/1.42.0 (.NET 8.0; Linux; x64)", "messageSize": "120"})
	b, _ := json.Marshal(map[string]any{"time": at.Format("2006-01-02T15:04:05Z"), "resourceId": dropResID, "operationName": "read",
		"category": "D2CTwinOperations", "level": "Information", "durationMs": "12", "properties": string(p), "location": "westeurope"})
	g.recs = append(g.recs, dropRec{at, part, b})
}

// change adds the Event Grid event of a connection change (reference
// iothub-telemetry.md §3.1), when the scenario has them.
func (g *dropGen) change(on bool, dev string, at time.Time) {
	if g.seq == nil {
		return
	}
	g.seq[dev]++
	typ := "Microsoft.Devices.DeviceDisconnected"
	if on {
		typ = "Microsoft.Devices.DeviceConnected"
	}
	b, _ := json.Marshal(map[string]any{
		"id": fmt.Sprintf("%08x-0000-4000-8000-%012x", len(g.grid), g.seq[dev]), "topic": dropResID,
		"subject": "devices/" + dev, "eventType": typ, "eventTime": at.UTC().Format("2006-01-02T15:04:05.0000000Z"),
		"data": map[string]any{"deviceConnectionStateEventInfo": map[string]string{
			"sequenceNumber": fmt.Sprintf("000000000000000001D9C2B1A4E5F6A700000002%024X", g.seq[dev])},
			"hubName": "contoso-prod-hub", "deviceId": dev},
		"dataVersion": "", "metadataVersion": "1"})
	g.grid = append(g.grid, gridEvent{at: at.Add(time.Second + time.Duration(g.extra.Int64N(int64(7*time.Second)))), body: b})
}

// controlCut is when a control device has its own disconnect: 25 to 5
// minutes before the drop.
func (g *dropGen) controlCut() time.Time {
	return dropT0.Add(-5*time.Minute - time.Duration(g.extra.Int64N(int64(20*time.Minute)))).Truncate(time.Second)
}

// control adds a control device's own disconnect at cut.
func (g *dropGen) control(dev string, token bool, cut time.Time) {
	back := cut.Add(3*time.Minute + time.Duration(g.extra.Int64N(int64(7*time.Minute))))
	cause := classify.DeviceOrNetwork
	if token {
		g.conn(dev, cut.Add(-time.Second), "deviceConnect", 401003, "Error")
		back = cut.Add(5*time.Second + time.Duration(g.extra.Int64N(int64(15*time.Second))))
		cause = classify.TokenExpiry
	}
	g.conn(dev, cut, "deviceDisconnect", 404104, "Error")
	g.change(false, dev, cut)
	g.truth = append(g.truth, dropTruth{dev, cut, cause})
	g.conn(dev, back, "deviceConnect", 0, "Information")
	g.change(true, dev, back)
}

// massDrop is cfg.devices devices, connected for up to 30 minutes, all
// closed with 404104 within 2 minutes of dropT0, with 500001/500008 hub
// errors on connects and twin updates during the burst, and reconnects
// 30 s to 5 min later — records in the documented resource-log format
// (sim's encoding: reference/iothub-telemetry.md §1), 20 per body over 4
// partitions, arriving 1–4 minutes after their event time — plus the
// controls and Event Grid events cfg asks for; and the true cause of every
// 404104.
func massDrop(cfg dropConfig) (scenario, []dropTruth) {
	const perBody, partitions = 20, 4
	g := &dropGen{rng: rand.New(rand.NewPCG(3, 9)), extra: rand.New(rand.NewPCG(5, 7))}
	if cfg.grid {
		g.seq = map[string]int{}
	}
	for i := range cfg.devices {
		dev := fmt.Sprintf("sensor-%05d", i)
		connected := dropT0.Add(-time.Duration(g.rng.Int64N(int64(30 * time.Minute))))
		var cut0 time.Time
		if i < cfg.controls {
			cut0 = g.controlCut()
			if i%2 == 0 { // a token expiry comes a token lifetime (65 min) after the connect
				connected = cut0.Add(-65 * time.Minute)
			}
		}
		g.conn(dev, connected, "deviceConnect", 0, "Information")
		g.change(true, dev, connected)
		if i < cfg.controls {
			g.control(dev, i%2 == 0, cut0)
		}
		cut := dropT0.Add(time.Duration(g.rng.Int64N(int64(2 * time.Minute))))
		g.conn(dev, cut, "deviceDisconnect", 404104, "Error")
		g.change(false, dev, cut)
		g.truth = append(g.truth, dropTruth{dev, cut.Truncate(time.Second), classify.HubTransient})
		back := cut.Add(30*time.Second + time.Duration(g.rng.Int64N(int64(270*time.Second))))
		if g.rng.IntN(10) < 3 { // a failed connect first: the hub is still struggling
			g.conn(dev, cut.Add(10*time.Second), "deviceConnect", 500001, "Error")
		}
		if g.rng.IntN(10) < 2 {
			g.twinErr(dev, cut.Add(-5*time.Second))
		}
		g.conn(dev, back, "deviceConnect", 0, "Information")
		g.change(true, dev, back)
	}
	for at := dropT0.Add(-30 * time.Minute); at.Before(dropT0.Add(cfg.heartbeatUntil)); at = at.Add(15 * time.Second) {
		for p := range partitions {
			g.heartbeat(fmt.Sprintf("sensor-%05d", g.extra.IntN(max(cfg.devices, 1))), at, p)
		}
	}
	s := g.bodies(perBody, partitions)
	s.msgs = append(s.msgs, g.gridDeliveries()...)
	sort.SliceStable(s.msgs, func(i, j int) bool { return s.msgs[i].at.Before(s.msgs[j].at) })
	s.start = dropT0.Add(-30 * time.Minute).Truncate(time.Minute)
	s.end = s.msgs[len(s.msgs)-1].at.Add(20 * time.Minute)
	if cfg.heartbeatUntil > 0 {
		s.end = s.msgs[len(s.msgs)-1].at
	}
	return s, g.truth
}

// bodies puts the records into Event Hubs bodies of perBody records per
// partition in arrival order (partition p's records arrive a minute plus
// p×40 s after their time).
func (g *dropGen) bodies(perBody, partitions int) scenario {
	arrive := func(r dropRec) time.Time { return r.at.Add(time.Minute + time.Duration(r.part)*time.Second*40) }
	sort.SliceStable(g.recs, func(i, j int) bool { return arrive(g.recs[i]).Before(arrive(g.recs[j])) })
	var s scenario
	open := make([][]dropRec, partitions)
	flush := func(p int) {
		if len(open[p]) == 0 {
			return
		}
		body := []byte(`{"records":[`)
		for i, r := range open[p] {
			if i > 0 {
				body = append(body, ',')
			}
			body = append(body, r.json...)
		}
		body = append(body, "]}"...)
		s.msgs = append(s.msgs, benchMessage{writer: benchHub + "/" + strconv.Itoa(p), body: body, at: arrive(open[p][len(open[p])-1])})
		open[p] = nil
	}
	for _, r := range g.recs {
		open[r.part] = append(open[r.part], r)
		if len(open[r.part]) == perBody {
			flush(r.part)
		}
	}
	for p := range open {
		flush(p)
	}
	return s
}

// gridDeliveries batches the Event Grid events: those arriving in the same
// second make one delivery of at most 500.
func (g *dropGen) gridDeliveries() []benchMessage {
	sort.SliceStable(g.grid, func(i, j int) bool { return g.grid[i].at.Before(g.grid[j].at) })
	var out []benchMessage
	var batch []json.RawMessage
	var at time.Time
	flush := func() {
		if len(batch) > 0 {
			body, _ := json.Marshal(batch)
			out = append(out, benchMessage{writer: "eventgrid", body: body, at: at, grid: true})
		}
		batch = nil
	}
	for _, ev := range g.grid {
		if !ev.at.Truncate(time.Second).Equal(at.Truncate(time.Second)) || len(batch) >= 500 {
			flush()
		}
		at = ev.at
		batch = append(batch, ev.body)
	}
	flush()
	return out
}
