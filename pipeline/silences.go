package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
)

// silence runs the silence stage on what the alert Manager made due. It
// reads the silences (written by the API on any instance) only when there
// is something they can change now: a notification to mute, a live alert
// that a silence holds (whose silence may end) — or, with live alerts
// only, every silenceEvery, so that a new silence shows on them in the API
// without a read every tick. A quiet fleet's idle ticks read nothing.
func (p *Pipeline) silence(ctx context.Context, st *alert.State, notes []alert.Notification, now time.Time) ([]alert.Notification, error) {
	if len(notes) == 0 && (st.Len() == 0 || !p.silencesDue(st, now)) {
		return notes, nil
	}
	sils, err := p.st.ListSilences(ctx)
	if err != nil {
		return nil, fmt.Errorf("pipeline: silences: %w", err)
	}
	p.lastSilences = now
	return p.alerts.Silence(st, notes, sils, now), nil
}

// silenceEvery is how often the silences are read for live alerts no
// silence holds.
const silenceEvery = 5 * time.Minute

// silencesDue reports whether live alerts need the silences read: one is
// held by a silence, or silenceEvery has passed.
func (p *Pipeline) silencesDue(st *alert.State, now time.Time) bool {
	if now.Sub(p.lastSilences) >= silenceEvery || p.lastSilences.After(now) {
		return true
	}
	for _, r := range st.Records() {
		if r.Muted || r.SilencedBy != "" {
			return true
		}
	}
	return false
}
