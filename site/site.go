// Package site finds site outages: several devices behind one network
// location that lost their connection together, with nothing on the hub's
// side — one finding and one alert ("12 devices behind 203.0.113.x lost
// their connection at 05:27 UTC; 9 still away") instead of a device-offline
// alert per device.
//
// The rule (Rule): at least MinDevices distinct devices whose 404104s fall
// within Window of each other, whose final verdict is device-or-network
// (seed cause 2) and outside any hub incident, and whose 404104 records
// carry the same network location (event.Network of maskedIpAddress, the
// /24 package suspect uses too). A burst with hub-side evidence is the
// engine's hub incident (its devices are hub-transient) and never a site
// outage. The outage is open while more than a quarter of its devices are
// still away; once three quarters are back it resolves, and a device still
// away is judged on its own again (its held device alert is notified).
//
// Everything is pure (events, diagnoses and times in, signals out). The
// state is bounded: a hub's blob (Hub) holds its open outages and the last
// History closed ones, as counts; which device is in which outage lives in
// one small row per device (Member), kept only for devices with a recent
// 404104 or in an open outage.
package site

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// Config tunes the rule. Zero fields take the defaults of Defaults.
type Config struct {
	// MinDevices is the fewest devices of a site outage (SITE_MIN_DEVICES).
	MinDevices int
	// Window is how close together their 404104s must be (SITE_WINDOW).
	Window time.Duration
	// Keep is how long a device's 404104 row waits for its final verdict
	// and for others of its site before it is dropped (no outage).
	Keep time.Duration
	// History is how many closed outages a hub keeps for the API.
	History int
}

// Defaults returns the default configuration: 3 devices within 2 minutes.
// Three, not two: two devices of one office dropping together is common
// enough (one switch, one power strip) to be better told per device; the
// hub incident needs 10 because it is about the whole fleet.
func Defaults() Config {
	return Config{MinDevices: 3, Window: 2 * time.Minute, Keep: 30 * time.Minute, History: 20}
}

func (c Config) withDefaults() Config {
	d := Defaults()
	if c.MinDevices <= 0 {
		c.MinDevices = d.MinDevices
	}
	if c.Window <= 0 {
		c.Window = d.Window
	}
	if c.Keep <= 0 {
		c.Keep = d.Keep
	}
	if c.History <= 0 {
		c.History = d.History
	}
	return c
}

// Outage is one site outage, as the API lists it.
type Outage struct {
	// ID is stable: hub, network and the Unix second of its first 404104.
	ID      string `json:"id"`
	Hub     string `json:"hub"`
	Network string `json:"network"`
	Open    bool   `json:"open"`
	// Start is the first member's 404104, End the return that resolved it
	// (Unix seconds; End 0 while open).
	Start int64 `json:"start"`
	End   int64 `json:"end,omitempty"`
	// Devices counts its members, Away those not back yet.
	Devices int `json:"devices"`
	Away    int `json:"away"`
	// Fired: its firing signal went out (Settle after its window).
	Fired bool `json:"fired,omitempty"`
}

// Status is "open" or "resolved".
func (o *Outage) Status() string {
	if o.Open {
		return "open"
	}
	return "resolved"
}

// Summary is the alert's one line, e.g. "12 devices behind 203.0.113.x
// lost their connection at 05:27 UTC; 9 still away".
func (o *Outage) Summary() string {
	s := strconv.Itoa(o.Devices) + " devices behind " + o.Network + ".x lost their connection at " +
		time.Unix(o.Start, 0).UTC().Format("15:04") + " UTC; "
	if o.Open {
		return s + strconv.Itoa(o.Away) + " still away"
	}
	if o.Away == 0 {
		return s + "all back at " + time.Unix(o.End, 0).UTC().Format("15:04") + " UTC"
	}
	return s + strconv.Itoa(o.Devices-o.Away) + " back at " + time.Unix(o.End, 0).UTC().Format("15:04") +
		" UTC, " + strconv.Itoa(o.Away) + " still away (judged on their own)"
}

