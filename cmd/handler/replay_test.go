package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/sim"
)

func replayJSON(t *testing.T, args ...string) replayReport {
	t.Helper()
	var out bytes.Buffer
	if err := replay(context.Background(), append([]string{"--json"}, args...), &out); err != nil {
		t.Fatal(err)
	}
	var r replayReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out.String())
	}
	return r
}

// TestReplaySameReportForArchivesAndBodies: the JSON-lines archive a
// diagnostic setting writes to storage and the Event Hubs bodies it streams
// hold the same records, so replaying either gives the same report.
func TestReplaySameReportForArchivesAndBodies(t *testing.T) {
	dir := t.TempDir()
	c := sim.DefaultConfig(11)
	c.Devices, c.Duration = 120, 3*time.Hour
	fleet := sim.Generate(c)
	if err := sim.WriteFiles(dir, fleet); err != nil {
		t.Fatal(err)
	}
	bodies, err := filepath.Glob(filepath.Join(dir, "eventhub", "[0-9]*.json"))
	if err != nil || len(bodies) == 0 {
		t.Fatalf("no bodies written: %v", err)
	}
	fromBodies := replayJSON(t, bodies...)
	fromArchive := replayJSON(t, filepath.Join(dir, "diagnostics"))

	if len(fromBodies.Diagnoses) == 0 {
		t.Fatal("replay diagnosed nothing")
	}
	if fromBodies.Kept != fromArchive.Kept || fromBodies.Read != fromArchive.Read {
		t.Errorf("records: bodies read %d kept %d, archive read %d kept %d",
			fromBodies.Read, fromBodies.Kept, fromArchive.Read, fromArchive.Kept)
	}
	if !reflect.DeepEqual(fromBodies.Causes, fromArchive.Causes) {
		t.Errorf("causes differ: %v vs %v", fromBodies.Causes, fromArchive.Causes)
	}
	if !reflect.DeepEqual(fromBodies.Diagnoses, fromArchive.Diagnoses) {
		t.Errorf("diagnoses differ (%d vs %d)", len(fromBodies.Diagnoses), len(fromArchive.Diagnoses))
	}
	if !reflect.DeepEqual(fromBodies.Incidents, fromArchive.Incidents) || !reflect.DeepEqual(fromBodies.Devices, fromArchive.Devices) {
		t.Error("incidents or devices differ")
	}
	for _, d := range fromBodies.Diagnoses {
		if d.Cause == "pending" || !d.Final {
			t.Fatalf("replay left %s/%s at %s pending: it must judge the whole input", d.Hub, d.DeviceID, d.Time)
		}
	}
}

// TestReplayReportsBadLinesAndKeepsTheRest: unreadable lines are named by
// file and line, and the rest of the file still gives a report.
func TestReplayReportsBadLinesAndKeepsTheRest(t *testing.T) {
	dir := t.TempDir()
	rec := `{"time":"2024-05-14T11:05:14Z","resourceId":"/SUBSCRIPTIONS/X/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.DEVICES/IOTHUBS/HUB-A","operationName":"deviceDisconnect","category":"Connections","level":"Error","resultType":"404104","resultDescription":"DeviceConnectionClosedRemotely","properties":"{\"deviceId\":\"d1\",\"protocol\":\"Mqtt\",\"authType\":null,\"maskedIpAddress\":\"1.2.3.XXX\",\"statusCode\":\"404\"}","location":"westeurope"}`
	content := rec + "\n{not json\n" + strings.Replace(rec, "11:05:14", "12:05:14", 1) + "\n"
	p := filepath.Join(dir, "PT1H.json")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	r := replayJSON(t, p)
	if len(r.Diagnoses) != 2 {
		t.Errorf("%d diagnoses, want 2", len(r.Diagnoses))
	}
	if len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "PT1H.json:2:") {
		t.Errorf("problems %q, want one naming PT1H.json:2", r.Problems)
	}
	var text bytes.Buffer
	if err := replay(context.Background(), []string{p}, &text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"problem: " + p + ":2:", "device-or-network", "hub-a", "d1"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("table report lacks %q:\n%s", want, text.String())
		}
	}
	if err := replay(context.Background(), []string{filepath.Join(dir, "missing.json")}, &text); err == nil {
		t.Error("a missing file gave no error")
	}
}
