package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// WriteFiles writes out under dir in the shapes `handler simulate` and
// `handler replay` read:
//
//	eventhub/NNNNN.json      one resource-log Event Hubs body per file, arrival order
//	eventhub/index.json      enqueued time and partition of each body
//	eventgrid/NNNNN.json     one Event Grid delivery per file, arrival order
//	metricalerts/NNNNN.json  one metric-alert webhook body per file
//	diagnostics/y=YYYY/m=MM/d=DD/h=HH/m=00/PT1H.json
//	                         the delivered records as a storage-account archive
//	                         writes them: JSON lines, one file per hour
//	truth.json               Truth, Incidents, Expect, Stats and Sites
func WriteFiles(dir string, out *Output) error {
	type indexEntry struct {
		File      string    `json:"file"`
		Enqueued  time.Time `json:"enqueued"`
		Partition string    `json:"partition,omitempty"`
	}
	writeSet := func(sub string, msgs []Message) error {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return fmt.Errorf("sim: write files: %w", err)
		}
		idx := make([]indexEntry, 0, len(msgs))
		for i, m := range msgs {
			name := fmt.Sprintf("%05d.json", i+1)
			if err := os.WriteFile(filepath.Join(dir, sub, name), m.Body, 0o644); err != nil {
				return fmt.Errorf("sim: write %s/%s: %w", sub, name, err)
			}
			idx = append(idx, indexEntry{File: name, Enqueued: m.Enqueued, Partition: m.Partition})
		}
		b, err := json.MarshalIndent(idx, "", " ")
		if err != nil {
			return fmt.Errorf("sim: index %s: %w", sub, err)
		}
		if err := os.WriteFile(filepath.Join(dir, sub, "index.json"), b, 0o644); err != nil {
			return fmt.Errorf("sim: write %s index: %w", sub, err)
		}
		return nil
	}
	if err := writeSet("eventhub", out.Diagnostics); err != nil {
		return err
	}
	if err := writeSet("eventgrid", out.EventGrid); err != nil {
		return err
	}
	if err := writeSet("metricalerts", out.MetricAlerts); err != nil {
		return err
	}
	if err := writeArchive(filepath.Join(dir, "diagnostics"), out.Diagnostics); err != nil {
		return err
	}
	truth := struct {
		Truth     []Truth         `json:"truth"`
		Incidents []TruthIncident `json:"incidents"`
		Expect    []TruthAlert    `json:"expect"`
		Stats     Stats           `json:"stats"`
		Sites     []TruthSite     `json:"sites"`
	}{out.Truth, out.Incidents, out.Expect, out.Stats, out.Sites}
	b, err := json.MarshalIndent(truth, "", " ")
	if err != nil {
		return fmt.Errorf("sim: truth: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "truth.json"), b, 0o644); err != nil {
		return fmt.Errorf("sim: write truth: %w", err)
	}
	return nil
}

// writeArchive writes the records of the bodies as JSON lines into hourly
// PT1H.json files (the hour of each record's time), in arrival order.
func writeArchive(dir string, msgs []Message) error {
	files := map[string]*bytes.Buffer{}
	for i, m := range msgs {
		var body struct {
			Records []json.RawMessage `json:"records"`
		}
		if err := json.Unmarshal(m.Body, &body); err != nil {
			return fmt.Errorf("sim: archive body %d: %w", i, err)
		}
		for _, rec := range body.Records {
			var head struct {
				Time time.Time `json:"time"`
			}
			if err := json.Unmarshal(rec, &head); err != nil {
				return fmt.Errorf("sim: archive body %d: %w", i, err)
			}
			h := head.Time.UTC()
			p := fmt.Sprintf("y=%04d/m=%02d/d=%02d/h=%02d/m=00/PT1H.json", h.Year(), h.Month(), h.Day(), h.Hour())
			buf := files[p]
			if buf == nil {
				buf = &bytes.Buffer{}
				files[p] = buf
			}
			var c bytes.Buffer
			if err := json.Compact(&c, rec); err != nil {
				return fmt.Errorf("sim: archive body %d: %w", i, err)
			}
			buf.Write(c.Bytes())
			buf.WriteByte('\n')
		}
	}
	names := make([]string, 0, len(files))
	for p := range files {
		names = append(names, p)
	}
	slices.Sort(names)
	for _, p := range names {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return fmt.Errorf("sim: archive: %w", err)
		}
		if err := os.WriteFile(full, files[p].Bytes(), 0o644); err != nil {
			return fmt.Errorf("sim: archive %s: %w", p, err)
		}
	}
	return nil
}