// Evidence is the line a member's diagnosis carries.
func (o *Outage) Evidence() string {
	return "part of site outage " + o.ID + ": devices behind " + o.Network +
		".x lost their connection together from " + time.Unix(o.Start, 0).UTC().Format("15:04:05") +
		" UTC, with no error on the hub's side (GET v1/sites lists it)"
}

// The state's blob keys (the pipeline's MetaBlobs): HubPrefix+hub for a
// hub's Hub (BlobKey), RowPrefix+hub+"/"+device[/module] for a Member.
const (
	HubPrefix = "site/"
	RowPrefix = "sitedev/"
)

// BlobKey is the key of a hub's blob, which the API reads.
func BlobKey(hub string) string { return HubPrefix + hub }

// Hub is a hub's persisted state: its open and recent outages (counts only).
type Hub struct {
	Outages []*Outage `json:"outages"`
}

// Member is one device's row: its newest 404104 (network and time), whether
// its final verdict made it a candidate, the outage it belongs to and when
// it came back.
type Member struct {
	Net  string `json:"n"`
	T    int64  `json:"t"`
	Cand bool   `json:"c,omitempty"`
	Out  string `json:"o,omitempty"`
	Back int64  `json:"b,omitempty"`
	// D is the candidate's final diagnosis while it waits for an outage:
	// when one takes it in, it is emitted again naming the outage (a
	// diagnosis is upserted by its event, so this revises it in place).
	D *classify.Diagnosis `json:"d,omitempty"`

	// saved: the row is stored (loaded, or returned by Changes). Only a
	// candidate or member is stored: the many 404104s that are token
	// expiries cost no write.
	saved bool
}

// State is the detector's state. Not safe for concurrent use.
type State struct {
	hubs    map[string]*Hub
	members map[string]map[string]*Member // hub → device key → row
	dirty   map[string]bool               // hubs
	dirtyM  map[[2]string]bool            // changed rows
	goneM   [][2]string                   // dropped rows
	fresh   map[[2]string]bool            // rows whose diagnosis is in this Tick's input
}

// NewState returns an empty state.
func NewState() *State {
	return &State{hubs: map[string]*Hub{}, members: map[string]map[string]*Member{}, dirty: map[string]bool{},
		dirtyM: map[[2]string]bool{}}
}

// LoadHub loads a hub's blob.
func (st *State) LoadHub(hub string, data []byte) error {
	var h Hub
	if err := json.Unmarshal(data, &h); err != nil {
		return fmt.Errorf("site: load %s: %w", hub, err)
	}
	st.hubs[hub] = &h
	return nil
}

// LoadMember loads one device's row.
func (st *State) LoadMember(hub, dev string, data []byte) error {
	var m Member
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("site: load %s/%s: %w", hub, dev, err)
	}
	m.saved = true
	st.rows(hub)[dev] = &m
	return nil
}

// Hub returns a hub's state (nil if unknown).
func (st *State) Hub(hub string) *Hub { return st.hubs[hub] }

// Member returns a device's row (nil if none).
func (st *State) Member(hub, dev string) *Member { return st.members[hub][dev] }

// HubsChanged reports whether a hub's outages changed since the last
// Changes: the pipeline writes those at once and lets device rows wait for
// its commit.
func (st *State) HubsChanged() bool { return len(st.dirty) > 0 }

// Changes returns what changed since ClearDirty: hubs and member rows to
// save (sorted), member rows to delete; and clears them.
func (st *State) Changes() (hubs []string, rows, gone [][2]string) {
	for h := range st.dirty {
		hubs = append(hubs, h)
	}
	sort.Strings(hubs)
	for k := range st.dirtyM {
		m := st.members[k[0]][k[1]]
		switch {
		case m == nil:
		case m.Cand || m.Out != "":
			m.saved = true
			rows = append(rows, k)
		case m.saved:
			m.saved = false // no longer worth storing
			st.goneM = append(st.goneM, k)
		}
	}
	slices.SortFunc(rows, cmpKey)
	gone = st.goneM
	slices.SortFunc(gone, cmpKey)
	st.dirty, st.dirtyM, st.goneM = map[string]bool{}, map[[2]string]bool{}, nil
	return hubs, rows, gone
}

