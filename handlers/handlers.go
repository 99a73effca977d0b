// Package handlers is the Azure Functions custom-handler HTTP layer of
// disconnect-doctor: one route per function, each decoding the host's
// invocation request (reference/functions-host.md §2: double-encoded Data and
// Metadata values), handing the inputs to the ingest parsers and the Backend,
// and answering with the host's response envelope (§3).
//
// The rules every route keeps, because the host punishes each mistake
// differently: the answer is always Content-Type application/json with a
// non-empty body (an empty 200 hangs the invocation until functionTimeout);
// bad input never fails an invocation (it is skipped, counted and reported in
// Logs: a failed Event Hubs batch is checkpointed anyway, or retried forever
// with our retry policy); only a Backend error (a dependency is down) answers
// 500, so that the host retries the same batch; and since the host drops the
// Logs of a non-2xx answer, that error goes to stderr.
package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/rs/zerolog"

	"github.com/disconnect-doctor/disconnect-doctor/ingest"
)

// Backend is what the functions need from the rest of the app;
// pipeline.Pipeline implements it. Every method may be called concurrently.
type Backend interface {
	// Ingest stores a parsed batch for writer (an input stream partition
	// "<EventHubName>/<PartitionId>", or "eventgrid", "metric"). An error
	// means a dependency is down: the invocation answers 500 and the host
	// retries the batch.
	Ingest(ctx context.Context, writer string, res *ingest.Result) error
	// Evaluate runs one timer tick and returns a one-line summary for Logs.
	Evaluate(ctx context.Context) (summary string, err error)
	// Query answers the API GET /api/v1/<path>: an HTTP status and a value
	// to be encoded as the JSON response body.
	Query(ctx context.Context, path string, q url.Values) (status int, body any)
	// Write answers the API's changes (POST and DELETE /api/v1/<path>,
	// e.g. silences) with the request body: an HTTP status and a value
	// to be encoded as the JSON response body.
	Write(ctx context.Context, method, path string, body []byte) (status int, answer any)
}

// Function names: the folder names under functions/, which are the paths the
// host POSTs invocations to.
const (
	FnDiagnosticLogs       = "DiagnosticLogs"
	FnConnectionEvents     = "ConnectionEvents"
	FnConnectionStateRoute = "ConnectionStateRoute"
	FnEvaluate             = "Evaluate"
	FnMetricAlert          = "MetricAlert"
	FnApi                  = "Api"
)

// DefaultMaxBodyBytes bounds an invocation request when Options leaves it 0.
// It is generous on purpose: a batch of 100 Event Hubs events of up to 1 MB
// each grows by the host's double escaping (every quote becomes \\\"), and a
// batch refused for its size would be lost, not retried.
const DefaultMaxBodyBytes = 512 << 20

// Request-body limits of the HTTP functions (issue 10 item 6). The 512 MiB
// cap is for Event Hubs batches; an HTTP function's caller is whoever holds
// its URL and key (the MetricAlert key sits in an action-group URL), so its
// body is bounded to what the function can legitimately receive: a common
// alert schema document is a few KB, an Api request (a silence) a small JSON
// document. A larger body is answered 413 with a JSON error, decided from the
// Content-Length header the host copies into Data.req.Headers before Body,
// so the body itself is never read.
const (
	MetricAlertBodyLimit = 1 << 20
	APIBodyLimit         = 64 << 10
)

// bodyLimits maps an HTTP function to its request-body limit.
var bodyLimits = map[string]int64{FnMetricAlert: MetricAlertBodyLimit, FnApi: APIBodyLimit}

// invocationCap bounds the whole invocation request of an HTTP function
// whose body limit is limit: the host sends the body once as a JSON string
// in Data.req.Body (escaping grows JSON text by its quotes and backslashes)
// and its top-level properties again in Metadata (reference §2.5), next to
// the headers and query. Four times the limit holds any JSON body within the
// limit; the cap catches a request whose Content-Length was missing or false.
func invocationCap(limit int64) int64 { return 4*limit + 64<<10 }

// Options tunes the handler. The zero value is the production configuration.
type Options struct {
	// MaxBodyBytes bounds one invocation request of the Event Hubs, Event
	// Grid and timer functions; 0 means DefaultMaxBodyBytes. A larger request
	// is skipped (answered 200 with the reason in Logs and an error on
	// stderr), never retried. The HTTP functions have their own, much
	// smaller limits (bodyLimits).
	MaxBodyBytes int64
	// Prefix is prepended to every function route ("" in production: the
	// host POSTs to /<FunctionName>); tests may mount the handler elsewhere.
	Prefix string
}

// handler holds what every route shares. It keeps no per-request state, so
// concurrent invocations (the host sends one request per invocation, in
// parallel) need no locking.
type handler struct {
	b    Backend
	log  zerolog.Logger
	opts Options
}

