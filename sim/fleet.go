package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
)

// role is the fault a device is given on top of its SDK's token behaviour.
type role int

const (
	roleNormal role = iota
	roleFlaky
	roleCrash
	roleFlapping
	roleRenewalFail
	roleDuplicate
)

// change is a connection-state change of one identity at a precise time; it
// drives the Event Grid snapshots and the connected-devices metric.
type change struct {
	t         time.Time
	connected bool
}

// device is one simulated identity (a device, or a module of one).
type device struct {
	idx       int
	id        string
	module    string
	sdk       SDK
	sdkVer    string
	protocol  string
	ip        string // masked IP of the (first) client
	ip2       string // masked IP of the second client (duplicate identity)
	authJSON  bool   // records carry authType as a JSON string, not null
	ttl       time.Duration
	grace     time.Duration // hub enforcement delay after expiry (per device)
	keepAlive time.Duration
	role      role
	site      int // index into sim.sites, or -1
	rng       *rand.Rand
	// src is rng's state; src0 is its state when the run starts, restored
	// for the recording pass (see sim.replay).
	src, src0 rand.PCG
	ip0, ip20 string // ip and ip2 when the run starts (dupKick swaps them)

	flakyGap  time.Duration
	crashAt   time.Time
	crashBack time.Duration // 0: never comes back
	crashed   bool
	flapStart time.Time
	flapEnd   time.Time
	dupStart  time.Time
	dupEnd    time.Time
	failAfter time.Time
	failFix   time.Duration // 0: never fixed within the run
	failMsg   string
	failDone  bool        // the renewal failure happened (it happens once)
	hits      []time.Time // per incident: when it knocks this identity off (zero: spared)

	c0 time.Time // connect time of the session open at Start
	// issued is when the identity's current token was made: the hub's
	// cut-off or the SDK's renewal follows from it, not from the last
	// connect (see Config.TokenPerConnect).
	issued  time.Time
	changes []change
	seqHi   string // 16 FILETIME hex digits of the Event Grid sequence prefix
	seq     uint64

	// The simulation cursor: the identity is simulated up to t (its
	// session's connect, or the start); done once it has nothing more to
	// do in the run.
	t    time.Time
	done bool
	// truth0 and rec0 are the identity's first truth index and record
	// order, counted by the first pass; next and nrec count from them in
	// the recording pass, so both passes number things alike. tail0 and
	// ntail do the same for its records after the end (Config.Settle).
	truth0, next int
	rec0, nrec   int
	tail0, ntail int
	// out holds records the recording pass emitted past the current slice.
	out []*rec
}

// incident is an injected hub incident: hits land in [start, start+spread],
// connects fail until failEnd, then succeed more and more until end.
type incident struct {
	id        string
	start     time.Time
	spread    time.Duration
	failEnd   time.Time
	end       time.Time
	share     float64
	devices   map[int]bool
	hubErrors int
}

// site is a group of devices behind one masked IP prefix whose network goes
// down from start to end.
type site struct {
	ip         string
	start, end time.Time
	members    []int
}

// rec is one resource-log record the hub emitted, before encoding.
type rec struct {
	t     time.Time
	cat   string
	op    string
	level string
	code  int
	dev   *device
	ip    string
	sdk   bool   // carries sdkVersion (deviceConnect, twin operations)
	msg   string // errorMessage
	extra string // Routes endpoint / telemetry partition
	nodev bool   // Routes record without a device
	size  int    // messageSize for twin / telemetry records
	dur   int    // durationMs for twin operations
	truth int    // 1 + index into sim.truth for a 404104; 0 for other records
	order int    // emission order, for stable sorting
}

// sim is one simulation. It runs every identity twice from the same
// state: a first pass that keeps no records but everything the whole run
// decides (connection changes, truth, incident membership, expected
// alerts, record counts), then the recording pass (replay), stepped one
// time slice at a time by Stream, that only emits records. Both passes draw
// the same random numbers, so the records are those of one run.
type sim struct {
	cfg   Config
	rng   *rand.Rand
	start time.Time
	end   time.Time
	// settled is end + Config.Settle: reconnects go on until then.
	settled   time.Time
	resID     string
	hubLower  string
	devices   []*device
	incidents []*incident
	sites     []*site
	truth     []Truth
	expect    []TruthAlert
	// replay is set for the recording pass.
	replay bool
	// noise holds the hub-wide records of hubNoise (first pass), ordered
	// after every identity's records like one run emitting them last.
	noise   []*rec
	inNoise bool
	devRecs int // records the identities emitted in the first pass
	// tailRecs counts those after the end (Config.Settle) apart, so that
	// the records before it keep the numbers they have without Settle.
	tailRecs int
}

