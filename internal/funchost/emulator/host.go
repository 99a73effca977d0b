// Package emulator is the process half of the Azure Functions host emulator
// (reference/functions-host.md): it assembles an app folder, starts the real
// handler binary with the host's environment, sends it the invocations that
// package funchost builds, and simulates retry policies, Event Hubs
// checkpoints, function timeouts and worker restarts.
//
// It is test-only: Start takes a testing.TB and registers cleanups. It lives
// apart from funchost so that the production binary, which uses funchost's
// builders in process (`handler run`), never links the testing package.
package emulator

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost"
)

// Options configures an emulated host.
type Options struct {
	// Env are the app settings (environment variables of the handler, on
	// top of the test process's environment), and nothing else: as under
	// the real host, a function whose %…% references are not set here does
	// not load (funchost.LocalSettings has the usual values).
	Env map[string]string
	// Root is the repository root; "" finds it from the working directory.
	Root string
	// Binary is a prebuilt handler; "" builds ./cmd/handler once per test
	// binary.
	Binary string
	// FunctionTimeout overrides host.json functionTimeout (tests use a few
	// seconds). An invocation running longer fails and the handler restarts.
	FunctionTimeout time.Duration
	// MaxAttempts bounds a retry policy's attempts per batch, also for
	// maxRetryCount -1 (forever); 0 means 5.
	MaxAttempts int
	// MaxRetryDelay caps the real wait between retries (the computed policy
	// delay is still recorded); 0 means retries follow at once.
	MaxRetryDelay time.Duration
	// Instance is the identity of the emulated instance, which the platform
	// gives the handler as WEBSITE_INSTANCE_ID (App Service plans; reference
	// §1) unless Env names one (WEBSITE_POD_NAME, CONTAINER_NAME,
	// WEBSITE_INSTANCE_ID). "" picks a random one per Host. Handler restarts
	// keep it: a restarted worker runs on the same instance.
	Instance string
}

// Host is a running emulated Functions host with its handler process.
type Host struct {
	*funchost.App
	t    testing.TB
	opts Options
	root string
	dir  string // the app folder the handler runs in
	bin  string

	mu       sync.Mutex
	proc     *process
	restarts int
	stdout   []string
	stderr   []string
	ckpt     map[string]int64

	client *http.Client
}

