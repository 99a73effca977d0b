package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/api"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/store"
	"github.com/disconnect-doctor/disconnect-doctor/ui"
)

// Query serves the API (handlers.Backend): the dashboard's pages under
// "ui", the JSON query API otherwise. It reads the store only, so any
// instance answers, whichever runs Evaluate.
func (p *Pipeline) Query(ctx context.Context, path string, q url.Values) (int, any) {
	if t := strings.Trim(path, "/"); t == "ui" || strings.HasPrefix(t, "ui/") {
		return ui.New(p.st, p.now, p.watermark).Serve(ctx, t, q)
	}
	return p.api().Query(ctx, path, q)
}

// Write serves the API's changes (handlers.Backend): silences. Like Query
// it touches the store only, so any instance answers.
func (p *Pipeline) Write(ctx context.Context, method, path string, body []byte) (int, any) {
	return p.api().Write(ctx, method, path, body)
}

func (p *Pipeline) api() *api.API {
	a := api.New(p.st, p.deviceAlerts, p.watermark).WithPipeline(p.pipelineHealth)
	a.Now = p.now
	return a
}

// deviceAlerts returns the alert records of a device, one per device alert
// kind that has one.
func (p *Pipeline) deviceAlerts(ctx context.Context, k event.Key) ([]any, error) {
	var out []any
	for _, kind := range []classify.SignalKind{classify.TokenRenewalFailing, classify.DeviceOffline, classify.DeviceFlapping} {
		s := classify.Signal{Kind: kind, Key: k}
		b, err := p.st.GetBlob(ctx, store.AlertBlobs, s.AlertKey())
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("pipeline: alert %s: %w", s.AlertKey(), err)
		}
		var rec json.RawMessage = b.Data
		out = append(out, rec)
	}
	return out, nil
}

// watermark returns the watermark of the last committed Evaluate.
func (p *Pipeline) watermark(ctx context.Context) (time.Time, error) {
	b, err := p.st.GetBlob(ctx, store.MetaBlobs, metaKey)
	if errors.Is(err, store.ErrNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("pipeline: meta: %w", err)
	}
	var m meta
	if err := json.Unmarshal(b.Data, &m); err != nil {
		return time.Time{}, fmt.Errorf("pipeline: decode meta: %w", err)
	}
	return m.Watermark, nil
}
