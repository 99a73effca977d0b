package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// ---- silences (Table) ----

// Silences live in one partition of their own table: a handful of rows,
// written by the API on any instance (conditionally on their ETag when
// expired), read whole by Evaluate. The row carries End as a property so
// that Purge selects the ended ones without reading the documents.
const (
	tSilence  = "silence"
	silencePK = "s"
)

// silenceDoc is the stored form of a Silence (times in Unix nanoseconds).
type silenceDoc struct {
	ID, Hub, Device, Kind string
	Start, End, Updated   int64
	CreatedBy, Comment    string
}

func silenceEntity(s *Silence) ([]byte, error) {
	doc, err := json.Marshal(silenceDoc{s.ID, s.Hub, s.Device, s.Kind, unixNano(s.StartsAt), unixNano(s.EndsAt),
		unixNano(s.UpdatedAt), s.CreatedBy, s.Comment})
	if err != nil {
		return nil, err
	}
	p := props{"End": unixNano(s.EndsAt)}
	if err := putParts(p, doc); err != nil {
		return nil, err
	}
	return marshalEntity(silencePK, EncodeKey(s.ID), p)
}

func (e *entity) silence() (Silence, error) {
	data, err := e.parts()
	if err != nil {
		return Silence{}, err
	}
	var d silenceDoc
	if err := json.Unmarshal(data, &d); err != nil {
		return Silence{}, fmt.Errorf("store: silence %s: %w", e.RowKey, err)
	}
	return Silence{ID: d.ID, Hub: d.Hub, Device: d.Device, Kind: d.Kind, StartsAt: fromNano(d.Start),
		EndsAt: fromNano(d.End), UpdatedAt: fromNano(d.Updated), CreatedBy: d.CreatedBy, Comment: d.Comment,
		ETag: e.ETag}, nil
}

func checkSilence(s *Silence) error {
	if s.ID == "" {
		return inputErr("store: silence without an ID")
	}
	return nil
}

// PutSilence writes a silence; see SilenceStore.
func (t *Table) PutSilence(ctx context.Context, s Silence) (string, error) {
	if err := checkSilence(&s); err != nil {
		return "", err
	}
	body, err := silenceEntity(&s)
	if err != nil {
		return "", fmt.Errorf("store: put silence %q: %w", s.ID, err)
	}
	var etag azcore.ETag
	err = t.do(ctx, tSilence, func(c *aztables.Client) error {
		if s.ETag == "" {
			resp, err := c.UpsertEntity(ctx, body, &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace})
			etag = resp.ETag
			return err
		}
		m := azcore.ETag(s.ETag)
		resp, err := c.UpdateEntity(ctx, body, &aztables.UpdateEntityOptions{UpdateMode: aztables.UpdateModeReplace, IfMatch: &m})
		etag = resp.ETag
		return err
	})
	if err != nil {
		return "", wrap(ctx, err, "put silence %q", s.ID)
	}
	return string(etag), nil
}

// GetSilence reads one silence; ErrNotFound if absent.
func (t *Table) GetSilence(ctx context.Context, id string) (Silence, error) {
	var s Silence
	err := t.do(ctx, tSilence, func(c *aztables.Client) error {
		resp, err := c.GetEntity(ctx, silencePK, EncodeKey(id), nil)
		if err != nil {
			return err
		}
		e, err := parseEntity(resp.Value)
		if err != nil {
			return err
		}
		e.ETag = string(resp.ETag)
		s, err = e.silence()
		return err
	})
	if err != nil {
		return Silence{}, wrap(ctx, err, "get silence %q", id)
	}
	return s, nil
}

// ListSilences returns every silence, by StartsAt then ID.
func (t *Table) ListSilences(ctx context.Context) ([]Silence, error) {
	var out []Silence
	err := t.query(ctx, tSilence, "PartitionKey eq "+odataString(silencePK), "", 0, func(ents []entity) (bool, error) {
		for i := range ents {
			s, err := ents[i].silence()
			if err != nil {
				return false, err
			}
			out = append(out, s)
		}
		return true, nil
	})
	if err != nil {
		return nil, wrap(ctx, err, "list silences")
	}
	sortSilences(out)
	return out, nil
}

// purgeSilencesFilter selects the silences that ended before `before`.
func purgeSilencesFilter(before time.Time) string {
	return fmt.Sprintf("PartitionKey eq '%s' and End lt %dL", silencePK, unixNano(before))
}

func sortSilences(ss []Silence) {
	slices.SortFunc(ss, func(a, b Silence) int {
		if c := a.StartsAt.Compare(b.StartsAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// ---- silences (Memory) ----

// PutSilence writes a silence; see SilenceStore.
func (m *Memory) PutSilence(ctx context.Context, s Silence) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return "", fmt.Errorf("store: put silence: %w", err)
	}
	if err := checkSilence(&s); err != nil {
		return "", err
	}
	if s.ETag != "" {
		cur, ok := m.silences[s.ID]
		if !ok {
			return "", fmt.Errorf("store: put silence %q: %w", s.ID, ErrNotFound)
		}
		if cur.ETag != s.ETag {
			return "", fmt.Errorf("store: put silence %q: stale ETag: %w", s.ID, ErrConflict)
		}
	}
	s.StartsAt, s.EndsAt, s.UpdatedAt = s.StartsAt.UTC(), s.EndsAt.UTC(), s.UpdatedAt.UTC()
	s.ETag = m.nextETag()
	m.silences[s.ID] = s
	return s.ETag, nil
}

// GetSilence reads one silence; ErrNotFound if absent.
func (m *Memory) GetSilence(ctx context.Context, id string) (Silence, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return Silence{}, fmt.Errorf("store: get silence: %w", err)
	}
	s, ok := m.silences[id]
	if !ok {
		return Silence{}, fmt.Errorf("store: get silence %q: %w", id, ErrNotFound)
	}
	return s, nil
}

// ListSilences returns every silence, by StartsAt then ID.
func (m *Memory) ListSilences(ctx context.Context) ([]Silence, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.check(ctx); err != nil {
		return nil, fmt.Errorf("store: list silences: %w", err)
	}
	out := make([]Silence, 0, len(m.silences))
	for _, s := range m.silences {
		out = append(out, s)
	}
	sortSilences(out)
	return out, nil
}

// purgeSilences removes silences that ended before `before`; callers hold mu.
func (m *Memory) purgeSilences(before time.Time) {
	for id, s := range m.silences {
		if s.EndsAt.Before(before) {
			delete(m.silences, id)
		}
	}
}