// process is one handler process.
type process struct {
	cmd    *exec.Cmd
	port   int
	exited chan struct{}
	done   sync.WaitGroup // output readers
}

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// Start builds the handler (once per test binary), assembles an app folder
// from host.json and functions/*/function.json, starts the handler with the
// host's environment and waits until GET / answers. The process is killed
// in t.Cleanup; its output is kept for assertions and dumped if t failed.
func Start(t testing.TB, opts Options) *Host {
	t.Helper()
	root := opts.Root
	if root == "" {
		var err error
		if root, err = FindRoot(); err != nil {
			t.Fatalf("emulator: %v", err)
		}
	}
	fnDir := filepath.Join(root, "functions")
	if !fileExists(fnDir) {
		fnDir = root // a packaged app: function folders at the root
	}
	app, err := funchost.LoadApp(root, fnDir, opts.Env)
	if err != nil {
		t.Fatalf("emulator: %v", err)
	}
	for _, name := range sortedNames(app.Functions) {
		if err := app.Functions[name].LoadErr; err != nil {
			t.Logf("emulator: %v", err) // the host logs this at start-up and goes on
		}
	}
	bin := opts.Binary
	if bin == "" {
		buildOnce.Do(func() { buildBin, buildErr = build(root) })
		if buildErr != nil {
			t.Fatalf("emulator: %v", buildErr)
		}
		bin = buildBin
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	if opts.FunctionTimeout <= 0 {
		opts.FunctionTimeout = time.Duration(app.Host.FunctionTimeout)
	}
	if opts.Instance == "" {
		opts.Instance = strings.ReplaceAll(funchost.RandomGUID(), "-", "")
	}
	h := &Host{App: app, t: t, opts: opts, root: root, bin: bin, dir: t.TempDir(), ckpt: map[string]int64{}}
	if err := h.assemble(); err != nil {
		t.Fatalf("emulator: %v", err)
	}
	timeout := opts.FunctionTimeout
	if timeout <= 0 {
		timeout = 24 * time.Hour // unbounded functionTimeout
	}
	h.client = &http.Client{
		Timeout:   timeout,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
	}
	t.Cleanup(func() {
		h.Kill()
		h.client.CloseIdleConnections()
		if t.Failed() {
			h.mu.Lock()
			defer h.mu.Unlock()
			t.Logf("emulator: handler stdout (last lines):\n%s", tail(h.stdout, 40))
			t.Logf("emulator: handler stderr (last lines):\n%s", tail(h.stderr, 40))
		}
	})
	if err := h.start(); err != nil {
		t.Fatalf("emulator: %v", err)
	}
	return h
}

// FindRoot walks up from the working directory to the directory holding
// go.mod and host.json.
func FindRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find root: %w", err)
	}
	for {
		if fileExists(filepath.Join(dir, "go.mod")) && fileExists(filepath.Join(dir, "host.json")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find root: no go.mod with host.json above the working directory")
		}
		dir = parent
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// build compiles ./cmd/handler into a per-checkout cache file (renamed into
// place, so concurrent test binaries never see half a file).
func build(root string) (string, error) {
	sum := sha256.Sum256([]byte(root))
	dir := filepath.Join(os.TempDir(), "disconnect-doctor-funchost-"+hex.EncodeToString(sum[:6]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("build handler: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "handler-*.tmp")
	if err != nil {
		return "", fmt.Errorf("build handler: %w", err)
	}
	tmp.Close()
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("build handler: %w", err)
	}
	cmd := exec.Command(goBin, "build", "-o", tmp.Name(), "./cmd/handler")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("build handler: go build ./cmd/handler: %w\n%s", err, out)
	}
	bin := filepath.Join(dir, "handler")
	if err := os.Rename(tmp.Name(), bin); err != nil {
		return "", fmt.Errorf("build handler: %w", err)
	}
	return bin, nil
}

// assemble writes the app folder as `make package` lays it out: host.json,
// <Function>/function.json and the handler (a symlink to the build).
func (h *Host) assemble() error {
	if err := os.WriteFile(filepath.Join(h.dir, "host.json"), h.HostJSON, 0o644); err != nil {
		return fmt.Errorf("assemble app: %w", err)
	}
	for name, b := range h.FunctionJSON {
		if err := os.MkdirAll(filepath.Join(h.dir, name), 0o755); err != nil {
			return fmt.Errorf("assemble app: %w", err)
		}
		if err := os.WriteFile(filepath.Join(h.dir, name, "function.json"), b, 0o644); err != nil {
			return fmt.Errorf("assemble app: %w", err)
		}
	}
	exe := h.Host.CustomHandler.Description.DefaultExecutablePath
	if exe == "" {
		return errors.New("assemble app: host.json customHandler.description.defaultExecutablePath is empty")
	}
	if err := os.Symlink(h.bin, filepath.Join(h.dir, exe)); err != nil {
		return fmt.Errorf("assemble app: %w", err)
	}
	return nil
}

// start spawns the handler on a fresh port and waits for readiness.
func (h *Host) start() error {
	port, err := freePort()
	if err != nil {
		return err
	}
	d := h.Host.CustomHandler.Description
	exe := filepath.Join(h.dir, d.DefaultExecutablePath)
	args := make([]string, 0, len(d.Arguments))
	for _, a := range d.Arguments {
		args = append(args, os.Expand(strings.ReplaceAll(a, "%", "$"), func(k string) string { return h.Settings[k] }))
	}
	cmd := exec.Command(exe, args...)
	cmd.Dir = filepath.Join(h.dir, d.WorkingDirectory)
	workerID := funchost.RandomGUID()
	// The machine running the tests may itself be a container with an
	// identity (CONTAINER_NAME …): that is not the emulated instance's.
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "WEBSITE_POD_NAME" && k != "CONTAINER_NAME" && k != "WEBSITE_INSTANCE_ID" {
			env = append(env, kv)
		}
	}
	named := false
	for k, v := range h.Settings {
		env = append(env, k+"="+v)
		named = named || k == "WEBSITE_POD_NAME" || k == "CONTAINER_NAME" || k == "WEBSITE_INSTANCE_ID"
	}
	if !named {
		env = append(env, "WEBSITE_INSTANCE_ID="+h.opts.Instance)
	}
	env = append(env,
		fmt.Sprintf("FUNCTIONS_CUSTOMHANDLER_PORT=%d", port),
		"FUNCTIONS_CUSTOMHANDLER_WORKER_ID="+workerID,
		fmt.Sprintf("FUNCTIONS_HTTPWORKER_PORT=%d", port),
		"FUNCTIONS_HTTPWORKER_ID="+workerID,
		"FUNCTIONS_APP_ROOT_PATH="+h.dir,
		"FUNCTIONS_WORKER_RUNTIME=custom",
	)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("start handler: %w", err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return fmt.Errorf("start handler: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start handler: %w", err)
	}
	p := &process{cmd: cmd, port: port, exited: make(chan struct{})}
	p.done.Add(2)
	go h.capture(stdout, &h.stdout, &p.done)
	go h.capture(stderr, &h.stderr, &p.done)
	go func() {
		p.done.Wait()
		_ = cmd.Wait()
		close(p.exited)
	}()
	h.mu.Lock()
	h.proc = p
	h.mu.Unlock()
	return h.waitReady(p)
}

// waitReady polls GET / every 25 ms for at most 30 s: any HTTP answer means
// ready, only socket errors mean wait (reference §1).
func (h *Host) waitReady(p *process) error {
	deadline := time.Now().Add(30 * time.Second)
	c := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/", p.port))
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return nil
		}
		select {
		case <-p.exited:
			return fmt.Errorf("handler exited before it was ready (%v); stderr:\n%s", p.cmd.ProcessState, h.tailStderr())
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("handler not ready within 30s; stderr:\n%s", h.tailStderr())
		}
	}
}

