package sim

import (
	"bytes"
	"container/heap"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
)

// sliceLen is the event time Stream simulates at once: the records of one
// slice, and those still on their way (up to TailMax late), are all a
// stream holds.
const sliceLen = time.Minute

// bodyGap is the arrival gap that closes an Event Hubs body: records
// arriving closer together than this may share one.
const bodyGap = 20 * time.Second

// Arrivals are the messages that reached the app in a span of time, each
// list in arrival order.
type Arrivals struct {
	Diagnostics  []Message
	EventGrid    []Message
	MetricAlerts []Message
}

// Stream generates a simulation in time order, so that a fleet of any size
// and length can be fed to the app with only minutes of it in memory:
// NewStream decides the whole run (connection changes, truth, incidents,
// Event Grid and metric alerts) without keeping its resource-log records,
// and Next simulates the records slice by slice as the reader's clock
// advances. Reading a whole stream gives exactly Generate's output.
type Stream struct {
	s   *sim
	out *Output // truth and stats; messages are handed out by Next
	// hi is the end of the event time simulated so far.
	hi        time.Time
	noiseNext int
	deliverR  *rand.Rand // loss, delay and duplication, in record order
	packR     *rand.Rand // body sizes, shuffles and partitions
	inFlight  deliveries // delivered copies not yet arrived
	ins       int
	arrived   []delivery // arrived copies not yet packed into a body
	groupN    int        // size drawn for the body being packed (0: none)
	part      int
	ready     []Message // packed bodies not yet handed out
	grid      []egMsg
	alerts    []Message
	finished  bool
}

// NewStream prepares the simulation described by cfg (see Generate for
// how cfg is read).
func NewStream(cfg Config) *Stream {
	s := newSim(cfg)
	st := &Stream{s: s, hi: s.start, deliverR: newRNG(s.cfg.Seed, 2), packR: newRNG(s.cfg.Seed, 5),
		out: &Output{Stats: Stats{ByCategory: map[string]int{}, TruthByCause: map[string]int{}}}}
	st.grid = s.eventGrid()
	st.out.Stats.EventGridEvents = len(st.grid)
	s.metricAlerts(st.out)
	st.alerts, st.out.MetricAlerts = st.out.MetricAlerts, nil
	return st
}

// Start and End bound the simulated event time.
func (st *Stream) Start() time.Time { return st.s.start }

// End is the end of the simulated event time (late messages arrive after
// it).
func (st *Stream) End() time.Time { return st.s.end }

// Next returns the messages that arrived at or before until and were not
// returned by an earlier call, simulating as much of the fleet as that
// needs.
func (st *Stream) Next(until time.Time) Arrivals {
	for !st.generated() && !st.horizon().After(until.Add(bodyGap+time.Millisecond)) {
		st.slice()
	}
	st.pack()
	var a Arrivals
	a.Diagnostics, st.ready = splitMessages(st.ready, until)
	a.MetricAlerts, st.alerts = splitMessages(st.alerts, until)
	n := 0
	for n < len(st.grid) && !st.grid[n].enq.After(until) {
		a.EventGrid = append(a.EventGrid, st.s.render(&st.grid[n]))
		n++
	}
	st.grid = st.grid[n:]
	return a
}

// splitMessages returns the messages of ms enqueued at or before until,
// and the rest.
func splitMessages(ms []Message, until time.Time) (due, rest []Message) {
	n := 0
	for n < len(ms) && !ms[n].Enqueued.After(until) {
		n++
	}
	if n == 0 {
		return nil, ms
	}
	return slices.Clone(ms[:n]), ms[n:]
}

// Result completes the simulation and returns its truth, incidents, sites,
// expected alerts and stats; its message lists are empty (Next hands them
// out). The truth's Lost flags and the delivery stats count every record,
// read or not.
func (st *Stream) Result() *Output {
	if !st.finished {
		for !st.generated() {
			st.slice()
		}
		st.s.finish(st.out)
		st.finished = true
	}
	return st.out
}

// generated reports whether every record has been simulated and delivered.
func (st *Stream) generated() bool {
	return !st.hi.Before(st.s.settled) && st.inFlight.Len() == 0
}

