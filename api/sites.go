package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/site"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// Site is one network location of a hub with its site outages (package
// site), newest first: the answer items of GET v1/sites.
type Site struct {
	Hub     string       `json:"hub"`
	Network string       `json:"network"`
	Outages []SiteOutage `json:"outages"`
}

// SiteOutage is one site outage in its wire form.
type SiteOutage struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	StartsAt string `json:"startsAt"`
	EndsAt   string `json:"endsAt"`
	Devices  int    `json:"devices"`
	Away     int    `json:"away"`
	Summary  string `json:"summary"`
}

// sites serves GET v1/sites?hub=&status=: the hub's sites (every hub's
// without hub) with their open and recent outages.
func (a *API) sites(ctx context.Context, q url.Values) (int, any) {
	hub := strings.ToLower(q.Get("hub"))
	status := q.Get("status")
	if status != "" && status != "open" && status != "resolved" {
		return bad("status", "status must be open or resolved")
	}
	hubs, err := a.siteHubs(ctx, hub)
	if err != nil {
		return unavailable(err)
	}
	if hub != "" && hubs == nil {
		known, err := a.knownHub(ctx, hub)
		if err != nil {
			return unavailable(err)
		}
		if !known {
			return notFound("unknown hub " + strconv.Quote(hub))
		}
	}
	items := []Site{}
	for _, name := range sortedHubs(hubs) {
		items = append(items, sitesOf(name, hubs[name], status)...)
	}
	return http.StatusOK, struct {
		Items []Site `json:"items"`
	}{items}
}

// siteHubs reads the site state of one hub, or of every hub.
func (a *API) siteHubs(ctx context.Context, hub string) (map[string]*site.Hub, error) {
	if hub != "" {
		b, err := a.st.GetBlob(ctx, store.MetaBlobs, site.BlobKey(hub))
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		h, err := decodeSiteHub(b.Data)
		if err != nil {
			return nil, err
		}
		return map[string]*site.Hub{hub: h}, nil
	}
	hubs := map[string]*site.Hub{}
	err := a.st.ListBlobs(ctx, store.MetaBlobs, func(bs []store.Blob) error {
		for _, b := range bs {
			name, ok := strings.CutPrefix(b.Key, site.HubPrefix)
			if !ok {
				continue
			}
			h, err := decodeSiteHub(b.Data)
			if err != nil {
				return err
			}
			hubs[name] = h
		}
		return nil
	})
	return hubs, err
}

func decodeSiteHub(data []byte) (*site.Hub, error) {
	var h site.Hub
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("api: site state: %w", err)
	}
	return &h, nil
}

func sortedHubs(m map[string]*site.Hub) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// sitesOf groups a hub's outages by network, newest outage first.
func sitesOf(hub string, h *site.Hub, status string) []Site {
	by := map[string]*Site{}
	var order []string
	for i := len(h.Outages) - 1; i >= 0; i-- {
		o := h.Outages[i]
		if status != "" && o.Status() != status {
			continue
		}
		s := by[o.Network]
		if s == nil {
			s = &Site{Hub: hub, Network: o.Network + ".x"}
			by[o.Network] = s
			order = append(order, o.Network)
		}
		w := SiteOutage{ID: o.ID, Status: o.Status(), StartsAt: unixRFC3339(o.Start), Devices: o.Devices, Away: o.Away,
			Summary: o.Summary()}
		if !o.Open {
			w.EndsAt = unixRFC3339(o.End)
		}
		s.Outages = append(s.Outages, w)
	}
	out := make([]Site, 0, len(order))
	for _, n := range order {
		out = append(out, *by[n])
	}
	return out
}

func unixRFC3339(u int64) string { return time.Unix(u, 0).UTC().Format(time.RFC3339) }
