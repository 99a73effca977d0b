package classify

import (
	"hash/fnv"
	"math"
	"sort"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// Bounds on the state one device or hub may hold, so that a blob stays small
// (≤ 2 KiB per device for a normal device) whatever the device does.
const (
	maxEntries = 48 // timeline entries per device (a flapping device with state events stays < 2 KiB)
	maxSamples = 8  // token-period samples per device
	maxFlaps   = 16 // device-or-network disconnect times kept for flapping
	maxMetric  = 16 // metric alert events kept per hub
	maxIncKept = 32 // incidents kept per hub (open + recently resolved)
)

// causeCode is the compact form of Cause kept in a timeline entry.
type causeCode uint8

const (
	ccPending causeCode = iota
	ccTokenExpiry
	ccRenewalFailed
	ccDeviceOrNetwork
	ccDuplicateIdentity
	ccHubTransient
)

var causeByCode = [...]Cause{Pending, TokenExpiry, TokenRenewalFailed, DeviceOrNetwork, DuplicateIdentity, HubTransient}

func (c causeCode) cause() Cause {
	if int(c) < len(causeByCode) {
		return causeByCode[c]
	}
	return Pending
}

// entry flags.
const (
	fAnnounced uint8 = 1 << iota // a Pending diagnosis was emitted
	fFinal                       // the verdict is final
	// fRetro: a device-or-network verdict revised to token-expiry because
	// the device's token period, learned from later disconnects, explains
	// its session (see Engine.reviseEarlier); the revised verdict is
	// rendered from its sample, not re-derived by decide.
	fRetro
	// fBurstKnown / fBurst cache burstAt for the 404104 once its minute
	// buckets are compacted (the seconds are gone then).
	fBurstKnown
	fBurst
	// fUnprior: a token-expiry verdict resting on the hub-cut SDK prior
	// alone, revised to device-or-network because the device's own token
	// period, learned later, does not fit its session (see
	// Engine.reviseEarlier); rendered from its sample, like fRetro.
	fUnprior
	// fUnlogged: the 404104 is counted in its hub's cut-off figures as
	// without a 401003 (cutStats.learn); a 401003 arriving later moves it.
	fUnlogged
	// fBacked: its verdict found a 401003 beside it (verdict.backed), kept
	// for the device-offline alert (offlineAt) once the 401003 itself may
	// have been pruned.
	fBacked
)

// entry is one connection-relevant record on a device's timeline. 404104
// entries also carry their verdict, so that revisions can be detected.
type entry struct {
	id    event.ID
	t     int64 // unix seconds (resource logs have second precision)
	code  int32
	kind  event.Kind
	src   event.Source
	class msgClass // 401003 message class
	flags uint8
	cause causeCode
	rev   uint8
	conf  uint8  // confidence × 100
	fp    uint32 // fingerprint of the emitted verdict (cause, evidence)
	// seq is the Event Grid / route sequence number, normalized, of a state
	// event (nil for every other entry, and for one without a usable
	// number): a pointer, because most entries have none and a string
	// header in every entry would cost each device 8 bytes per entry.
	seq *string
}

// seqNum returns the state event's normalized sequence number, "" none.
func (e *entry) seqNum() string {
	if e.seq == nil {
		return ""
	}
	return *e.seq
}

// setSeq keeps a normalized sequence number ("" keeps none).
func (e *entry) setSeq(s string) {
	e.seq = nil
	if s != "" {
		e.seq = &s
	}
}

func (e *entry) is404104() bool {
	return e.src == event.ResourceLog && e.code == event.CodeConnectionClosedRemotely
}

func (e *entry) isUnauthorized() bool {
	return e.src == event.ResourceLog && e.code == event.CodeUnauthorized
}

// isSuccessConnect: a resource-log deviceConnect that succeeded.
func (e *entry) isSuccessConnect() bool {
	return e.src == event.ResourceLog && e.kind == event.Connect && e.code == 0
}

// isRefusedConnect: a resource-log deviceConnect the hub refused.
func (e *entry) isRefusedConnect() bool {
	return e.src == event.ResourceLog && e.kind == event.Connect && e.code != 0
}

func (e *entry) isDupIdentity() bool {
	return e.src == event.ResourceLog && (e.code == event.CodeClosedOnNewConnection || e.code == event.CodeLinkCreationConflict)
}

// sample is one observed token period: the time from the successful connect
// that presented a token to the 404104 that ended that connection. It also
// keeps what a later revision of that 404104's verdict needs once the
// timeline entry itself is pruned (a 3-hour token period is learned hours
// after the first disconnect it explains). A device keeps up to maxSamples
// of them resident, so the fields are packed to 48 bytes: the flags in one
// byte (sm* bits), the revision time as an offset.
type sample struct {
	disc int64    // time of the 404104
	id   event.ID // for device-or-network, prior-based and revised samples: the 404104's ID
	dur  int32    // seconds
	back int32    // seconds to its reconnect within the grace, -1 none
	// retroIn: the verdict was revised when the disconnect retroIn seconds
	// after disc taught the period pdur ± ptol (smPBy: 401003-backed, from
	// pn agreeing sessions): to token-expiry, or — for a prior sample — to
	// device-or-network because dur is off that period; 0 when not revised.
	retroIn    int32
	pdur, ptol int32
	cause      causeCode
	rev        uint8 // the 404104's revision count
	pn         uint8
	// fl holds smBacked (a 401003 stood beside the 404104), smAnch (dur
	// runs from the previous disconnect: its reconnect record was lost),
	// smRefused (… or from a connect the hub refused after it), smPrior (a
	// token expiry on the hub-cut SDK prior alone, revisable to
	// device-or-network once the device's own period is known) and smPBy.
	fl uint8
}

func (s sample) backed() bool { return s.fl&smBacked != 0 }
func (s sample) anch() bool   { return s.fl&smAnch != 0 }
func (s sample) prior() bool  { return s.fl&smPrior != 0 }
func (s sample) pby() bool    { return s.fl&smPBy != 0 }
func (s sample) reused() bool { return s.fl&smReused != 0 }

// retroAt is the time of the disconnect that revised the sample's verdict,
// 0 when not revised.
func (s sample) retroAt() int64 {
	if s.retroIn == 0 {
		return 0
	}
	return s.disc + int64(s.retroIn)
}

// setRetroAt records the revision by the disconnect at by (after disc; an
// offset beyond int32 seconds, 68 years, is clamped).
func (s *sample) setRetroAt(by int64) {
	s.retroIn = int32(max(1, min(by-s.disc, math.MaxInt32)))
}

// flapRev is a device-or-network verdict that counted towards flapping until
// the disconnect at by revised it (retroactive token period): flapping
// windows ending before by still count it, so that the flapping alert does
// not depend on whether the revision was known when the window was judged.
//
// late marks the opposite: a token verdict on the SDK prior alone that the
// disconnect at by revised to device-or-network (its period, learned then,
// does not fit the session); it counts only for windows ending at or after
// by, for the same reason.
type flapRev struct {
	t, by int64
	late  bool
}

// seed2At reports whether the verdict counted as seed-2 for a flapping
// window ending at at.
func (r flapRev) seed2At(at int64) bool {
	if r.late {
		return r.by <= at
	}
	return r.by > at
}

// sigState is one device alert condition's current state.
type sigState struct {
	firing bool
	since  int64 // event time the condition began (firing)
	ref    int64 // the disconnect that started it (offline, renewal) / last reset (flapping)
	inc    int64 // start of the incident the device was caught in, 0 none
}

// device is everything the engine keeps about one device or module identity.
// It is resident for every tracked identity (issue 9: ≤ 1 KiB each, Go's
// overhead included), so what most devices never have lives behind the
// alerts pointer, and nothing here is derivable from the key.
type device struct {
	key     event.Key
	entries []entry // sorted by (t, id)
	samples []sample
	floor   int64 // events before this were pruned: arrivals older are stale
	deleted int64 // time of a DeviceDeleted, 0 none
	due     int64 // earliest watermark a Tick needs to look at it again, 0 none

	// alerts is the device's alert-condition state; nil when all of it is
	// zero, as for most devices (they never fire). evalDevice holds it for
	// the device's evaluation (holdAlerts) and lets it go again when it is
	// zero (releaseAlerts); code outside that span checks for nil.
	*alerts

	// contrib lists the hub minutes the device is counted in (an
	// unexplained 404104), for the open minutes and the two before them;
	// see syncBuckets. contribKnown is false for a device decoded from a
	// blob older than the list, whose contribution the hub's old layout
	// still names (hub.legacy).
	contrib      []contrib
	contribKnown bool

	// inDirty / inTouched mirror membership of State.dirtyDev / touched, so
	// the ingest hot path skips a map write per event.
	inDirty, inTouched bool
}

// alerts is a device's alert conditions (§7: offline, flapping, failing
// renewal) and the seed-2 disconnect times flapping counts.
type alerts struct {
	offline, flapping, renewal sigState
	flaps                      []int64   // times of final seed-2 verdicts, ascending
	flapRevs                   []flapRev // seed-2 verdicts revised by a later-learned period, by t
}

// zero reports whether the alert state holds nothing (a device that never
// fired nor had a seed-2 verdict kept).
func (a *alerts) zero() bool {
	return a.offline == sigState{} && a.flapping == sigState{} && a.renewal == sigState{} &&
		len(a.flaps) == 0 && len(a.flapRevs) == 0
}

// holdAlerts gives the device an alert state to work on (see
// device.alerts): its own, or the State's scratch one when it has none, so
// that evaluating a device without alerts allocates nothing. It reports
// whether the scratch one was lent.
func (s *State) holdAlerts(d *device) (lent bool) {
	if d.alerts != nil {
		return false
	}
	s.scratch = alerts{}
	d.alerts = &s.scratch
	return true
}

// releaseAlerts ends holdAlerts: a device left with no alert state holds
// none; one that gained some on the scratch keeps a copy of its own.
func (s *State) releaseAlerts(d *device, lent bool) {
	switch {
	case d.alerts.zero():
		d.alerts = nil
	case lent:
		own := s.scratch
		d.alerts = &own
	}
	if lent {
		s.scratch = alerts{}
	}
}

// releaseAlerts drops a decoded device's alert state when it holds nothing.
func (d *device) releaseAlerts() {
	if d.alerts != nil && d.alerts.zero() {
		d.alerts = nil
	}
}

// bucket is one hub minute, held as counts so that its size does not grow
// with the devices or the hub-side error records in it (a whole-hub outage
// puts every device and millions of records in one minute). Which device
// is counted where lives with the device (device.contrib): a device
// re-judged while the minute is open takes its old contribution back and
// adds the new one, so the counts stay exact without a set of members.
type bucket struct {
	compact bool // past lateness: secs and seen dropped, counts frozen
	// nDev counts devices with a 404104 in the minute that their own token
	// evidence does not explain (U_m). p1, p2 and p3 count those that were
	// also in U_{m-1}, in U_{m-2}, and in both: with them, the distinct
	// devices over any window of up to burstWindow minutes are exact
	// (inclusion–exclusion; see hub.windowStats).
	nDev, p1, p2, p3 int
	// secs counts, per second of the minute, the devices whose first
	// unexplained 404104 in the minute fell in it (for burstAt); nil once
	// compact.
	secs  []int32
	errs  int
	codes []int32   // distinct hub-side codes seen (first few)
	seen  *idSketch // hub-side error records counted (dedup); nil once compact
}

func newBucket() *bucket { return &bucket{secs: make([]int32, 60)} }

func (b *bucket) unexplained() int { return b.nDev }

// contrib is one minute in which a device is counted in its hub's bucket
// (nDev and secs): the second of its first unexplained 404104 there.
type contrib struct {
	m   int64
	sec uint8
}

// incident is a hub incident in the making or made.
type incident struct {
	start, end int64 // unix seconds, minute aligned; end 0 while open
	// idStart is the start the incident was announced with: its ID stays
	// stable even when late records move start a minute or two earlier.
	idStart   int64
	open      bool
	devices   int
	hubErrors int
	codes     []int32
	firstDisc int64 // first and last minute with an unexplained disconnect
	lastDisc  int64
	metric    bool
	emitted   uint64 // fingerprint of the last Incident emitted
	sigFired  bool
	sigClosed bool
}

func (in *incident) covers(t int64) bool {
	return t >= in.start && (in.open || t < in.end)
}

// metricEv is a connected-devices metric alert transition.
type metricEv struct {
	id    event.ID
	t     int64
	fired bool
}

// hub is everything the engine keeps about one IoT hub.
type hub struct {
	name     string
	frontier int64 // newest event time ingested for the hub
	// first is the oldest event time ingested for the hub: records began
	// then, so a session open before it has no connect record (0 unknown).
	first   int64
	sealed  int64 // last unix minute folded into the baseline (0 = none yet)
	closed  int64 // minutes up to this one no longer accept records (past lateness)
	baseU   float64
	baseH   float64
	buckets map[int64]*bucket // by unix minute
	inc     []*incident       // sorted by start
	metrics []metricEv
	tombs   map[uint64]int64 // deleted devices: key hash → deletion time
	cuts    cutStats         // how the hub's token cut-offs look (cuts.go)
	delays  delayStats       // whether its enforcement delay varies (delay.go)
	// legacy: per device hash, the minutes a hub blob of the old layout
	// (member sets) counted it in; read once by syncBuckets for devices
	// whose own blob predates contrib. Not persisted.
	legacy map[uint64][]contrib
}

// State is everything the engine keeps between evaluations: one record per
// tracked device and one per hub, each serializable on its own (Marshal* /
// Unmarshal*), plus the dirty sets that say which of them to persist. A State
// is not safe for concurrent use; the Evaluate singleton owns it.
type State struct {
	devices map[event.Key]*device
	hubs    map[string]*hub

	dirtyDev map[event.Key]struct{}
	dirtyHub map[string]struct{}

	// transient work list (not persisted): devices touched by Ingest since
	// the last Tick. (When each needs a Tick without new evidence is its
	// own device.due.)
	touched map[event.Key]struct{}
	removed []event.Key

	// modules indexes the tracked module identities by their device's key
	// (Module ""), so that a device's deletion reaches its modules without
	// a scan of every identity. Derived from devices; not persisted.
	modules map[event.Key]map[string]struct{}

	// scratch is the alert state lent to a device without one while it is
	// evaluated (holdAlerts); not persisted.
	scratch alerts
}

// NewState returns an empty State.
func NewState() *State {
	return &State{
		devices:  make(map[event.Key]*device),
		hubs:     make(map[string]*hub),
		dirtyDev: make(map[event.Key]struct{}),
		dirtyHub: make(map[string]struct{}),
		touched:  make(map[event.Key]struct{}),
		modules:  make(map[event.Key]map[string]struct{}),
	}
}

// Devices returns the number of tracked devices (health, benchmarks).
func (s *State) Devices() int { return len(s.devices) }

// Dirty returns the devices and hubs changed since the last ClearDirty,
// sorted, so that the caller persists exactly those blobs. A device removed
// by a DeviceDeleted is not listed: Output.Removed names it instead.
func (s *State) Dirty() (devices []event.Key, hubs []string) {
	for k := range s.dirtyDev {
		if _, ok := s.devices[k]; ok {
			devices = append(devices, k)
		}
	}
	sortKeys(devices)
	for h := range s.dirtyHub {
		if _, ok := s.hubs[h]; ok {
			hubs = append(hubs, h)
		}
	}
	sort.Strings(hubs)
	return devices, hubs
}

// ClearDirty forgets the dirty sets, after the caller persisted them.
func (s *State) ClearDirty() {
	for k := range s.dirtyDev {
		if d := s.devices[k]; d != nil {
			d.inDirty = false
		}
	}
	s.dirtyDev = emptied(s.dirtyDev)
	clear(s.dirtyHub)
}

// emptied returns m cleared, or a new map when m had grown large: a cleared
// Go map keeps the buckets of its largest size, and a work set that once
// held every device (an incident, a load) would keep that memory resident.
func emptied[K comparable, V any](m map[K]V) map[K]V {
	if len(m) > 1024 {
		return make(map[K]V)
	}
	clear(m)
	return m
}

// grown returns s with room for one more element, growing by a few
// elements rather than doubling: a device's lists are short and there are
// many devices, so spare capacity is most of their resident cost.
func grown[T any](s []T, extra int) []T {
	if len(s) < cap(s) {
		return s
	}
	n := make([]T, len(s), len(s)+extra)
	copy(n, s)
	return n
}

// clipped returns s in a new array of its length when it holds more than
// extra spare elements (after a prune), so that the spare is released.
func clipped[T any](s []T, extra int) []T {
	if cap(s)-len(s) <= extra {
		return s
	}
	return append(make([]T, 0, len(s)), s...)
}

// KeepDirty marks devices and hubs dirty again after ClearDirty: the caller
// could not persist them (a store error on one hub's rows) and retries at
// its next save.
func (s *State) KeepDirty(devices []event.Key, hubs []string) {
	for _, k := range devices {
		if d := s.devices[k]; d != nil {
			s.markDev(d)
		}
	}
	for _, n := range hubs {
		if h := s.hubs[n]; h != nil {
			s.markHub(h)
		}
	}
}

func (s *State) markDev(d *device) {
	if !d.inDirty {
		d.inDirty = true
		s.dirtyDev[d.key] = struct{}{}
	}
}

func (s *State) touch(d *device) {
	if !d.inTouched {
		d.inTouched = true
		s.touched[d.key] = struct{}{}
	}
}
func (s *State) markHub(h *hub) { s.dirtyHub[h.name] = struct{}{} }

func (s *State) hub(name string) *hub {
	h := s.hubs[name]
	if h == nil {
		h = &hub{name: name, buckets: make(map[int64]*bucket)}
		s.hubs[name] = h
	}
	return h
}

func (s *State) device(k event.Key) *device {
	d := s.devices[k]
	if d == nil {
		d = &device{key: k, contribKnown: true}
		s.addDevice(d)
	}
	return d
}

func (s *State) addDevice(d *device) {
	s.devices[d.key] = d
	if d.key.Module != "" {
		dk := event.Key{Hub: d.key.Hub, Device: d.key.Device}
		if s.modules[dk] == nil {
			s.modules[dk] = make(map[string]struct{})
		}
		s.modules[dk][d.key.Module] = struct{}{}
	}
}

// modulesOf returns the tracked modules of device identity k.
func (s *State) modulesOf(k event.Key) []*device {
	var out []*device
	for m := range s.modules[k] {
		if d := s.devices[event.Key{Hub: k.Hub, Device: k.Device, Module: m}]; d != nil {
			out = append(out, d)
		}
	}
	return out
}

// Tracks reports whether the engine holds state for identity k (a device,
// or a module of one). The alert side uses it to resolve alerts whose
// identity was dropped by an older version without a resolve.
func (s *State) Tracks(k event.Key) bool {
	_, ok := s.devices[k]
	return ok
}

func (s *State) dropDevice(k event.Key) {
	if k.Module != "" {
		dk := event.Key{Hub: k.Hub, Device: k.Device}
		delete(s.modules[dk], k.Module)
		if len(s.modules[dk]) == 0 {
			delete(s.modules, dk)
		}
	}
	delete(s.devices, k)
	delete(s.touched, k)
	delete(s.dirtyDev, k)
}

// keyHash is a stable 64-bit digest of a device key: hub minute buckets hold
// it instead of the key to stay compact.
func keyHash(k event.Key) uint64 {
	h := fnv.New64a()
	h.Write([]byte(k.Hub))
	h.Write([]byte{0})
	h.Write([]byte(k.Device))
	h.Write([]byte{0})
	h.Write([]byte(k.Module))
	return h.Sum64()
}

func sortKeys(ks []event.Key) {
	sort.Slice(ks, func(i, j int) bool { return keyLess(ks[i], ks[j]) })
}

func keyLess(a, b event.Key) bool {
	if a.Hub != b.Hub {
		return a.Hub < b.Hub
	}
	if a.Device != b.Device {
		return a.Device < b.Device
	}
	return a.Module < b.Module
}

// HubErrors returns the hub-side error records counted in the minute of
// hub that holds t: the engine's own
// deduplicated count (exact for the first records of a minute, a fixed-size
// sketch beyond), so that a consumer such as the dashboard's rollup needs
// no set of record IDs that grows with an incident. ok is false when the
// engine holds no bucket for that minute (none seen, or pruned).
func (s *State) HubErrors(hub string, t time.Time) (n int, ok bool) {
	h := s.hubs[hub]
	if h == nil {
		return 0, false
	}
	b := h.buckets[t.Unix()/60]
	if b == nil {
		return 0, false
	}
	if b.seen != nil {
		return max(b.errs, b.seen.count()), true
	}
	return b.errs, true
}
