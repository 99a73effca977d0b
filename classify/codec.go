package classify

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// Blob formats: a version byte, then varint-encoded fields. Compact on
// purpose (a tracked device should cost ≤ 2 KiB in Table storage) and
// versioned so a future layout can still read today's blobs.
const (
	deviceBlobV1 = 1
	// deviceBlobV2 extends each sample with its verdict (cause, and for
	// device-or-network or retro-revised ones the 404104's ID, revisions,
	// reconnect delay and what revised it) and appends the flapping
	// verdicts revised by a later-learned period; v1 blobs still decode
	// (their samples are not revisable).
	deviceBlobV2 = 2
	hubBlobV1    = 1
	// hubBlobV2 appends the hub's first event time; v1 blobs still decode
	// (first unknown).
	hubBlobV2 = 2
	// hubBlobV3 keeps each minute as counts (devices, their overlaps with
	// the two minutes before, per-second counts, the error sketch) instead
	// of the v2 member sets of device hashes and error IDs, so a hub blob
	// no longer grows with an incident. v1/v2 blobs still decode: their
	// sets become counts, and the device hashes they name are kept in
	// memory (hub.legacy) until those devices are next judged.
	hubBlobV3 = 3
	// hubBlobV4 appends the hub's token cut-off figures (cutStats); v1–v3
	// blobs still decode (figures empty: the documented prior stands).
	hubBlobV4 = 4
	// hubBlobV5 appends the hub's enforcement-delay figures (delayStats);
	// older blobs still decode (figures empty: delays held per device).
	hubBlobV5 = 5
	// hubBlobV6 appends the hub's figures on tokens older than the records
	// past their first HubCutMax (cutStats.late, lateLogged); v1–v5 still
	// decode (the figures start at zero).
	hubBlobV6 = 6
	// deviceBlobV3 appends the hub minutes the device is counted in
	// (device.contrib).
	deviceBlobV3 = 3
)

// Error sketch kinds in a v3 hub bucket.
const (
	seenNone  = 0
	seenExact = 1
	seenHLL   = 2
)

// Sample flag bits (device blob v2).
const (
	smBacked  = 1 << iota // a 401003 stood beside the 404104
	smAnch                // the session start is anchored on a disconnect
	smPBy                 // retro: the period was 401003-backed
	smVerdict             // ID, revisions and reconnect delay follow
	smRetro               // retro fields follow
	// smPrior: a token verdict on the hub-cut SDK prior alone (revisable to
	// device-or-network; with smRetro, so revised). Older blobs never set
	// it; readers that predate it skip it, since the layout follows
	// smVerdict and smRetro.
	smPrior
	// smRefused: with smAnch, the anchor is a connect the hub refused after
	// the disconnect (sessionStart), not the disconnect itself.
	smRefused
	// smReused: dur runs from an earlier connect whose token the session's
	// own connect presented again (device.tokenStartIdx).
	smReused
	// smKept are the bits a sample keeps in memory (sample.fl).
	smKept = smBacked | smAnch | smPBy | smPrior | smRefused | smReused
)

var errShort = errors.New("truncated")

type writer struct{ b []byte }

func (w *writer) u(x uint64)  { w.b = binary.AppendUvarint(w.b, x) }
func (w *writer) i(x int64)   { w.b = binary.AppendVarint(w.b, x) }
func (w *writer) byte(x byte) { w.b = append(w.b, x) }
func (w *writer) raw(p []byte) {
	w.b = append(w.b, p...)
}
func (w *writer) u32(x uint32) { w.b = binary.LittleEndian.AppendUint32(w.b, x) }
func (w *writer) u64(x uint64) { w.b = binary.LittleEndian.AppendUint64(w.b, x) }
func (w *writer) f64(x float64) {
	w.u64(math.Float64bits(x))
}
func (w *writer) bool(x bool) {
	if x {
		w.byte(1)
	} else {
		w.byte(0)
	}
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = errShort
	}
	r.b = nil
}

func (r *reader) u() uint64 {
	x, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return x
}

// n reads a count and bounds it by what the rest of the blob could hold, so
// a corrupt blob cannot make the decoder allocate gigabytes.
func (r *reader) n(minSize int) int {
	x := r.u()
	if x > uint64(len(r.b)/max(1, minSize)) {
		r.fail()
		return 0
	}
	return int(x)
}

