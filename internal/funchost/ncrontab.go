package funchost

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule is a timer trigger's NCRONTAB expression with the seconds field
// the Functions host requires (reference §6: "{second} {minute} {hour}
// {day} {month} {day-of-week}"), e.g. "*/30 * * * * *". Each field takes
// "*", a number, a range "a-b", a step "*/n" or "a-b/n", or a list of
// those separated by ","; month and day-of-week names are not supported.
// Day and day-of-week must both match. Times are UTC.
type Schedule struct {
	fields [6]uint64 // bit v set when value v matches
}

var scheduleRanges = [6][2]int{{0, 59}, {0, 59}, {0, 23}, {1, 31}, {1, 12}, {0, 6}}

// ParseSchedule parses a 6-field NCRONTAB expression.
func ParseSchedule(expr string) (*Schedule, error) {
	parts := strings.Fields(expr)
	if len(parts) != 6 {
		return nil, fmt.Errorf("schedule %q: want 6 fields (second minute hour day month day-of-week), got %d", expr, len(parts))
	}
	var s Schedule
	for i, p := range parts {
		bits, err := parseField(p, scheduleRanges[i][0], scheduleRanges[i][1])
		if err != nil {
			return nil, fmt.Errorf("schedule %q field %d: %w", expr, i+1, err)
		}
		s.fields[i] = bits
	}
	return &s, nil
}

func parseField(f string, lo, hi int) (uint64, error) {
	var bits uint64
	for _, item := range strings.Split(f, ",") {
		rng, stepText, hasStep := strings.Cut(item, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n <= 0 || n > hi-lo+1 {
				return 0, fmt.Errorf("bad step %q", stepText)
			}
			step = n
		}
		from, to := lo, hi
		switch {
		case rng == "*":
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			x, err1 := strconv.Atoi(a)
			y, err2 := strconv.Atoi(b)
			if err1 != nil || err2 != nil || x < lo || y > hi || x > y {
				return 0, fmt.Errorf("bad range %q (allowed %d-%d)", rng, lo, hi)
			}
			from, to = x, y
		default:
			x, err := strconv.Atoi(rng)
			if err != nil || x < lo || x > hi {
				return 0, fmt.Errorf("bad value %q (allowed %d-%d)", rng, lo, hi)
			}
			from, to = x, x
			if hasStep {
				to = hi
			}
		}
		for v := from; v <= to; v += step {
			bits |= 1 << v
		}
	}
	return bits, nil
}

func (s *Schedule) match(i, v int) bool { return s.fields[i]&(1<<v) != 0 }

// Next returns the first occurrence strictly after t (UTC, whole seconds),
// or the zero time if there is none within 5 years (e.g. February 30).
func (s *Schedule) Next(t time.Time) time.Time {
	t = t.UTC().Truncate(time.Second).Add(time.Second)
	limit := t.AddDate(5, 0, 0)
	for t.Before(limit) {
		switch {
		case !s.match(4, int(t.Month())):
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
		case !s.match(3, t.Day()) || !s.match(5, int(t.Weekday())):
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, time.UTC)
		case !s.match(2, t.Hour()):
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour()+1, 0, 0, 0, time.UTC)
		case !s.match(1, t.Minute()):
			t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute()+1, 0, 0, time.UTC)
		case !s.match(0, t.Second()):
			t = t.Add(time.Second)
		default:
			return t
		}
	}
	return time.Time{}
}

// Period returns the shortest gap between two consecutive occurrences in
// the day after from (the timer's worst-case wait), for cost estimates.
func (s *Schedule) Period(from time.Time) time.Duration {
	var shortest time.Duration
	prev := s.Next(from)
	end := from.Add(24 * time.Hour)
	for !prev.IsZero() && prev.Before(end) {
		next := s.Next(prev)
		if next.IsZero() {
			break
		}
		if d := next.Sub(prev); shortest == 0 || d < shortest {
			shortest = d
		}
		prev = next
	}
	return shortest
}