// New returns the custom handler: GET / (the host's readiness probe) and one
// POST route per function. log receives one info line per invocation and the
// errors that make an invocation fail; route it with SplitWriter so errors
// reach stderr.
func New(b Backend, log zerolog.Logger, opts Options) http.Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	h := &handler{b: b, log: log, opts: opts}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.ready)
	fns := map[string]func(context.Context, *invocation) response{
		FnDiagnosticLogs:       h.diagnosticLogs,
		FnConnectionEvents:     h.connectionEvents,
		FnConnectionStateRoute: h.connectionStateRoute,
		FnEvaluate:             h.evaluate,
		FnMetricAlert:          h.metricAlert,
		FnApi:                  h.api,
	}
	for name, fn := range fns {
		mux.Handle("POST "+opts.Prefix+"/"+name, h.invoke(name, fn))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no function at " + r.URL.Path})
	})
	return mux
}

// ready answers the host's readiness probe at once, touching no dependency:
// the host polls GET / every 25 ms at start-up and gives up after 30 s.
func (h *handler) ready(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("{}"))
}

// response is what a function produces: the envelope's Outputs and Logs, or
// err when the Backend failed (the invocation answers 500).
type response struct {
	Outputs map[string]any
	Logs    []string
	err     error
}

// envelope is the host's response shape (reference §3.1). ReturnValue is
// always null: none of our functions has a $return binding, and a non-null
// object would be spread into Outputs.
type envelope struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue"`
}

// invoke wraps a function: bounds and decodes the request, runs fn, and
// writes the envelope (200) or a 500 when fn reports a Backend error.
func (h *handler) invoke(name string, fn func(context.Context, *invocation) response) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit, bodyLimit := h.opts.MaxBodyBytes, bodyLimits[name]
		if bodyLimit > 0 {
			limit = invocationCap(bodyLimit)
		}
		body := http.MaxBytesReader(w, r.Body, limit)
		inv, err := decodeInvocationFor(name, body)
		var resp response
		if bodyLimit > 0 && tooLarge(inv, err, bodyLimit) {
			// Drain without keeping a byte, so that the host reads our answer
			// on a healthy connection instead of a reset one.
			_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, h.opts.MaxBodyBytes))
			h.log.Warn().Str("function", name).Int64("limit", bodyLimit).Msg("request body too large: answered 413")
			resp = response{
				Outputs: httpOutput(http.StatusRequestEntityTooLarge, map[string]any{
					"error": fmt.Sprintf("request body larger than %d bytes", bodyLimit), "limit": bodyLimit,
				}),
				Logs: []string{fmt.Sprintf("%s: request body larger than %d bytes: answered 413", name, bodyLimit)},
			}
		} else if err != nil {
			// Bad input never fails an invocation: say why in Logs and on stderr
			// (a skipped batch is evidence lost, an operator should know).
			reason := "bad request json"
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				reason = fmt.Sprintf("request larger than %d bytes", h.opts.MaxBodyBytes)
			}
			h.log.Error().Str("function", name).Str("reason", reason).Msg("invocation skipped")
			resp = response{Logs: []string{fmt.Sprintf("%s: invocation skipped: %s", name, reason)}}
		} else {
			resp = fn(r.Context(), inv)
		}
		if resp.err != nil {
			h.log.Error().Str("function", name).Err(resp.err).Msg("invocation failed; the host will retry")
			writeJSON(w, http.StatusInternalServerError, envelope{
				Outputs: map[string]any{},
				Logs:    []string{name + ": failed: " + resp.err.Error()},
			})
			return
		}
		if resp.Outputs == nil {
			resp.Outputs = map[string]any{}
		}
		if resp.Logs == nil {
			resp.Logs = []string{}
		}
		for _, l := range resp.Logs {
			h.log.Info().Str("function", name).Msg(l)
		}
		writeJSON(w, http.StatusOK, envelope{Outputs: resp.Outputs, Logs: resp.Logs})
	})
}

// tooLarge reports whether an HTTP function's request is over its body
// limit: the decode stopped at a Content-Length over it or at the invocation
// cap, or the body, once read, is longer than limit.
func tooLarge(inv *invocation, err error, limit int64) bool {
	var mbe *http.MaxBytesError
	if errors.Is(err, errBodyTooLarge) || errors.As(err, &mbe) {
		return true
	}
	if err != nil {
		return false
	}
	req := decodeHTTPRequest(inv.req)
	return int64(len(req.body())) > limit
}

// writeJSON writes v as the whole response with the mandatory content type.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only values we build reach here; an unencodable one is a bug, and the
		// host still needs a parseable body.
		status = http.StatusInternalServerError
		b = []byte(`{"Outputs":{},"Logs":["response encoding failed"],"ReturnValue":null}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// summaryLine is the one-line account of an ingest invocation for Logs.
func summaryLine(fn, writer string, messages int, res *ingest.Result, retry int) string {
	var b strings.Builder
	b.WriteString(fn)
	b.WriteString(" ")
	b.WriteString(writer)
	b.WriteString(": ")
	if messages >= 0 {
		fmt.Fprintf(&b, "%d messages, ", messages)
	}
	b.WriteString(res.Summary())
	if retry > 0 {
		fmt.Fprintf(&b, " (retry %d)", retry)
	}
	return b.String()
}
