package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/alert"
	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/internal/funchost"
	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// pagingNow is the wall clock of the paging tests.
var pagingNow = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)

// walk opens a page, collects what itemRE captures on it, and follows its
// "next page" link until there is none, as a person clicking through would.
// It returns the items by page.
func walk(ctx context.Context, t *testing.T, p *Pages, path string, q url.Values, itemRE *regexp.Regexp, nextClass string) [][]string {
	t.Helper()
	nextRE := regexp.MustCompile(`<a class="` + nextClass + `" href="([^"]+)">`)
	var pages [][]string
	for len(pages) < 100 {
		status, page := p.Serve(ctx, path, q)
		if status != 200 {
			t.Fatalf("page %d (%s?%s): status %d: %s", len(pages)+1, path, q.Encode(), status, page.Body)
		}
		var items []string
		for _, m := range itemRE.FindAllStringSubmatch(string(page.Body), -1) {
			items = append(items, html.UnescapeString(m[1]))
		}
		pages = append(pages, items)
		m := nextRE.FindStringSubmatch(string(page.Body))
		if m == nil {
			return pages
		}
		u, err := url.Parse(html.UnescapeString(m[1]))
		if err != nil {
			t.Fatal(err)
		}
		if u.Query().Get("code") != "k" {
			t.Fatalf("next link %s lost the function key", u)
		}
		path, q = strings.TrimPrefix(u.Path, p.Base), u.Query()
	}
	t.Fatal("the pages never end")
	return nil
}

// TestIncidentPageReachesEveryDevice: an incident that caught more devices
// than a page lists (1 234 here; 100 000 at issue 9's size) is listed a
// page at a time through the store's cursor, and following the pages
// reaches every device once — before, the page showed the first 500 and
// said "first shown", with no way to the rest.
func TestIncidentPageReachesEveryDevice(t *testing.T) {
	ctx := funchost.WithKey(context.Background(), "k")
	st := store.NewMemory()
	const hub, caught = "hub-1", 1234
	start := pagingNow.Add(-2 * time.Hour)
	in := classify.Incident{ID: hub + "-" + start.Format("20060102T1504Z"), Hub: hub, Start: start, End: start.Add(20 * time.Minute), Devices: caught}
	if err := st.PutIncidents(ctx, []classify.Incident{in}); err != nil {
		t.Fatal(err)
	}
	var ds []classify.Diagnosis
	for i := range caught + 300 {
		d := classify.Diagnosis{Key: event.Key{Hub: hub, Device: fmt.Sprintf("dev-%05d", i)}, Time: start.Add(time.Duration(i) * time.Second),
			EventID: event.ID{byte(i), byte(i >> 8), 1}, Cause: classify.HubTransient, Final: true, Incident: in.ID}
		if i >= caught { // disconnects of the same minutes the incident did not catch
			d.Cause, d.Incident = classify.TokenExpiry, ""
		}
		ds = append(ds, d)
	}
	if err := st.PutDiagnoses(ctx, ds); err != nil {
		t.Fatal(err)
	}
	p := New(st, func() time.Time { return pagingNow }, nil)
	item := regexp.MustCompile(`<li><span class="sw [^"]*" title="[^"]*"></span><a href="[^"]*"><span class="id">([^<]+)</span>`)
	pages := walk(ctx, t, p, "ui/incidents/"+in.ID, nil, item, "next")
	seen := map[string]int{}
	for i, pg := range pages {
		if len(pg) > caughtPage {
			t.Errorf("page %d lists %d devices, more than %d", i+1, len(pg), caughtPage)
		}
		for _, id := range pg {
			seen[id]++
		}
	}
	if len(pages) != (caught+caughtPage-1)/caughtPage {
		t.Errorf("%d pages, want %d", len(pages), (caught+caughtPage-1)/caughtPage)
	}
	for i := range caught + 300 {
		id := fmt.Sprintf("dev-%05d", i)
		if want := map[bool]int{true: 1}[i < caught]; seen[id] != want {
			t.Errorf("%s listed %d times, want %d", id, seen[id], want)
		}
	}
	if status, _ := p.Serve(ctx, "ui/incidents/"+in.ID, url.Values{"cursor": {"!!not base64!!"}}); status != 400 {
		t.Errorf("a bad cursor: status %d, want 400", status)
	}
}