// newRNG derives an independent, deterministic stream for a purpose.
func newRNG(seed int64, stream uint64) *rand.Rand {
	return rand.New(newPCG(seed, stream))
}

// newPCG is newRNG's source, for identities that save and restore it.
func newPCG(seed int64, stream uint64) *rand.PCG {
	return rand.NewPCG(uint64(seed), stream*0x9E3779B97F4A7C15+1)
}

func uniform(r *rand.Rand, a, b time.Duration) time.Duration {
	if b <= a {
		return a
	}
	return a + time.Duration(r.Int64N(int64(b-a)))
}

func expDur(r *rand.Rand, mean time.Duration) time.Duration {
	return time.Duration(r.ExpFloat64() * float64(mean))
}

// emit records r; records at or after the end of the run are dropped (an
// incident or retry may reach past it), but for connect attempts before
// settled (Config.Settle). Its order is its place in one run's emission:
// identity by identity, then the hub noise. The first pass only counts an
// identity's records; the recording pass keeps them.
func (s *sim) emit(r *rec) {
	after := !r.t.Before(s.end)
	if after && (r.op != "deviceConnect" || !r.t.Before(s.settled)) {
		return
	}
	switch {
	case s.inNoise:
		r.order = s.devRecs + len(s.noise)
		s.noise = append(s.noise, r)
	case !s.replay && after:
		s.tailRecs++
	case !s.replay:
		s.devRecs++
	case after:
		// numbered after every record before the end, which so keep
		// their numbers, their order and their delivery draws
		d := r.dev
		r.order = s.devRecs + len(s.noise) + d.tail0 + d.ntail
		d.ntail++
		d.out = append(d.out, r)
	default:
		d := r.dev
		r.order = d.rec0 + d.nrec
		d.nrec++
		d.out = append(d.out, r)
	}
}

// addTruth records the cause of a 404104 in the first pass and returns its
// index; the recording pass gets the same index back.
func (s *sim) addTruth(d *device, t time.Time, cause classify.Cause, inc string) int {
	if s.replay {
		d.next++
		return d.next - 1
	}
	s.truth = append(s.truth, Truth{Hub: s.hubLower, Device: d.id, Module: d.module, Time: t.Truncate(time.Second),
		Cause: cause, SDK: d.sdk.String(), Incident: inc})
	return len(s.truth) - 1
}

// changed records a connection-state change of d (first pass only: the
// recording pass replays the same changes).
func (s *sim) changed(d *device, cs ...change) {
	if !s.replay {
		d.changes = append(d.changes, cs...)
	}
}

