package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/config"
	"github.com/disconnect-doctor/disconnect-doctor/sim"
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

// TestRunFollowsRoutes: `make run` applies ALERT_ROUTES to its local
// receivers: with critical alerts to Teams and the webhook, the rest to
// the webhook and e-mail, the webhook receives everything, Teams only the
// critical notifications and e-mail only the others.
func TestRunFollowsRoutes(t *testing.T) {
	cfg, err := config.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	sc := sim.DefaultConfig(7)
	sc.Devices, sc.Duration = 200, 6*time.Hour
	res, err := simulateRun(context.Background(), runOptions{sim: sc, cfg: cfg, out: t.TempDir(), appDir: repoRoot,
		routes: `{"routes":[{"severities":["critical"],"channels":["teams","webhook"]}],"default":["webhook","email"]}`})
	if err != nil {
		t.Fatal(err)
	}
	critical := 0
	for _, n := range res.Notifications {
		if classify.SignalKind(n.Alerts[0].Kind).Severity() == "critical" {
			critical++
		}
	}
	if critical == 0 || critical == len(res.Notifications) {
		t.Fatalf("the fleet should give both critical and other notifications: %d of %d critical", critical, len(res.Notifications))
	}
	// The run's daily digest (severity warning) follows the default route:
	// to e-mail, not the webhook, which never gets a digest.
	if len(res.Digests) != 1 {
		t.Errorf("%d daily digests, want 1", len(res.Digests))
	}
	if res.Teams != critical || res.Emails != len(res.Notifications)-critical+len(res.Digests) {
		t.Errorf("webhook %d (critical %d), Teams %d, e-mail %d, digests %d", len(res.Notifications), critical, res.Teams, res.Emails, len(res.Digests))
	}
	if _, err := runRoutes(`{"routes":[{"channels":["pagerduty"]}]}`, map[string]alert.Notifier{"teams": nil}); err == nil ||
		!strings.Contains(err.Error(), `ALERT_ROUTES: routes[0].channels[0]: channel "pagerduty" is not configured`) {
		t.Errorf("routes naming a channel the run lacks: %v", err)
	}
}
