package classify

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// fixtureState runs a small mixed stream (token expiries, a network drop
// with Event Grid state events, a hub incident) and returns the state.
func fixtureState(t testing.TB) (*State, *run) {
	evs := append([]event.Event{connect("pump-0042", at(0), 0, "")}, expiry("pump-0042", at(hms(1, 5, 14)), 17*time.Second)...)
	evs = append(evs, periodic("c-sdk-7", 48*time.Minute, 4, 3, 8*time.Second)...)
	evs = append(evs, connect("blip", at(0), 0, ""), d404("blip", at(hms(0, 23, 10))), stateEv("blip", at(hms(0, 23, 40)), false, 1),
		connect("blip", at(hms(0, 26, 0)), 0, ""), stateEv("blip", at(hms(0, 26, 30)), true, 2))
	evs = append(evs, burst(12, true, at(hms(3, 22, 0)), "pump")...)
	// a custom 25-min token whose first two expiries lost their 401003: revised
	// once the third shows the period (reviseEarlier; sample v2 fields)
	c := at(0)
	evs = append(evs, connect("custom-ttl", c, 0, ""))
	for i, age := range []time.Duration{25*time.Minute + 41*time.Second, 25*time.Minute + 32*time.Second, 25*time.Minute + 37*time.Second} {
		x := c.Add(age)
		if i == 2 {
			evs = append(evs, u401("custom-ttl", x))
		}
		c = x.Add(7 * time.Second)
		evs = append(evs, d404("custom-ttl", x), connect("custom-ttl", c, 0, ""))
	}
	r := feed(t, testConfig(), sortByTime(evs), 5, 30*time.Minute)
	return r.st, r
}

// TestBlobRoundTrip: every device and hub blob decodes to a state that
// encodes to the same bytes.
func TestBlobRoundTrip(t *testing.T) {
	st, _ := fixtureState(t)
	ns := reload(t, st)
	for k := range st.devices {
		a, _ := st.MarshalDevice(k)
		b, _ := ns.MarshalDevice(k)
		if !bytes.Equal(a, b) {
			t.Errorf("device %s: blob changed across a round trip", k)
		}
	}
	for h := range st.hubs {
		a, _ := st.MarshalHub(h)
		b, _ := ns.MarshalHub(h)
		if !bytes.Equal(a, b) {
			t.Errorf("hub %s: blob changed across a round trip", h)
		}
	}
	if _, err := st.MarshalDevice(event.Key{Hub: "nope", Device: "x"}); err == nil {
		t.Error("marshal of an untracked device succeeded")
	}
}

// TestBlobRoundTripUnprior: a .NET prior verdict revised to
// device-or-network keeps, across a round trip, its sample's prior bit and
// what revised it, and its late flapping entry (counted from the revision).
func TestBlobRoundTripUnprior(t *testing.T) {
	evs := netSessions("flap-prior", sdkDotNetV, []netSession{{64 * time.Minute, 10 * time.Second, false},
		{20 * time.Minute, 10 * time.Second, true}, {6 * time.Minute, 10 * time.Second, false}})
	r := feed(t, testConfig(), evs, 2, 30*time.Minute)
	k := event.Key{Hub: testHub, Device: "flap-prior"}
	a, err := r.st.MarshalDevice(k)
	if err != nil {
		t.Fatal(err)
	}
	d, err := decodeDevice(k, a)
	if err != nil {
		t.Fatal(err)
	}
	if b := encodeDevice(d); !bytes.Equal(a, b) {
		t.Errorf("blob changed across a round trip")
	}
	first := at(64 * time.Minute).Unix()
	si := d.sampleAt(first)
	if si < 0 {
		t.Fatalf("no sample for the revised verdict: %+v", d.samples)
	}
	s := d.samples[si]
	if !s.prior() || s.cause != ccDeviceOrNetwork || s.retroIn == 0 || s.pdur != 20*60 || !s.pby() || s.rev != 1 || s.back != 10 {
		t.Errorf("decoded sample %+v", s)
	}
	want := flapRev{t: first, by: s.retroAt(), late: true}
	if !slices.Contains(d.flapRevs, want) {
		t.Errorf("flapRevs %+v lack %+v", d.flapRevs, want)
	}
}