// build creates the fleet: identities, SDKs, roles, sites and incidents.
func (s *sim) build() {
	cfg := s.cfg
	r := s.rng
	prefixes := []string{"pump", "valve", "meter", "sensor", "gw", "chiller", "press", "tracker"}
	weights := []float64{cfg.Mix.DotNet, cfg.Mix.Java, cfg.Mix.C, cfg.Mix.Node, cfg.Mix.Python}
	var wsum float64
	for _, w := range weights {
		wsum += w
	}
	n := cfg.Devices + cfg.Modules
	for i := range n {
		d := &device{idx: i, site: -1, src: *newPCG(cfg.Seed, uint64(i)+100)}
		d.rng = rand.New(&d.src)
		if i < cfg.Devices {
			d.id = fmt.Sprintf("%s-%04d", prefixes[r.IntN(len(prefixes))], i+1)
			x := r.Float64() * wsum
			d.sdk = numSDKs - 1
			for k, w := range weights {
				if x < w {
					d.sdk = SDK(k)
					break
				}
				x -= w
			}
		} else {
			// Module identities on the first devices (edge gateways).
			host := s.devices[(i-cfg.Devices)%max(cfg.Devices, 1)]
			d.id = host.id
			d.module = []string{"opcPublisher", "modbusAdapter", "telemetryFilter", "alarmBridge"}[(i-cfg.Devices)%4]
			d.sdk = DotNet
		}
		d.ip = fmt.Sprintf("%d.%d.%d.XXX", 20+r.IntN(180), r.IntN(256), r.IntN(256))
		d.ip2 = fmt.Sprintf("%d.%d.%d.XXX", 20+r.IntN(180), r.IntN(256), r.IntN(256))
		d.authJSON = r.Float64() < 0.15
		d.protocol = "Mqtt"
		switch x := r.Float64(); {
		case x < cfg.AmqpShare && (d.sdk == DotNet || d.sdk == Java || d.sdk == C):
			d.protocol = "Amqp"
		case x < cfg.AmqpShare+0.08:
			d.protocol = "MqttWs"
		}
		d.ttl = time.Hour
		d.grace = uniform(r, 5*time.Minute, 10*time.Minute)
		switch d.sdk {
		case DotNet:
			d.keepAlive = 300 * time.Second
			d.sdkVer = dotnetVersion(r)
		case Java:
			d.keepAlive = 230 * time.Second
			d.sdkVer = javaVersion(r)
		case C:
			d.keepAlive = 240 * time.Second
			d.sdkVer = cVersion(r)
		case Node:
			d.keepAlive = 180 * time.Second
			d.sdkVer = nodeVersion(r)
		case Python:
			d.keepAlive = 60 * time.Second
			d.sdkVer = pythonVersion(r)
		}
		if d.hubCut() && r.Float64() < cfg.CustomTTLShare {
			d.ttl = []time.Duration{20 * time.Minute, 3 * time.Hour, 24 * time.Hour}[r.IntN(3)]
		}
		ft := uint64(s.start.Add(-uniform(r, 24*time.Hour, 400*24*time.Hour)).UnixNano()/100) + 116444736000000000
		d.seqHi = fmt.Sprintf("%016X", ft)
		d.seq = uint64(r.IntN(4000))
		// The session open at Start began at a random point of its period.
		d.c0 = s.start.Add(-uniform(r, 0, d.period()))
		s.devices = append(s.devices, d)
	}

	// Roles, on distinct device identities (not modules).
	perm := r.Perm(cfg.Devices)
	next := 0
	take := func(k int, ok func(*device) bool, ro role) []*device {
		var got []*device
		for j := next; j < len(perm) && len(got) < k; j++ {
			d := s.devices[perm[j]]
			if d.role != roleNormal || !ok(d) {
				continue
			}
			d.role = ro
			got = append(got, d)
		}
		return got
	}
	anyDev := func(*device) bool { return true }
	mqttCut := func(d *device) bool { return d.hubCut() && d.protocol != "Amqp" && d.ttl == time.Hour }
	for _, d := range take(cfg.RenewalFailing, mqttCut, roleRenewalFail) {
		d.failAfter = s.start.Add(uniform(d.rng, 30*time.Minute, cfg.Duration/2))
		if d.rng.Float64() < 0.5 {
			d.failMsg = "IotHub '" + cfg.Hub + "' does not contain the specified device '" + d.id + "'"
		} else {
			// Clock drift over 5 minutes: the SDK's fresh tokens are refused.
			d.failMsg = "Authentication failed for this device, renew token or certificate and reconnect"
		}
		if d.rng.Float64() < 0.3 {
			d.failFix = uniform(d.rng, 2*time.Hour, 4*time.Hour)
		}
	}
	for _, d := range take(cfg.DuplicateIdentity, anyDev, roleDuplicate) {
		d.dupStart = s.start.Add(uniform(d.rng, 20*time.Minute, cfg.Duration*2/3))
		d.dupEnd = d.dupStart.Add(uniform(d.rng, 20*time.Minute, 70*time.Minute))
	}
	for _, d := range take(cfg.Flapping, anyDev, roleFlapping) {
		d.flapStart = s.start.Add(uniform(d.rng, 15*time.Minute, cfg.Duration*2/3))
		d.flapEnd = d.flapStart.Add(uniform(d.rng, 60*time.Minute, 100*time.Minute))
	}
	for _, d := range take(cfg.Crashing, anyDev, roleCrash) {
		d.crashAt = s.start.Add(uniform(d.rng, 10*time.Minute, cfg.Duration*3/4))
		if d.rng.Float64() < 0.5 {
			d.crashBack = uniform(d.rng, time.Hour, 4*time.Hour)
		}
	}
	flaky := int(math.Round(cfg.FlakyShare * float64(cfg.Devices)))
	for _, d := range take(flaky, anyDev, roleFlaky) {
		d.flakyGap = uniform(d.rng, cfg.FlakyMeanGap/2, cfg.FlakyMeanGap*3/2)
	}

	s.placeIncidents()
	s.placeSites()
}

// hubCut reports whether the hub enforces token expiry on this identity
// (.NET and Java over MQTT: 401003 then 404104).
func (d *device) hubCut() bool {
	return (d.sdk == DotNet || d.sdk == Java) && d.protocol != "Amqp"
}

// period is the time from a connect to the token-driven disconnect.
func (d *device) period() time.Duration {
	switch {
	case d.protocol == "Amqp":
		return time.Hour
	case d.hubCut():
		return d.ttl + d.grace
	}
	return d.renewAfter()
}

// renewAfter is when a proactively renewing SDK disconnects cleanly.
func (d *device) renewAfter() time.Duration {
	switch d.sdk {
	case C:
		return d.ttl * 4 / 5
	case Node:
		return d.ttl - 15*time.Minute
	case Python:
		return d.ttl - 120*time.Second
	}
	return d.ttl
}