func (r *reader) i() int64 {
	x, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return x
}

func (r *reader) byte() byte {
	if len(r.b) < 1 {
		r.fail()
		return 0
	}
	x := r.b[0]
	r.b = r.b[1:]
	return x
}

func (r *reader) raw(p []byte) {
	if len(r.b) < len(p) {
		r.fail()
		return
	}
	copy(p, r.b)
	r.b = r.b[len(p):]
}

func (r *reader) u32() uint32 {
	if len(r.b) < 4 {
		r.fail()
		return 0
	}
	x := binary.LittleEndian.Uint32(r.b)
	r.b = r.b[4:]
	return x
}

func (r *reader) u64() uint64 {
	if len(r.b) < 8 {
		r.fail()
		return 0
	}
	x := binary.LittleEndian.Uint64(r.b)
	r.b = r.b[8:]
	return x
}

func (r *reader) f64() float64 { return math.Float64frombits(r.u64()) }
func (r *reader) bool() bool   { return r.byte() != 0 }

// hex nibble packing for normalized sequence numbers (upper-case hex).
func packSeq(w *writer, s string) {
	w.u(uint64(len(s)))
	for i := 0; i < len(s); i += 2 {
		hi := nib(s[i])
		var lo byte
		if i+1 < len(s) {
			lo = nib(s[i+1])
		}
		w.byte(hi<<4 | lo)
	}
}

func nib(c byte) byte {
	if c >= 'A' {
		return c - 'A' + 10
	}
	return c - '0'
}

const hexDigits = "0123456789ABCDEF"

func unpackSeq(r *reader) string {
	n := r.u()
	if n > uint64(2*len(r.b)) {
		r.fail()
		return ""
	}
	out := make([]byte, n)
	for i := 0; i < int(n); i += 2 {
		b := r.byte()
		out[i] = hexDigits[b>>4]
		if i+1 < int(n) {
			out[i+1] = hexDigits[b&15]
		}
	}
	return string(out)
}

// MarshalDevice serializes one device's state. It fails for an untracked key.
func (s *State) MarshalDevice(k event.Key) ([]byte, error) {
	d := s.devices[k]
	if d == nil {
		return nil, fmt.Errorf("classify: marshal device %s: not tracked", k)
	}
	return encodeDevice(d), nil
}

func encodeDevice(d *device) []byte {
	a := d.alerts
	if a == nil {
		a = &alerts{} // nothing held: written as zeros
	}
	w := &writer{b: make([]byte, 0, 64+len(d.entries)*28)}
	w.byte(deviceBlobV3)
	w.u(uint64(len(d.entries)))
	var prev int64
	for i := range d.entries {
		x := &d.entries[i]
		w.i(x.t - prev)
		prev = x.t
		w.raw(x.id[:])
		w.i(int64(x.code))
		w.byte(byte(x.kind))
		w.byte(byte(x.src))
		w.byte(byte(x.class))
		w.byte(x.flags)
		if x.flags&fFinal != 0 {
			w.byte(byte(x.cause))
			w.byte(x.rev)
			w.byte(x.conf)
			w.u32(x.fp)
		}
		if x.kind == event.StateConnected || x.kind == event.StateDisconnected {
			packSeq(w, x.seqNum())
		}
	}
	w.u(uint64(len(d.samples)))
	for i := range d.samples {
		s := &d.samples[i]
		w.i(s.disc)
		w.i(int64(s.dur))
		fl := s.fl & smKept
		verd := s.cause == ccDeviceOrNetwork || s.retroIn != 0 || s.prior()
		if verd {
			fl |= smVerdict
		}
		if s.retroIn != 0 {
			fl |= smRetro
		}
		w.byte(fl)
		w.byte(byte(s.cause))
		if verd {
			w.raw(s.id[:])
			w.byte(s.rev)
			w.i(int64(s.back))
		}
		if s.retroIn != 0 {
			w.i(int64(s.retroIn))
			w.i(int64(s.pdur))
			w.i(int64(s.ptol))
			w.byte(s.pn)
		}
	}
	w.u(uint64(len(a.flaps)))
	prev = 0
	for _, t := range a.flaps {
		w.i(t - prev)
		prev = t
	}
	w.u(uint64(len(a.flapRevs)))
	prev = 0
	for _, r := range a.flapRevs {
		w.i(r.t - prev)
		// by ≥ t always; a late one (unprior) is written as -(by-t)-1
		if r.late {
			w.i(-(r.by - r.t) - 1)
		} else {
			w.i(r.by - r.t)
		}
		prev = r.t
	}
	w.i(d.floor)
	w.i(d.deleted)
	w.i(d.due)
	for _, s := range []*sigState{&a.offline, &a.flapping, &a.renewal} {
		w.bool(s.firing)
		w.i(s.since)
		w.i(s.ref)
		w.i(s.inc)
	}
	w.u(uint64(len(d.contrib)))
	prev = 0
	for _, c := range d.contrib {
		w.i(c.m - prev)
		prev = c.m
		w.byte(c.sec)
	}
	return w.b
}

