package config

import (
	"strings"
	"testing"
	"time"
)

// TestSiteSettings: SITE_MIN_DEVICES and SITE_WINDOW default to 3 and 2m,
// are read, and a bad value is an error naming the setting.
func TestSiteSettings(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Site.MinDevices != 3 || c.Site.Window != 2*time.Minute {
		t.Errorf("site defaults %+v", c.Site)
	}
	c, err = Load(env(map[string]string{"SITE_MIN_DEVICES": "5", "SITE_WINDOW": "90s"}))
	if err != nil || c.Site.MinDevices != 5 || c.Site.Window != 90*time.Second {
		t.Errorf("site %+v, %v", c.Site, err)
	}
	for name, v := range map[string]string{"SITE_MIN_DEVICES": "1", "SITE_WINDOW": "two minutes"} {
		_, err := Load(env(map[string]string{name: v}))
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%q: %v, want an error naming it", name, v, err)
		}
	}
}
