package classify

import (
	"math"
	"sort"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// PeriodView is one identity's token-period facts over a window, for the
// daily digest: which SDK family it connects with, the token period the
// engine has learned for it, and how many of its disconnects in the window
// ended a session off that period (a device that usually drops at its token
// lifetime dropping at another time is worth a look).
type PeriodView struct {
	Key event.Key
	// SDK is the family of its newest successful connect (".NET", "Java",
	// "C", "Node.js", "Python"), "" when unknown; AMQP is set for AMQP
	// connects (tokens renewed in the connection).
	SDK  string
	AMQP bool
	// Period is the learned token period as of the window's end; 0 when
	// none is learned.
	Period time.Duration
	// Disconnects counts the window's disconnects whose session length is
	// known (a token-period sample); Off counts those whose session left
	// the period learned before them (beyond its tolerance).
	Disconnects, Off int
	// OffSession and OffPeriod are the newest off-period session's length
	// and the period it left; OffAt is that disconnect's time.
	OffSession, OffPeriod time.Duration
	OffAt                 time.Time
}

// HubSpan is a hub the state knows and the oldest event time ingested for
// it (zero when unknown): a summary of a window ending before First would
// summarise nothing.
type HubSpan struct {
	Name  string
	First time.Time
}

// Hubs returns the hubs the state knows, by name.
func (s *State) Hubs() []HubSpan {
	out := make([]HubSpan, 0, len(s.hubs))
	for name, h := range s.hubs {
		hs := HubSpan{Name: name}
		if h.first != 0 {
			hs.First = unix(h.first)
		}
		out = append(out, hs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// EachPeriod calls fn with the PeriodView of every tracked identity, over
// the disconnects in [from, to). It reads the state without changing it.
// The order is the map's: callers aggregate.
func (s *State) EachPeriod(from, to time.Time, fn func(PeriodView)) {
	lo, hi := from.Unix(), to.Unix()
	for _, d := range s.devices {
		fn(d.periodView(lo, hi))
	}
}

func (d *device) periodView(lo, hi int64) PeriodView {
	sdk := d.sdkAt(math.MaxInt64)
	v := PeriodView{Key: d.key, SDK: sdk.family().String(), AMQP: sdk.amqp()}
	if p, ok := learnedPeriod(d.samples, hi, sdk); ok {
		v.Period = time.Duration(p.dur) * time.Second
	}
	for _, s := range d.samples {
		if s.disc < lo || s.disc >= hi || s.dur <= 0 {
			continue
		}
		v.Disconnects++
		p, ok := learnedPeriod(d.samples, s.disc, d.sdkAt(s.disc))
		if !ok || abs64(int64(s.dur)-p.dur) <= p.tol {
			continue
		}
		v.Off++
		v.OffSession, v.OffPeriod, v.OffAt = time.Duration(s.dur)*time.Second, time.Duration(p.dur)*time.Second, unix(s.disc)
	}
	return v
}