// placeIncidents schedules hub incidents so that the synchronized token
// burst ~65–70 min after each one still falls inside the run.
func (s *sim) placeIncidents() {
	cfg := s.cfg
	r := s.rng
	if cfg.Incidents <= 0 {
		return
	}
	lo := 45 * time.Minute
	hi := cfg.Duration - 100*time.Minute
	if hi <= lo {
		hi = lo + time.Minute
	}
	slot := (hi - lo) / time.Duration(cfg.Incidents)
	for i := range cfg.Incidents {
		st := s.start.Add(lo + slot*time.Duration(i) + uniform(r, 0, max(slot-25*time.Minute, time.Minute)))
		st = st.Truncate(time.Second).Add(time.Duration(r.IntN(1000)) * time.Millisecond)
		if n := len(s.incidents); n > 0 && st.Before(s.incidents[n-1].end.Add(30*time.Minute)) {
			// Short runs: keep incidents apart so each is one incident.
			st = s.incidents[n-1].end.Add(30 * time.Minute)
		}
		total := uniform(r, 5*time.Minute, 20*time.Minute)
		recov := uniform(r, time.Minute, min(5*time.Minute, total/3))
		inc := &incident{
			start:   st,
			spread:  uniform(r, time.Minute, 3*time.Minute),
			failEnd: st.Add(total - recov),
			end:     st.Add(total),
			share:   cfg.IncidentShareMin + r.Float64()*(cfg.IncidentShareMax-cfg.IncidentShareMin),
			devices: map[int]bool{},
		}
		inc.id = fmt.Sprintf("%s/%s", s.hubLower, st.UTC().Format("2006-01-02T15:04Z"))
		s.incidents = append(s.incidents, inc)
	}
	for _, d := range s.devices {
		d.hits = make([]time.Time, len(s.incidents))
		for i, inc := range s.incidents {
			if d.rng.Float64() < inc.share {
				// Most devices go in the first seconds, a tail over the spread.
				f := math.Pow(d.rng.Float64(), 1.6)
				d.hits[i] = inc.start.Add(time.Duration(f * float64(inc.spread)))
			}
		}
	}
}

// placeSites schedules site outages away from the incidents.
func (s *sim) placeSites() {
	cfg := s.cfg
	r := s.rng
	for k := range cfg.SiteOutages {
		st := &site{ip: fmt.Sprintf("%d.%d.%d.XXX", 20+r.IntN(180), r.IntN(256), r.IntN(256))}
		for try := 0; try < 50; try++ {
			st.start = s.start.Add(uniform(r, 20*time.Minute, max(cfg.Duration-90*time.Minute, 21*time.Minute)))
			st.end = st.start.Add(uniform(r, 15*time.Minute, 60*time.Minute))
			clash := false
			for _, inc := range s.incidents {
				if st.start.Before(inc.end.Add(30*time.Minute)) && inc.start.Before(st.end.Add(30*time.Minute)) {
					clash = true
				}
			}
			if !clash {
				break
			}
		}
		for j := 0; j < cfg.Devices && len(st.members) < cfg.SiteDevices; j++ {
			d := s.devices[(j*7+k*31)%cfg.Devices]
			if d.site >= 0 || d.role == roleDuplicate {
				continue
			}
			d.site = k
			d.ip = st.ip
			st.members = append(st.members, d.idx)
		}
		s.sites = append(s.sites, st)
	}
	// Modules share their host device's network.
	for _, d := range s.devices[cfg.Devices:] {
		for _, h := range s.devices[:cfg.Devices] {
			if h.id == d.id {
				d.ip, d.site = h.ip, h.site
				break
			}
		}
	}
}

// detect is when the hub notices a silent connection: 1.5 × keep-alive after
// the last traffic, which came up to one keep-alive before the loss.
func (d *device) detect(loss time.Time) time.Time {
	k := float64(d.keepAlive)
	return loss.Add(time.Duration(k*1.5 - d.rng.Float64()*k)).Add(time.Duration(d.rng.IntN(1000)) * time.Millisecond)
}

type evKind int

const (
	evNone evKind = iota
	evTokenCut
	evCleanRenew
	evFlaky
	evCrash
	evFlap
	evDupKick
	evSite
	evIncident
)

// rewind puts d back at the start of the run, with the random state and
// addresses it had there: both passes start from it.
func (s *sim) rewind(d *device) {
	d.src = d.src0
	d.ip, d.ip2 = d.ip0, d.ip20
	d.t, d.done = s.start, false
	d.issued = d.c0
	d.crashed, d.failDone = false, false
	d.next, d.nrec, d.ntail = d.truth0, 0, 0
}

