// Package funchost is the process-free half of an emulator of the Azure
// Functions host for custom handlers (reference/functions-host.md), because
// the real host (`func`) cannot run here. It reads the app's host.json and
// functions/*/function.json, builds invocation requests exactly as the host
// does (double-encoded values, Metadata keys, headers), and judges responses
// with the host's rules. (*App).Call drives an http.Handler in process, which
// is how `handler run` (`make run`) and in-process tests use it.
//
// It does not import testing and is safe to link into the production binary.
// The half that needs a handler process or a testing.TB (Start, Host, retry
// policies, checkpoints, timeouts, restarts) is package
// internal/funchost/emulator. The builders are pinned by golden files.
package funchost

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// Binding is one entry of a function.json "bindings" array (the keys the
// emulator uses; others are ignored).
type Binding struct {
	Type          string   `json:"type"`
	Direction     string   `json:"direction"`
	Name          string   `json:"name"`
	DataType      string   `json:"dataType"`
	Cardinality   string   `json:"cardinality"`
	EventHubName  string   `json:"eventHubName"`
	ConsumerGroup string   `json:"consumerGroup"`
	Connection    string   `json:"connection"`
	Schedule      string   `json:"schedule"`
	UseMonitor    *bool    `json:"useMonitor"`
	AuthLevel     string   `json:"authLevel"`
	Methods       []string `json:"methods"`
	Route         string   `json:"route"`
}

// RetryPolicy is function.json's (or host.json's) "retry" object.
type RetryPolicy struct {
	Strategy        string   `json:"strategy"` // fixedDelay | exponentialBackoff
	MaxRetryCount   int      `json:"maxRetryCount"`
	DelayInterval   Duration `json:"delayInterval"`
	MinimumInterval Duration `json:"minimumInterval"`
	MaximumInterval Duration `json:"maximumInterval"`
}

// Delay returns the wait before retry number n (1-based), as the WebJobs
// SDK computes it: fixed, or min·2^(n-1) capped at max.
func (p *RetryPolicy) Delay(n int) time.Duration {
	if strings.EqualFold(p.Strategy, "fixedDelay") {
		return time.Duration(p.DelayInterval)
	}
	d := time.Duration(p.MinimumInterval)
	for i := 1; i < n && d < time.Duration(p.MaximumInterval); i++ {
		d *= 2
	}
	if m := time.Duration(p.MaximumInterval); m > 0 && d > m {
		d = m
	}
	return d
}

// Duration is a .NET TimeSpan in JSON ("00:00:05", "1.00:00:00").
type Duration time.Duration

// UnmarshalJSON parses [d.]hh:mm:ss[.fffffff]; "-1" or "" is 0.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("funchost: timespan %s: %w", b, err)
	}
	v, err := ParseTimeSpan(s)
	*d = Duration(v)
	return err
}

var timeSpanRE = regexp.MustCompile(`^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(\.\d+)?$`)

// ParseTimeSpan parses a .NET TimeSpan as host.json and function.json write
// it; "" and "-1" (unbounded) give 0.
func ParseTimeSpan(s string) (time.Duration, error) {
	if s == "" || s == "-1" {
		return 0, nil
	}
	m := timeSpanRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("funchost: bad timespan %q", s)
	}
	var days, h, min, sec int
	fmt.Sscan(m[1]+" ", &days)
	fmt.Sscan(m[2], &h)
	fmt.Sscan(m[3], &min)
	fmt.Sscan(m[4], &sec)
	d := time.Duration(days)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(min)*time.Minute + time.Duration(sec)*time.Second
	if m[5] != "" {
		f, _ := time.ParseDuration("0" + m[5] + "s")
		d += f
	}
	return d, nil
}

// Function is one function of the app: its folder name and function.json.
type Function struct {
	Name     string       `json:"-"`
	Bindings []Binding    `json:"bindings"`
	Retry    *RetryPolicy `json:"retry"`
	Disabled bool         `json:"disabled"`
	// LoadErr is set when the host would not load the function: a %NAME%
	// reference in its bindings names an app setting that is not set (the
	// host's "The 'X' function is in error: '%NAME%' does not resolve to a
	// value."). The other functions load; this one is never invoked.
	LoadErr error `json:"-"`
}

