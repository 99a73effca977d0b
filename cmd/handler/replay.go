package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/rs/zerolog"

	"github.com/disconnect-doctor/disconnect-doctor/api"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/config"
	"github.com/disconnect-doctor/disconnect-doctor/ingest"
	"github.com/disconnect-doctor/disconnect-doctor/pipeline"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// replayReport is the --json output of replay.
type replayReport struct {
	Files     int             `json:"files"`
	Read      int             `json:"recordsRead"`
	Kept      int             `json:"recordsKept"`
	Ignored   int             `json:"recordsIgnored"`
	Skipped   map[string]int  `json:"recordsSkipped"`
	Problems  []string        `json:"problems"`
	Causes    map[string]int  `json:"causes"`
	Devices   []DeviceRow     `json:"devices"`
	Incidents []api.Incident  `json:"incidents"`
	Diagnoses []api.Diagnosis `json:"diagnoses"`
}

// replay classifies exported resource logs offline and prints a report.
func replay(ctx context.Context, args []string, w io.Writer) error {
	fset := flag.NewFlagSet("replay", flag.ContinueOnError)
	asJSON := fset.Bool("json", false, "print the report as JSON")
	top := fset.Int("devices", 30, "devices listed in the table (0: all)")
	into := fset.String("into", "", "load the files into the live state at this STATE_STORAGE value (a storage connection string, or UseDevelopmentStorage=true) instead of reporting")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if fset.NArg() == 0 {
		return errors.New("replay: name at least one file or folder")
	}
	files, err := inputFiles(fset.Args())
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	if *into != "" {
		return replayInto(ctx, *into, files, w)
	}
	res := &ingest.Result{}
	for _, f := range files {
		if _, err := readLogFile(f, res); err != nil {
			return fmt.Errorf("replay: %w", err)
		}
	}
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		return err
	}
	// Exported logs may be years old: judge them on event time.
	cfg.Engine.Mode = classify.EventTime
	st := store.NewMemory()
	p, err := pipeline.New(pipeline.Options{Config: cfg, Store: st, ReadSafety: -1, Log: zerolog.Nop()})
	if err != nil {
		return err
	}
	if err := p.Ingest(ctx, "replay", res); err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	if _, err := p.Drain(ctx, cfg.Engine.ReconnectGrace+cfg.Engine.OfflineAfter); err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	ds, err := allDiagnoses(ctx, st)
	if err != nil {
		return err
	}
	is, err := st.ListIncidents(ctx, "", nil)
	if err != nil {
		return err
	}
	if *asJSON {
		rep := replayReport{Files: len(files), Read: res.Read, Kept: len(res.Events), Ignored: res.Ignored,
			Skipped: res.Skipped, Problems: res.Problems, Causes: map[string]int{}, Devices: deviceRows(ds),
			Incidents: make([]api.Incident, len(is)), Diagnoses: make([]api.Diagnosis, len(ds))}
		if rep.Skipped == nil {
			rep.Skipped = map[string]int{}
		}
		if rep.Problems == nil {
			rep.Problems = []string{}
		}
		for i, d := range ds {
			rep.Causes[string(d.Cause)]++
			rep.Diagnoses[i] = api.FromDiagnosis(d)
		}
		for i, in := range is {
			rep.Incidents[i] = api.FromIncident(in)
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(rep)
	}
	fmt.Fprintf(w, "%d files: %s\n", len(files), res.Summary())
	for _, pr := range res.Problems {
		fmt.Fprintln(w, "  problem:", pr)
	}
	fmt.Fprintln(w)
	printCauses(w, ds)
	fmt.Fprintln(w)
	printIncidents(w, is)
	fmt.Fprintln(w)
	printDevices(w, deviceRows(ds), *top)
	return nil
}

// inputFiles expands folders into the regular files below them, sorted.
func inputFiles(args []string) ([]string, error) {
	var files []string
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			files = append(files, a)
			continue
		}
		var found []string
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() {
				found = append(found, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	return files, nil
}

// readLogFile parses one file whatever its layout (ingest.ResourceLogFile:
// JSON lines, pretty-printed objects, {"records":[…]} bodies, arrays, Event
// Hubs Capture files) and returns the SHA-256 of its contents, hex.
func readLogFile(name string, res *ingest.Result) (digest string, err error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if err := ingest.ResourceLogFile(io.TeeReader(f, h), name, res); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