func (h *Host) tailStderr() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return tail(h.stderr, 20)
}

// capture appends a stream's lines to *dst.
func (h *Host) capture(r io.Reader, dst *[]string, wg *sync.WaitGroup) {
	defer wg.Done()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		h.mu.Lock()
		*dst = append(*dst, sc.Text())
		h.mu.Unlock()
	}
	_, _ = io.Copy(io.Discard, r)
}

func tail(lines []string, n int) string {
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// freePort asks the kernel for an unused TCP port, as the host does.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Kill kills the handler process (a crash, as far as in-flight invocations
// can tell) and waits for it to exit. The next invocation restarts it, as
// the host restarts a worker that exited.
func (h *Host) Kill() {
	h.mu.Lock()
	p := h.proc
	h.mu.Unlock()
	if p == nil {
		return
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
}

// Pause stops the handler process (SIGSTOP), as a VM freeze or a long GC
// pause would: in-flight invocations wait, the process keeps its state.
func (h *Host) Pause() { h.signal(syscall.SIGSTOP) }

// Resume continues a paused handler (SIGCONT).
func (h *Host) Resume() { h.signal(syscall.SIGCONT) }

func (h *Host) signal(sig syscall.Signal) {
	h.mu.Lock()
	p := h.proc
	h.mu.Unlock()
	if p != nil {
		_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	}
}

// Restart kills the handler and starts a new process on a new port.
func (h *Host) Restart() {
	h.t.Helper()
	if err := h.restart(); err != nil {
		h.t.Fatalf("emulator: restart: %v", err)
	}
}

func (h *Host) restart() error {
	h.Kill()
	h.client.CloseIdleConnections()
	h.mu.Lock()
	h.restarts++
	h.mu.Unlock()
	return h.start()
}

// Instance returns the emulated instance's identity.
func (h *Host) Instance() string { return h.opts.Instance }

// Restarts counts handler restarts (timeouts, exits, Restart calls).
func (h *Host) Restarts() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.restarts
}

// URL returns the handler's base URL (http://127.0.0.1:<port>).
func (h *Host) URL() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return fmt.Sprintf("http://127.0.0.1:%d", h.proc.port)
}

// Stdout and Stderr return the lines the handler wrote so far.
func (h *Host) Stdout() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.stdout...)
}

// Stderr returns the handler's stderr lines so far.
func (h *Host) Stderr() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.stderr...)
}

// current returns the running (or last started) handler process.
func (h *Host) current() *process {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.proc
}

// Invoke sends one attempt (RetryContext.RetryCount = retryCount) of inv
// and returns the result as the host judges it. A handler that exited is
// restarted first; a timeout or an empty/null answer restarts it after.
func (h *Host) Invoke(ctx context.Context, inv *funchost.Invocation, retryCount int, prevErr error) *funchost.Result {
	r := h.NewResult(inv, funchost.RandomGUID(), retryCount)
	if r.Err != nil { // a function the host did not load
		return r
	}
	if inv.BindErr != nil {
		r.Err = fmt.Errorf("%w: %v", funchost.ErrBinding, inv.BindErr)
		return r
	}
	p := h.current()
	select {
	case <-p.exited:
		if err := h.restart(); err != nil {
			r.Err = fmt.Errorf("%w: restart: %v", funchost.ErrTransport, err)
			return r
		}
		p = h.current()
	default:
	}
	body := inv.Payload(retryCount, prevErr)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/%s", p.port, inv.Function), bytes.NewReader(body))
	if err != nil {
		r.Err = fmt.Errorf("%w: %v", funchost.ErrTransport, err)
		return r
	}
	h.SetHeaders(req, r.InvocationID)
	resp, err := h.client.Do(req)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			r.Err = fmt.Errorf("%w: %v", funchost.ErrTimeout, err)
			if rerr := h.restart(); rerr != nil {
				h.t.Errorf("emulator: restart after timeout: %v", rerr)
			}
			return r
		}
		r.Err = fmt.Errorf("%w: %v", funchost.ErrTransport, err)
		return r
	}
	defer resp.Body.Close()
	r.Status, r.Header = resp.StatusCode, resp.Header
	r.Body, err = io.ReadAll(resp.Body)
	if err != nil {
		r.Err = fmt.Errorf("%w: read: %v", funchost.ErrTransport, err)
		return r
	}
	funchost.ParseResponse(r)
	if errors.Is(r.Err, funchost.ErrEmptyResult) {
		// The real host hangs until functionTimeout, then restarts the worker.
		if rerr := h.restart(); rerr != nil {
			h.t.Errorf("emulator: restart after empty result: %v", rerr)
		}
	}
	return r
}

