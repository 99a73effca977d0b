package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/api"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// allDiagnoses reads every diagnosis of the store, page by page.
func allDiagnoses(ctx context.Context, st store.Store) ([]classify.Diagnosis, error) {
	var out []classify.Diagnosis
	q := store.DiagnosisQuery{Limit: api.MaxLimit}
	for {
		ds, next, err := st.ListDiagnoses(ctx, q)
		if err != nil {
			return nil, err
		}
		out = append(out, ds...)
		if next == "" {
			return out, nil
		}
		q.Cursor = next
	}
}

// causeOrder lists causes in the order reports show them.
var causeOrder = []classify.Cause{classify.TokenExpiry, classify.TokenRenewalFailed, classify.DeviceOrNetwork,
	classify.DuplicateIdentity, classify.HubTransient, classify.Pending}

// sortedCauses returns the causes present in counts, known ones first.
func sortedCauses(counts map[classify.Cause]int) []classify.Cause {
	var out []classify.Cause
	seen := map[classify.Cause]bool{}
	for _, c := range causeOrder {
		if counts[c] > 0 {
			out = append(out, c)
			seen[c] = true
		}
	}
	var rest []classify.Cause
	for c := range counts {
		if !seen[c] && counts[c] > 0 {
			rest = append(rest, c)
		}
	}
	sort.Slice(rest, func(i, j int) bool { return rest[i] < rest[j] })
	return append(out, rest...)
}

// DeviceRow is one device of a replay report.
type DeviceRow struct {
	Hub         string         `json:"hub"`
	DeviceID    string         `json:"deviceId"`
	ModuleID    string         `json:"moduleId,omitempty"`
	Disconnects int            `json:"disconnects"`
	Causes      map[string]int `json:"causes"`
	Last        string         `json:"last"`
	LastCause   string         `json:"lastCause"`
}

// deviceRows groups diagnoses per device, most disconnects first.
func deviceRows(ds []classify.Diagnosis) []DeviceRow {
	rows := map[event.Key]*DeviceRow{}
	last := map[event.Key]time.Time{}
	for _, d := range ds {
		r := rows[d.Key]
		if r == nil {
			r = &DeviceRow{Hub: d.Key.Hub, DeviceID: d.Key.Device, ModuleID: d.Key.Module, Causes: map[string]int{}}
			rows[d.Key] = r
		}
		r.Disconnects++
		r.Causes[string(d.Cause)]++
		if d.Time.After(last[d.Key]) {
			last[d.Key] = d.Time
			r.Last = d.Time.UTC().Format(time.RFC3339)
			r.LastCause = string(d.Cause)
		}
	}
	out := make([]DeviceRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, *r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Disconnects != out[j].Disconnects {
			return out[i].Disconnects > out[j].Disconnects
		}
		if out[i].Hub != out[j].Hub {
			return out[i].Hub < out[j].Hub
		}
		return out[i].DeviceID+"/"+out[i].ModuleID < out[j].DeviceID+"/"+out[j].ModuleID
	})
	return out
}

// printCauses writes the per-cause table.
func printCauses(w io.Writer, ds []classify.Diagnosis) {
	counts := map[classify.Cause]int{}
	for _, d := range ds {
		counts[d.Cause]++
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "cause\tseed\tdisconnects\tshare")
	for _, c := range sortedCauses(counts) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f%%\n", c, c.SeedCause(), counts[c], 100*float64(counts[c])/float64(max(len(ds), 1)))
	}
	fmt.Fprintf(tw, "total\t\t%d\t\n", len(ds))
	tw.Flush()
}

// printIncidents writes the incidents table.
func printIncidents(w io.Writer, is []classify.Incident) {
	if len(is) == 0 {
		fmt.Fprintln(w, "no hub incidents")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "incident\tstatus\tstart\tend\tdevices\thub errors\tmetric alert")
	for _, in := range is {
		a := api.FromIncident(in)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%v\n", a.ID, a.Status, a.StartsAt, a.EndsAt, a.Devices, a.HubErrors, a.Metric)
	}
	tw.Flush()
}

// printDevices writes the per-device table (at most limit rows; 0 = all).
func printDevices(w io.Writer, rows []DeviceRow, limit int) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "hub\tdevice\tdisconnects\tcauses\tlast\tlast cause")
	for i, r := range rows {
		if limit > 0 && i == limit {
			fmt.Fprintf(tw, "…and %d more devices\t\t\t\t\t\n", len(rows)-limit)
			break
		}
		id := r.DeviceID
		if r.ModuleID != "" {
			id += "/" + r.ModuleID
		}
		var parts []string
		counts := map[classify.Cause]int{}
		for c, n := range r.Causes {
			counts[classify.Cause(c)] = n
		}
		for _, c := range sortedCauses(counts) {
			parts = append(parts, fmt.Sprintf("%s %d", c, counts[c]))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", r.Hub, id, r.Disconnects, strings.Join(parts, ", "), r.Last, r.LastCause)
	}
	tw.Flush()
}
