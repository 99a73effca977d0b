// Package classify is disconnect-doctor's pure event-time engine: it joins
// the evidence around every IoT Hub 404104 DeviceConnectionClosedRemotely
// (the device's own 401003s, reconnects and learned token period, hub-wide
// bursts with hub-side errors, duplicate-identity codes) and names its cause
// with evidence, a recommendation and a confidence (PRODUCT.md §5). It also
// opens and closes hub incidents and emits the alert transitions of §7.
//
// The package does no I/O, reads no clock and keeps no globals: events and a
// watermark go in, verdicts and signals come out, and the State serializes
// to one compact blob per device and per hub. The Evaluate function owns the
// State; ingest instances only append events.
package classify

import (
	"time"
)

// Engine applies the classification rules with one Config. It holds no
// mutable state (everything lives in State), so one Engine may serve many
// States, though a State is not safe for concurrent use.
type Engine struct {
	cfg        Config
	grace      int64 // seconds
	lateness   int64
	offline    int64
	flapWin    int64
	flapReset  int64
	revHorizon int64  // how long decided 404104s stay open to revision
	rules      []rule // the classification rules in precedence order (ruleOrder)
}

// New returns an engine for cfg. cfg should have passed Validate; New does
// not re-check it.
func New(cfg Config) *Engine {
	sec := func(d time.Duration) int64 { return int64(d / time.Second) }
	e := &Engine{
		cfg:        cfg,
		grace:      sec(cfg.ReconnectGrace),
		lateness:   sec(cfg.AllowedLateness),
		offline:    sec(cfg.OfflineAfter),
		flapWin:    sec(cfg.FlapWindow),
		flapReset:  sec(cfg.FlapReset),
		revHorizon: max(3600, 4*sec(cfg.AllowedLateness), sec(cfg.FlapReset)+600, sec(cfg.OfflineAfter)+600),
	}
	e.rules = e.ruleOrder()
	return e
}

// Config returns the engine's configuration.
func (e *Engine) Config() Config { return e.cfg }
