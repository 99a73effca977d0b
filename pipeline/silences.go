package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
)

// silence runs the silence stage on what the alert Manager made due. It
// reads the silences (written by the API on any instance) only when there
// is something they can change now: a notification to mute, or live alerts
// while a silence was in force or due to start at the last read (it may
// have started, ended or been expired since) — and otherwise, with live
// alerts, every silenceEvery, so that a new silence shows on them in the
// API without a read every tick. A quiet fleet's idle ticks read nothing.
func (p *Pipeline) silence(ctx context.Context, st *alert.State, notes []alert.Notification, now time.Time) ([]alert.Notification, error) {
	if len(notes) == 0 && (st.Len() == 0 || !p.silencesDue(now)) {
		return notes, nil
	}
	sils, err := p.st.ListSilences(ctx)
	if err != nil {
		return nil, fmt.Errorf("pipeline: silences: %w", err)
	}
	p.silences, p.lastSilences = sils, now
	return p.alerts.Silence(st, notes, sils, now), nil
}

// silenceEvery is how often the silences are read for live alerts while
// none was in force or upcoming. It bounds only how soon a new silence shows
// on alerts already firing (their silencedBy in the API): every tick that
// has a notification to send reads the silences first, so a silence created
// through the API mutes the next notification it matches whenever it comes.
const silenceEvery = 15 * time.Minute

// silencesDue reports whether live alerts need the silences read: one read
// last had not ended yet, or silenceEvery has passed.
func (p *Pipeline) silencesDue(now time.Time) bool {
	if now.Sub(p.lastSilences) >= silenceEvery || p.lastSilences.After(now) {
		return true
	}
	for _, s := range p.silences {
		if s.EndsAt.After(p.lastSilences) {
			return true
		}
	}
	return false
}