func cmpKey(a, b [2]string) int {
	if a[0] != b[0] {
		if a[0] < b[0] {
			return -1
		}
		return 1
	}
	switch {
	case a[1] < b[1]:
		return -1
	case a[1] > b[1]:
		return 1
	}
	return 0
}

// MarshalHub serializes a hub's blob.
func (st *State) MarshalHub(hub string) ([]byte, error) {
	b, err := json.Marshal(st.hubs[hub])
	if err != nil {
		return nil, fmt.Errorf("site: save %s: %w", hub, err)
	}
	return b, nil
}

// MarshalMember serializes a device's row.
func (st *State) MarshalMember(hub, dev string) ([]byte, error) {
	b, err := json.Marshal(st.members[hub][dev])
	if err != nil {
		return nil, fmt.Errorf("site: save %s/%s: %w", hub, dev, err)
	}
	return b, nil
}

func (st *State) rows(hub string) map[string]*Member {
	m := st.members[hub]
	if m == nil {
		m = map[string]*Member{}
		st.members[hub] = m
	}
	return m
}

func (st *State) hub(name string) *Hub {
	h := st.hubs[name]
	if h == nil {
		h = &Hub{}
		st.hubs[name] = h
	}
	return h
}

func (st *State) touchM(hub, dev string) { st.dirtyM[[2]string{hub, dev}] = true }

func (st *State) drop(hub, dev string) {
	if m := st.members[hub][dev]; m != nil && m.saved {
		st.goneM = append(st.goneM, [2]string{hub, dev})
	}
	delete(st.members[hub], dev)
	delete(st.dirtyM, [2]string{hub, dev})
}

// open returns the hub's open outage with the given ID, or nil.
func (h *Hub) open(id string) *Outage {
	for _, o := range h.Outages {
		if o.ID == id && o.Open {
			return o
		}
	}
	return nil
}

// openOn returns the hub's open outage on a network, or nil.
func (h *Hub) openOn(net string) *Outage {
	for _, o := range h.Outages {
		if o.Network == net && o.Open {
			return o
		}
	}
	return nil
}

// DevKey is the row key of an identity: "device[/module]".
func DevKey(device, module string) string {
	if module != "" {
		return device + "/" + module
	}
	return device
}

// Observe records the events read in one tick: each 404104's network (from
// its own record) and each successful connect, which brings a device back.
func Observe(st *State, evs []event.Event) {
	for i := range evs {
		e := &evs[i]
		if e.Hub == "" || e.Device == "" || e.Time.IsZero() {
			continue
		}
		t := e.Time.Unix()
		key := DevKey(e.Device, e.Module)
		switch {
		case e.Source == event.ResourceLog && e.Kind == event.Disconnect && e.Code == event.CodeConnectionClosedRemotely:
			observeDrop(st, e.Hub, key, event.Network(e.MaskedIP), t, e.MaskedIP != "")
		case (e.Source == event.ResourceLog && e.Kind == event.Connect && e.Code == 0) ||
			((e.Source == event.EventGrid || e.Source == event.Route) && e.Kind == event.StateConnected):
			observeBack(st, e.Hub, key, t)
		}
	}
}

func observeDrop(st *State, hub, key, net string, t int64, known bool) {
	m := st.members[hub][key]
	if m != nil && t <= m.T {
		return // re-read, or older than the row's 404104
	}
	if m != nil && m.Out != "" {
		if o := st.hub(hub).open(m.Out); o != nil {
			// A member that came back and dropped again stays in its
			// outage, away again.
			m.T, m.Back = t, 0
			st.touchM(hub, key)
			return
		}
	}
	if !known {
		if m != nil {
			st.drop(hub, key)
		}
		return
	}
	st.rows(hub)[key] = &Member{Net: net, T: t, saved: m != nil && m.saved}
	st.touchM(hub, key)
}

func observeBack(st *State, hub, key string, t int64) {
	m := st.members[hub][key]
	if m == nil || t <= m.T || m.Back != 0 {
		return
	}
	m.Back = t
	st.touchM(hub, key)
}

