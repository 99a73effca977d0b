// Package suspect raises an early, suspected hub incident from the Event
// Grid stream alone, minutes before the resource logs that can name its
// cause arrive.
//
// Event Grid (or routed) DeviceDisconnected events arrive within seconds;
// the resource logs with the result codes 3–10 minutes later (Azure
// Monitor: 30 s to 20 min). When many devices of a hub disconnect at once —
// well above the hub's usual rate of disconnect events, and spread across
// the fleet's network locations — Tick raises a hub-incident Signal marked
// Suspected (cause pending). The engine's own incident for the hub, once
// the logs are in, confirms it through alert.Manager (same alert key and
// episode); if the logs arrive and show no incident, Tick withdraws it (a
// Suspected resolved that says it was not the hub).
//
// A withdrawn suspicion is noise in someone's phone at night, so it
// suspects only what looks like the hub, and stays silent on
//
//   - one site or gateway whose devices dropped together: the burst must
//     span several /24 networks (each device's from its last connect record's
//     maskedIpAddress), with no one network holding much more of the burst
//     than it holds of the fleet;
//   - a wave of token expiries (devices that reconnected together after an
//     earlier incident expire together, about an hour later): each device
//     of such a wave is cut at its connect + its token's period (its TTL, the
//     hub's enforcement delay, its SDK's renewal margin), so most of the
//     burst's session ages sit at a token period, far more of them than a
//     random draw from the fleet's connected devices would show; a hub
//     outage hits devices of every session age (tokenWave);
//   - a hub without enough history to know its usual rate, or a burst too
//     small to judge (fewer than 5 sampled devices with a known network).
//
// Everything is pure (events and times in, signals out) and bounded: per
// hub at most MaxTracked devices are tracked, a hash sample of the fleet
// that halves when the fleet outgrows it, so a 100 000-device hub costs the
// same as a 2 000-device one; its rates are scaled back up by the sample
// rate.
package suspect