// run simulates one identity from Start to the end of the run.
func (s *sim) run(d *device) {
	for !d.done {
		s.step(d)
	}
}

// step simulates one session of d: from its cursor to the next event that
// ends the session, the event, and the reconnect after it. Everything it
// emits is at or after the cursor, so a time slice that steps each
// identity until its cursor passes the slice's end has all the slice's
// records.
func (s *sim) step(d *device) {
	t := d.t
	if !t.Before(s.end) {
		d.done = true
		return
	}
	sessionJitter := func() time.Duration { return uniform(d.rng, -20*time.Second, 20*time.Second) }
	// Candidate events of this session (connected since c, now t).
	best, kind, inc := s.end, evNone, -1
	consider := func(at time.Time, k evKind) {
		if !at.Before(t) {
			if at.Before(best) {
				best, kind = at, k
			}
		}
	}
	switch {
	case d.protocol == "Amqp":
		// Tokens refresh in-connection: nothing to do.
	case d.hubCut():
		grace := d.grace + sessionJitter()
		if s.cfg.CutDelayPerCut {
			grace = uniform(d.rng, 5*time.Minute, 10*time.Minute)
		}
		consider(d.issued.Add(d.ttl+grace), evTokenCut)
	default:
		consider(d.issued.Add(d.renewAfter()+uniform(d.rng, 0, 3*time.Second)), evCleanRenew)
	}
	if d.role == roleFlaky {
		consider(d.detect(t.Add(expDur(d.rng, d.flakyGap))), evFlaky)
	}
	if d.role == roleCrash && !d.crashed {
		// A crash while the device was reconnecting happens right after.
		consider(d.detect(later(d.crashAt, t)), evCrash)
	}
	if d.role == roleFlapping && t.Before(d.flapEnd) {
		from := t
		if from.Before(d.flapStart) {
			from = d.flapStart
		}
		consider(d.detect(from.Add(uniform(d.rng, 4*time.Minute, 16*time.Minute))), evFlap)
	}
	if d.role == roleDuplicate && t.Before(d.dupEnd) {
		from := t
		if from.Before(d.dupStart) {
			from = d.dupStart
		}
		consider(from.Add(uniform(d.rng, 20*time.Second, 4*time.Minute)), evDupKick)
	}
	if d.site >= 0 {
		st := s.sites[d.site]
		if !st.start.Before(t) {
			consider(d.detect(st.start), evSite)
		}
	}
	for i, h := range d.hits {
		if !h.IsZero() && !h.Before(t) && h.Before(best) {
			best, kind, inc = h, evIncident, i
		}
	}
	if kind == evNone {
		s.ops(d, t, s.end)
		d.done = true
		return
	}
	s.ops(d, t, best)
	at := best
	var back time.Time // when the device starts trying to reconnect
	never := false
	failing := false
	switch kind {
	case evTokenCut:
		failing = d.role == roleRenewalFail && !d.failDone && !at.Before(d.failAfter)
		if failing {
			d.failDone = true
		}
		cause := classify.TokenExpiry
		if failing {
			cause = classify.TokenRenewalFailed
		}
		t404 := at
		if failing || d.rng.Float64() < s.cfg.UnauthorizedShare {
			s.conn(d, at, "deviceDisconnect", 401003, "Authentication failed for this device, renew token or certificate and reconnect", d.ip)
			if d.rng.Float64() < 0.4 {
				t404 = at.Add(uniform(d.rng, time.Second, 4*time.Second))
			}
		}
		s.disconnect404(d, t404, cause, s.incidentAround(t404))
		back = t404.Add(uniform(d.rng, 2*time.Second, 40*time.Second))
		if failing && !s.replay {
			s.expect = append(s.expect, TruthAlert{Kind: classify.TokenRenewalFailing, Hub: s.hubLower, Device: d.id, Module: d.module, Since: t404.Truncate(time.Second)})
		}
	case evCleanRenew:
		s.emit(&rec{t: at, cat: "Connections", op: "deviceDisconnect", level: "Information", dev: d, ip: d.ip})
		s.changed(d, change{at, false})
		back = at.Add(uniform(d.rng, 500*time.Millisecond, 4*time.Second))
	case evFlaky:
		s.disconnect404(d, at, classify.DeviceOrNetwork, "")
		switch x := d.rng.Float64(); {
		case x < 0.4: // a quick reconnect: the network came straight back
			back = at.Add(uniform(d.rng, 2*time.Second, 30*time.Second))
		case x < 0.75:
			back = at.Add(uniform(d.rng, 30*time.Second, 5*time.Minute))
		default:
			back = at.Add(uniform(d.rng, 5*time.Minute, 40*time.Minute))
		}
	case evCrash:
		d.crashed = true
		s.disconnect404(d, at, classify.DeviceOrNetwork, "")
		if d.crashBack == 0 {
			never = true
		} else {
			back = at.Add(d.crashBack)
		}
	case evFlap:
		s.disconnect404(d, at, classify.DeviceOrNetwork, "")
		back = at.Add(uniform(d.rng, 15*time.Second, 3*time.Minute))
	case evDupKick:
		s.dupKick(d, at)
		d.t = at.Add(time.Second)
		d.issued = d.t // the client now connected has a token of its own
		return
	case evSite:
		s.disconnect404(d, at, classify.DeviceOrNetwork, "")
		back = s.sites[d.site].end.Add(uniform(d.rng, 2*time.Second, 90*time.Second))
	case evIncident:
		in := s.incidents[inc]
		if !s.replay {
			in.devices[d.idx] = true
		}
		s.disconnect404(d, at, classify.HubTransient, in.id)
		back = at.Add(uniform(d.rng, time.Second, 20*time.Second))
	}
	if never {
		d.done = true
		return
	}
	tc, ok := s.reconnect(d, back, failing)
	if !ok {
		d.done = true
		return
	}
	if kind == evTokenCut || kind == evCleanRenew || s.newToken(d, tc) {
		d.issued = tc
	}
	d.t = tc
}

