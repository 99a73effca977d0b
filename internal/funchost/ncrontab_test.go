package funchost

import (
	"testing"
	"time"
)

func TestScheduleNext(t *testing.T) {
	base := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		expr string
		from time.Time
		want time.Time
	}{
		{"*/30 * * * * *", base, base.Add(30 * time.Second)},
		{"*/30 * * * * *", base.Add(29*time.Second + 900*time.Millisecond), base.Add(30 * time.Second)},
		{"*/30 * * * * *", base.Add(30 * time.Second), base.Add(time.Minute)},
		{"0 */1 * * * *", base.Add(10 * time.Second), base.Add(time.Minute)},
		{"0 */5 * * * *", base.Add(time.Second), base.Add(5 * time.Minute)},
		{"15,45 * * * * *", base, base.Add(15 * time.Second)},
		{"0 0 9-17 * * 1-5", base, time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)}, // a Sunday: Monday 09:00
		{"0 30 2 1 * *", base, time.Date(2027, 1, 1, 2, 30, 0, 0, time.UTC)},
		{"0 0 0 30 2 *", base, time.Time{}}, // February 30th never comes
	}
	for _, tc := range cases {
		s, err := ParseSchedule(tc.expr)
		if err != nil {
			t.Fatalf("%q: %v", tc.expr, err)
		}
		if got := s.Next(tc.from); !got.Equal(tc.want) {
			t.Errorf("%q after %s: %s, want %s", tc.expr, tc.from.Format(time.RFC3339Nano), got, tc.want)
		}
	}
}

func TestSchedulePeriod(t *testing.T) {
	for expr, want := range map[string]time.Duration{"*/30 * * * * *": 30 * time.Second, "0 */1 * * * *": time.Minute, "0,10 * * * * *": 10 * time.Second} {
		s, err := ParseSchedule(expr)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Period(time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)); got != want {
			t.Errorf("%q: period %s, want %s", expr, got, want)
		}
	}
}

func TestScheduleErrors(t *testing.T) {
	for _, expr := range []string{"", "* * * * *", "60 * * * * *", "*/0 * * * * *", "a * * * * *", "5-1 * * * * *", "* * * * JAN *", "*/61 * * * * *"} {
		if _, err := ParseSchedule(expr); err == nil {
			t.Errorf("%q: want an error", expr)
		}
	}
}

func FuzzParseSchedule(f *testing.F) {
	for _, s := range []string{"*/30 * * * * *", "0 */5 * * * *", "0 0 9-17 * * 1-5", "1,2,3 4-5/2 * 1 1 0", "0 0 0 30 2 *"} {
		f.Add(s)
	}
	from := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, expr string) {
		s, err := ParseSchedule(expr)
		if err != nil {
			return
		}
		next := s.Next(from)
		if next.IsZero() {
			return
		}
		if !next.After(from) || next.Nanosecond() != 0 {
			t.Fatalf("%q: next %s not after %s on a whole second", expr, next, from)
		}
		// It is an occurrence: the search from just before it finds it.
		if again := s.Next(next.Add(-time.Second)); !again.Equal(next) {
			t.Fatalf("%q: %s is not stable (%s)", expr, next, again)
		}
	})
}
