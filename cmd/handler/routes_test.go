package main

import (
	"context"
	"strings"
	"testing"
)

// TestServeRefusesBadRoutes: a routes document naming a channel that is not
// configured stops `handler serve` at start-up (before it listens) with an
// error naming the setting, the route and the field.
func TestServeRefusesBadRoutes(t *testing.T) {
	t.Setenv("FUNCTIONS_CUSTOMHANDLER_PORT", "0")
	t.Setenv("STATE_STORAGE", "memory")
	t.Setenv("ALERT_ROUTES", `{"routes":[{"name":"prod","hubs":["*-prod-*"],"channels":["teams"]}]}`)
	err := serve(context.Background())
	if err == nil || !strings.Contains(err.Error(), `ALERT_ROUTES: routes[0] ("prod").channels[0]: channel "teams" is not configured`) {
		t.Fatalf("serve = %v", err)
	}
}
