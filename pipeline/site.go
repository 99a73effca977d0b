package pipeline

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/site"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// The site outage detector's MetaBlobs keys: site.HubPrefix+hub holds a
// hub's outages (site.BlobKey, read by the API), site.RowPrefix+hub/device
// one device's row — so that no blob grows with the devices of an outage.
const (
	sitePrefix    = site.HubPrefix
	siteDevPrefix = site.RowPrefix
)

// siteSignals runs the site outage rule on this tick's diagnoses: it opens
// and resolves outages (their signals are returned), names the outage in
// its members' diagnoses (those of earlier ticks are added to out again),
// and marks the device signals of sigs it holds back.
func (p *Pipeline) siteSignals(wm time.Time, out *classify.Output, sigs []classify.Signal) []classify.Signal {
	st := p.res.site
	found := site.Tick(p.cfg.Site, st, site.Input{Watermark: wm, Diagnoses: out.Diagnoses})
	out.Diagnoses = append(out.Diagnoses, found.Diagnoses...)
	site.Hold(st, sigs)
	return found.Signals
}

// loadSite reads the detector's blobs. An unreadable one is dropped and
// logged (that hub's outages are found again), never fatal.
func (p *Pipeline) loadSite(ctx context.Context) (*site.State, error) {
	st := site.NewState()
	err := p.st.ListBlobs(ctx, store.MetaBlobs, func(bs []store.Blob) error {
		for _, b := range bs {
			var err error
			if hub, ok := strings.CutPrefix(b.Key, sitePrefix); ok {
				err = st.LoadHub(hub, b.Data)
			} else if rest, ok := strings.CutPrefix(b.Key, siteDevPrefix); ok {
				hub, dev, _ := strings.Cut(rest, "/")
				err = st.LoadMember(hub, dev, b.Data)
			}
			if err != nil {
				p.log.Error().Str("key", b.Key).Err(err).Msg("dropping unreadable state")
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pipeline: load site: %w", err)
	}
	st.Changes()
	return st, nil
}

// stageSite adds the hubs and device rows that changed to b, and the
// dropped rows to its deletes: at a commit, or at once when an outage
// changed. Device rows follow every connect and disconnect of a device in
// an outage's network and are state like the engine's, rebuilt from the
// events after the last commit; the outages carry alerts.
func (p *Pipeline) stageSite(b *rowBatch, commit bool) error {
	st := p.res.site
	if !commit && !st.HubsChanged() {
		return nil
	}
	hubs, rows, gone := st.Changes()
	for _, g := range gone {
		b.del(siteDevPrefix + g[0] + "/" + g[1])
	}
	for _, h := range hubs {
		data, err := st.MarshalHub(h)
		if err != nil {
			return fmt.Errorf("pipeline: %w", err)
		}
		b.put(site.BlobKey(h), data)
	}
	for _, r := range rows {
		data, err := st.MarshalMember(r[0], r[1])
		if err != nil {
			return fmt.Errorf("pipeline: %w", err)
		}
		b.put(siteDevPrefix+r[0]+"/"+r[1], data)
	}
	return nil
}
