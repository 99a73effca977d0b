package alert

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
)

// KnownChannels are the channel names ALERT_ROUTES may use: every channel
// the app can send on, configured or not.
var KnownChannels = []string{"teams", "email", "webhook", "graph", "pagerduty"}

// Routes decide which channels get a notification (ALERT_ROUTES), in
// Alertmanager's manner: the routes are tried in order, the first that
// matches wins unless it says "continue", in which case the following
// routes are tried too and the channels add up. A notification no route
// matches goes to the default channels. Routes are applied at enqueue time
// (Dispatcher.Enqueue); a nil *Routes sends everything to every configured
// channel.
type Routes struct {
	routes []Route
	// deflt is the default channels; nil means every configured channel.
	deflt []string
}

// Route is one entry of ALERT_ROUTES. Empty match lists match everything.
type Route struct {
	// Name is optional, for people and error messages.
	Name string `json:"name,omitempty"`
	// Hubs are hub globs (path.Match syntax); any one matching is enough.
	Hubs []string `json:"hubs,omitempty"`
	// Kinds and Severities are alert kinds and severities ("critical",
	// "warning").
	Kinds      []string `json:"kinds,omitempty"`
	Severities []string `json:"severities,omitempty"`
	// Channels get the notifications the route matches.
	Channels []string `json:"channels"`
	// Continue: after a match, try the following routes too.
	Continue bool `json:"continue,omitempty"`
}

// routesDoc is the ALERT_ROUTES document.
type routesDoc struct {
	Routes []Route `json:"routes"`
	// Default is for the notifications no route matches; absent means
	// every configured channel, [] means none.
	Default *[]string `json:"default"`
}

// MaxRoutes bounds the document; a routing table is small.
const MaxRoutes = 100

// ParseRoutes reads and checks an ALERT_ROUTES document against the
// channels that are configured. An error names the route (its index, and
// its name when it has one) and the field.
func ParseRoutes(doc string, configured []string) (*Routes, error) {
	var d routesDoc
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("not a routes document ({\"routes\":[…],\"default\":[…]}): %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("not one JSON object")
	}
	if len(d.Routes) > MaxRoutes {
		return nil, fmt.Errorf("routes: %d routes, at most %d", len(d.Routes), MaxRoutes)
	}
	rs := &Routes{routes: d.Routes}
	for i := range rs.routes {
		r := &rs.routes[i]
		where := "routes[" + strconv.Itoa(i) + "]"
		if r.Name != "" {
			where += " (" + strconv.Quote(r.Name) + ")"
		}
		if err := r.check(configured); err != nil {
			return nil, fmt.Errorf("%s.%w", where, err)
		}
	}
	if d.Default != nil {
		rs.deflt = []string{}
		for j, ch := range *d.Default {
			if err := checkChannel(ch, configured); err != nil {
				return nil, fmt.Errorf("default[%d]: %w", j, err)
			}
			rs.deflt = append(rs.deflt, ch)
		}
	}
	return rs, nil
}

// check validates a route and normalizes its hub globs to lower case (hub
// names are lower-case).
func (r *Route) check(configured []string) error {
	for j, h := range r.Hubs {
		r.Hubs[j] = strings.ToLower(strings.TrimSpace(h))
		if r.Hubs[j] == "" {
			return fmt.Errorf("hubs[%d]: empty glob (leave hubs out to match every hub)", j)
		}
		if err := checkGlob("", r.Hubs[j]); err != nil {
			return fmt.Errorf("hubs[%d]: %s", j, err.(*FieldError).Msg)
		}
	}
	for j, k := range r.Kinds {
		// The daily digest is routed by its kind too (to send it to one
		// team's mailbox only), though it is no alert.
		if !classify.SignalKind(k).Valid() && classify.SignalKind(k) != KindDigest {
			return fmt.Errorf("kinds[%d]: unknown alert kind %q (one of %s, or %s)", j, k, kindList(), KindDigest)
		}
	}
	sev := severities()
	for j, s := range r.Severities {
		if !slices.Contains(sev, s) {
			return fmt.Errorf("severities[%d]: unknown severity %q (one of %s)", j, s, strings.Join(sev, ", "))
		}
	}
	if len(r.Channels) == 0 {
		return errors.New("channels: a route needs at least one channel")
	}
	for j, ch := range r.Channels {
		if err := checkChannel(ch, configured); err != nil {
			return fmt.Errorf("channels[%d]: %w", j, err)
		}
	}
	return nil
}

func checkChannel(ch string, configured []string) error {
	switch {
	case !slices.Contains(KnownChannels, ch):
		return fmt.Errorf("unknown channel %q (one of %s)", ch, strings.Join(KnownChannels, ", "))
	case !slices.Contains(configured, ch):
		return fmt.Errorf("channel %q is not configured (its settings are not set)", ch)
	}
	return nil
}

// severities are the severities alert kinds have.
func severities() []string {
	var out []string
	for _, k := range classify.Kinds() {
		if s := k.Severity(); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// matches reports whether the route selects notification n.
func (r *Route) matches(n *Notification) bool {
	if len(r.Hubs) > 0 && !slices.ContainsFunc(r.Hubs, func(g string) bool { return globMatch(g, n.Hub) }) {
		return false
	}
	if len(r.Kinds) > 0 && !slices.Contains(r.Kinds, string(n.Kind)) {
		return false
	}
	return len(r.Severities) == 0 || slices.Contains(r.Severities, n.Kind.Severity())
}

// Channels returns the channels notification n goes to, sorted and without
// repeats; all are the names of configured channels.
func (rs *Routes) Channels(n *Notification, configured []string) []string {
	var out []string
	matched := false
	for i := range rs.routes {
		r := &rs.routes[i]
		if !r.matches(n) {
			continue
		}
		matched = true
		out = append(out, r.Channels...)
		if !r.Continue {
			break
		}
	}
	if !matched {
		out = rs.deflt
		if out == nil {
			out = configured
		}
	}
	out = slices.Clone(out)
	slices.Sort(out)
	return slices.Compact(out)
}

// String renders the routes for the start-up log line (no secrets: routes
// name channels, not their URLs).
func (rs *Routes) String() string {
	if rs == nil {
		return "every configured channel"
	}
	var b bytes.Buffer
	doc := routesDoc{Routes: rs.routes}
	if rs.deflt != nil {
		doc.Default = &rs.deflt
	}
	_ = json.NewEncoder(&b).Encode(doc)
	return strings.TrimSpace(b.String())
}