func decodeDevice(k event.Key, b []byte) (*device, error) {
	r := &reader{b: b}
	v := r.byte()
	if r.err == nil && v != deviceBlobV1 && v != deviceBlobV2 && v != deviceBlobV3 {
		return nil, fmt.Errorf("classify: device %s: unknown blob version %d", k, v)
	}
	d := &device{key: k, alerts: &alerts{}}
	n := r.n(22)
	d.entries = make([]entry, n)
	var prev int64
	for i := range d.entries {
		x := &d.entries[i]
		x.t = prev + r.i()
		prev = x.t
		r.raw(x.id[:])
		x.code = int32(r.i())
		x.kind = event.Kind(r.byte())
		x.src = event.Source(r.byte())
		x.class = msgClass(r.byte())
		x.flags = r.byte()
		if x.flags&fFinal != 0 {
			x.cause = causeCode(r.byte())
			x.rev = r.byte()
			x.conf = r.byte()
			x.fp = r.u32()
		}
		if x.kind == event.StateConnected || x.kind == event.StateDisconnected {
			x.setSeq(unpackSeq(r))
		}
		if r.err != nil {
			break
		}
	}
	if r.err == nil && !slices.IsSortedFunc(d.entries, func(a, b entry) int { return cmp.Compare(a.t, b.t) }) {
		return nil, fmt.Errorf("classify: device %s: timeline out of order", k)
	}
	d.samples = make([]sample, r.n(3))
	for i := range d.samples {
		s := &d.samples[i]
		s.disc, s.dur, s.back = r.i(), int32(r.i()), -1
		if v == deviceBlobV1 {
			if r.bool() {
				s.fl = smBacked
			}
			continue
		}
		fl := r.byte()
		s.fl = fl & smKept
		s.cause = causeCode(r.byte())
		if fl&smVerdict != 0 {
			r.raw(s.id[:])
			s.rev = r.byte()
			s.back = int32(r.i())
		}
		if fl&smRetro != 0 {
			dt := r.i()
			s.pdur, s.ptol = int32(r.i()), int32(r.i())
			s.pn = r.byte()
			switch {
			case dt < math.MinInt32 || dt > math.MaxInt32:
				r.fail() // a revision decades from its disconnect
			case dt == 0:
				s.retroIn = 1 // never "not revised" for a revised sample
			default:
				s.retroIn = int32(dt)
			}
		}
		if r.err != nil {
			break
		}
	}
	d.flaps = make([]int64, r.n(1))
	prev = 0
	for i := range d.flaps {
		d.flaps[i] = prev + r.i()
		prev = d.flaps[i]
	}
	if v != deviceBlobV1 {
		d.flapRevs = make([]flapRev, r.n(2))
		prev = 0
		for i := range d.flapRevs {
			t := prev + r.i()
			if dt := r.i(); dt < 0 {
				d.flapRevs[i] = flapRev{t: t, by: t - dt - 1, late: true}
			} else {
				d.flapRevs[i] = flapRev{t: t, by: t + dt}
			}
			prev = t
		}
	}
	d.floor = r.i()
	d.deleted = r.i()
	d.due = r.i()
	for _, s := range []*sigState{&d.offline, &d.flapping, &d.renewal} {
		s.firing = r.bool()
		s.since = r.i()
		s.ref = r.i()
		s.inc = r.i()
	}
	if v >= deviceBlobV3 {
		d.contribKnown = true
		d.contrib = make([]contrib, r.n(2))
		prev = 0
		for i := range d.contrib {
			d.contrib[i].m = prev + r.i()
			prev = d.contrib[i].m
			if d.contrib[i].sec = r.byte(); d.contrib[i].sec >= 60 {
				r.fail()
			}
		}
	}
	if r.err != nil {
		return nil, fmt.Errorf("classify: device %s: decode: %w", k, r.err)
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("classify: device %s: decode: %d trailing bytes", k, len(r.b))
	}
	d.releaseAlerts()
	return d, nil
}