// Output is what Tick found.
type Output struct {
	// Signals are the site-outage transitions.
	Signals []classify.Signal
	// Diagnoses are earlier ticks' diagnoses of devices an outage took in,
	// again, with the outage in their evidence.
	Diagnoses []classify.Diagnosis
}

// Input is what Tick judges by.
type Input struct {
	// Watermark: the engine's; rows older than Keep before it are dropped.
	Watermark time.Time
	// Diagnoses are this tick's diagnoses (the engine's Output).
	Diagnoses []classify.Diagnosis
}

// Tick applies the tick's final verdicts, opens the outages the rule finds,
// resolves those whose devices are back, and returns their signals. The
// diagnoses of members are given the outage's evidence (in place).
func Tick(cfg Config, st *State, in Input) Output {
	cfg = cfg.withDefaults()
	st.fresh = map[[2]string]bool{}
	changed := verdicts(st, in.Diagnoses)
	var out Output
	for _, hub := range sortedKeys(changed) {
		out.Signals = append(out.Signals, detect(cfg, st, hub, &out)...)
	}
	for _, hub := range sortedKeys(st.hubs) {
		out.Signals = append(out.Signals, resolve(cfg, st, hub, in.Watermark.Unix())...)
	}
	annotate(st, in.Diagnoses)
	prune(cfg, st, in.Watermark.Unix())
	return out
}

// verdicts marks rows whose 404104's final verdict is device-or-network
// outside a hub incident as candidates (and a revised one as not), and
// returns the hubs with a new candidate.
func verdicts(st *State, ds []classify.Diagnosis) map[string]bool {
	changed := map[string]bool{}
	for i := range ds {
		d := &ds[i]
		if !d.Final {
			continue
		}
		key := DevKey(d.Key.Device, d.Key.Module)
		m := st.members[d.Key.Hub][key]
		if m == nil || m.T != d.Time.Unix() {
			continue
		}
		cand := d.Cause == classify.DeviceOrNetwork && d.Incident == ""
		if cand != m.Cand {
			m.Cand = cand
			if cand {
				changed[d.Key.Hub] = true
			}
		}
		m.D = nil
		if cand && m.Out == "" {
			c := *d
			c.Evidence = slices.Clone(d.Evidence)
			m.D = &c
			st.fresh[[2]string{d.Key.Hub, key}] = true
		}
		st.touchM(d.Key.Hub, key)
	}
	return changed
}

// Rule reports where a site outage starts among the 404104 times of one
// network's candidate devices (one time per device: a device's modules are
// one device, so an IoT Edge box dropping with its modules is not a site):
// the first time from which at least minDevices of them fall within
// window; ok false when none.
func Rule(times []int64, minDevices int, window time.Duration) (start int64, ok bool) {
	ts := slices.Clone(times)
	slices.Sort(ts)
	w := int64(window / time.Second)
	for i := 0; i+minDevices-1 < len(ts); i++ {
		if ts[i+minDevices-1]-ts[i] <= w {
			return ts[i], true
		}
	}
	return 0, false
}

// detect runs the rule on a hub's candidates, network by network: a
// network with an open outage takes new candidates in as members; another
// opens one when the rule finds it.
func detect(cfg Config, st *State, hub string, out *Output) []classify.Signal {
	byNet := map[string][]string{}
	for key, m := range st.members[hub] {
		if m.Cand && m.Out == "" {
			byNet[m.Net] = append(byNet[m.Net], key)
		}
	}
	h := st.hub(hub)
	var sigs []classify.Signal
	for _, net := range sortedKeys(byNet) {
		keys := byNet[net]
		sort.Strings(keys)
		if o := h.openOn(net); o != nil {
			if join(st, hub, o, keys, o.Start, out) && o.Fired {
				sigs = append(sigs, signal(hub, o, true, o.Start)) // refreshes the count
			}
			continue
		}
		start, ok := Rule(deviceTimes(st.members[hub], keys), cfg.MinDevices, cfg.Window)
		if !ok {
			continue
		}
		o := &Outage{ID: hub + "/" + net + "/" + strconv.FormatInt(start, 10), Hub: hub, Network: net, Open: true, Start: start}
		h.Outages = append(h.Outages, o)
		join(st, hub, o, keys, start, out)
	}
	return sigs
}

