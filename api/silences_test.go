package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/store"
)

// roundTripJSON encodes an answer and decodes it into v, as a client would.
func roundTripJSON(t *testing.T, body any, v any) {
	t.Helper()
	b, err := MarshalBody(body)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
}

func TestSilencesAPI(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	now := time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	a := New(st, nil, nil)
	a.Now = func() time.Time { return now }

	create := func(body string) (int, Silence, Error) {
		t.Helper()
		code, ans := a.Write(ctx, http.MethodPost, "silences", []byte(body))
		var s Silence
		var e Error
		if code == http.StatusCreated {
			roundTripJSON(t, ans, &s)
		} else {
			roundTripJSON(t, ans, &e)
		}
		return code, s, e
	}
	code, active, _ := create(`{"matchers":{"hub":"contoso-prod-*","kind":"device-offline"},"endsAt":"2026-12-06T07:00:00Z","createdBy":"alice","comment":"line 3 maintenance"}`)
	if code != http.StatusCreated || active.ID == "" || active.Status != "active" || active.Matchers.Hub != "contoso-prod-*" ||
		active.StartsAt != "2026-12-06T05:00:00Z" {
		t.Fatalf("create = %d %+v", code, active)
	}
	code, pending, _ := create(`{"matchers":{"hub":"contoso-test"},"startsAt":"2026-12-06T06:00:00Z","endsAt":"2026-12-06T07:00:00Z","createdBy":"bob","comment":"tomorrow's window"}`)
	if code != http.StatusCreated || pending.Status != "pending" {
		t.Fatalf("create pending = %d %+v", code, pending)
	}

	// An alert record silenced by the active silence is listed with it.
	rec := `{"key":"device-offline/contoso-prod-1/d1","kind":"device-offline","hub":"contoso-prod-1","firing":true,"silencedBy":"` + active.ID + `"}`
	if _, err := st.PutBlobs(ctx, store.AlertBlobs, []store.Blob{{Key: "device-offline/contoso-prod-1/d1", Data: []byte(rec)},
		{Key: "hub-incident/contoso-prod-2", Data: []byte(`{"key":"hub-incident/contoso-prod-2","firing":true}`)}}); err != nil {
		t.Fatal(err)
	}
	code, ans := a.Query(ctx, "silences/"+active.ID, nil)
	var one Silence
	roundTripJSON(t, ans, &one)
	if code != 200 || one.ID != active.ID || len(one.Alerts) != 1 || one.Alerts[0] != "device-offline/contoso-prod-1/d1" {
		t.Errorf("get = %d %+v", code, one)
	}

	// Delete (expire) the active one; deleting again changes nothing.
	now = now.Add(10 * time.Minute)
	code, ans = a.Write(ctx, http.MethodDelete, "silences/"+active.ID, nil)
	var gone Silence
	roundTripJSON(t, ans, &gone)
	if code != 200 || gone.Status != "expired" || gone.EndsAt != "2026-12-06T05:10:00Z" {
		t.Errorf("delete = %d %+v", code, gone)
	}
	now = now.Add(time.Minute)
	code, ans = a.Write(ctx, http.MethodDelete, "silences/"+active.ID, nil)
	roundTripJSON(t, ans, &gone)
	if code != 200 || gone.EndsAt != "2026-12-06T05:10:00Z" {
		t.Errorf("second delete = %d %+v", code, gone)
	}

	list := func(q url.Values) []Silence {
		t.Helper()
		code, ans := a.Query(ctx, "silences", q)
		var l struct{ Items []Silence }
		roundTripJSON(t, ans, &l)
		if code != 200 {
			t.Fatalf("list %v = %d", q, code)
		}
		return l.Items
	}
	if all := list(nil); len(all) != 2 || all[0].ID != pending.ID || all[1].Status != "expired" {
		t.Errorf("list = %+v (pending before expired)", all)
	}
	if exp := list(url.Values{"status": {"expired"}}); len(exp) != 1 || exp[0].ID != active.ID {
		t.Errorf("list expired = %+v", exp)
	}

	errs := []struct {
		name, method, path, body string
		code                     int
		param                    string
	}{
		{"bad status", "GET", "silences?status=sleeping", "", 400, "status"},
		{"unknown kind", "POST", "silences", `{"matchers":{"hub":"h","kind":"bad"},"endsAt":"2026-12-06T07:00:00Z","createdBy":"a","comment":"c"}`, 400, "matchers.kind"},
		{"wide", "POST", "silences", `{"matchers":{"hub":"*"},"endsAt":"2026-12-06T07:00:00Z","createdBy":"a","comment":"c"}`, 400, "matchers.hub"},
		{"end before start", "POST", "silences", `{"matchers":{"hub":"h"},"startsAt":"2026-12-06T07:00:00Z","endsAt":"2026-12-06T06:00:00Z","createdBy":"a","comment":"c"}`, 400, "endsAt"},
		{"too large", "POST", "silences", `{"comment":"` + strings.Repeat("x", 20000) + `"}`, 413, "body"},
		{"unknown silence", "DELETE", "silences/nope", "", 404, ""},
		{"get unknown", "GET", "silences/nope", "", 404, ""},
		{"delete the list", "DELETE", "silences", "", 405, ""},
		{"post elsewhere", "POST", "disconnects", `{}`, 405, ""},
	}
	for _, e := range errs {
		var code int
		var ans any
		if e.method == "GET" {
			p, q, _ := strings.Cut(e.path, "?")
			qv, _ := url.ParseQuery(q)
			code, ans = a.Query(ctx, p, qv)
		} else {
			code, ans = a.Write(ctx, e.method, e.path, []byte(e.body))
		}
		var got Error
		roundTripJSON(t, ans, &got)
		if code != e.code || got.Parameter != e.param || got.Error == "" {
			t.Errorf("%s: %d %+v, want %d naming %q", e.name, code, got, e.code, e.param)
		}
	}
	if n := len(list(nil)); n != 2 {
		t.Errorf("bad requests stored silences: %d", n)
	}
}

