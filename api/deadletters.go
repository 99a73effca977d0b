package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// DeadLetter is one input record the state store refused for good and
// ingest set aside (issue 10 item 9), as GET v1/deadletters lists it.
type DeadLetter struct {
	ID       string `json:"id"`
	At       string `json:"at"`
	Writer   string `json:"writer"`
	Hub      string `json:"hub"`
	DeviceID string `json:"deviceId"`
	ModuleID string `json:"moduleId"`
	Time     string `json:"time,omitempty"`
	Kind     string `json:"kind,omitempty"`
	Reason   string `json:"reason"`
	Excerpt  string `json:"excerpt,omitempty"`
}

// FromDeadLetter converts a stored dead letter.
func FromDeadLetter(d store.DeadLetter) DeadLetter {
	out := DeadLetter{ID: d.ID, At: d.At.UTC().Format(time.RFC3339Nano), Writer: d.Writer, Hub: d.Hub,
		DeviceID: d.Device, ModuleID: d.Module, Kind: d.Kind, Reason: d.Reason, Excerpt: d.Excerpt}
	if !d.Time.IsZero() {
		out.Time = d.Time.UTC().Format(time.RFC3339Nano)
	}
	return out
}

// deadLetters answers GET v1/deadletters?from=&to=&limit=: the records set
// aside, newest first, {"items":[DeadLetter…]}. Without from/to it covers
// everything retained.
func (a *API) deadLetters(ctx context.Context, q url.Values) (int, any) {
	from, ok := parseTime(q, "from")
	if !ok {
		return bad("from", "from must be an RFC 3339 time")
	}
	to, ok := parseTime(q, "to")
	if !ok {
		return bad("to", "to must be an RFC 3339 time")
	}
	if to.IsZero() {
		to = time.Unix(0, 1<<63-1) // the store's latest time
	}
	if !to.After(from) {
		return bad("to", "to must be after from")
	}
	limit := DefaultLimit
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > MaxLimit {
			return bad("limit", "limit must be a whole number from 1 to "+strconv.Itoa(MaxLimit))
		}
		limit = n
	}
	ds, err := a.st.ListDeadLetters(ctx, from, to, limit)
	if err != nil {
		return unavailable(err)
	}
	items := make([]DeadLetter, len(ds))
	for i, d := range ds {
		items[i] = FromDeadLetter(d)
	}
	return http.StatusOK, map[string]any{"items": items}
}

// deadLetterCount counts the retained dead letters for health, up to the
// API's page size, and the time of the newest.
func (a *API) deadLetterCount(ctx context.Context) (int, string, error) {
	ds, err := a.st.ListDeadLetters(ctx, time.Time{}, time.Unix(0, 1<<63-1), MaxLimit)
	if err != nil || len(ds) == 0 {
		return 0, "", err
	}
	return len(ds), ds[0].At.UTC().Format(time.RFC3339), nil
}
