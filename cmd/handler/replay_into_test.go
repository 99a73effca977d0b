package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2/ocf"

	"github.com/disconnect-doctor/disconnect-doctor/config"
	"github.com/disconnect-doctor/disconnect-doctor/ingest"
	"github.com/disconnect-doctor/disconnect-doctor/internal/azurite"
	"github.com/disconnect-doctor/disconnect-doctor/pipeline"
	"github.com/disconnect-doctor/disconnect-doctor/sim"
	"github.com/disconnect-doctor/disconnect-doctor/store"
	"github.com/rs/zerolog"
)

// labFile is the two records of Microsoft's IoT Hub monitoring lab, as the
// lab tells readers to view them (VS Code "Format Document").
const labFile = "../../ingest/testdata/stream/lab17_formatted.json"

// TestReplayLabRecordsFormatted (issue 14 item 5): the lab's .NET device's
// deviceConnect and its 404104, pretty-printed one after another, are read
// (the old replay rejected every line as bad JSON) and diagnosed.
func TestReplayLabRecordsFormatted(t *testing.T) {
	r := replayJSON(t, labFile)
	if r.Read != 2 || r.Kept != 2 || len(r.Problems) != 0 {
		t.Fatalf("read %d kept %d problems %q", r.Read, r.Kept, r.Problems)
	}
	if len(r.Diagnoses) != 1 || r.Diagnoses[0].DeviceID != "sensor-th-2001" || r.Diagnoses[0].Hub != "iot-training-dm092121" || r.Diagnoses[0].Cause == "pending" {
		t.Errorf("diagnoses %+v", r.Diagnoses)
	}
}

// captureRecord is a whole Event Hubs Capture record (ingest.CaptureSchema).
type captureRecord struct {
	SequenceNumber   int64          `avro:"SequenceNumber"`
	Offset           string         `avro:"Offset"`
	EnqueuedTimeUtc  string         `avro:"EnqueuedTimeUtc"`
	SystemProperties map[string]any `avro:"SystemProperties"`
	Properties       map[string]any `avro:"Properties"`
	Body             []byte         `avro:"Body"`
}