// horizon is the arrival time before which every delivered copy is known:
// a record not yet simulated is at or after hi and arrives at least
// DelayMin after it.
func (st *Stream) horizon() time.Time {
	if !st.hi.Before(st.s.settled) {
		return time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return st.hi.Add(st.s.cfg.DelayMin)
}

// slice simulates the next slice of event time: every identity up to its
// end, the hub noise in it, and their delivery; the copies that have
// arrived by the new horizon move on to packing.
func (st *Stream) slice() {
	s := st.s
	hi := st.hi.Add(sliceLen)
	var recs []*rec
	for _, d := range s.devices {
		for !d.done && d.t.Before(hi) {
			s.step(d)
		}
		recs = takeBefore(recs, d, hi)
	}
	for ; st.noiseNext < len(s.noise) && s.noise[st.noiseNext].t.Before(hi); st.noiseNext++ {
		recs = append(recs, s.noise[st.noiseNext])
		s.noise[st.noiseNext] = nil
	}
	slices.SortFunc(recs, byTimeOrder)
	for _, x := range recs {
		st.deliver(x)
	}
	st.hi = hi
	h := st.horizon()
	for st.inFlight.Len() > 0 && st.inFlight[0].arrive.Before(h) {
		st.arrived = append(st.arrived, heap.Pop(&st.inFlight).(delivery))
	}
}

// takeBefore appends d's pending records before hi to recs and keeps the
// others.
func takeBefore(recs []*rec, d *device, hi time.Time) []*rec {
	k := 0
	for _, r := range d.out {
		if r.t.Before(hi) {
			recs = append(recs, r)
		} else {
			d.out[k] = r
			k++
		}
	}
	clear(d.out[k:])
	d.out = d.out[:k]
	return recs
}

// deliver loses, delays or duplicates one record on its way to Event Hubs.
func (st *Stream) deliver(x *rec) {
	s, r, stats := st.s, st.deliverR, &st.out.Stats
	stats.Records++
	stats.ByCategory[x.cat]++
	if r.Float64() < s.cfg.LossRate {
		stats.Lost++
		if x.truth > 0 {
			s.truth[x.truth-1].Lost = true
		}
		return
	}
	st.send(x, x.t.Add(s.delay(r)))
	if r.Float64() < s.cfg.DuplicateRate {
		st.send(x, x.t.Add(s.delay(r)))
		stats.Duplicated++
	}
}

// send puts one copy in flight.
func (st *Stream) send(x *rec, arrive time.Time) {
	heap.Push(&st.inFlight, delivery{r: x, arrive: arrive, ins: st.ins})
	st.ins++
	st.out.Stats.Delivered++
}

// pack packs arrived copies into Event Hubs bodies in arrival order over
// the partitions: about RecordsPerBody records that arrived less than
// bodyGap apart, in no particular order inside the body. A body is packed
// once its last copy is known.
func (st *Stream) pack() {
	s, r := st.s, st.packR
	h := st.horizon()
	for len(st.arrived) > 0 {
		if st.groupN == 0 {
			st.groupN = s.cfg.RecordsPerBody/2 + r.IntN(s.cfg.RecordsPerBody+1)
		}
		ds := st.arrived
		j := 1
		for j < len(ds) && j < st.groupN && ds[j].arrive.Sub(ds[j-1].arrive) < bodyGap {
			j++
		}
		if j == len(ds) && j < st.groupN && ds[j-1].arrive.Add(bodyGap).After(h) {
			return // the next copy to arrive may still join this body
		}
		batch := ds[:j]
		r.Shuffle(len(batch), func(a, b int) { batch[a], batch[b] = batch[b], batch[a] })
		var buf bytes.Buffer
		buf.WriteString(`{"records":[`)
		last := batch[0].arrive
		for k, x := range batch {
			if k > 0 {
				buf.WriteString(",\n")
			}
			buf.Write(s.encode(x.r))
			last = later(last, x.arrive)
		}
		buf.WriteString("]}")
		st.ready = append(st.ready, Message{Body: buf.Bytes(), Enqueued: last.Round(time.Millisecond),
			Partition: strconv.Itoa(st.part % s.cfg.Partitions)})
		st.part += 1 + r.IntN(s.cfg.Partitions)
		clear(ds[:j])
		st.arrived = ds[j:]
		st.groupN = 0
	}
}

// delivery is one copy of a record on its way to Event Hubs.
type delivery struct {
	r      *rec
	arrive time.Time
	ins    int // order of sending, which breaks ties in arrival
}

// deliveries is a min-heap of copies by arrival, then sending order.
type deliveries []delivery

func (h deliveries) Len() int { return len(h) }
func (h deliveries) Less(i, j int) bool {
	if c := h[i].arrive.Compare(h[j].arrive); c != 0 {
		return c < 0
	}
	return h[i].ins < h[j].ins
}
func (h deliveries) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *deliveries) Push(x any)   { *h = append(*h, x.(delivery)) }
func (h *deliveries) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = delivery{}
	*h = old[:len(old)-1]
	return x
}