// newToken reports whether d, reconnecting at tc after a drop that was not
// its token's, connects with a new token rather than the one it had: C
// makes one on every connect, the other SDKs once the token they hold is
// due for renewal (see Config.TokenPerConnect).
func (s *sim) newToken(d *device, tc time.Time) bool {
	if s.cfg.TokenPerConnect || d.sdk == C {
		return true
	}
	due := d.renewAfter()
	if d.hubCut() {
		due = d.ttl * 85 / 100 // .NET's and Java's 15% renewal buffer
	}
	return !tc.Before(d.issued.Add(due))
}

// incidentAround returns the ID of the incident whose failure window holds t.
func (s *sim) incidentAround(t time.Time) string {
	for _, in := range s.incidents {
		if !t.Before(in.start) && t.Before(in.end) {
			return in.id
		}
	}
	return ""
}

// disconnect404 emits the hub's 404104 for d at t with its true cause.
func (s *sim) disconnect404(d *device, t time.Time, cause classify.Cause, inc string) {
	if !t.Before(s.end) {
		return
	}
	ti := s.addTruth(d, t, cause, inc)
	s.emit(&rec{t: t, cat: "Connections", op: "deviceDisconnect", level: "Error", code: 404104, dev: d, ip: d.ip,
		msg: "Device disconnected, see cause and resolution at https://aka.ms/iothub404104", truth: ti + 1})
	s.changed(d, change{t, false})
}

// conn emits a Connections error record.
func (s *sim) conn(d *device, t time.Time, op string, code int, msg, ip string) {
	s.emit(&rec{t: t, cat: "Connections", op: op, level: "Error", code: code, dev: d, ip: ip, msg: msg})
	if code >= 500000 && t.Before(s.end) && !s.replay {
		for _, in := range s.incidents {
			if !t.Before(in.start) && t.Before(in.end) {
				in.hubErrors++
			}
		}
	}
}

// siteDown reports until when d's site network is down at t (zero if up).
func (s *sim) siteDown(d *device, t time.Time) time.Time {
	if d.site < 0 {
		return time.Time{}
	}
	st := s.sites[d.site]
	if !t.Before(st.start) && t.Before(st.end) {
		return st.end
	}
	return time.Time{}
}

// reconnect makes d try to connect from t with the SDK's exponential backoff
// until it succeeds (true) or the run has settled (false; Config.Settle).
// Attempts fail with 500001/500008 inside an incident, more and more succeed
// during its recovery (the reconnect storm), and a renewal-failing device is
// refused with 401003.
func (s *sim) reconnect(d *device, t time.Time, failing bool) (time.Time, bool) {
	attempt := 0
	var fixAt time.Time
	if failing {
		if d.failFix > 0 {
			fixAt = t.Add(d.failFix)
		} else {
			fixAt = s.end.Add(time.Hour)
		}
	}
	backoff := func() time.Duration {
		capd := 60 * time.Second
		if failing {
			capd = 4 * time.Minute
		}
		b := min(time.Duration(1<<min(attempt, 10))*time.Second, capd)
		attempt++
		return time.Duration(float64(b) * (0.8 + 0.4*d.rng.Float64()))
	}
	for t.Before(s.settled) {
		if up := s.siteDown(d, t); !up.IsZero() {
			t = up.Add(uniform(d.rng, 2*time.Second, 90*time.Second))
			continue
		}
		if failing && t.Before(fixAt) {
			s.conn(d, t, "deviceConnect", 401003, d.failMsg, d.ip)
			t = t.Add(backoff())
			continue
		}
		if in := s.incidentAt(t); in != nil {
			fail := t.Before(in.failEnd)
			if !fail {
				p := float64(t.Sub(in.failEnd)) / float64(in.end.Sub(in.failEnd))
				fail = d.rng.Float64() > p
			}
			if fail {
				if d.rng.Float64() < 0.6 {
					s.conn(d, t, "deviceConnect", 500001, "", d.ip)
				} else {
					s.conn(d, t, "deviceConnect", 500008, "", d.ip)
				}
				t = t.Add(backoff())
				continue
			}
		}
		s.emit(&rec{t: t, cat: "Connections", op: "deviceConnect", level: "Information", dev: d, ip: d.ip, sdk: true})
		s.changed(d, change{t, true})
		return t, true
	}
	return t, false
}

