package classify

import (
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// TestTimesSayUTCAndDate (issue 10 item 4): every time in evidence and
// alert text says UTC; a diagnosis's evidence carries the date when it is
// not the disconnect's own; alert summaries and their evidence, which a
// reminder may repeat days later, always carry the date.
func TestTimesSayUTCAndDate(t *testing.T) {
	midnight := time.Date(2024, 5, 15, 0, 0, 1, 0, time.UTC)
	evs := []event.Event{
		connect("pump-1", at(0), 0, ""),
		// a hub-enforced expiry on the same day
		u401("pump-1", at(hms(1, 5, 14))), d404("pump-1", at(hms(1, 5, 14))), connect("pump-1", at(hms(1, 5, 31)), 0, ""),
		// a 401003 just before midnight beside a 404104 just after it
		connect("night-1", midnight.Add(-65*time.Minute), 0, ""),
		u401("night-1", midnight.Add(-2*time.Second)), d404("night-1", midnight), connect("night-1", midnight.Add(20*time.Second), 0, ""),
		// a device that goes away and stays away: device-offline
		connect("gone-1", at(0), 0, ""), d404("gone-1", at(hms(0, 10, 0))),
		connect("other", midnight.Add(time.Hour), 0, ""),
	}
	r := feed(t, testConfig(), sortByTime(evs), 1, time.Hour)

	for _, c := range []struct {
		dev  string
		at   time.Time
		want string
	}{
		{"pump-1", at(hms(1, 5, 14)), "401003 IoTHubUnauthorized at 11:05:14 UTC, 0s before the disconnect"},
		{"night-1", midnight, "401003 IoTHubUnauthorized at 2024-05-14 23:59:59 UTC, 2s before the disconnect"},
	} {
		d := r.diag(c.dev, c.at)
		if !containsLine(d.Evidence, c.want) {
			t.Errorf("%s evidence %q lacks %q", c.dev, d.Evidence, c.want)
		}
	}
	s := r.signalsOf(DeviceOffline, "gone-1")
	if len(s) == 0 {
		t.Fatalf("no device-offline signal for gone-1")
	}
	if want := "has been offline since 2024-05-14 10:10:00 UTC (device-or-network)"; !strings.Contains(s[0].Summary, want) {
		t.Errorf("summary %q lacks %q", s[0].Summary, want)
	}
	// The alert's "since" (its startsAt, a reminder's "still offline since")
	// is the disconnect its summary names, not the moment it became an alert.
	if !s[0].Since.Equal(at(hms(0, 10, 0))) || !s[0].At.Equal(at(hms(0, 25, 0))) {
		t.Errorf("offline signal Since %v At %v, want the disconnect and OfflineAfter later", s[0].Since, s[0].At)
	}
	if want := "404104 at 2024-05-14 10:10:00 UTC, judged device-or-network"; !containsLine(s[0].Evidence, want) {
		t.Errorf("signal evidence %q lacks %q", s[0].Evidence, want)
	}
}