// Trigger returns the function's trigger binding (the one whose type ends
// in "Trigger").
func (f *Function) Trigger() Binding {
	for _, b := range f.Bindings {
		if strings.HasSuffix(strings.ToLower(b.Type), "trigger") {
			return b
		}
	}
	return Binding{}
}

// Output returns the output binding named name, if any.
func (f *Function) Output(name string) (Binding, bool) {
	for _, b := range f.Bindings {
		if strings.EqualFold(b.Direction, "out") && b.Name == name {
			return b, true
		}
	}
	return Binding{}, false
}

// HostConfig is the part of host.json the emulator honours.
type HostConfig struct {
	Version         string       `json:"version"`
	FunctionTimeout Duration     `json:"functionTimeout"`
	Retry           *RetryPolicy `json:"retry"`
	CustomHandler   struct {
		Description struct {
			DefaultExecutablePath string   `json:"defaultExecutablePath"`
			WorkingDirectory      string   `json:"workingDirectory"`
			Arguments             []string `json:"arguments"`
		} `json:"description"`
		EnableForwardingHttpRequest bool `json:"enableForwardingHttpRequest"`
	} `json:"customHandler"`
	Extensions struct {
		HTTP struct {
			RoutePrefix *string `json:"routePrefix"`
		} `json:"http"`
		EventHubs struct {
			MaxEventBatchSize        int      `json:"maxEventBatchSize"`
			MinEventBatchSize        int      `json:"minEventBatchSize"`
			MaxWaitTime              Duration `json:"maxWaitTime"`
			BatchCheckpointFrequency int      `json:"batchCheckpointFrequency"`
		} `json:"eventHubs"`
	} `json:"extensions"`
}

// App is a Functions app as the host loads it: host.json, the functions and
// the app settings. It builds invocation requests (builders.go); it is safe
// for concurrent use.
type App struct {
	Host      HostConfig
	Functions map[string]*Function
	// HostJSON and FunctionJSON are the files as read (FunctionJSON by
	// function name), for assembling an app folder.
	HostJSON     []byte
	FunctionJSON map[string][]byte
	// Settings are the app settings (%NAME% references resolve here).
	Settings map[string]string
	// Clock and NewGUID supply sys.UtcNow, enqueued times and ids; tests pin
	// them for golden files.
	Clock   func() time.Time
	NewGUID func() string
	// HostVersion is sent in User-Agent and X-Azure-Functions-HostVersion.
	HostVersion string

	mu  sync.Mutex
	seq map[string]*partitionState
}

// partitionState numbers the events of one Event Hub partition.
type partitionState struct{ seq, offset int64 }

// LocalSettings are the app settings a local.settings.json of this app
// holds for the host and the bindings, with the usual values (README,
// local.settings.sample.json): the storage the host needs for non-HTTP
// triggers, and the settings function.json's %…% references name. The host
// gives them no default, so an app that loads every function must set them;
// tests that want every function pass these to LoadApp (emulator Options.Env)
// explicitly, on top of which they may drop one to see its function not load.
func LocalSettings() map[string]string {
	return map[string]string{
		"AzureWebJobsStorage":             "UseDevelopmentStorage=true",
		"DIAGNOSTICS_EVENTHUB":            "Endpoint=sb://emulator.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=emulator;EntityPath=insights-logs-connections",
		"DIAGNOSTICS_EVENTHUB_NAME":       "insights-logs-connections",
		"DIAGNOSTICS_CONSUMER_GROUP":      "$Default",
		"CONNECTION_STATE_EVENTHUB":       "Endpoint=sb://emulator.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=emulator;EntityPath=connection-state",
		"CONNECTION_STATE_EVENTHUB_NAME":  "connection-state",
		"CONNECTION_STATE_CONSUMER_GROUP": "$Default",
	}
}

