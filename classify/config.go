package classify

import (
	"errors"
	"fmt"
	"time"
)

// Mode selects how the watermark is computed (PRODUCT.md §4 WATERMARK).
type Mode int

const (
	// WallClock is the production mode: the watermark never runs ahead of
	// the wall clock minus the allowed lateness, nor ahead of the slowest
	// active ingest partition.
	WallClock Mode = iota
	// EventTime derives the watermark from the newest event time seen, for
	// replay, simulation and tests where data may be years old.
	EventTime
)

// String returns the setting value of the mode ("wallclock", "eventtime").
func (m Mode) String() string {
	switch m {
	case WallClock:
		return "wallclock"
	case EventTime:
		return "eventtime"
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// ParseMode is the inverse of Mode.String; it fails on any other value, so a
// mistyped WATERMARK setting is a start-up error rather than a silent default.
func ParseMode(s string) (Mode, error) {
	switch s {
	case "wallclock":
		return WallClock, nil
	case "eventtime":
		return EventTime, nil
	}
	return 0, fmt.Errorf("classify: unknown watermark mode %q (want wallclock or eventtime)", s)
}

// Config holds the engine's tunables, one per PRODUCT.md §4 setting. The zero
// value is not valid; start from DefaultConfig.
type Config struct {
	Mode Mode
	// ReconnectGrace: a reconnect within this after a 404104 counts as
	// "came straight back"; a 404104 at t is decided once the watermark
	// reaches t + ReconnectGrace.
	ReconnectGrace time.Duration
	// AllowedLateness: how far out of order evidence may arrive and still
	// give the in-order verdict.
	AllowedLateness time.Duration
	// OfflineAfter: a device not back this long after a disconnect is offline.
	OfflineAfter time.Duration
	// FlapWindow / FlapReset / FlapCount: FlapCount device-or-network
	// disconnects within FlapWindow make a device flapping; it clears once it
	// stays connected for FlapReset.
	FlapWindow, FlapReset time.Duration
	// Retention: state older than this is removed (the caller passes the cut
	// to Forget).
	Retention time.Duration
	FlapCount int
	// IncidentMinDevices: fewest distinct unexplained devices in a burst
	// before a hub incident is considered.
	IncidentMinDevices int
}

// DefaultConfig returns the PRODUCT.md §4 defaults.
func DefaultConfig() Config {
	return Config{
		Mode:               WallClock,
		ReconnectGrace:     60 * time.Second,
		AllowedLateness:    5 * time.Minute,
		OfflineAfter:       15 * time.Minute,
		FlapWindow:         time.Hour,
		FlapReset:          time.Hour,
		Retention:          7 * 24 * time.Hour,
		FlapCount:          3,
		IncidentMinDevices: 10,
	}
}

// Validate reports the first setting that is out of range, naming it the way
// the operator spells it, so that start-up fails loudly instead of running
// with a nonsensical engine.
func (c Config) Validate() error {
	var errs []error
	if c.Mode != WallClock && c.Mode != EventTime {
		errs = append(errs, fmt.Errorf("WATERMARK: unknown mode %d", int(c.Mode)))
	}
	pos := func(name string, d time.Duration) {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive, got %s", name, d))
		}
	}
	pos("RECONNECT_GRACE", c.ReconnectGrace)
	pos("OFFLINE_AFTER", c.OfflineAfter)
	pos("FLAP_WINDOW", c.FlapWindow)
	pos("FLAP_RESET", c.FlapReset)
	pos("RETENTION", c.Retention)
	if c.AllowedLateness < 0 {
		errs = append(errs, fmt.Errorf("ALLOWED_LATENESS: must not be negative, got %s", c.AllowedLateness))
	}
	if c.ReconnectGrace > 30*time.Minute {
		errs = append(errs, fmt.Errorf("RECONNECT_GRACE: %s is longer than 30m", c.ReconnectGrace))
	}
	if c.FlapCount < 2 || c.FlapCount > maxFlaps {
		errs = append(errs, fmt.Errorf("FLAP_COUNT: must be between 2 and %d, got %d", maxFlaps, c.FlapCount))
	}
	if c.IncidentMinDevices < 2 {
		errs = append(errs, fmt.Errorf("INCIDENT_MIN_DEVICES: must be at least 2, got %d", c.IncidentMinDevices))
	}
	if c.Retention > 0 && c.Retention < c.FlapWindow {
		errs = append(errs, fmt.Errorf("RETENTION: %s is shorter than FLAP_WINDOW %s", c.Retention, c.FlapWindow))
	}
	return errors.Join(errs...)
}

// Progress is one ingest partition's position, as the store records it: the
// newest event time it has appended and the wall clock of its last append.
type Progress struct {
	Writer  string
	Newest  time.Time
	Updated time.Time
}

// Watermark computes the event time up to which evidence is taken to be
// complete (PRODUCT.md §4). WallClock: the earlier of now − lateness and the
// slowest non-idle partition's Newest − lateness, where a partition whose
// last append is more than lateness before now is idle and does not hold the
// watermark back. EventTime: the newest event time of any partition minus
// lateness; now is ignored (replayed data may be years old). With no
// progress at all, EventTime returns the zero time.
func Watermark(mode Mode, now time.Time, lateness time.Duration, progress []Progress) time.Time {
	if mode == EventTime {
		var newest time.Time
		for _, p := range progress {
			if p.Newest.After(newest) {
				newest = p.Newest
			}
		}
		if newest.IsZero() {
			return time.Time{}
		}
		return newest.Add(-lateness).UTC()
	}
	wm := now.Add(-lateness)
	for _, p := range progress {
		if now.Sub(p.Updated) > lateness {
			continue // idle: it does not hold the watermark back
		}
		if w := p.Newest.Add(-lateness); w.Before(wm) {
			wm = w
		}
	}
	return wm.UTC()
}
