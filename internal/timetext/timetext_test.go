package timetext_test

import (
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/internal/timetext"
)

func TestAt(t *testing.T) {
	cet := time.FixedZone("CET", 3600)
	tm := time.Date(2024, 5, 14, 23, 30, 5, 0, time.UTC)
	cases := []struct {
		name   string
		t, ref time.Time
		want   string
	}{
		{"same UTC date: time only", tm, time.Date(2024, 5, 14, 1, 0, 0, 0, time.UTC), "23:30:05 UTC"},
		{"another date: with the date", tm, time.Date(2024, 5, 16, 9, 0, 0, 0, time.UTC), "2024-05-14 23:30:05 UTC"},
		{"no reference: with the date", tm, time.Time{}, "2024-05-14 23:30:05 UTC"},
		{"zones are converted before dates compare", tm.In(cet), time.Date(2024, 5, 15, 0, 10, 0, 0, cet), "23:30:05 UTC"},
		{"a reference the next UTC day", tm, time.Date(2024, 5, 15, 0, 0, 0, 0, time.UTC), "2024-05-14 23:30:05 UTC"},
		{"zero time", time.Time{}, tm, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := timetext.At(tc.t, tc.ref); got != tc.want {
				t.Errorf("At = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestUnix(t *testing.T) {
	tm := time.Date(2024, 5, 14, 6, 46, 7, 0, time.UTC).Unix()
	if got := timetext.Unix(tm, tm+3600); got != "06:46:07 UTC" {
		t.Errorf("same day: %q", got)
	}
	if got := timetext.Unix(tm, 0); got != "2024-05-14 06:46:07 UTC" {
		t.Errorf("no reference: %q", got)
	}
	if got := timetext.Unix(tm, tm+86400); got != "2024-05-14 06:46:07 UTC" {
		t.Errorf("next day: %q", got)
	}
}