// TestFiringGroupsReachEveryDevice: a firing group larger than a page (the
// devices a hub incident released, still offline) is listed a page at a
// time on the hub page, and the overview's group continues there, so
// every firing device is reachable from the dashboard — before, the hub
// page listed 200 and the overview 25, then "+ N more" with no link.
func TestFiringGroupsReachEveryDevice(t *testing.T) {
	ctx := funchost.WithKey(context.Background(), "k")
	st := store.NewMemory()
	const hub, offline = "hub-1", 450
	if _, err := st.PutBlobs(ctx, store.HubBlobs, []store.Blob{{Key: hub, Data: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	var bs []store.Blob
	for i := range offline + 3 {
		r := alert.Record{Key: fmt.Sprintf("device-offline/%s/dev-%04d", hub, i), Kind: classify.DeviceOffline, Hub: hub,
			Device: fmt.Sprintf("dev-%04d", i), Firing: true, Since: pagingNow.Add(-time.Duration(i%7) * time.Minute), Summary: "offline"}
		if i >= offline {
			r.Kind, r.Key = classify.DeviceFlapping, strings.Replace(r.Key, "device-offline", "device-flapping", 1)
		}
		b, _ := json.Marshal(r)
		bs = append(bs, store.Blob{Key: r.Key, Data: b})
	}
	if _, err := st.PutBlobs(ctx, store.AlertBlobs, bs); err != nil {
		t.Fatal(err)
	}
	p := New(st, func() time.Time { return pagingNow }, nil)
	// The device links of the offline group only: its <div> up to the next group.
	item := regexp.MustCompile(`<li><a href="[^"]*"><span class="id">(dev-[0-9]+)</span></a>`)
	group := func(body, kind string) string {
		_, rest, _ := strings.Cut(body, `data-kind="`+kind+`"`)
		g, _, _ := strings.Cut(rest, `<div class="group"`)
		return g
	}
	for _, tc := range []struct {
		name, path string
		first      int
	}{{"hub page", "ui/hubs/" + hub, maxListedHub}, {"overview, then the hub page", "ui", maxListed}} {
		t.Run(tc.name, func(t *testing.T) {
			seen := map[string]int{}
			path, q := tc.path, url.Values(nil)
			for n := 0; ; n++ {
				if n > 10 {
					t.Fatal("the pages never end")
				}
				status, page := p.Serve(ctx, path, q)
				if status != 200 {
					t.Fatalf("%s: status %d", path, status)
				}
				g := group(string(page.Body), string(classify.DeviceOffline))
				ids := item.FindAllStringSubmatch(g, -1)
				if n == 0 && len(ids) != tc.first {
					t.Errorf("first page lists %d offline devices, want %d", len(ids), tc.first)
				}
				for _, m := range ids {
					seen[m[1]]++
				}
				m := regexp.MustCompile(`<a class="next" href="([^"]+)">`).FindStringSubmatch(g)
				if m == nil {
					break
				}
				u, err := url.Parse(html.UnescapeString(m[1]))
				if err != nil || u.Query().Get("code") != "k" || u.Query().Get("kind") != string(classify.DeviceOffline) {
					t.Fatalf("next link %q", m[1])
				}
				path, q = strings.TrimPrefix(u.Path, p.Base), u.Query()
			}
			if len(seen) != offline {
				t.Errorf("%d offline devices reached, want %d", len(seen), offline)
			}
			for id, c := range seen {
				if c != 1 {
					t.Errorf("%s listed %d times", id, c)
				}
			}
		})
	}
}

// TestAfterCursor: a page starts after its cursor's record in the group's
// order (newest first, then by key), also when that record has resolved
// since the cursor was written; a cursor that does not parse starts over.
func TestAfterCursor(t *testing.T) {
	rec := func(min int, key string) *alert.Record {
		return &alert.Record{Key: key, Since: pagingNow.Add(-time.Duration(min) * time.Minute)}
	}
	rs := []*alert.Record{rec(1, "a"), rec(1, "c"), rec(2, "a"), rec(2, "b"), rec(5, "a")}
	for _, tt := range []struct {
		name   string
		cursor string
		want   int
	}{
		{"after the first", recCursor(rs[0]), 1},
		{"same start, later key", recCursor(rs[2]), 3},
		{"after the last", recCursor(rs[4]), 5},
		{"a resolved record between two", recCursor(rec(1, "b")), 1},
		{"a resolved record between two starts", recCursor(rec(3, "z")), 4},
		{"garbage", "yesterday", 0},
		{"no key", "12", 0},
	} {
		if got := afterCursor(rs, tt.cursor); got != tt.want {
			t.Errorf("%s: afterCursor(%q) = %d, want %d", tt.name, tt.cursor, got, tt.want)
		}
	}
}