// UnmarshalDevice loads one device's state (replacing any held for k).
func (s *State) UnmarshalDevice(k event.Key, b []byte) error {
	d, err := decodeDevice(k, b)
	if err != nil {
		return err
	}
	s.addDevice(d)
	if h := s.hubs[k.Hub]; h != nil {
		h.adopt(d)
	}
	return nil
}

// MarshalHub serializes one hub's state. It fails for an unknown hub.
func (s *State) MarshalHub(name string) ([]byte, error) {
	h := s.hubs[name]
	if h == nil {
		return nil, fmt.Errorf("classify: marshal hub %s: not tracked", name)
	}
	return encodeHub(h), nil
}

func encodeHub(h *hub) []byte {
	w := &writer{}
	w.byte(hubBlobV6)
	w.i(h.frontier)
	w.i(h.sealed)
	w.i(h.closed)
	w.f64(h.baseU)
	w.f64(h.baseH)
	ms := h.sortedMinutes()
	w.u(uint64(len(ms)))
	for _, m := range ms {
		encodeBucket(w, m, h.buckets[m])
	}
	w.u(uint64(len(h.inc)))
	for _, in := range h.inc {
		w.i(in.start)
		w.i(in.idStart)
		w.i(in.end)
		w.bool(in.open)
		w.u(uint64(in.devices))
		w.u(uint64(in.hubErrors))
		w.u(uint64(len(in.codes)))
		for _, c := range in.codes {
			w.i(int64(c))
		}
		w.i(in.firstDisc)
		w.i(in.lastDisc)
		w.bool(in.metric)
		w.u64(in.emitted)
		w.bool(in.sigFired)
		w.bool(in.sigClosed)
	}
	w.u(uint64(len(h.metrics)))
	for _, m := range h.metrics {
		w.raw(m.id[:])
		w.i(m.t)
		w.bool(m.fired)
	}
	ts := make([]uint64, 0, len(h.tombs))
	for k := range h.tombs {
		ts = append(ts, k)
	}
	slices.Sort(ts)
	w.u(uint64(len(ts)))
	for _, k := range ts {
		w.u64(k)
		w.i(h.tombs[k])
	}
	w.i(h.first)
	for _, x := range h.cuts.fields() {
		w.f64(*x)
	}
	w.bool(h.cuts.rejudged)
	for _, x := range h.delays.fields() {
		w.f64(*x)
	}
	for _, x := range h.cuts.lateFields() {
		w.f64(*x)
	}
	return w.b
}

func decodeHub(name string, b []byte) (*hub, error) {
	r := &reader{b: b}
	v := r.byte()
	if r.err == nil && (v < hubBlobV1 || v > hubBlobV6) {
		return nil, fmt.Errorf("classify: hub %s: unknown blob version %d", name, v)
	}
	h := &hub{name: name, buckets: make(map[int64]*bucket)}
	h.frontier = r.i()
	h.sealed = r.i()
	h.closed = r.i()
	h.baseU = r.f64()
	h.baseH = r.f64()
	nb := r.n(6)
	var sets map[int64]map[uint64]uint8 // v1/v2 member sets
	for range nb {
		var m int64
		var bk *bucket
		if v >= hubBlobV3 {
			m, bk = decodeBucket(r)
		} else {
			var devs map[uint64]uint8
			m, bk, devs = decodeBucketV2(r)
			if devs != nil {
				if sets == nil {
					sets = make(map[int64]map[uint64]uint8)
				}
				sets[m] = devs
			}
		}
		if r.err != nil {
			break
		}
		h.buckets[m] = bk
	}
	if sets != nil {
		h.fromSets(sets)
	}
	ni := r.n(10)
	for range ni {
		in := &incident{start: r.i(), idStart: r.i(), end: r.i(), open: r.bool(), devices: int(r.u()), hubErrors: int(r.u())}
		for range r.n(1) {
			in.codes = append(in.codes, int32(r.i()))
		}
		in.firstDisc = r.i()
		in.lastDisc = r.i()
		in.metric = r.bool()
		in.emitted = r.u64()
		in.sigFired = r.bool()
		in.sigClosed = r.bool()
		if r.err != nil {
			break
		}
		h.inc = append(h.inc, in)
	}
	for range r.n(18) {
		var m metricEv
		r.raw(m.id[:])
		m.t = r.i()
		m.fired = r.bool()
		h.metrics = append(h.metrics, m)
	}
	nt := r.n(9)
	if nt > 0 {
		h.tombs = make(map[uint64]int64, nt)
	}
	for range nt {
		k := r.u64()
		h.tombs[k] = r.i()
	}
	if v >= hubBlobV2 {
		h.first = r.i()
	}
	if v >= hubBlobV4 {
		for _, x := range h.cuts.fields() {
			*x = r.f64()
		}
		h.cuts.rejudged = r.bool()
	}
	if v >= hubBlobV5 {
		for _, x := range h.delays.fields() {
			*x = r.f64()
		}
	}
	if v >= hubBlobV6 {
		for _, x := range h.cuts.lateFields() {
			*x = r.f64()
		}
	}
	if r.err != nil {
		return nil, fmt.Errorf("classify: hub %s: decode: %w", name, r.err)
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("classify: hub %s: decode: %d trailing bytes", name, len(r.b))
	}
	return h, nil
}