// Attempts is the outcome of running one invocation under its retry policy.
type Attempts struct {
	Results []*funchost.Result
	// Delays[i] is the policy's wait before attempt i+1 (retry i+1).
	Delays []time.Duration
	// Bounded is true when Options.MaxAttempts cut the policy short.
	Bounded bool
}

// Succeeded reports whether the last attempt succeeded.
func (a *Attempts) Succeeded() bool {
	return len(a.Results) > 0 && !a.Results[len(a.Results)-1].Failed()
}

// Last returns the last attempt.
func (a *Attempts) Last() *funchost.Result { return a.Results[len(a.Results)-1] }

// InvokeWithRetries runs inv and, while it fails, re-sends the same
// invocation per the function's retry policy (reference §4.2): RetryCount
// counts up, each attempt has a new invocation id, maxRetryCount -1 retries
// forever (bounded here by Options.MaxAttempts).
func (h *Host) InvokeWithRetries(ctx context.Context, inv *funchost.Invocation) *Attempts {
	a := &Attempts{}
	policy := inv.Retry()
	var prev error
	for n := 0; ; n++ {
		r := h.Invoke(ctx, inv, n, prev)
		a.Results = append(a.Results, r)
		if !r.Failed() || policy == nil || ctx.Err() != nil {
			return a
		}
		if m := policy.MaxRetryCount; m >= 0 && n >= m {
			return a
		}
		if n+1 >= h.opts.MaxAttempts {
			a.Bounded = true
			return a
		}
		d := policy.Delay(n + 1)
		a.Delays = append(a.Delays, d)
		if w := min(d, h.opts.MaxRetryDelay); w > 0 {
			select {
			case <-time.After(w):
			case <-ctx.Done():
				return a
			}
		}
		prev = r.Err
	}
}

// Batch is one Event Hubs batch to deliver.
type Batch struct {
	Bodies [][]byte
	Props  []map[string]any
	Opts   []funchost.EventOption
}

// BatchOutcome is what happened to one delivered batch.
type BatchOutcome struct {
	Invocation *funchost.Invocation
	*Attempts
	// Checkpoint is the sequence number checkpointed after the batch.
	Checkpoint int64
}

// DeliverPartition delivers batches of one partition of fn's Event Hub in
// order, each under the retry policy, and checkpoints each batch's last
// event after its final attempt whether it succeeded or not (reference
// §4.3: a failed batch is not redelivered).
func (h *Host) DeliverPartition(ctx context.Context, fn, partition string, batches []Batch) []BatchOutcome {
	out := make([]BatchOutcome, 0, len(batches))
	for _, b := range batches {
		inv := h.EventHubBatch(fn, partition, b.Bodies, b.Props, b.Opts...)
		att := h.InvokeWithRetries(ctx, inv)
		o := BatchOutcome{Invocation: inv, Attempts: att, Checkpoint: -1}
		if ctx.Err() == nil && inv.Count > 0 {
			h.mu.Lock()
			h.ckpt[inv.EventHub+"/"+inv.Partition] = inv.LastSequence
			h.mu.Unlock()
			o.Checkpoint = inv.LastSequence
		}
		out = append(out, o)
	}
	return out
}

// Checkpoint returns the last checkpointed sequence number of a partition.
func (h *Host) Checkpoint(eventHub, partition string) (int64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.ckpt[eventHub+"/"+partition]
	return s, ok
}

// sortedNames returns the function names in order, for stable logs.
func sortedNames(fns map[string]*funchost.Function) []string {
	names := make([]string, 0, len(fns))
	for n := range fns {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
