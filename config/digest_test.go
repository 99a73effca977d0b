package config

import (
	"strings"
	"testing"
)

func TestDigestHour(t *testing.T) {
	cases := []struct {
		in   string
		want int
		err  bool
	}{
		{"", 8, false},
		{"0", 0, false},
		{"23", 23, false},
		{" 06 ", 6, false},
		{"off", DigestOff, false},
		{"OFF", DigestOff, false},
		{"24", 0, true},
		{"-1", 0, true},
		{"8am", 0, true},
		{"08:30", 0, true},
	}
	for _, c := range cases {
		cfg, err := Load(env(map[string]string{"DIGEST_HOUR": c.in}))
		switch {
		case c.err && (err == nil || !strings.Contains(err.Error(), "DIGEST_HOUR")):
			t.Errorf("DIGEST_HOUR=%q: error %v, want one naming DIGEST_HOUR", c.in, err)
		case !c.err && err != nil:
			t.Errorf("DIGEST_HOUR=%q: %v", c.in, err)
		case !c.err && cfg.DigestHour != c.want:
			t.Errorf("DIGEST_HOUR=%q: hour %d, want %d", c.in, cfg.DigestHour, c.want)
		}
	}
}