func encodeBucket(w *writer, m int64, b *bucket) {
	w.i(m)
	w.bool(b.compact)
	for _, x := range []int{b.nDev, b.p1, b.p2, b.p3, b.errs} {
		w.u(uint64(max(x, 0)))
	}
	w.u(uint64(len(b.codes)))
	for _, c := range b.codes {
		w.i(int64(c))
	}
	if b.compact {
		return
	}
	nz := 0
	for _, n := range b.secs {
		if n > 0 {
			nz++
		}
	}
	w.u(uint64(nz))
	for s, n := range b.secs {
		if n > 0 {
			w.byte(byte(s))
			w.u(uint64(n))
		}
	}
	switch {
	case b.seen == nil:
		w.byte(seenNone)
	case b.seen.reg == nil:
		w.byte(seenExact)
		w.u(uint64(len(b.seen.ids)))
		for _, id := range b.seen.ids {
			w.raw(id[:])
		}
	default:
		w.byte(seenHLL)
		w.raw(b.seen.reg)
	}
}

func decodeBucket(r *reader) (int64, *bucket) {
	m := r.i()
	b := &bucket{compact: r.bool()}
	for _, x := range []*int{&b.nDev, &b.p1, &b.p2, &b.p3, &b.errs} {
		*x = int(r.u())
	}
	for range r.n(1) {
		b.codes = append(b.codes, int32(r.i()))
	}
	if b.compact || r.err != nil {
		return m, b
	}
	b.secs = make([]int32, 60)
	for range r.n(2) {
		s := r.byte()
		n := r.u()
		if s >= 60 || n > math.MaxInt32 {
			r.fail()
			break
		}
		b.secs[s] = int32(n)
	}
	switch r.byte() {
	case seenNone:
	case seenExact:
		n := r.n(16)
		if n > sketchExact {
			r.fail()
			break
		}
		b.seen = &idSketch{ids: make([]event.ID, n)}
		for i := range b.seen.ids {
			r.raw(b.seen.ids[i][:])
		}
	case seenHLL:
		b.seen = &idSketch{reg: make([]uint8, sketchRegs)}
		r.raw(b.seen.reg)
		b.seen.recount()
	default:
		r.fail()
	}
	return m, b
}

// decodeBucketV2 reads a v1/v2 bucket: member sets of device hashes (value
// 0 explained, else 1 + second) and of error IDs.
func decodeBucketV2(r *reader) (int64, *bucket, map[uint64]uint8) {
	m := r.i()
	bk := &bucket{compact: r.bool(), nDev: int(r.u()), errs: int(r.u())}
	for range r.n(1) {
		bk.codes = append(bk.codes, int32(r.i()))
	}
	var devs map[uint64]uint8
	nd := r.n(9)
	if !bk.compact {
		devs = make(map[uint64]uint8, nd)
		bk.secs = make([]int32, 60)
	}
	for range nd {
		k := r.u64()
		u := r.byte()
		if devs != nil {
			devs[k] = u
		}
	}
	ni := r.n(16)
	if !bk.compact {
		bk.seen = &idSketch{}
	}
	for range ni {
		var id event.ID
		r.raw(id[:])
		if bk.seen != nil {
			bk.seen.add(id)
		}
	}
	return m, bk, devs
}