// writeCaptureFile writes the fleet's diagnostic bodies of one partition as
// Event Hubs Capture does: an Avro container of EventData records, built
// with the Avro library's own writer.
func writeCaptureFile(t *testing.T, path string, msgs []sim.Message) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	enc, err := ocf.NewEncoder(ingest.CaptureSchema, f, ocf.WithCodec(ocf.Deflate))
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range msgs {
		err := enc.Encode(captureRecord{
			SequenceNumber:   int64(i),
			Offset:           fmt.Sprint(i * 4096),
			EnqueuedTimeUtc:  m.Enqueued.UTC().Format("1/2/2006 3:04:05 PM"),
			SystemProperties: map[string]any{"x-opt-sequence-number": int64(i), "x-opt-enqueued-time": m.Enqueued.UnixMilli()},
			Properties:       map[string]any{},
			Body:             m.Body,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestReplayCaptureFiles: Capture files of the simulated stream give the
// report the same stream gives as Event Hubs bodies.
func TestReplayCaptureFiles(t *testing.T) {
	dir := t.TempDir()
	c := sim.DefaultConfig(5)
	c.Devices, c.Duration = 80, 2*time.Hour
	fleet := sim.Generate(c)
	if err := sim.WriteFiles(dir, fleet); err != nil {
		t.Fatal(err)
	}
	byPartition := map[string][]sim.Message{}
	for _, m := range fleet.Diagnostics {
		byPartition[m.Partition] = append(byPartition[m.Partition], m)
	}
	capDir := filepath.Join(dir, "capture")
	for p, msgs := range byPartition {
		sub := filepath.Join(capDir, "ns", "insights-logs-connections", p, "2024", "05", "14")
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		writeCaptureFile(t, filepath.Join(sub, "06.avro"), msgs)
	}
	bodies, _ := filepath.Glob(filepath.Join(dir, "eventhub", "[0-9]*.json"))
	fromBodies := replayJSON(t, bodies...)
	fromCapture := replayJSON(t, capDir)
	if len(fromBodies.Diagnoses) == 0 || fromCapture.Read != fromBodies.Read || fromCapture.Kept != fromBodies.Kept {
		t.Fatalf("capture read %d kept %d, bodies read %d kept %d (%d diagnoses)", fromCapture.Read, fromCapture.Kept,
			fromBodies.Read, fromBodies.Kept, len(fromBodies.Diagnoses))
	}
	if !reflect.DeepEqual(fromBodies.Diagnoses, fromCapture.Diagnoses) || !reflect.DeepEqual(fromBodies.Incidents, fromCapture.Incidents) {
		t.Error("capture files and bodies give different diagnoses or incidents")
	}
}

// stateSnapshot is what `replay --into` leaves in the store that the app
// reads: diagnoses, incidents, ingest progress, the engine's device and hub
// state and the alert state, as comparable JSON.
func stateSnapshot(t *testing.T, st store.Store) map[string]string {
	t.Helper()
	ctx := context.Background()
	snap := map[string]string{}
	ds, err := allDiagnoses(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(ds)
	snap["diagnoses"] = string(b)
	is, err := st.ListIncidents(ctx, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = json.Marshal(is)
	snap["incidents"] = string(b)
	prog, err := st.ListProgress(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(prog, func(i, j int) bool { return prog[i].Writer < prog[j].Writer })
	for i := range prog {
		prog[i].Updated = time.Time{} // the wall clock of the append
	}
	b, _ = json.Marshal(prog)
	snap["progress"] = string(b)
	// What the API shows of each device: timeline, learned token period
	// (its alert states are the alert blobs, compared on their own: resolved
	// alerts are dropped by the next tick after a while, on the wall clock).
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	q, err := pipeline.New(pipeline.Options{Config: cfg, Store: st, Log: zerolog.Nop(), Instance: "query"})
	if err != nil {
		t.Fatal(err)
	}
	var views []string
	for _, d := range fleetDevices(t, snap["diagnoses"]) {
		status, body := q.Query(ctx, "devices/"+d.device, url.Values{"hub": {d.hub}})
		b, _ := json.Marshal(body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		delete(m, "alerts")
		b, _ = json.Marshal(m)
		views = append(views, fmt.Sprintf("%d %s", status, b))
	}
	snap["devices api"] = strings.Join(views, "\n")
	for _, kind := range []store.BlobKind{store.DeviceBlobs, store.HubBlobs, store.AlertBlobs} {
		var keys []string
		err := st.ListBlobs(ctx, kind, func(bs []store.Blob) error {
			for _, bl := range bs {
				keys = append(keys, bl.Key+"="+string(bl.Data))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		sort.Strings(keys)
		snap[string(kind)] = strings.Join(keys, "\n")
	}
	return snap
}

// TestReplayIntoAzurite (issue 14 item 5): `replay --into` loads an archive
// into Table storage so that the app starts with learned token periods and
// hub baselines; alerts the history raises are recorded, never queued to be
// sent; running it twice leaves the same state, and the Evaluate lease is
// free for the app afterwards.
func TestReplayIntoAzurite(t *testing.T) {
	srv := azurite.Start(t, azurite.Options{})
	t.Setenv("STATE_TABLE_PREFIX", srv.Prefix())
	dir := t.TempDir()
	c := sim.DefaultConfig(11)
	// Yesterday's archive: within RETENTION, as a team would load it before
	// deploying.
	c.Devices, c.Duration = 60, 4*time.Hour
	c.Start = time.Now().UTC().Add(-30 * time.Hour).Truncate(time.Hour)
	if err := sim.WriteFiles(dir, sim.Generate(c)); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "diagnostics")
	ctx := context.Background()
	var out bytes.Buffer
	if err := replay(ctx, []string{"--into", srv.ConnString(), archive}, &out); err != nil {
		t.Fatalf("replay --into: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "loaded into") {
		t.Errorf("output:\n%s", out.String())
	}
	if strings.Contains(out.String(), "AccountKey") {
		t.Error("the connection string reached the output")
	}
	getenv := func(k string) string {
		if k == "STATE_STORAGE" {
			return srv.ConnString()
		}
		return os.Getenv(k)
	}
	st, _, err := store.Open(ctx, getenv, store.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	first := stateSnapshot(t, st)
	if first["diagnoses"] == "null" || first[string(store.HubBlobs)] == "" {
		t.Fatalf("nothing loaded: %v", first)
	}

	// Twice: the same state.
	out.Reset()
	if err := replay(ctx, []string{"--into", srv.ConnString(), archive}, &out); err != nil {
		t.Fatalf("second replay --into: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "already loaded") {
		t.Errorf("second run output:\n%s", out.String())
	}
	second := stateSnapshot(t, st)
	for k := range first {
		if first[k] != second[k] {
			t.Errorf("%s changed on the second run:\n%.2000s\n---\n%.2000s", k, first[k], second[k])
		}
	}

	// The same records again in another layout (the Event Hubs bodies the
	// archive was written from) are appended again, and deduplicated: the
	// diagnoses and the engine's state do not change.
	out.Reset()
	if err := replay(ctx, []string{"--into", srv.ConnString(), filepath.Join(dir, "eventhub")}, &out); err != nil {
		t.Fatalf("replay --into of the bodies: %v\n%s", err, out.String())
	}
	third := stateSnapshot(t, st)
	for _, k := range []string{"diagnoses", "incidents", "devices api", string(store.HubBlobs)} {
		if a, b := firstDiff(first[k], third[k]); a != b {
			t.Errorf("%s changed when the same records came again as bodies:\n%s\n---\n%s", k, a, b)
		}
	}

	// The app, started on this store, knows learned token periods at once.
	cfg, err := config.Load(getenv)
	if err != nil {
		t.Fatal(err)
	}
	app, err := pipeline.New(pipeline.Options{Config: cfg, Store: st, Log: zerolog.Nop(), Instance: "app"})
	if err != nil {
		t.Fatal(err)
	}
	learned := 0
	for _, d := range fleetDevices(t, first["diagnoses"]) {
		status, body := app.Query(ctx, "devices/"+d.device, url.Values{"hub": {d.hub}})
		b, _ := json.Marshal(body)
		if status == 200 && strings.Contains(string(b), `"tokenPeriod":"`) {
			learned++
		}
	}
	if learned == 0 {
		t.Error("no device has a learned token period after the archive was loaded")
	}
	// History is recorded, not sent.
	items, err := st.ListItems(ctx, time.Time{}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.State == store.OutboxPending {
			t.Errorf("a notification of the archive is queued to be sent: %s", it.ID)
		}
	}
	// The lease was released: the app evaluates at once.
	if rep, err := app.Tick(ctx); err != nil || rep.Skipped != "" {
		t.Errorf("app tick after replay: %v %q", err, rep.Skipped)
	}
}

// deviceRef is a hub and device named in the diagnoses.
type deviceRef struct{ hub, device string }

// fleetDevices returns the distinct devices of a diagnoses snapshot.
func fleetDevices(t *testing.T, diagnoses string) []deviceRef {
	var ds []struct {
		Key struct{ Hub, Device string }
	}
	if err := json.Unmarshal([]byte(diagnoses), &ds); err != nil {
		t.Fatal(err)
	}
	seen := map[deviceRef]bool{}
	var out []deviceRef
	for _, d := range ds {
		r := deviceRef{d.Key.Hub, d.Key.Device}
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

// firstDiff returns the first differing lines of a and b ("" twice when
// they are equal).
func firstDiff(a, b string) (string, string) {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range max(len(la), len(lb)) {
		var x, y string
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if x != y {
			return x, y
		}
	}
	return "", ""
}