import (
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// Config tunes the detector. Zero fields take the defaults of Defaults.
type Config struct {
	// MinDevices is the fewest devices of a burst (INCIDENT_MIN_DEVICES).
	MinDevices int
	// Window is how close together disconnects must be to be "at once".
	Window time.Duration
	// Factor: the burst must be this many times the hub's usual number of
	// disconnects in a Window.
	Factor float64
	// History is how much of the hub's Event Grid traffic must have been
	// seen before its usual rate is trusted.
	History time.Duration
	// Settle: a suspicion is judged once resource logs (and the watermark)
	// have passed its last disconnect by this much.
	Settle time.Duration
	// GiveUp withdraws a suspicion no resource log ever judged.
	GiveUp time.Duration
	// MaxTracked bounds the devices tracked per hub; at most maxTrackedFit,
	// which keeps a hub's blob under 64 KiB (codec.go).
	MaxTracked int
}

// Defaults returns the default configuration.
func Defaults() Config {
	return Config{MinDevices: 10, Window: 2 * time.Minute, Factor: 5, History: 15 * time.Minute,
		Settle: 2 * time.Minute, GiveUp: time.Hour, MaxTracked: 2048}
}

func (c Config) withDefaults() Config {
	d := Defaults()
	if c.MinDevices <= 0 {
		c.MinDevices = d.MinDevices
	}
	if c.Window <= 0 {
		c.Window = d.Window
	}
	if c.Factor <= 0 {
		c.Factor = d.Factor
	}
	if c.History <= 0 {
		c.History = d.History
	}
	if c.Settle <= 0 {
		c.Settle = d.Settle
	}
	if c.GiveUp <= 0 {
		c.GiveUp = d.GiveUp
	}
	if c.MaxTracked <= 0 {
		c.MaxTracked = d.MaxTracked
	}
	c.MaxTracked = min(c.MaxTracked, maxTrackedFit)
	return c
}

// recent: a burst whose newest disconnect is older than this (wall clock)
// is a backlog being read, which the engine judges on its logs.
const recent = 5 * time.Minute

// forget drops a hub with no Event Grid disconnect for this long.
const forget = 7 * 24 * time.Hour

// Hub is the detector's state of one hub.
type Hub struct {
	// Shift: devices are tracked when the low Shift bits of their hash are
	// zero (1 in 2^Shift).
	Shift uint8 `json:"shift,omitempty"`
	// Devs are the tracked devices by the hash of "device[/module]"
	// (keyHash): a fixed 8 bytes whatever the device ID's length, so the
	// blob's size follows from the number of devices (codec.go).
	Devs map[uint64]*Device `json:"-"`
	// First is the event time (Unix seconds) of the first Event Grid
	// connection event seen: the start of the hub's known history.
	First int64 `json:"first,omitempty"`
	// Top is the minute (Unix minutes) of the newest tracked Event Grid
	// disconnect; Counts[i] counts tracked devices' disconnects in minute
	// Top-i.
	Top    int64      `json:"top,omitempty"`
	Counts [64]uint16 `json:"counts"`
	// NewestLog is the newest resource-log event time (Unix seconds).
	NewestLog int64 `json:"newestLog,omitempty"`
	// Handled: disconnects at or before it (Unix seconds) belong to a burst
	// already suspected or already a known incident.
	Handled int64 `json:"handled,omitempty"`
	// Sus is the open suspicion, if any.
	Sus *Suspicion `json:"sus,omitempty"`
}

// Device is one tracked device: its network (the /24 of its masked IP
// address, as a netCode; 0 unknown), last connect and last Event Grid disconnect (Unix seconds), and
// the age of the session that disconnect ended (seconds; 0 unknown) — kept
// apart because a device that renews its token is back, with a newer
// connect, before the next tick looks — and Prev, the age of the session
// before it: the device's own token period when both ended on a token (a
// custom TTL no default names). Stored as a fixed-size record (codec.go),
// not as JSON.
type Device struct {
	Net  uint32
	Conn int64
	Disc int64
	Age  int64
	Prev int64
}

// Suspicion is a suspected incident waiting for the resource logs.
type Suspicion struct {
	ID string `json:"id"`
	// Since and End bound its disconnects (Unix seconds, event time).
	Since int64 `json:"since"`
	End   int64 `json:"end"`
	// Raised is the wall clock (Unix seconds) it was raised at.
	Raised  int64 `json:"raised"`
	Devices int   `json:"devices"`
	// Causes counts the final diagnoses of the hub's 404104s in it.
	Causes map[string]int `json:"causes,omitempty"`
}

// State is the detector's state: one Hub per hub, each persisted as its own
// blob (Marshal/Unmarshal) so that no blob grows with the number of hubs.
// Not safe for concurrent use.
type State struct {
	hubs  map[string]*Hub
	dirty map[string]bool
	gone  []string
}

// NewState returns an empty state.
func NewState() *State { return &State{hubs: map[string]*Hub{}, dirty: map[string]bool{}} }

// Unmarshal loads one hub's state (decodeHub).
func (st *State) Unmarshal(hub string, data []byte) error {
	h, err := decodeHub(data)
	if err != nil {
		return fmt.Errorf("suspect: load %s: %w", hub, err)
	}
	st.hubs[hub] = h
	return nil
}

// Marshal serializes one hub's state (encodeHub); ok is false when the hub
// is gone.
func (st *State) Marshal(hub string) (data []byte, ok bool, err error) {
	h := st.hubs[hub]
	if h == nil {
		return nil, false, nil
	}
	data, err = encodeHub(h)
	if err != nil {
		return nil, false, fmt.Errorf("suspect: save %s: %w", hub, err)
	}
	return data, true, nil
}

// Dirty returns the hubs changed since ClearDirty (sorted), and whether a
// suspicion was raised, confirmed or withdrawn among them (save now rather
// than at the next commit).
func (st *State) Dirty() (hubs []string, urgent bool) {
	for h, u := range st.dirty {
		hubs = append(hubs, h)
		urgent = urgent || u
	}
	sort.Strings(hubs)
	return hubs, urgent
}

// ClearDirty forgets the changes after the caller saved them.
func (st *State) ClearDirty() { clear(st.dirty) }

// Hub returns a hub's state (nil if unknown), for tests and the API.
func (st *State) Hub(hub string) *Hub { return st.hubs[hub] }

func (st *State) hub(name string) *Hub {
	h := st.hubs[name]
	if h == nil {
		h = &Hub{Devs: map[uint64]*Device{}}
		st.hubs[name] = h
	}
	return h
}

func (st *State) touch(hub string, urgent bool) { st.dirty[hub] = st.dirty[hub] || urgent }

// Observe records the events read in one tick. Re-reading an event is
// harmless: a disconnect is counted only when it is newer than the
// device's last one.
func Observe(cfg Config, st *State, evs []event.Event) {
	cfg = cfg.withDefaults()
	for i := range evs {
		e := &evs[i]
		if e.Hub == "" || e.Time.IsZero() {
			continue
		}
		switch e.Source {
		case event.ResourceLog:
			observeLog(cfg, st, e)
		case event.EventGrid, event.Route:
			observeState(cfg, st, e)
		}
	}
}

func observeLog(cfg Config, st *State, e *event.Event) {
	h := st.hub(e.Hub)
	t := e.Time.Unix()
	changed := false
	if t > h.NewestLog {
		h.NewestLog, changed = t, true
	}
	if (e.Kind == event.Connect || e.Kind == event.Disconnect) && e.MaskedIP != "" && e.Device != "" {
		if d := h.device(cfg, devKey(e)); d != nil {
			if n := netCode(network(e.MaskedIP)); n != d.Net && (e.Kind == event.Connect || d.Net == 0) {
				d.Net, changed = n, true
			}
			if e.Kind == event.Connect && e.Code == 0 && t > d.Conn {
				d.Conn, changed = t, true
			}
		}
	}
	if changed {
		st.touch(e.Hub, false)
	}
}

func observeState(cfg Config, st *State, e *event.Event) {
	if e.Kind != event.StateConnected && e.Kind != event.StateDisconnected {
		return
	}
	h := st.hub(e.Hub)
	t := e.Time.Unix()
	if h.First == 0 || t < h.First {
		h.First = t
		st.touch(e.Hub, false)
	}
	if e.Device == "" {
		return
	}
	d := h.device(cfg, devKey(e))
	if d == nil {
		return
	}
	switch e.Kind {
	case event.StateConnected:
		if t > d.Conn {
			d.Conn = t
			st.touch(e.Hub, false)
		}
	case event.StateDisconnected:
		if t > d.Disc {
			d.Disc, d.Prev, d.Age = t, d.Age, 0
			if d.Conn > 0 && d.Conn < t {
				d.Age = t - d.Conn
			}
			h.count(t / 60)
			st.touch(e.Hub, false)
		}
	}
}

func devKey(e *event.Event) string {
	if e.Module != "" {
		return e.Device + "/" + e.Module
	}
	return e.Device
}

// network is the device's network location, event.Network (shared with
// package site, which groups site outages by it).
func network(masked string) string { return event.Network(masked) }

// device returns the tracked state of key, creating it when the device is
// in the sample; nil when it is not. The sample halves (and the counts
// with it) when it outgrows MaxTracked.
func (h *Hub) device(cfg Config, key string) *Device {
	hash := keyHash(key)
	if !h.sampled(hash) {
		return nil
	}
	if d := h.Devs[hash]; d != nil {
		return d
	}
	for len(h.Devs) >= cfg.MaxTracked && h.Shift < 31 {
		h.Shift++
		for k := range h.Devs {
			if !h.sampled(k) {
				delete(h.Devs, k)
			}
		}
		for i := range h.Counts {
			h.Counts[i] /= 2
		}
		if !h.sampled(hash) {
			return nil
		}
	}
	d := &Device{}
	h.Devs[hash] = d
	return d
}

func (h *Hub) sampled(hash uint64) bool { return hash&(1<<h.Shift-1) == 0 }

// keyHash identifies a tracked device: FNV-1a, 64 bits. Two devices of a
// 2 048-device sample colliding (odds ~2^-42) would be tracked as one.
func keyHash(key string) uint64 {
	f := fnv.New64a()
	f.Write([]byte(key))
	return f.Sum64()
}

// count adds a tracked disconnect in minute m.
func (h *Hub) count(m int64) {
	if m > h.Top {
		n := m - h.Top
		if h.Top == 0 || n >= int64(len(h.Counts)) {
			h.Counts = [64]uint16{}
		} else {
			copy(h.Counts[n:], h.Counts[:int64(len(h.Counts))-n])
			clear(h.Counts[:n])
		}
		h.Top = m
	}
	if d := h.Top - m; d >= 0 && d < int64(len(h.Counts)) && h.Counts[d] < 1<<16-1 {
		h.Counts[d]++
	}
}

// Input is what the pipeline knows at a tick besides the events.
type Input struct {
	// Now is the wall clock; Watermark the engine's.
	Now, Watermark time.Time
	// IncidentOpen reports whether the engine's own incident is open for a
	// hub (its firing signal came this tick, or its alert is firing and not
	// suspected): nothing to suspect, and a suspicion is confirmed.
	IncidentOpen func(hub string) bool
	// Diagnoses are this tick's diagnoses, to name what a withdrawn
	// suspicion was instead.
	Diagnoses []classify.Diagnosis
}

// Tick judges every hub: raises, confirms or withdraws suspicions, and
// returns the signals (sorted by hub). It also forgets hubs silent for a
// week (Gone lists them for deletion).
func Tick(cfg Config, st *State, in Input) []classify.Signal {
	cfg = cfg.withDefaults()
	var out []classify.Signal
	names := make([]string, 0, len(st.hubs))
	for name, h := range st.hubs {
		if h.Sus == nil && h.Top > 0 && in.Now.Sub(time.Unix(h.Top*60, 0)) > forget {
			delete(st.hubs, name)
			delete(st.dirty, name)
			st.gone = append(st.gone, name)
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if s, ok := tickHub(cfg, name, st.hubs[name], in); ok {
			out = append(out, s)
			st.touch(name, true)
		} else if st.hubs[name].Sus != nil {
			st.touch(name, false)
		}
	}
	return out
}

// Gone returns and forgets the hubs dropped since the last call (their
// blobs are to be deleted).
func (st *State) Gone() []string {
	g := st.gone
	st.gone = nil
	return g
}

func tickHub(cfg Config, name string, h *Hub, in Input) (classify.Signal, bool) {
	open := in.IncidentOpen != nil && in.IncidentOpen(name)
	if h.Sus != nil {
		return judge(cfg, name, h, in, open)
	}
	b := burstOf(h, cfg)
	if open {
		// A known incident: its disconnects are the engine's.
		h.Handled = max(h.Handled, b.newest)
		return classify.Signal{}, false
	}
	if b.newest == 0 || in.Now.Sub(time.Unix(b.newest, 0)) > recent {
		return classify.Signal{}, false
	}
	why, reject := suspicious(cfg, h, b)
	if reject != "" {
		return classify.Signal{}, false
	}
	h.Sus = &Suspicion{ID: fmt.Sprintf("suspected-%s-%d", name, b.since), Since: b.since, End: b.newest,
		Raised: in.Now.Unix(), Devices: b.devices(h)}
	return raise(name, h.Sus, b, why, in.Now), true
}

// burst is the tracked devices that disconnected within Window of the
// hub's newest disconnect, after the last handled one.
type burst struct {
	devs []*Device
	// from: the burst is the devices whose disconnect is after it.
	from, since, newest int64
}

func (b burst) devices(h *Hub) int { return len(b.devs) << h.Shift }

func burstOf(h *Hub, cfg Config) burst {
	var b burst
	for _, d := range h.Devs {
		b.newest = max(b.newest, d.Disc)
	}
	if b.newest == 0 || b.newest <= h.Handled {
		return burst{}
	}
	b.from = max(b.newest-int64(cfg.Window/time.Second), h.Handled)
	var times []int64
	for _, d := range h.Devs {
		if d.Disc > b.from {
			b.devs = append(b.devs, d)
			times = append(times, d.Disc)
		}
	}
	// It started at the first disconnect from which they kept coming (no
	// gap over burstGap): an isolated one before is background.
	slices.Sort(times)
	b.since = times[len(times)-1]
	for i := len(times) - 2; i >= 0 && times[i+1]-times[i] <= burstGap; i-- {
		b.since = times[i]
	}
	return b
}

// burstGap is the longest pause inside one burst (seconds).
const burstGap = 30

// Rejections of a burst, in the order the rules are applied.
const (
	rejectNone    = ""
	rejectSmall   = "fewer devices than INCIDENT_MIN_DEVICES"
	rejectHistory = "the hub's usual rate is not known yet"
	rejectRate    = "within the hub's usual rate"
	rejectSpread  = "not spread across the fleet's networks"
	rejectWave    = "a wave of token expiries"
)

// suspicious applies the rules of the package comment: why describes the
// evidence of a suspicious burst, reject names the rule that cleared it.
func suspicious(cfg Config, h *Hub, b burst) (why []string, reject string) {
	n := b.devices(h)
	if n < cfg.MinDevices {
		return nil, rejectSmall
	}
	usual, known := usualPerWindow(cfg, h, b)
	if !known {
		return nil, rejectHistory
	}
	if float64(n) < cfg.Factor*max(usual, 1) {
		return nil, rejectRate
	}
	spread, ok := spreadAcrossFleet(h, b)
	if !ok {
		return nil, rejectSpread
	}
	ages, ok := notATokenWave(h, b)
	if !ok {
		return nil, rejectWave
	}
	return []string{
		fmt.Sprintf("Event Grid: %d devices disconnected between %s and %s, against a usual %.1f per %s",
			n, hhmmss(b.since), hhmmss(b.newest), usual, cfg.Window),
		spread, ages,
	}, rejectNone
}

// usualPerWindow is the hub's usual number of disconnects per Window (the
// median minute of the hour before the burst, scaled up by the sample),
// and whether enough history is known.
func usualPerWindow(cfg Config, h *Hub, b burst) (float64, bool) {
	if h.First == 0 || b.since-h.First < int64(cfg.History/time.Second) {
		return 0, false
	}
	w := int64(cfg.Window / time.Minute)
	firstMin := h.First / 60
	var per []int
	for i := w + 1; i < int64(len(h.Counts)); i++ {
		if m := h.Top - i; m >= firstMin && m < b.since/60 {
			per = append(per, int(h.Counts[i]))
		}
	}
	if len(per) < int(cfg.History/time.Minute)-int(w)-1 || len(per) == 0 {
		return 0, false
	}
	slices.Sort(per)
	med := float64(per[len(per)/2])
	return med * float64(max(w, 1)) * float64(int(1)<<h.Shift), true
}

// spreadAcrossFleet: the burst looks like a random draw from the fleet,
// not like a site. At least 5 burst devices with a known network, in at
// least 3 networks and in at least half as many as a random draw of as
// many devices from the fleet would touch; no network holding 3 or more of
// the burst's devices and a share of it more than 25 points above its share
// of the fleet (a site inside a wider burst); and a fleet of at least 3
// networks (a fleet on one site cannot tell a site from the hub).
func spreadAcrossFleet(h *Hub, b burst) (string, bool) {
	burstNets := map[uint32]int{}
	known := 0
	for _, d := range b.devs {
		if d.Net != 0 {
			burstNets[d.Net]++
			known++
		}
	}
	if known < 5 || len(burstNets) < 3 {
		return "", false
	}
	fleetNets := map[uint32]int{}
	fleet := 0
	for _, d := range h.Devs {
		if d.Net != 0 {
			fleetNets[d.Net]++
			fleet++
		}
	}
	if len(fleetNets) < 3 {
		return "", false
	}
	top, topN := uint32(0), 0
	for n, c := range burstNets {
		if c > topN || (c == topN && n < top) {
			top, topN = n, c
		}
	}
	share := float64(topN) / float64(known)
	fleetShare := float64(fleetNets[top]) / float64(fleet)
	if topN >= 3 && share > fleetShare+0.25 {
		return "", false
	}
	// A random draw of k devices touches sum_j 1-(1-q_j)^k networks.
	expected := 0.0
	for _, c := range fleetNets {
		expected += 1 - math.Pow(1-float64(c)/float64(fleet), float64(known))
	}
	if float64(len(burstNets)) < expected/2 {
		return "", false
	}
	return fmt.Sprintf("spread across %d networks (/24) of the fleet's %d (a random draw would touch %.0f); the largest, %s, holds %.0f%% of the burst and %.0f%% of the fleet",
		len(burstNets), len(fleetNets), expected, netText(top), share*100, fleetShare*100), true
}

func hhmmss(unix int64) string { return time.Unix(unix, 0).UTC().Format("15:04:05") }

func raise(hub string, s *Suspicion, b burst, why []string, now time.Time) classify.Signal {
	ev := append(why, "resource logs with the result codes usually arrive 3–10 minutes after Event Grid: this alert is then confirmed with its cause, or withdrawn")
	return classify.Signal{Kind: classify.HubIncident, Key: event.Key{Hub: hub}, Firing: true, Suspected: true,
		Since: time.Unix(s.Since, 0).UTC(), At: now, Incident: s.ID, Devices: s.Devices,
		Summary:  fmt.Sprintf("suspected IoT Hub incident on %s: %d devices disconnected at once across the fleet (cause pending)", hub, s.Devices),
		Evidence: ev,
		Recommendation: "Suspected from Event Grid alone, before the resource logs that name the cause: check Azure " +
			"Resource Health and Azure Status for the hub; nothing to do on the devices yet. A confirmation or a " +
			"withdrawal follows when the resource logs arrive."}
}

// judge confirms or withdraws an open suspicion.
func judge(cfg Config, name string, h *Hub, in Input, open bool) (classify.Signal, bool) {
	s := h.Sus
	if b := burstOf(h, cfg); b.newest > s.End && b.newest-s.End <= int64(cfg.Window/time.Second) {
		s.End = b.newest // the burst goes on
	}
	countCauses(s, name, in.Diagnoses)
	if open {
		// Confirmed: the engine's own signal says so (alert.Manager turns it
		// into the confirmation of the same episode).
		h.Handled, h.Sus = max(h.Handled, s.End), nil
		return classify.Signal{}, false
	}
	settled := time.Unix(s.End, 0).Add(cfg.Settle)
	logsIn := h.NewestLog >= settled.Unix() && !in.Watermark.Before(settled)
	if !logsIn && in.Now.Sub(time.Unix(s.Raised, 0)) < cfg.GiveUp {
		return classify.Signal{}, false
	}
	h.Handled, h.Sus = max(h.Handled, s.End), nil
	sig := classify.Signal{Kind: classify.HubIncident, Key: event.Key{Hub: name}, Suspected: true,
		Since: time.Unix(s.Since, 0).UTC(), At: in.Now, Incident: s.ID, Devices: s.Devices}
	if logsIn {
		sig.Summary = fmt.Sprintf("withdrawn: not an IoT Hub incident — the resource logs of the %d devices that disconnected on %s at %s show no hub-side errors above its usual rate",
			s.Devices, name, hhmmss(s.Since))
		sig.Evidence = causeEvidence(s)
		sig.Recommendation = "Nothing to do on the IoT Hub side. See the devices' own diagnoses (API disconnects) for what happened to them."
	} else {
		sig.Summary = fmt.Sprintf("withdrawn: could not be confirmed — no resource logs from %s have covered the disconnects of %s within %s",
			name, hhmmss(s.Since), cfg.GiveUp)
		sig.Evidence = []string{"newest resource log of the hub: " + unixText(h.NewestLog)}
		sig.Recommendation = "Check that the hub's resource logs reach disconnect-doctor (see any pipeline-silent alert); check Azure Resource Health for the hub."
	}
	return sig, true
}

func unixText(u int64) string {
	if u == 0 {
		return "none"
	}
	return time.Unix(u, 0).UTC().Format(time.RFC3339)
}

// countCauses adds the final diagnoses of the hub's 404104s within the
// suspicion to its cause counts.
func countCauses(s *Suspicion, hub string, ds []classify.Diagnosis) {
	for _, d := range ds {
		t := d.Time.Unix()
		if d.Key.Hub != hub || !d.Final || t < s.Since-60 || t > s.End+60 {
			continue
		}
		if s.Causes == nil {
			s.Causes = map[string]int{}
		}
		s.Causes[string(d.Cause)]++
	}
}

func causeEvidence(s *Suspicion) []string {
	if len(s.Causes) == 0 {
		return []string{"no 404104 of the hub in those minutes was diagnosed as a hub incident"}
	}
	causes := make([]string, 0, len(s.Causes))
	for c := range s.Causes {
		causes = append(causes, c)
	}
	sort.Slice(causes, func(i, j int) bool {
		if s.Causes[causes[i]] != s.Causes[causes[j]] {
			return s.Causes[causes[i]] > s.Causes[causes[j]]
		}
		return causes[i] < causes[j]
	})
	parts := make([]string, len(causes))
	for i, c := range causes {
		parts[i] = fmt.Sprintf("%s %d", c, s.Causes[c])
	}
	return []string{"the 404104s of those minutes were diagnosed as: " + strings.Join(parts, ", ")}
}
