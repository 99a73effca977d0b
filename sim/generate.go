package sim

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
)

// Generate runs the simulation described by cfg. It is deterministic: the
// same cfg gives byte-identical output. Zero or negative sizes in cfg fall
// back to DefaultConfig's values.
func Generate(cfg Config) *Output {
	_, out := generate(cfg)
	return out
}

// generate is Generate, also returning the simulation state for tests.
func generate(cfg Config) (*sim, *Output) {
	cfg = normalize(cfg)
	s := &sim{
		cfg:      cfg,
		rng:      newRNG(cfg.Seed, 1),
		start:    cfg.Start.UTC(),
		end:      cfg.Start.UTC().Add(cfg.Duration),
		resID:    upperResourceID(cfg),
		hubLower: strings.ToLower(cfg.Hub),
	}
	s.build()
	for _, d := range s.devices {
		s.run(d)
	}
	s.hubNoise()
	slices.SortStableFunc(s.recs, func(a, b *rec) int {
		if c := a.t.Compare(b.t); c != 0 {
			return c
		}
		return cmp.Compare(a.order, b.order)
	})
	out := &Output{Stats: Stats{ByCategory: map[string]int{}, TruthByCause: map[string]int{}}}
	s.deliverLogs(out)
	s.eventGrid(out)
	s.metricAlerts(out)
	s.finish(out)
	return s, out
}

// normalize fills unset sizes from the defaults so a partial Config works.
func normalize(cfg Config) Config {
	def := DefaultConfig(cfg.Seed)
	if cfg.Hub == "" {
		cfg.Hub = def.Hub
	}
	if cfg.Subscription == "" {
		cfg.Subscription = def.Subscription
	}
	if cfg.ResourceGroup == "" {
		cfg.ResourceGroup = def.ResourceGroup
	}
	if cfg.Location == "" {
		cfg.Location = def.Location
	}
	if cfg.Devices <= 0 {
		cfg.Devices = def.Devices
	}
	if cfg.Start.IsZero() {
		cfg.Start = def.Start
	}
	if cfg.Duration <= 0 {
		cfg.Duration = def.Duration
	}
	if cfg.Mix == (Mix{}) {
		cfg.Mix = def.Mix
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = def.Partitions
	}
	if cfg.RecordsPerBody <= 0 {
		cfg.RecordsPerBody = def.RecordsPerBody
	}
	if cfg.DelayMax < cfg.DelayMin {
		cfg.DelayMax = cfg.DelayMin
	}
	if cfg.TailMax < cfg.DelayMax {
		cfg.TailMax = cfg.DelayMax
	}
	if cfg.IncidentShareMax < cfg.IncidentShareMin {
		cfg.IncidentShareMax = cfg.IncidentShareMin
	}
	if cfg.FlakyMeanGap <= 0 {
		cfg.FlakyMeanGap = def.FlakyMeanGap
	}
	if cfg.OfflineAfter <= 0 {
		cfg.OfflineAfter = def.OfflineAfter
	}
	if cfg.FlapCount <= 0 {
		cfg.FlapCount = def.FlapCount
	}
	if cfg.FlapWindow <= 0 {
		cfg.FlapWindow = def.FlapWindow
	}
	if cfg.FlapReset <= 0 {
		cfg.FlapReset = def.FlapReset
	}
	cfg.Start = cfg.Start.UTC()
	return cfg
}

// delivery is one copy of a record on its way to Event Hubs.
type delivery struct {
	r      *rec
	arrive time.Time
	body   []byte
}

// delay draws an Azure Monitor delivery delay: mostly DelayMin..DelayMax,
// skewed towards the short end, with a tail up to TailMax.
func (s *sim) delay(r *rand.Rand) time.Duration {
	if r.Float64() < s.cfg.TailShare {
		return uniform(r, s.cfg.DelayMax, s.cfg.TailMax)
	}
	f := math.Pow(r.Float64(), 1.5)
	return s.cfg.DelayMin + time.Duration(f*float64(s.cfg.DelayMax-s.cfg.DelayMin))
}