// deviceTimes returns one 404104 time per device among the rows keys: the
// earliest of its identities (device and modules).
func deviceTimes(rows map[string]*Member, keys []string) []int64 {
	first := map[string]int64{}
	for _, k := range keys {
		dev, _, _ := strings.Cut(k, "/")
		if t, ok := first[dev]; !ok || rows[k].T < t {
			first[dev] = rows[k].T
		}
	}
	times := make([]int64, 0, len(first))
	for _, t := range first {
		times = append(times, t)
	}
	return times
}

// join makes the candidates at or after from members of o, and emits
// again the earlier diagnoses of those that joined; true when any joined.
func join(st *State, hub string, o *Outage, keys []string, from int64, out *Output) bool {
	any := false
	for _, k := range keys {
		m := st.members[hub][k]
		if m.T < from {
			continue
		}
		m.Out = o.ID
		if m.D != nil && !st.fresh[[2]string{hub, k}] {
			d := *m.D
			d.Evidence = slices.Clone(d.Evidence)
			out.Diagnoses = append(out.Diagnoses, d)
		}
		m.D = nil
		st.touchM(hub, k)
		any = true
	}
	if any {
		o.Devices, o.Away = count(st, hub, o, 1<<62)
		for i := range out.Diagnoses {
			if d := &out.Diagnoses[i]; d.Key.Hub == hub && st.members[hub][DevKey(d.Key.Device, d.Key.Module)].Out == o.ID {
				d.Evidence = append(slices.Clip(d.Evidence), o.Evidence())
			}
		}
		st.dirty[hub] = true
	}
	return any
}

// Settle: an outage fires once the watermark is this far past its window,
// so that its first alert counts the devices whose verdicts were still
// being decided (ReconnectGrace) — well before their own device-offline
// alerts (OFFLINE_AFTER) would fire.
const Settle = 2 * time.Minute

// resolve fires the hub's settled outages and closes the open ones with
// three quarters of their devices back as of the watermark wm (a return
// the engine has not reached yet would release device alerts it still
// holds as firing), and trims its history.
func resolve(cfg Config, st *State, hub string, wm int64) []classify.Signal {
	h := st.hubs[hub]
	var sigs []classify.Signal
	for _, o := range h.Outages {
		if !o.Open {
			continue
		}
		_, away := count(st, hub, o, wm)
		end := lastBack(st, hub, o, wm)
		if away != o.Away {
			o.Away = away
			st.dirty[hub] = true
		}
		if !o.Fired && wm >= o.Start+int64((cfg.Window+Settle)/time.Second) {
			o.Fired = true
			st.dirty[hub] = true
			sigs = append(sigs, signal(hub, o, true, o.Start))
		}
		if !o.Fired || o.Away*4 > o.Devices {
			continue
		}
		o.Open, o.End = false, end
		st.dirty[hub] = true
		sigs = append(sigs, signal(hub, o, false, o.End))
		for k, m := range st.members[hub] {
			if m.Out == o.ID {
				st.drop(hub, k)
			}
		}
	}
	trim(cfg, st, hub, h)
	return sigs
}

// count counts o's member devices, and those not back as of wm (a device
// is away while any of its identities is).
func count(st *State, hub string, o *Outage, wm int64) (devices, away int) {
	gone := map[string]bool{}
	for k, m := range st.members[hub] {
		if m.Out != o.ID {
			continue
		}
		dev, _, _ := strings.Cut(k, "/")
		gone[dev] = gone[dev] || m.Back == 0 || m.Back > wm
	}
	for _, g := range gone {
		if g {
			away++
		}
	}
	return len(gone), away
}

// lastBack is the newest return among o's members as of wm.
func lastBack(st *State, hub string, o *Outage, wm int64) int64 {
	last := o.Start
	for _, m := range st.members[hub] {
		if m.Out == o.ID && m.Back <= wm && m.Back > last {
			last = m.Back
		}
	}
	return last
}

