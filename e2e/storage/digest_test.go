package storage_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/internal/azurite"
	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost"
	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost/emulator"
	"github.com/disconnect-doctor/disconnect-doctor/sim"
)

// TestDailyDigestUnderHandler: two handler processes on one Azurite store,
// Evaluate moving between them under the lease, a local Teams receiver.
// When the event-time watermark passes DIGEST_HOUR the hub's digest is
// posted once, whichever process evaluates: the digest record in Table
// storage and the digest's stable outbox id keep the other process, and
// every later Evaluate, from sending it again.
func TestDailyDigestUnderHandler(t *testing.T) {
	ctx := context.Background()
	srv := azurite.Start(t, azurite.Options{})
	var mu sync.Mutex
	var cards []string
	teams := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		cards = append(cards, string(b))
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(teams.Close)

	cfg := sim.DefaultConfig(11)
	cfg.Devices, cfg.Duration = 30, 80*time.Minute // 06:00 to 07:20
	fleet := sim.Generate(cfg)
	prefix := srv.Prefix()
	hosts := make([]*emulator.Host, 2)
	for i := range hosts {
		hosts[i] = emulator.Start(t, emulator.Options{
			Env: funchost.WithLocalSettings(map[string]string{
				"STATE_STORAGE": srv.ConnString(), "STATE_TABLE_PREFIX": prefix, "WATERMARK": "eventtime",
				"TEAMS_WEBHOOK_URL": teams.URL, "DIGEST_HOUR": "7",
			}),
			FunctionTimeout: 2 * time.Minute,
			MaxAttempts:     1,
		})
	}
	ms := schedule(t, fleet, cfg.Start, hosts[0].Host.Extensions.EventHubs.MaxEventBatchSize)
	if err := runFleet(ctx, hosts, &router{n: 2}, ms, 0, len(ms)); err != nil {
		t.Fatal(err)
	}
	for range 3 { // later ticks on both processes
		if _, err := evaluate(ctx, hosts, 1); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	digests := 0
	for _, c := range cards {
		if strings.Contains(c, "Daily digest for "+cfg.Hub+", 2024-05-14") {
			digests++
			if !strings.Contains(c, "The 24 hours from 2024-05-13 07:00 to 2024-05-14 07:00 UTC.") || !strings.Contains(c, "Disconnects by cause") {
				t.Errorf("digest card: %s", c)
			}
		}
	}
	if digests != 1 {
		t.Errorf("%d digest cards of %d cards, want 1", digests, len(cards))
	}
	// With WATERMARK=eventtime the alerts of the day are counted by when
	// they fell due in event time, not when they were enqueued.
	for _, c := range cards {
		if strings.Contains(c, "Daily digest for ") && strings.Contains(c, "; 0 alert notifications sent.") {
			t.Errorf("the digest counts no alerts though %d alert cards were posted", len(cards)-digests)
		}
	}
}
