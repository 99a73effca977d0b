package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/internal/sink"
	"github.com/disconnect-doctor/disconnect-doctor/notify/graph"
	"github.com/disconnect-doctor/disconnect-doctor/notify/pagerduty"
)

// runToken stands in for the managed identity during `handler run`: the
// Graph channel gets a bearer token without Azure. It is not a secret.
type runToken struct{}

func (runToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: "handler-run-local-token", ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// requestSinks receive the Graph sendMail and PagerDuty Events API requests
// of a run, each saved as out/graph/NNNN.json and out/pagerduty/NNNN.json:
// the real channels send them, only the endpoints are local.
type requestSinks struct {
	graph, pagerduty *sink.HTTP
}

// startRequestSinks starts both receivers and adds the "graph" and
// "pagerduty" channels pointed at them.
func startRequestSinks(out string, channels map[string]alert.Notifier) (*requestSinks, error) {
	s := &requestSinks{}
	for _, d := range []string{"graph", "pagerduty"} {
		if err := os.RemoveAll(filepath.Join(out, d)); err != nil {
			return nil, err
		}
	}
	var err error
	if s.graph, err = sink.NewHTTP(filepath.Join(out, "graph")); err != nil {
		return nil, err
	}
	if s.pagerduty, err = sink.NewHTTP(filepath.Join(out, "pagerduty")); err != nil {
		s.graph.Close()
		return nil, err
	}
	g, err := graph.New(graph.Config{Sender: "disconnect-doctor@localhost", To: []string{"oncall@localhost"},
		Credential: runToken{}, Identity: "handler run's local token", BaseURL: strings.TrimSuffix(s.graph.URL, "/hook")})
	if err != nil {
		s.Close()
		return nil, err
	}
	pd, err := pagerduty.New(pagerduty.Config{RoutingKey: "handler-run-routing-key", URL: s.pagerduty.URL})
	if err != nil {
		s.Close()
		return nil, err
	}
	channels["graph"], channels["pagerduty"] = g, pd
	return s, nil
}

// Close stops both receivers.
func (s *requestSinks) Close() {
	s.graph.Close()
	s.pagerduty.Close()
}
