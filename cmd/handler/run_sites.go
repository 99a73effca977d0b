package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/site"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// runSites reads the site outages the run found (package site's hub
// blobs), by hub and start.
func runSites(ctx context.Context, st store.Store) ([]site.Outage, error) {
	var out []site.Outage
	err := st.ListBlobs(ctx, store.MetaBlobs, func(bs []store.Blob) error {
		for _, b := range bs {
			if !strings.HasPrefix(b.Key, site.HubPrefix) {
				continue
			}
			var h site.Hub
			if err := json.Unmarshal(b.Data, &h); err != nil {
				return fmt.Errorf("run: site state %s: %w", b.Key, err)
			}
			for _, o := range h.Outages {
				out = append(out, *o)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("run: list site outages: %w", err)
	}
	return out, nil
}

// printSites writes the site outage table of the run's report.
func printSites(w io.Writer, os []site.Outage) {
	if len(os) == 0 {
		fmt.Fprintln(w, "no site outages")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "site outage\tstatus\tstart\tend\tdevices\tstill away")
	for _, o := range os {
		end := ""
		if !o.Open {
			end = time.Unix(o.End, 0).UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\n", o.ID, o.Status(), time.Unix(o.Start, 0).UTC().Format(time.RFC3339), end, o.Devices, o.Away)
	}
	tw.Flush()
}
