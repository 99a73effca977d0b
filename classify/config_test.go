package classify

import (
	"strings"
	"testing"
	"time"
)

// TestWatermark pins PRODUCT.md §4 WATERMARK.
func TestWatermark(t *testing.T) {
	now := time.Date(2024, 5, 14, 12, 0, 0, 0, time.UTC)
	L := 5 * time.Minute
	p := func(newest, updated time.Duration) Progress {
		return Progress{Writer: "p", Newest: now.Add(-newest), Updated: now.Add(-updated)}
	}
	cases := []struct {
		name string
		mode Mode
		prog []Progress
		want time.Time
	}{
		{"wallclock no progress", WallClock, nil, now.Add(-L)},
		{"wallclock caught up", WallClock, []Progress{p(10*time.Second, 10*time.Second)}, now.Add(-L - 10*time.Second)},
		{"wallclock slowest active partition holds it back", WallClock,
			[]Progress{p(time.Second, time.Second), p(20*time.Minute, 30*time.Second)}, now.Add(-25 * time.Minute)},
		{"wallclock idle partition does not", WallClock,
			[]Progress{p(time.Second, time.Second), p(3*time.Hour, 6*time.Minute)}, now.Add(-L - time.Second)},
		{"wallclock never ahead of now-L", WallClock, []Progress{p(-time.Hour, 0)}, now.Add(-L)},
		{"eventtime newest", EventTime, []Progress{p(24*time.Hour, 0), p(48*time.Hour, 0)}, now.Add(-24*time.Hour - L)},
		{"eventtime nothing", EventTime, nil, time.Time{}},
	}
	for _, c := range cases {
		if got := Watermark(c.mode, now, L, c.prog); !got.Equal(c.want) {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	d := DefaultConfig()
	if d.ReconnectGrace != time.Minute || d.AllowedLateness != 5*time.Minute || d.OfflineAfter != 15*time.Minute ||
		d.FlapCount != 3 || d.IncidentMinDevices != 10 || d.Retention != 7*24*time.Hour || d.Mode != WallClock {
		t.Fatalf("defaults %+v differ from PRODUCT.md §4", d)
	}
	for _, c := range []struct {
		mut  func(*Config)
		name string
	}{
		{func(c *Config) { c.ReconnectGrace = 0 }, "RECONNECT_GRACE"},
		{func(c *Config) { c.AllowedLateness = -time.Second }, "ALLOWED_LATENESS"},
		{func(c *Config) { c.FlapCount = 1 }, "FLAP_COUNT"},
		{func(c *Config) { c.IncidentMinDevices = 0 }, "INCIDENT_MIN_DEVICES"},
		{func(c *Config) { c.Mode = 7 }, "WATERMARK"},
	} {
		cfg := DefaultConfig()
		c.mut(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.name) {
			t.Errorf("want an error naming %s, got %v", c.name, err)
		}
	}
	if m, err := ParseMode("eventtime"); err != nil || m != EventTime {
		t.Errorf("ParseMode(eventtime) = %v, %v", m, err)
	}
	if _, err := ParseMode("Wallclock "); err == nil {
		t.Error("ParseMode accepted a bad value")
	}
}
