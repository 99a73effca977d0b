package sim

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
)

// Generate runs the simulation described by cfg and returns all of it at
// once. It is deterministic: the same cfg gives byte-identical output. Zero
// or negative sizes in cfg fall back to DefaultConfig's values. A big fleet
// is better read with NewStream, which never holds all its messages.
func Generate(cfg Config) *Output {
	_, out := generate(cfg)
	return out
}

// generate is Generate, also returning the simulation state for tests.
func generate(cfg Config) (*sim, *Output) {
	st := NewStream(cfg)
	a := st.Next(st.s.end.Add(100 * 24 * time.Hour))
	out := st.Result()
	out.Diagnostics, out.EventGrid, out.MetricAlerts = a.Diagnostics, a.EventGrid, a.MetricAlerts
	return st.s, out
}

// newSim builds the fleet and runs its first pass: every identity's
// connection changes, the truth, the incidents' members and hub errors,
// the expected renewal failures and the hub noise. The identities are left
// rewound for the recording pass.
func newSim(cfg Config) *sim {
	cfg = normalize(cfg)
	s := &sim{
		cfg:      cfg,
		rng:      newRNG(cfg.Seed, 1),
		start:    cfg.Start.UTC(),
		end:      cfg.Start.UTC().Add(cfg.Duration),
		settled:  cfg.Start.UTC().Add(cfg.Duration + max(cfg.Settle, 0)),
		resID:    upperResourceID(cfg),
		hubLower: strings.ToLower(cfg.Hub),
	}
	s.build()
	for _, d := range s.devices {
		d.src0, d.ip0, d.ip20 = d.src, d.ip, d.ip2
		d.truth0, d.rec0, d.tail0 = len(s.truth), s.devRecs, s.tailRecs
		s.rewind(d)
		s.run(d)
	}
	s.hubNoise()
	slices.SortStableFunc(s.noise, byTimeOrder)
	s.replay = true
	for _, d := range s.devices {
		s.rewind(d)
	}
	return s
}

// byTimeOrder orders records as the hub emitted them: by time, then in
// emission order.
func byTimeOrder(a, b *rec) int {
	if c := a.t.Compare(b.t); c != 0 {
		return c
	}
	return cmp.Compare(a.order, b.order)
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

// delay draws an Azure Monitor delivery delay: mostly DelayMin..DelayMax,
// skewed towards the short end, with a tail up to TailMax.
func (s *sim) delay(r *rand.Rand) time.Duration {
	if r.Float64() < s.cfg.TailShare {
		return uniform(r, s.cfg.DelayMax, s.cfg.TailMax)
	}
	f := math.Pow(r.Float64(), 1.5)
	return s.cfg.DelayMin + time.Duration(f*float64(s.cfg.DelayMax-s.cfg.DelayMin))
}

// finish fills the truth, incidents and expected alerts (the truth's Lost
// flags are set as records are delivered).
func (s *sim) finish(out *Output) {
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
