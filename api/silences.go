package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// Silence is the wire form of a silence (GET/POST/DELETE v1/silences).
type Silence struct {
	ID       string          `json:"id"`
	Status   string          `json:"status"`
	Matchers SilenceMatchers `json:"matchers"`
	StartsAt string          `json:"startsAt"`
	EndsAt   string          `json:"endsAt"`
	// UpdatedAt is when it was created or last expired.
	UpdatedAt string `json:"updatedAt"`
	CreatedBy string `json:"createdBy"`
	Comment   string `json:"comment"`
	// Alerts are the keys of the live alerts it silences now; only in the
	// answer of GET silences/{id}.
	Alerts []string `json:"alerts,omitempty"`
}

// SilenceMatchers select the alerts a silence applies to ("" = any).
type SilenceMatchers struct {
	Hub      string `json:"hub"`
	DeviceID string `json:"deviceId"`
	Kind     string `json:"kind"`
}

// FromSilence converts a stored silence to its wire form at now.
func FromSilence(s store.Silence, now time.Time) Silence {
	return Silence{ID: s.ID, Status: alert.SilenceStatus(&s, now),
		Matchers: SilenceMatchers{Hub: s.Hub, DeviceID: s.Device, Kind: s.Kind},
		StartsAt: s.StartsAt.UTC().Format(time.RFC3339Nano), EndsAt: s.EndsAt.UTC().Format(time.RFC3339Nano),
		UpdatedAt: s.UpdatedAt.UTC().Format(time.RFC3339Nano), CreatedBy: s.CreatedBy, Comment: s.Comment}
}

// statusOrder lists active silences first, then pending, then expired.
var statusOrder = map[string]int{alert.SilenceActive: 0, alert.SilencePending: 1, alert.SilenceExpired: 2}

func (a *API) clock() time.Time {
	if a.Now != nil {
		return a.Now().UTC()
	}
	return time.Now().UTC()
}

// Write serves the API's changes: POST v1/silences and DELETE
// v1/silences/{id}. body is the request body (nil when none).
func (a *API) Write(ctx context.Context, method, path string, body []byte) (int, any) {
	path = strings.Trim(path, "/")
	switch {
	case path == "silences" && method == http.MethodPost:
		return a.createSilence(ctx, body)
	case strings.HasPrefix(path, "silences/") && method == http.MethodDelete:
		id, ok := silenceID(path)
		if !ok {
			return bad("id", "silence id missing")
		}
		return a.expireSilence(ctx, id)
	case path == "silences" || strings.HasPrefix(path, "silences/"):
		return http.StatusMethodNotAllowed, Error{Error: method + " is not allowed on v1/" + path +
			" (GET and POST v1/silences, GET and DELETE v1/silences/{id})"}
	}
	return http.StatusMethodNotAllowed, Error{Error: method + " is not allowed on v1/" + path + " (only v1/silences takes changes)"}
}

// silenceID takes the id from the path as the host gives it (already
// decoded: never decode it again).
func silenceID(path string) (string, bool) {
	id := strings.TrimPrefix(path, "silences/")
	return id, id != "" && !strings.Contains(id, "/")
}

// listSilences serves GET silences?status=active|pending|expired.
func (a *API) listSilences(ctx context.Context, q url.Values) (int, any) {
	status := q.Get("status")
	if _, ok := statusOrder[status]; status != "" && !ok {
		return bad("status", "status must be active, pending or expired")
	}
	ss, err := a.st.ListSilences(ctx)
	if err != nil {
		return unavailable(err)
	}
	now := a.clock()
	items := make([]Silence, 0, len(ss))
	for _, s := range ss {
		if w := FromSilence(s, now); status == "" || w.Status == status {
			items = append(items, w)
		}
	}
	slices.SortStableFunc(items, func(x, y Silence) int { return statusOrder[x.Status] - statusOrder[y.Status] })
	return http.StatusOK, struct {
		Items []Silence `json:"items"`
	}{items}
}

// getSilence serves GET silences/{id}, with the alerts it silences now.
func (a *API) getSilence(ctx context.Context, path string) (int, any) {
	id, ok := silenceID(path)
	if !ok {
		return bad("id", "silence id missing")
	}
	s, err := a.st.GetSilence(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("unknown silence " + strconv.Quote(id))
	}
	if err != nil {
		return unavailable(err)
	}
	w := FromSilence(s, a.clock())
	err = a.st.ListBlobs(ctx, store.AlertBlobs, func(bs []store.Blob) error {
		for _, b := range bs {
			var r struct {
				SilencedBy string `json:"silencedBy"`
			}
			if json.Unmarshal(b.Data, &r) == nil && r.SilencedBy == id {
				w.Alerts = append(w.Alerts, b.Key)
			}
		}
		return nil
	})
	if err != nil {
		return unavailable(err)
	}
	return http.StatusOK, w
}

func (a *API) createSilence(ctx context.Context, body []byte) (int, any) {
	if len(body) > alert.MaxSilenceBody {
		return http.StatusRequestEntityTooLarge, Error{Error: "a silence document has at most " +
			strconv.Itoa(alert.MaxSilenceBody) + " bytes", Parameter: "body"}
	}
	s, err := alert.ParseSilence(body, a.clock())
	var fe *alert.FieldError
	if errors.As(err, &fe) {
		return bad(fe.Field, fe.Error())
	}
	if err != nil {
		return bad("body", err.Error())
	}
	if s.ETag, err = a.st.PutSilence(ctx, s); err != nil {
		return unavailable(err)
	}
	return http.StatusCreated, FromSilence(s, a.clock())
}

// expireSilence ends a silence now; expiring an expired one changes
// nothing. A concurrent change (another DELETE) is read again once.
func (a *API) expireSilence(ctx context.Context, id string) (int, any) {
	for attempt := 0; ; attempt++ {
		s, err := a.st.GetSilence(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return notFound("unknown silence " + strconv.Quote(id))
		}
		if err != nil {
			return unavailable(err)
		}
		now := a.clock()
		if !alert.ExpireSilence(&s, now) {
			return http.StatusOK, FromSilence(s, now)
		}
		s.ETag, err = a.st.PutSilence(ctx, s)
		if errors.Is(err, store.ErrConflict) && attempt == 0 {
			continue
		}
		if err != nil {
			return unavailable(err)
		}
		return http.StatusOK, FromSilence(s, now)
	}
}
