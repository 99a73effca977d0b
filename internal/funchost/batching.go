package funchost

import "time"

// BatchRule is how the Event Hubs trigger (extension 5.x/6.x, "cardinality":
// "many") cuts one partition's events into invocations, from host.json
// extensions.eventHubs (reference §4.4): at most Max events an invocation;
// with Min > 1 the trigger holds events back until Min are waiting or
// MaxWait has passed since it began holding them (then it sends a partial
// batch); with Min ≤ 1 it sends whatever a receive returned at once.
type BatchRule struct {
	Max, Min int
	MaxWait  time.Duration
}

// Extension defaults (EventHubOptions, extension 6.x): used for a key
// host.json leaves out.
const (
	defaultMaxEventBatchSize = 100
	defaultMaxWaitTime       = time.Minute
)

// BatchRule returns the Event Hubs trigger's batching rule of host.json,
// with the extension's defaults for what it leaves out.
func (c HostConfig) BatchRule() BatchRule {
	eh := c.Extensions.EventHubs
	r := BatchRule{Max: eh.MaxEventBatchSize, Min: eh.MinEventBatchSize, MaxWait: time.Duration(eh.MaxWaitTime)}
	if r.Max <= 0 {
		r.Max = defaultMaxEventBatchSize
	}
	if r.MaxWait <= 0 {
		r.MaxWait = defaultMaxWaitTime
	}
	return r
}

// FormedBatch is one invocation the trigger makes: events [From, To) of
// the partition, dispatched At.
type FormedBatch struct {
	From, To int
	At       time.Time
}

// Form cuts one partition's events, given by their enqueued times in
// partition order, into the invocations the trigger makes, as the
// extension's EventProcessor does with Min > 1: each arriving event is held;
// once Min are held, up to Max of them are dispatched at that moment; held
// events that stay under Min are dispatched MaxWait after the hold began
// (the timer starts with the first held event and restarts for what a
// dispatch leaves held). With Min ≤ 1 every receive is dispatched as it
// comes: events enqueued at the same instant go together (up to Max), any
// later one is a receive of its own — at a low rate, one event an
// invocation. The time an invocation takes is not modelled (a busy
// partition would gather more events into its next receive), so at a high
// rate with Min ≤ 1 the count is an upper bound.
func (r BatchRule) Form(enqueued []time.Time) []FormedBatch {
	maxN := max(r.Max, 1)
	var out []FormedBatch
	from := 0 // first held event
	var since time.Time
	flush := func(to int, at time.Time) {
		for from < to {
			n := min(to-from, maxN)
			out = append(out, FormedBatch{From: from, To: from + n, At: at})
			from += n
		}
	}
	for i, at := range enqueued {
		if r.Min > 1 && from < i && !at.Before(since.Add(r.MaxWait)) {
			flush(i, since.Add(r.MaxWait)) // the timer fired before this event
		}
		if from == i {
			since = at
		}
		switch {
		case r.Min <= 1:
			if i+1 == len(enqueued) || !enqueued[i+1].Equal(at) || i+1-from >= maxN {
				flush(i+1, at)
			}
		case i+1-from >= r.Min:
			n := min(i+1-from, maxN)
			out = append(out, FormedBatch{From: from, To: from + n, At: at})
			from += n
			since = at // what is left is held from now
		}
	}
	if from < len(enqueued) {
		flush(len(enqueued), since.Add(r.MaxWait))
	}
	return out
}
