package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"

	"github.com/disconnect-doctor/disconnect-doctor/config"
	"github.com/disconnect-doctor/disconnect-doctor/ingest"
	"github.com/disconnect-doctor/disconnect-doctor/pipeline"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// replayInstance names `replay --into` as a pipeline instance: it holds the
// Evaluate lease under this name while it runs; its writers are
// "replay/<digest>".
const replayInstance = "replay"

// replayInto loads archived resource logs into the live state at storage (a
// STATE_STORAGE value; the other settings, STATE_TABLE_PREFIX included, come
// from the environment as for the app), so that learned token periods and
// hub baselines exist from the first minute after deployment. Each file is
// appended as the ingest functions append a batch, under a writer named after
// its contents' digest (a MetaBlobs row "replay-<digest>" records that it was
// loaded), and the whole is then evaluated to its end with the
// app's own settings (its watermark mode: with wallclock, the alerts the
// archive raises fall due long before the wall clock and are recorded, not
// notified, STALE_AFTER).
//
// Running it twice changes nothing: a file whose digest is recorded as
// loaded is not appended again, and with nothing new nothing is
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
	appended := 0
	for _, f := range files {
		res := &ingest.Result{}
		digest, err := readLogFile(f, res)
		if err != nil {
			return fmt.Errorf("replay --into: %w", err)
		}
		mark := archiveKey(digest)
		switch _, err := st.GetBlob(ctx, store.MetaBlobs, mark); {
		case err == nil:
			fmt.Fprintf(w, "%s: already loaded (%s), not appended again\n", f, mark)
			continue
		case !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("replay --into: %w", err)
		}
		writer := "replay/" + digest[:16]
		res.Batch = digest // a retried append counts once
		if err := p.Ingest(ctx, writer, res); err != nil {
			return fmt.Errorf("replay --into: %s: %w", f, err)
		}
		if err := markLoaded(ctx, st, mark, f, res); err != nil {
			return fmt.Errorf("replay --into: %w", err)
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

// archiveKey names the MetaBlobs row recording that a file with this
// content digest was loaded.
func archiveKey(digest string) string { return "replay-" + digest }

// loadedArchive is what that row holds, for a reader of the store.
type loadedArchive struct {
	File   string    `json:"file"`
	Loaded time.Time `json:"loaded"`
	Read   int       `json:"read"`
	Kept   int       `json:"kept"`
}

// markLoaded records that a file was appended, so that a second run does
// not append it again. It is written after the append: a run that fails in
// between appends the file again next time, which the engine deduplicates.
func markLoaded(ctx context.Context, st store.Store, key, file string, res *ingest.Result) error {
	b, err := json.Marshal(loadedArchive{File: filepath.Base(file), Loaded: time.Now().UTC(), Read: res.Read, Kept: len(res.Events)})
	if err != nil {
		return err
	}
	_, err = st.PutBlobs(ctx, store.MetaBlobs, []store.Blob{{Key: key, Data: b}})
	return err
}