// deliverLogs loses, delays and duplicates records, then packs them into
// Event Hubs bodies in arrival order over the partitions.
func (s *sim) deliverLogs(out *Output) {
	r := newRNG(s.cfg.Seed, 2)
	var ds []delivery
	for _, x := range s.recs {
		out.Stats.Records++
		out.Stats.ByCategory[x.cat]++
		if r.Float64() < s.cfg.LossRate {
			out.Stats.Lost++
			continue
		}
		body := s.encode(x)
		ds = append(ds, delivery{r: x, arrive: x.t.Add(s.delay(r)), body: body})
		x.copies++
		if r.Float64() < s.cfg.DuplicateRate {
			ds = append(ds, delivery{r: x, arrive: x.t.Add(s.delay(r)), body: body})
			x.copies++
			out.Stats.Duplicated++
		}
	}
	out.Stats.Delivered = len(ds)
	slices.SortStableFunc(ds, func(a, b delivery) int { return a.arrive.Compare(b.arrive) })
	part := 0
	for i := 0; i < len(ds); {
		n := s.cfg.RecordsPerBody/2 + r.IntN(s.cfg.RecordsPerBody+1)
		j := i + 1
		for j < len(ds) && j-i < n && ds[j].arrive.Sub(ds[j-1].arrive) < 20*time.Second {
			j++
		}
		batch := slices.Clone(ds[i:j])
		// Records inside one body are not in event order.
		r.Shuffle(len(batch), func(a, b int) { batch[a], batch[b] = batch[b], batch[a] })
		var buf bytes.Buffer
		buf.WriteString(`{"records":[`)
		for k, x := range batch {
			if k > 0 {
				buf.WriteString(",\n")
			}
			buf.Write(x.body)
		}
		buf.WriteString("]}")
		out.Diagnostics = append(out.Diagnostics, Message{Body: buf.Bytes(), Enqueued: ds[j-1].arrive.Round(time.Millisecond),
			Partition: strconv.Itoa(part % s.cfg.Partitions)})
		part += 1 + r.IntN(s.cfg.Partitions)
		i = j
	}
}

// finish fills the truth (Lost flags), incidents and expected alerts.
func (s *sim) finish(out *Output) {
	for _, x := range s.recs {
		if x.truth > 0 && x.copies == 0 {
			s.truth[x.truth-1].Lost = true
		}
	}
	slices.SortStableFunc(s.truth, func(a, b Truth) int {
		if c := a.Time.Compare(b.Time); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.Device, b.Device), cmp.Compare(a.Module, b.Module))
	})
	out.Truth = s.truth
	for _, t := range s.truth {
		out.Stats.TruthByCause[string(t.Cause)]++
	}
	for _, st := range s.sites {
		ts := TruthSite{Hub: s.hubLower, Network: event.Network(st.ip), Start: st.start, End: st.end}
		for _, d := range s.devices {
			if d.site >= 0 && s.sites[d.site] == st {
				id := d.id
				if d.module != "" {
					id += "/" + d.module
				}
				ts.Devices = append(ts.Devices, id)
			}
		}
		out.Sites = append(out.Sites, ts)
	}
	for _, in := range s.incidents {
		out.Incidents = append(out.Incidents, TruthIncident{ID: in.id, Hub: s.hubLower, Start: in.start.Truncate(time.Second),
			End: in.end.Truncate(time.Second), Devices: len(in.devices), HubErrors: in.hubErrors})
		s.expect = append(s.expect, TruthAlert{Kind: classify.HubIncident, Hub: s.hubLower, Since: in.start.Truncate(time.Second),
			Until: in.end.Truncate(time.Second)})
	}
	s.deviceAlerts()
	s.siteAlerts()
	slices.SortStableFunc(s.expect, func(a, b TruthAlert) int {
		if c := a.Since.Compare(b.Since); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Device, b.Device), cmp.Compare(a.Module, b.Module))
	})
	out.Expect = s.expect
}

