package funchost

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// repoFunctions is the app's own functions/ folder.
const repoRoot = "../.."

// TestUnsetSettingDoesNotLoad (issue 10 item 8): like the host, LoadApp adds
// no setting of its own, and a function whose %…% reference is unset is in
// error while the others load.
func TestUnsetSettingDoesNotLoad(t *testing.T) {
	tests := []struct {
		name     string
		settings map[string]string
		inError  map[string]string // function -> the reference named
	}{
		{"no settings", nil, map[string]string{
			"DiagnosticLogs":       "%DIAGNOSTICS_EVENTHUB_NAME%",
			"ConnectionStateRoute": "%CONNECTION_STATE_EVENTHUB_NAME%",
		}},
		{"only the consumer group missing", without(LocalSettings(), "DIAGNOSTICS_CONSUMER_GROUP"), map[string]string{
			"DiagnosticLogs": "%DIAGNOSTICS_CONSUMER_GROUP%",
		}},
		{"the usual local settings", LocalSettings(), map[string]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := LoadApp(repoRoot, filepath.Join(repoRoot, "functions"), tt.settings)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := a.Settings["DIAGNOSTICS_EVENTHUB_NAME"]; ok && tt.settings["DIAGNOSTICS_EVENTHUB_NAME"] == "" {
				t.Error("LoadApp injected DIAGNOSTICS_EVENTHUB_NAME")
			}
			for name, f := range a.Functions {
				ref, want := tt.inError[name]
				switch {
				case want && (f.LoadErr == nil || !errors.Is(f.LoadErr, ErrNotLoaded) || !strings.Contains(f.LoadErr.Error(), "'"+ref+"' does not resolve to a value")):
					t.Errorf("%s: LoadErr = %v, want one naming %s", name, f.LoadErr, ref)
				case !want && f.LoadErr != nil:
					t.Errorf("%s: LoadErr = %v", name, f.LoadErr)
				}
			}
			for name := range tt.inError {
				r := a.NewResult(&Invocation{Function: name}, "id", 0)
				if !errors.Is(r.Err, ErrNotLoaded) {
					t.Errorf("%s: an invocation would be sent (Err %v)", name, r.Err)
				}
			}
		})
	}
}

func without(m map[string]string, k string) map[string]string {
	delete(m, k)
	return m
}

// TestLocalSettingsMatchSample: every %…% reference of functions/*.json is
// set in local.settings.sample.json (users copy it) and in LocalSettings
// (tests use it), with the same usual value.
func TestLocalSettingsMatchSample(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "local.settings.sample.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sample struct{ Values map[string]string }
	if err := json.Unmarshal(raw, &sample); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(repoRoot, "functions", "*", "function.json"))
	ref := regexp.MustCompile(`%([^%\s]+)%`)
	seen := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ref.FindAllStringSubmatch(string(b), -1) {
			seen++
			v, ok := sample.Values[m[1]]
			if !ok || v == "" {
				t.Errorf("%s: %s is not in local.settings.sample.json", f, m[0])
			}
			if LocalSettings()[m[1]] != v {
				t.Errorf("%s: LocalSettings %q, sample %q", m[1], LocalSettings()[m[1]], v)
			}
		}
	}
	if seen == 0 {
		t.Fatal("no %…% reference found in functions/*/function.json")
	}
}