// WithLocalSettings returns LocalSettings overlaid with extra (extra wins).
func WithLocalSettings(extra map[string]string) map[string]string {
	m := LocalSettings()
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// LoadApp reads host.json from hostDir and every <fnDir>/<Name>/function.json,
// with settings as the app settings and nothing added: like the host, it
// loads a function whose %…% references do not resolve in error (LoadErr)
// and the others normally.
func LoadApp(hostDir, fnDir string, settings map[string]string) (*App, error) {
	a := &App{
		Functions:    map[string]*Function{},
		FunctionJSON: map[string][]byte{},
		Settings:     map[string]string{},
		Clock:        time.Now,
		NewGUID:      RandomGUID,
		HostVersion:  "4.1041.200.1",
		seq:          map[string]*partitionState{},
	}
	for k, v := range settings {
		a.Settings[k] = v
	}
	b, err := os.ReadFile(filepath.Join(hostDir, "host.json"))
	if err != nil {
		return nil, fmt.Errorf("funchost: read host.json: %w", err)
	}
	if err := json.Unmarshal(b, &a.Host); err != nil {
		return nil, fmt.Errorf("funchost: parse host.json: %w", err)
	}
	a.HostJSON = b
	paths, err := filepath.Glob(filepath.Join(fnDir, "*", "function.json"))
	if err != nil {
		return nil, fmt.Errorf("funchost: list functions: %w", err)
	}
	sort.Strings(paths)
	for _, p := range paths {
		name := filepath.Base(filepath.Dir(p))
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("funchost: read %s: %w", p, err)
		}
		f := &Function{Name: name}
		if err := json.Unmarshal(b, f); err != nil {
			return nil, fmt.Errorf("funchost: parse %s: %w", p, err)
		}
		if f.Retry == nil {
			f.Retry = a.Host.Retry
		}
		f.LoadErr = a.unresolved(name, b)
		a.Functions[name] = f
		a.FunctionJSON[name] = b
	}
	if len(a.Functions) == 0 {
		return nil, fmt.Errorf("funchost: no function.json under %s", fnDir)
	}
	return a, nil
}

// Function returns the named function or panics: a test naming a function
// the app does not have is a bug in the test.
func (a *App) Function(name string) *Function {
	f, ok := a.Functions[name]
	if !ok {
		panic(fmt.Sprintf("funchost: no function %q", name))
	}
	return f
}

// settingRef is a %NAME% app-setting reference in a binding value.
var settingRef = regexp.MustCompile(`%([^%\s]+)%`)

// unresolved returns the host's indexing error for function name when a
// binding value references an app setting that is not set, or nil. The host
// resolves %NAME% in binding properties when it indexes the function, has no
// default for an unset one, and names the first it fails on (here: the
// first in the file; function.json holds nothing but bindings and policy).
func (a *App) unresolved(name string, functionJSON []byte) error {
	for _, m := range settingRef.FindAllSubmatch(functionJSON, -1) {
		if _, set := a.Settings[string(m[1])]; !set {
			return fmt.Errorf("%w: The '%s' function is in error: '%s' does not resolve to a value", ErrNotLoaded, name, m[0])
		}
	}
	return nil
}

// resolve expands %SETTING% references as the host does when it loads a
// binding; an unset setting is left as its name (only in a function that
// did not load, LoadErr, which is never invoked).
func (a *App) resolve(s string) string {
	if len(s) > 2 && strings.HasPrefix(s, "%") && strings.HasSuffix(s, "%") {
		if v, ok := a.Settings[s[1:len(s)-1]]; ok {
			return v
		}
		return s[1 : len(s)-1]
	}
	return s
}

// namespace returns the Event Hubs namespace of a connection setting: the
// connection string's Endpoint, or the identity-based fullyQualifiedNamespace.
func (a *App) namespace(conn string) string {
	if ns := a.Settings[conn+"__fullyQualifiedNamespace"]; ns != "" {
		return ns
	}
	for _, part := range strings.Split(a.Settings[conn], ";") {
		if k, v, ok := strings.Cut(part, "="); ok && strings.EqualFold(k, "Endpoint") {
			v = strings.TrimPrefix(strings.TrimPrefix(v, "sb://"), "amqps://")
			return strings.TrimSuffix(v, "/")
		}
	}
	return "emulator.servicebus.windows.net"
}

// RandomGUID returns a random version-4 GUID: App.NewGUID's default, and the
// invocation and worker ids of the process emulator (which must differ per
// attempt even when a test pins App.NewGUID).
func RandomGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