// deviceAlerts derives device-offline and device-flapping conditions from the
// true device-or-network 404104s and the devices' real reconnects, with the
// rules of PRODUCT.md §4 (OFFLINE_AFTER, FLAP_COUNT/WINDOW/RESET).
func (s *sim) deviceAlerts() {
	byKey := map[[2]string][]time.Time{}
	var keys [][2]string
	for _, t := range s.truth {
		if t.Cause != classify.DeviceOrNetwork {
			continue
		}
		k := [2]string{t.Device, t.Module}
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], t.Time)
	}
	devs := map[[2]string]*device{}
	for _, d := range s.devices {
		devs[[2]string{d.id, d.module}] = d
	}
	for _, k := range keys {
		d := devs[k]
		times := byKey[k]
		for _, t := range times {
			back := d.nextConnect(t)
			if s.heldBySite(d, t, back) {
				continue // the site outage's alert tells it, not the device's
			}
			if (back.IsZero() && s.end.Sub(t) >= s.cfg.OfflineAfter) || back.Sub(t) >= s.cfg.OfflineAfter {
				a := TruthAlert{Kind: classify.DeviceOffline, Hub: s.hubLower, Device: d.id, Module: d.module, Since: t}
				if !back.IsZero() {
					a.Until = back.Truncate(time.Second)
				}
				s.expect = append(s.expect, a)
			}
		}
		// Flapping: FlapCount disconnects within FlapWindow; it clears once
		// the device has stayed connected for FlapReset.
		idx := -1
		for i, t := range times {
			if idx >= 0 {
				up := s.connectAfter(d, times[i-1])
				if t.Sub(up) >= s.cfg.FlapReset {
					s.expect[idx].Until = up.Add(s.cfg.FlapReset).Truncate(time.Second)
					idx = -1
				}
			}
			if idx < 0 && i+1 >= s.cfg.FlapCount && t.Sub(times[i+1-s.cfg.FlapCount]) <= s.cfg.FlapWindow {
				idx = len(s.expect)
				s.expect = append(s.expect, TruthAlert{Kind: classify.DeviceFlapping, Hub: s.hubLower, Device: d.id, Module: d.module, Since: t})
			}
		}
		if idx >= 0 {
			if up := s.connectAfter(d, times[len(times)-1]).Add(s.cfg.FlapReset); !up.After(s.end) {
				s.expect[idx].Until = up.Truncate(time.Second)
			}
		}
	}
}

// siteAlerts adds one site-outage condition per injected site outage: from
// its start to its end (its devices back within seconds of it).
func (s *sim) siteAlerts() {
	for _, st := range s.sites {
		s.expect = append(s.expect, TruthAlert{Kind: classify.SiteOutage, Hub: s.hubLower, Device: event.Network(st.ip),
			Since: st.start.Truncate(time.Second), Until: st.end.Truncate(time.Second)})
	}
}

// heldBySite reports whether d's disconnect at t is one of its site
// outage's, and d came back with the site: the site-outage alert covers it
// and no device-offline of its own is expected.
func (s *sim) heldBySite(d *device, t, back time.Time) bool {
	if d.site < 0 {
		return false
	}
	st := s.sites[d.site]
	return !t.Before(st.start) && !t.After(st.end) && !back.IsZero() && !back.After(st.end.Add(5*time.Minute))
}

// nextConnect returns the first successful connect of d after t (zero if none).
func (d *device) nextConnect(t time.Time) time.Time {
	for _, c := range d.changes {
		if c.connected && c.t.After(t) {
			return c.t
		}
	}
	return time.Time{}
}

// connectAfter is nextConnect, or the end of the run when the device never
// came back.
func (s *sim) connectAfter(d *device, t time.Time) time.Time {
	if c := d.nextConnect(t); !c.IsZero() {
		return c
	}
	return s.end
}

// guid draws a random lower-case GUID.
func guid(r *rand.Rand) string {
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", r.Uint32(), r.IntN(1<<16), r.IntN(1<<12),
		0x8000|r.IntN(1<<14), r.Uint64()&(1<<48-1))
}