func (s *sim) incidentAt(t time.Time) *incident {
	for _, in := range s.incidents {
		if !t.Before(in.start) && t.Before(in.end) {
			return in
		}
	}
	return nil
}

// dupKick is one round of two clients fighting over one identity: the new
// client connects, the hub closes the old one with 400027 (sometimes after a
// 409002 link conflict, sometimes with a 404104 as the old link goes).
func (s *sim) dupKick(d *device, t time.Time) {
	d.ip, d.ip2 = d.ip2, d.ip // the other client is now the live one
	if d.rng.Float64() < 0.3 {
		s.conn(d, t, "deviceConnect", 409002, "", d.ip)
		t = t.Add(uniform(d.rng, time.Second, 3*time.Second))
	}
	s.emit(&rec{t: t, cat: "Connections", op: "deviceConnect", level: "Information", dev: d, ip: d.ip, sdk: true})
	s.conn(d, t, "deviceDisconnect", 400027, "", d.ip2)
	s.changed(d, change{t, false}, change{t.Add(300 * time.Millisecond), true})
	if d.rng.Float64() < 0.6 && t.Add(time.Second).Before(s.end) {
		ti := s.addTruth(d, t.Add(time.Second), classify.DuplicateIdentity, "")
		s.emit(&rec{t: t.Add(time.Second), cat: "Connections", op: "deviceDisconnect", level: "Error", code: 404104, dev: d, ip: d.ip2,
			msg: "Device disconnected, see cause and resolution at https://aka.ms/iothub404104", truth: ti + 1})
	}
}

// ops emits ordinary successful twin operations of a connected identity in
// [from, to): the non-evidence records the product must filter out.
func (s *sim) ops(d *device, from, to time.Time) {
	rate := s.cfg.OpsPerDeviceHour
	if rate <= 0 || !from.Before(to) {
		return
	}
	mean := time.Duration(float64(time.Hour) / rate)
	for t := from.Add(expDur(d.rng, mean)); t.Before(to); t = t.Add(expDur(d.rng, mean)) {
		if d.rng.Float64() < 0.65 {
			op := "update"
			if d.rng.Float64() < 0.4 {
				op = "read"
			}
			s.emit(&rec{t: t, cat: "D2CTwinOperations", op: op, level: "Information", dev: d, sdk: true,
				size: 80 + d.rng.IntN(900), dur: 1 + d.rng.IntN(30)})
		} else {
			op := "read"
			if d.rng.Float64() < 0.5 {
				op = "update"
			}
			s.emit(&rec{t: t, cat: "C2DTwinOperations", op: op, level: "Information", dev: d, sdk: true,
				size: 60 + d.rng.IntN(600), dur: 1 + d.rng.IntN(40)})
		}
	}
}

// connectedAt reports whether d was connected at t.
func (d *device) connectedAt(t time.Time) bool {
	i, _ := slices.BinarySearchFunc(d.changes, t, func(c change, t time.Time) int { return c.t.Compare(t) })
	if i == 0 {
		return true // connected at Start, no change yet
	}
	return d.changes[i-1].connected
}

