package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
)

// silence runs the silence stage on what the alert Manager made due: it
// reads the silences (written by the API on any instance) only when there
// is something to silence — a notification, or a live alert whose silence
// may have begun or ended — so a quiet fleet's idle ticks cost nothing more.
func (p *Pipeline) silence(ctx context.Context, st *alert.State, notes []alert.Notification, now time.Time) ([]alert.Notification, error) {
	if len(notes) == 0 && st.Len() == 0 {
		return notes, nil
	}
	sils, err := p.st.ListSilences(ctx)
	if err != nil {
		return nil, fmt.Errorf("pipeline: silences: %w", err)
	}
	return p.alerts.Silence(st, notes, sils, now), nil
}