// racingStore expires a silence behind the API's back between the API's
// read and its conditional write, once: a second DELETE on another
// instance.
type racingStore struct {
	store.Store
	raced bool
	at    time.Time
}

func (r *racingStore) PutSilence(ctx context.Context, s store.Silence) (string, error) {
	if s.ETag != "" && !r.raced {
		r.raced = true
		other, err := r.Store.GetSilence(ctx, s.ID)
		if err != nil {
			return "", err
		}
		other.EndsAt, other.UpdatedAt = r.at, r.at
		if _, err := r.Store.PutSilence(ctx, other); err != nil {
			return "", err
		}
	}
	return r.Store.PutSilence(ctx, s)
}

// TestExpireSilenceRace: a DELETE losing the race to another one reads the
// silence again and answers with the winner's end, instead of failing or
// overwriting it.
func TestExpireSilenceRace(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 6, 5, 0, 0, 0, time.UTC)
	rs := &racingStore{Store: store.NewMemory(), at: now.Add(-time.Second)}
	a := New(rs, nil, nil)
	a.Now = func() time.Time { return now }
	code, ans := a.Write(ctx, http.MethodPost, "silences", []byte(`{"matchers":{"hub":"h"},"startsAt":"2026-12-06T04:00:00Z","endsAt":"2026-12-06T07:00:00Z","createdBy":"a","comment":"c"}`))
	var s Silence
	roundTripJSON(t, ans, &s)
	if code != http.StatusCreated {
		t.Fatalf("create = %d %+v", code, ans)
	}
	code, ans = a.Write(ctx, http.MethodDelete, "silences/"+s.ID, nil)
	roundTripJSON(t, ans, &s)
	if code != 200 || !rs.raced || s.Status != "expired" || s.EndsAt != "2026-12-06T04:59:59Z" {
		t.Errorf("racing delete = %d %+v (raced %v)", code, s, rs.raced)
	}
}