// TestDeviceViewGolden pins the API's devices/{id} rendering of a device
// with a learned period and a revision-free history (testdata/*.golden.json).
func TestDeviceViewGolden(t *testing.T) {
	st, r := fixtureState(t)
	for _, dev := range []string{"c-sdk-7", "blip", "custom-ttl"} {
		k := event.Key{Hub: testHub, Device: dev}
		blob, err := st.MarshalDevice(k)
		if err != nil {
			t.Fatal(err)
		}
		v, err := DecodeDeviceView(k, blob)
		if err != nil {
			t.Fatal(err)
		}
		var diags []Diagnosis
		for _, d := range r.final {
			if d.Key == k {
				diags = append(diags, d)
			}
		}
		sortDiags(diags)
		got, _ := json.MarshalIndent(struct {
			View      DeviceView
			Diagnoses []Diagnosis
		}{v, diags}, "", "  ")
		path := filepath.Join("testdata", dev+".golden.json")
		if *update {
			if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./classify -run Golden -update)", err)
		}
		if !bytes.Equal(bytes.TrimSpace(want), bytes.TrimSpace(got)) {
			t.Errorf("%s differs from golden:\n%s", path, got)
		}
	}
}

func sortDiags(ds []Diagnosis) {
	for i := 1; i < len(ds); i++ {
		for j := i; j > 0 && ds[j].Time.Before(ds[j-1].Time); j-- {
			ds[j], ds[j-1] = ds[j-1], ds[j]
		}
	}
}

// FuzzUnmarshalDevice: a device blob decoder never panics or over-allocates
// on arbitrary bytes, and whatever it accepts re-encodes to a stable form.
func FuzzUnmarshalDevice(f *testing.F) {
	st, _ := fixtureState(f)
	for k := range st.devices {
		b, _ := st.MarshalDevice(k)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		k := event.Key{Hub: "h", Device: "d"}
		d, err := decodeDevice(k, b)
		if err != nil {
			return
		}
		// Arbitrary bytes may be a non-canonical encoding (long varints,
		// bool bytes other than 0/1); their re-encoding must be a fixed point.
		canon := encodeDevice(d)
		d2, err := decodeDevice(k, canon)
		if err != nil {
			t.Fatalf("re-encoded blob does not decode: %v", err)
		}
		if again := encodeDevice(d2); !bytes.Equal(again, canon) {
			t.Fatalf("encoding is not a fixed point")
		}
		if _, err := DecodeDeviceView(k, b); err != nil {
			t.Fatalf("view of an accepted blob failed: %v", err)
		}
	})
}

// FuzzUnmarshalHub: the hub blob decoder never panics on arbitrary bytes.
func FuzzUnmarshalHub(f *testing.F) {
	st, _ := fixtureState(f)
	for h := range st.hubs {
		b, _ := st.MarshalHub(h)
		f.Add(b)
	}
	f.Add([]byte{1})
	if b, err := os.ReadFile("testdata/v2/hub.bin"); err == nil {
		f.Add(b) // the previous layout (member sets)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ns := NewState()
		if err := ns.UnmarshalHub("h", b); err != nil {
			return
		}
		if _, err := ns.MarshalHub("h"); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzClassify401003: the errorMessage classifier accepts any text.
func FuzzClassify401003(f *testing.F) {
	for _, s := range []string{msgRenew, "IotHub 'h' does not contain the specified device 'd'",
		"Thumbprint does not match configuration: x", "clock skew", "Authorization header missing", ""} {
		f.Add(s, "sas")
	}
	f.Fuzz(func(t *testing.T, msg, auth string) {
		if c := classify401003(msg, auth); c == mcNone || c.String() == "" {
			t.Fatalf("class %d for %q", c, msg)
		}
	})
}

// TestClassify401003 pins which fix each documented 401003 message leads to
// (reference §2.2 lists the messages).
func TestClassify401003(t *testing.T) {
	for _, c := range []struct {
		msg, auth string
		want      msgClass
	}{
		{msgRenew, "sas", mcGeneric},
		{"IotHub 'contoso' does not contain the specified device 'pump'", "", mcDeviceGone},
		{"Thumbprint does not match configuration: Thumbprint: SHA1Hash=AB, SHA2Hash=CD", "x509", mcX509},
		{"Authentication failed for this device", "x509", mcX509},
		{"Authorization header missing", "", mcMissingAuth},
		{"Authorization rule 'device' does not allow access for 'x'", "", mcNotAllowed},
		{"Principal p is not authorized for GET on /x", "", mcNotAllowed},
		{"token not yet valid: clock skew", "sas", mcClockDrift},
	} {
		if got := classify401003(c.msg, c.auth); got != c.want {
			t.Errorf("%q/%q: %v, want %v", c.msg, c.auth, got, c.want)
		}
	}
}