// fromSets turns v1/v2 member sets of open minutes into counts, and keeps
// which device was counted where (legacy) for its next syncBuckets.
func (h *hub) fromSets(sets map[int64]map[uint64]uint8) {
	h.legacy = make(map[uint64][]contrib)
	ms := make([]int64, 0, len(sets))
	for m := range sets {
		ms = append(ms, m)
	}
	slices.Sort(ms)
	for _, m := range ms {
		for k, u := range sets[m] {
			if u != 0 {
				h.legacy[k] = append(h.legacy[k], contrib{m: m, sec: min(u-1, 59)})
			}
		}
	}
	for _, cs := range h.legacy {
		h.count(cs, +1)
	}
}

// UnmarshalHub loads one hub's state (replacing any held for the hub).
func (s *State) UnmarshalHub(name string, b []byte) error {
	h, err := decodeHub(name, b)
	if err != nil {
		return err
	}
	s.hubs[name] = h
	if h.legacy != nil {
		for k, d := range s.devices {
			if k.Hub == name {
				h.adopt(d)
			}
		}
	}
	return nil
}

// TimelineEntry is one record on a device's timeline, for the API's
// devices/{id} view.
type TimelineEntry struct {
	Time time.Time
	// Kind is the event kind ("connect", "disconnect", "state-connected" …).
	Kind string
	// Code is the resource-log result code (0 for success / informational).
	Code int
	// Detail says what the engine made of it: the verdict of a 404104
	// ("token-expiry", "pending"), the class of a 401003, the source of a
	// state event.
	Detail string
}

// DeviceView is what the query API shows for one device: its recent
// timeline, its learned token period and its connection state.
type DeviceView struct {
	Key      event.Key
	Timeline []TimelineEntry
	// TokenPeriod is the learned token period; 0 when none is learned yet.
	TokenPeriod time.Duration
	// Connected is the device's state after its newest connection record.
	Connected bool
	// LastSeen is the time of its newest record.
	LastSeen time.Time
	// Offline, Flapping and RenewalFailing are its device alert conditions.
	Offline, Flapping, RenewalFailing bool
}

// DecodeDeviceView renders a device blob (from MarshalDevice) for the API,
// without needing a State.
func DecodeDeviceView(k event.Key, blob []byte) (DeviceView, error) {
	d, err := decodeDevice(k, blob)
	if err != nil {
		return DeviceView{}, err
	}
	v := DeviceView{Key: k}
	if a := d.alerts; a != nil {
		v.Offline, v.Flapping, v.RenewalFailing = a.offline.firing, a.flapping.firing, a.renewal.firing
	}
	if p, ok := learnedPeriod(d.samples, math.MaxInt64, d.sdkAt(math.MaxInt64)); ok {
		v.TokenPeriod = time.Duration(p.dur) * time.Second
	}
	var connSeq string
	haveState := false
	for i := range d.entries {
		x := &d.entries[i]
		te := TimelineEntry{Time: unix(x.t), Kind: x.kind.String(), Code: int(x.code)}
		switch {
		case x.is404104():
			if x.flags&fFinal != 0 {
				te.Detail = string(x.cause.cause())
				if x.rev > 0 {
					te.Detail += fmt.Sprintf(" (revised %d×)", x.rev)
				}
			} else {
				te.Detail = string(Pending)
			}
		case x.isUnauthorized():
			te.Detail = x.class.String()
		case x.kind == event.StateConnected || x.kind == event.StateDisconnected:
			te.Detail = x.src.String()
		}
		v.Timeline = append(v.Timeline, te)
		switch {
		case x.isSuccessConnect():
			v.Connected = true
		case x.kind == event.Disconnect:
			v.Connected = false
		case x.kind == event.StateConnected || x.kind == event.StateDisconnected:
			if !haveState || !seqLess(x.seqNum(), connSeq) {
				haveState, connSeq = true, x.seqNum()
				v.Connected = x.kind == event.StateConnected
			}
		}
		v.LastSeen = unix(x.t)
	}
	return v, nil
}