func trim(cfg Config, st *State, hub string, h *Hub) {
	closed := 0
	for i := len(h.Outages) - 1; i >= 0; i-- {
		if h.Outages[i].Open {
			continue
		}
		closed++
		if closed > cfg.History {
			h.Outages = slices.Delete(h.Outages, i, i+1)
			st.dirty[hub] = true
		}
	}
}

// annotate gives members' diagnoses the outage's evidence.
func annotate(st *State, ds []classify.Diagnosis) {
	for i := range ds {
		d := &ds[i]
		m := st.members[d.Key.Hub][DevKey(d.Key.Device, d.Key.Module)]
		if m == nil || m.Out == "" || m.T != d.Time.Unix() {
			continue
		}
		if o := st.hubs[d.Key.Hub].find(m.Out); o != nil {
			d.Evidence = append(d.Evidence, o.Evidence())
		}
	}
}

func (h *Hub) find(id string) *Outage {
	if h == nil {
		return nil
	}
	for _, o := range h.Outages {
		if o.ID == id {
			return o
		}
	}
	return nil
}

// prune drops rows that are in no outage and older than Keep.
func prune(cfg Config, st *State, wm int64) {
	cut := wm - int64(cfg.Keep/time.Second)
	for hub, rows := range st.members {
		for k, m := range rows {
			if m.Out == "" && m.T < cut {
				st.drop(hub, k) // deleting while ranging is safe in Go
			}
		}
	}
}

// Hold marks the device signals of devices caught in an open outage: the
// alert side holds them back while the outage's alert fires (as a hub
// incident holds its devices' alerts back). Caught are its members, and a
// device behind its network whose 404104 since its start had another
// verdict (a token expiry the moment the site went down: it cannot come
// back either). A signal already in a hub incident is left alone: the hub
// incident takes precedence.
//
// A device alert's end (the engine saw the device connect, in event-time
// order) also marks a member back: a connect record read before its
// 404104's record (shuffled delivery) is missed by Observe.
func Hold(st *State, sigs []classify.Signal) {
	for i := range sigs {
		s := &sigs[i]
		if !s.Kind.AboutDevice() {
			continue
		}
		if !s.Firing {
			returned(st, s)
			continue
		}
		if s.Incident != "" {
			continue
		}
		m := st.members[s.Key.Hub][DevKey(s.Key.Device, s.Key.Module)]
		h := st.hubs[s.Key.Hub]
		if m == nil || h == nil {
			continue
		}
		o := h.find(m.Out)
		if m.Out == "" {
			o = h.openOn(m.Net)
		}
		if o != nil && o.Open && m.T >= o.Start && s.Since.Unix() >= o.Start {
			s.Incident, s.Site = o.ID, o.Network
		}
	}
}

// returned marks a member back at a device alert's end.
func returned(st *State, s *classify.Signal) {
	key := DevKey(s.Key.Device, s.Key.Module)
	if m := st.members[s.Key.Hub][key]; m != nil && m.Out != "" && m.Back == 0 && s.At.Unix() > m.T {
		m.Back = s.At.Unix()
		st.touchM(s.Key.Hub, key)
	}
}

func signal(hub string, o *Outage, firing bool, at int64) classify.Signal {
	return classify.Signal{Kind: classify.SiteOutage, Key: event.Key{Hub: hub, Device: o.Network}, Firing: firing,
		Since: time.Unix(o.Start, 0).UTC(), At: time.Unix(at, 0).UTC(), Incident: o.ID, Site: o.Network,
		Summary: o.Summary(), Devices: o.Devices,
		Evidence: []string{strconv.Itoa(o.Devices) + " devices whose 404104 records carry " + o.Network +
			".x disconnected within minutes of each other, each judged device-or-network, with no hub-side error and outside any hub incident"},
		Recommendation: "Check the site's network (router, uplink, power) behind " + o.Network + ".x; the devices' own alerts are held back until it is back."}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
