package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/disconnect-doctor/disconnect-doctor/config"
	"github.com/disconnect-doctor/disconnect-doctor/ingest"
	"github.com/disconnect-doctor/disconnect-doctor/pipeline"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// replayInstance names `replay --into` as a pipeline instance: it holds the
// Evaluate lease under this name while it runs, and its progress rows are
// "replay/<digest>@replay".
const replayInstance = "replay"

// replayInto loads archived resource logs into the live state at storage (a
// STATE_STORAGE value; the other settings, STATE_TABLE_PREFIX included, come
// from the environment as for the app), so that learned token periods and
// hub baselines exist from the first minute after deployment. Each file is
// appended as the ingest functions append a batch, under a writer named after
// its contents' digest, and the whole is then evaluated to its end with the
// app's own settings (its watermark mode: with wallclock, the alerts the
// archive raises fall due long before the wall clock and are recorded, not
// notified, STALE_AFTER).
//
// Running it twice changes nothing: a file whose digest already has its
// progress row is not appended again, and with nothing new nothing is
// evaluated. Records older than RETENTION are loaded and then removed by
// retention straight away (the output says so): load the recent archive. Run it before the app starts consuming (or on an
// archive that ends before the live stream begins): the evaluation treats
// what it loaded as complete.
func replayInto(ctx context.Context, storage string, files []string, w io.Writer) error {
	getenv := func(k string) string {
		if k == "STATE_STORAGE" {
			return storage
		}
		return os.Getenv(k)
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	st, desc, err := store.Open(ctx, getenv, store.OpenOptions{})
	if err != nil {
		return fmt.Errorf("replay --into: %w", err)
	}
	defer st.Close()
	p, err := pipeline.New(pipeline.Options{Config: cfg, Store: st, ReadSafety: -1, Log: zerolog.Nop(), Instance: replayInstance})
	if err != nil {
		return err
	}
	loaded, err := loadedArchives(ctx, st)
	if err != nil {
		return fmt.Errorf("replay --into: %w", err)
	}
	appended := 0
	for _, f := range files {
		res := &ingest.Result{}
		digest, err := readLogFile(f, res)
		if err != nil {
			return fmt.Errorf("replay --into: %w", err)
		}
		writer := "replay/" + digest[:16]
		if loaded[writer+"@"+replayInstance] {
			fmt.Fprintf(w, "%s: already loaded (%s), not appended again\n", f, writer)
			continue
		}
		if err := p.Ingest(ctx, writer, res); err != nil {
			return fmt.Errorf("replay --into: %s: %w", f, err)
		}
		appended++
		fmt.Fprintf(w, "%s: %s\n", f, res.Summary())
		for _, pr := range res.Problems {
			fmt.Fprintln(w, "  problem:", pr)
		}
		if old := time.Now().Add(-cfg.Engine.Retention); !res.Newest.IsZero() && res.Newest.Before(old) {
			fmt.Fprintf(w, "  note: its newest record (%s) is older than RETENTION: retention removes it at once\n", res.Newest.Format(time.RFC3339))
		}
	}
	if appended == 0 {
		fmt.Fprintln(w, "nothing new to load: the state is unchanged")
		return nil
	}
	rep, err := p.Drain(ctx, cfg.Engine.ReconnectGrace+cfg.Engine.OfflineAfter)
	if err != nil {
		return fmt.Errorf("replay --into: %w", err)
	}
	if rep.Skipped != "" {
		return errors.New("replay --into: the files are stored, but the live app's Evaluate holds its lease: run the command again once it is stopped (a few minutes)")
	}
	if err := p.ReleaseLease(ctx); err != nil {
		return fmt.Errorf("replay --into: %w", err)
	}
	fmt.Fprintf(w, "loaded into %s: %s\n", desc, rep)
	return nil
}

// loadedArchives returns the progress rows of files loaded before.
func loadedArchives(ctx context.Context, st store.Store) (map[string]bool, error) {
	prog, err := st.ListProgress(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(prog))
	for _, pr := range prog {
		out[pr.Writer] = true
	}
	return out, nil
}
