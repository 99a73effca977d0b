package store

import (
	"context"
	"strings"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
)

// FindIncident returns the incident with id from st, and whether there is
// one. An incident's id is "<hub>-<start minute>" (classify), and it is
// stored under that hub, so only that hub's incidents are listed: the API
// and the dashboard look incidents up by id the same way.
func FindIncident(ctx context.Context, st Store, id string) (classify.Incident, bool, error) {
	i := strings.LastIndexByte(id, '-')
	if i <= 0 {
		return classify.Incident{}, false, nil
	}
	is, err := st.ListIncidents(ctx, id[:i], nil)
	if err != nil {
		return classify.Incident{}, false, err
	}
	for _, in := range is {
		if in.ID == id {
			return in, true, nil
		}
	}
	return classify.Incident{}, false, nil
}
