// Package ingest turns every input of disconnect-doctor into normalized
// events (package event): IoT Hub resource-log bodies and archived JSON-lines
// files, Event Grid device events (Event Grid schema and CloudEvents), routed
// DeviceConnectionStateEvents and Azure Monitor common-alert-schema metric
// alerts. Parsers never fail a batch on bad input: a malformed record is
// skipped and counted with a reason in Result.
package ingest

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// Result accumulates what parsing a batch produced. One Result is shared by
// all the messages of an invocation, so its summary covers the batch.
type Result struct {
	// Events are the kept events, in input order.
	Events []event.Event
	// Read counts records (or events) read, kept or not.
	Read int
	// Ignored counts well-formed records that are not evidence (successful
	// twin reads, unknown categories, Routes errors …).
	Ignored int
	// Skipped counts malformed records by reason ("bad json", "no deviceId" …).
	Skipped map[string]int
	// Newest is the newest event time among the well-formed records read,
	// kept or ignored (zero if none): the writer's progress moves with every
	// record it reads, not only with the evidence it keeps.
	Newest time.Time
	// Batch identifies the input batch when its trigger names it (an Event
	// Hubs batch: its sequence numbers), "" otherwise: the retries of one
	// batch carry the same Batch, so its progress is counted once.
	Batch string
	// Problems locates bad lines of archived files as "file:line: reason"
	// (ResourceLogLines), so an operator can find them. At most 100 are kept;
	// Skipped counts them all.
	Problems []string
}

// problem records a located problem, up to maxProblems of them.
func (r *Result) problem(name string, line int, reason string) {
	if len(r.Problems) < maxProblems {
		r.Problems = append(r.Problems, fmt.Sprintf("%s:%d: %s", name, line, reason))
	}
}

// Skip counts one malformed record under reason.
func (r *Result) Skip(reason string) {
	if r.Skipped == nil {
		r.Skipped = make(map[string]int)
	}
	r.Skipped[reason]++
}

// SkippedTotal returns the number of malformed records.
func (r *Result) SkippedTotal() int {
	n := 0
	for _, c := range r.Skipped {
		n += c
	}
	return n
}

// Keep appends a parsed event and maintains Newest.
func (r *Result) Keep(e event.Event) {
	r.Events = append(r.Events, e)
	r.Saw(e.Time)
}

// Saw moves Newest to t if it is newer: the time of a well-formed record
// that is ignored (or the enqueued time of a message that has none).
func (r *Result) Saw(t time.Time) {
	if t.After(r.Newest) {
		r.Newest = t.UTC()
	}
}

// Summary renders a one-line account of the batch for the invocation's Logs:
// records read, kept, ignored and skipped with reasons (sorted, so the line is
// stable).
func (r *Result) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "read %d, kept %d, ignored %d, skipped %d", r.Read, len(r.Events), r.Ignored, r.SkippedTotal())
	if len(r.Skipped) > 0 {
		reasons := make([]string, 0, len(r.Skipped))
		for k := range r.Skipped {
			reasons = append(reasons, k)
		}
		sort.Strings(reasons)
		b.WriteString(" (")
		for i, k := range reasons {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s: %d", k, r.Skipped[k])
		}
		b.WriteString(")")
	}
	return b.String()
}