// hubNoise emits hub-side errors on operations during incidents, isolated
// background 500xxx records, and Routes errors of the customer's endpoints.
func (s *sim) hubNoise() {
	r := s.rng
	s.inNoise = true
	defer func() { s.inNoise = false }()
	for _, in := range s.incidents {
		dur := in.end.Sub(in.start)
		n := int(float64(s.cfg.Devices) * 0.25 * dur.Minutes() / 5)
		for range n {
			t := in.start.Add(uniform(r, 0, dur))
			d := s.devices[r.IntN(len(s.devices))]
			if !t.Before(s.end) || !d.connectedAt(t) {
				continue
			}
			s.opError(d, t, r)
			in.hubErrors++
		}
	}
	hours := s.cfg.Duration.Hours()
	for range int(math.Round(s.cfg.NoisePerHour * hours)) {
		t := s.start.Add(uniform(r, 0, s.cfg.Duration))
		d := s.devices[r.IntN(len(s.devices))]
		if s.incidentAt(t) != nil || s.nearSiteOutage(t) || !d.connectedAt(t) {
			continue
		}
		s.opError(d, t, r)
	}
	for range int(math.Round(s.cfg.RoutesErrorsPerHour * hours)) {
		t := s.start.Add(uniform(r, 0, s.cfg.Duration))
		code := []int{403004, 500001, 503008, 401002}[r.IntN(4)]
		op := []string{"endpointUnhealthy", "droppedMessage", "endpointDead"}[r.IntN(3)]
		s.emit(&rec{t: t, cat: "Routes", op: op, level: "Error", code: code, nodev: true, extra: "contoso-sb-queue",
			msg: "Endpoint returned a transient error"})
	}
}

// nearSiteOutage reports whether t is within a site outage (±10 min); the
// background noise stays out of it so that the site trap shows no hub error.
func (s *sim) nearSiteOutage(t time.Time) bool {
	for _, st := range s.sites {
		if t.After(st.start.Add(-10*time.Minute)) && t.Before(st.end.Add(10*time.Minute)) {
			return true
		}
	}
	return false
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// opError emits one hub-side error on a twin operation or on telemetry.
func (s *sim) opError(d *device, t time.Time, r *rand.Rand) {
	code := 500001
	if r.Float64() < 0.35 {
		code = 500008
	}
	if r.Float64() < 0.5 {
		s.emit(&rec{t: t, cat: "D2CTwinOperations", op: "update", level: "Error", code: code, dev: d, sdk: true,
			size: 80 + r.IntN(500), dur: 1000 + r.IntN(9000)})
	} else {
		s.emit(&rec{t: t, cat: "DeviceTelemetry", op: "ingress", level: "Error", code: code, dev: d,
			size: 200 + r.IntN(800), extra: fmt.Sprint(r.IntN(4))})
	}
}

// SDK version strings (reference/iothub-telemetry.md §6.5).
func dotnetVersion(r *rand.Rand) string {
	g := fmt.Sprintf("{%08X-%04X-%04X-%04X-%012X}", r.Uint32(), r.IntN(1<<16), r.IntN(1<<16), r.IntN(1<<16), r.Uint64()&(1<<48-1))
	return []string{
		".NET/1.42.3 (.NET 6.0.25; Linux 5.15.0-1051-azure #59-Ubuntu; X64; " + g + ")",
		".NET/1.41.2 (.NET 8.0.4; Microsoft Windows 10.0.20348; X64; " + g + ")",
		".NET/1.21.2 (.NET Framework 4.8.4200.0; Microsoft Windows 10.0.17763 WindowsProduct:0x00000004; X86)",
	}[r.IntN(3)]
}

func javaVersion(r *rand.Rand) string {
	return []string{
		"com.microsoft.azure.sdk.iot.iot-device-client/2.4.1 (Java 17.0.9; Linux 5.15.0; amd64)",
		"com.microsoft.azure.sdk.iot.iot-device-client/1.34.3 (Java 11.0.21; Linux 4.19.0; aarch64)",
	}[r.IntN(2)]
}

func cVersion(r *rand.Rand) string {
	return []string{
		"iothubclient/1.12.0 (native; Linux; x86_64)",
		"iothubclient/1.2.14 (native; freertos; esp platform)",
	}[r.IntN(2)]
}

func nodeVersion(r *rand.Rand) string {
	return []string{
		"azure-iot-device/1.17.1 (node v10.16.0; Windows_NT 10.0.18363; x64)",
		"azure-iot-device/1.18.3 (node v18.19.0; Linux 5.15.0; x64)",
	}[r.IntN(2)]
}

func pythonVersion(r *rand.Rand) string {
	return []string{
		"azure-iot-device-iothub-py/2.12.0 (Python 3.10.12; Linux 5.15.0; x86_64)",
		"azure-iot-device-iothub-py/2.13.1 (Python 3.11.6; Linux 6.1.0; aarch64)",
	}[r.IntN(2)]
}

// upperResourceID is the hub's ARM id as resource logs print it.
func upperResourceID(cfg Config) string {
	return strings.ToUpper("/SUBSCRIPTIONS/" + cfg.Subscription + "/RESOURCEGROUPS/" + cfg.ResourceGroup +
		"/PROVIDERS/MICROSOFT.DEVICES/IOTHUBS/" + cfg.Hub)
}
