package suspect

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// TestBlobWorstCase fills a hub's blob to its worst case — MaxTracked
// devices with 128-character IDs (IoT Hub's longest), each on its own IPv6
// network, with a connect, a disconnect and a session age, and an open
// suspicion of a 256-character hub name carrying every cause — and checks
// that it stays under issue 9's 64 KiB bound.
func TestBlobWorstCase(t *testing.T) {
	long := strings.Repeat("h", 256)
	st := NewState()
	cfg := Config{}
	at := t0.Add(-90 * time.Minute)
	for i := 0; st.Hub(long) == nil || len(st.Hub(long).Devs) < Defaults().MaxTracked; i++ {
		dev := fmt.Sprintf("%0128d", i)
		ip := fmt.Sprintf("2001:0db8:%04x:%04x:0000:8a2e:0370:XXXX", i>>16, i&0xffff)
		evs := []event.Event{
			{Source: event.ResourceLog, Kind: event.Connect, Hub: long, Device: dev, Time: at, MaskedIP: ip, Category: "Connections"},
			{Source: event.EventGrid, Kind: event.StateConnected, Hub: long, Device: dev, Time: at},
			{Source: event.EventGrid, Kind: event.StateDisconnected, Hub: long, Device: dev, Time: t0.Add(time.Duration(i%600) * time.Second)},
		}
		Observe(cfg, st, evs)
	}
	h := st.Hub(long)
	if len(h.Devs) != Defaults().MaxTracked {
		t.Fatalf("%d devices tracked, want %d", len(h.Devs), Defaults().MaxTracked)
	}
	var ds []classify.Diagnosis
	for _, c := range []classify.Cause{classify.Pending, classify.TokenExpiry, classify.TokenRenewalFailed, classify.DeviceOrNetwork, classify.DuplicateIdentity, classify.HubTransient} {
		for range 1000 {
			ds = append(ds, classify.Diagnosis{Key: event.Key{Hub: long}, Time: t0.Add(5 * time.Minute), Cause: c, Final: true})
		}
	}
	h.Sus = &Suspicion{ID: fmt.Sprintf("suspected-%s-%d", long, t0.Unix()), Since: t0.Unix(), End: t0.Add(10 * time.Minute).Unix(),
		Raised: t0.Unix(), Devices: 1 << 40}
	countCauses(h.Sus, long, ds)
	for i := range h.Counts {
		h.Counts[i] = 1<<16 - 1
	}
	data, ok, err := st.Marshal(long)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	t.Logf("blob %d bytes for %d devices", len(data), len(h.Devs))
	if len(data) >= 64<<10 {
		t.Errorf("blob %d bytes at its worst case, want under %d", len(data), 64<<10)
	}
}

// TestMaxTrackedCapped: a configured MaxTracked beyond what a blob holds is
// capped at maxTrackedFit.
func TestMaxTrackedCapped(t *testing.T) {
	for _, tc := range []struct{ in, want int }{{0, 2048}, {100, 100}, {maxTrackedFit, maxTrackedFit}, {1 << 20, maxTrackedFit}} {
		if got := (Config{MaxTracked: tc.in}).withDefaults().MaxTracked; got != tc.want {
			t.Errorf("MaxTracked %d: got %d, want %d", tc.in, got, tc.want)
		}
	}
}

// TestVersion1Read: a blob of the JSON version is read (devices by ID,
// networks by name), so an upgrade keeps a hub's learned state.
func TestVersion1Read(t *testing.T) {
	v1 := `{"shift":0,"devs":{"dev-1":{"n":"10.0.1","c":1765015200,"d":1765015300,"a":100},"dev-2":{"c":5}},"first":1765010000,"top":29416920,"counts":[3]}`
	st := NewState()
	if err := st.Unmarshal(hub, []byte(v1)); err != nil {
		t.Fatal(err)
	}
	h := st.Hub(hub)
	d := h.Devs[keyHash("dev-1")]
	if len(h.Devs) != 2 || d == nil || *d != (Device{Net: netCode("10.0.1"), Conn: 1765015200, Disc: 1765015300, Age: 100}) ||
		h.First != 1765010000 || h.Counts[0] != 3 {
		t.Fatalf("v1 read as %+v (dev-1 %+v)", h, d)
	}
}

func TestNetCode(t *testing.T) {
	for _, tc := range []struct {
		in, text string
	}{
		{"81.204.17", "81.204.17.x"},
		{"0.0.0", "0.0.0.x"},
		{"255.255.255", "255.255.255.x"},
		{"256.1.1", ""},
		{"01.2.3", ""},
		{"2001:db8:1", ""},
		{"x", ""},
	} {
		c := netCode(tc.in)
		if c == 0 {
			t.Errorf("netCode(%q) = 0, the unknown code", tc.in)
		}
		if got := netText(c); tc.text != "" && got != tc.text || tc.text == "" && !strings.HasPrefix(got, "network #") {
			t.Errorf("netText(netCode(%q)) = %q, want %q", tc.in, got, tc.text)
		}
	}
	if netCode("") != 0 || netCode("2001:db8:1") == netCode("2001:db8:2") {
		t.Error("netCode: unknown must be 0, distinct networks distinct")
	}
}

// FuzzDecodeHub: any stored bytes decode or fail cleanly, and what decodes
// encodes back to a blob that decodes to the same devices.
func FuzzDecodeHub(f *testing.F) {
	st, _ := suspectedStateF()
	data, _, _ := st.Marshal(hub)
	f.Add(data)
	f.Add([]byte(`{"devs":{"a":{"n":"1.2.3"}}}`))
	f.Add([]byte{hubVersion, 2, '{', '}'})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeHub(b)
		if err != nil {
			return
		}
		again, err := encodeHub(h)
		if err != nil {
			t.Fatal(err)
		}
		h2, err := decodeHub(again)
		if err != nil || len(h2.Devs) != len(h.Devs) {
			t.Fatalf("re-encoded blob: %v, %d devices, want %d", err, len(h2.Devs), len(h.Devs))
		}
	})
}

// suspectedStateF is a 300-device hub's state, built without a *testing.T.
func suspectedStateF() (*State, error) {
	f := fleet{n: 300, nets: 40}
	st := NewState()
	Observe(Config{}, st, f.history())
	Observe(Config{}, st, f.burst(t0.Add(30*time.Second), fifth))
	tick(st, t0.Add(time.Minute), t0, never)
	return st, nil
}

// TestVersion2Read: a blob of version 2 (records without the previous
// session age) is read, so an upgrade keeps a hub's learned state.
func TestVersion2Read(t *testing.T) {
	head := []byte(`{"first":1765010000,"counts":[3]}`)
	v2 := append([]byte{2, byte(len(head))}, head...)
	v2 = binary.BigEndian.AppendUint64(v2, keyHash("dev-1"))
	for _, v := range []uint32{netCode("10.0.1"), 1765015200, 1765015300, 100} {
		v2 = binary.BigEndian.AppendUint32(v2, v)
	}
	st := NewState()
	if err := st.Unmarshal(hub, v2); err != nil {
		t.Fatal(err)
	}
	h := st.Hub(hub)
	if d := h.Devs[keyHash("dev-1")]; len(h.Devs) != 1 || d == nil ||
		*d != (Device{Net: netCode("10.0.1"), Conn: 1765015200, Disc: 1765015300, Age: 100}) || h.First != 1765010000 {
		t.Fatalf("v2 read as %+v", h)
	}
	if err := st.Unmarshal(hub, v2[:len(v2)-1]); err == nil {
		t.Fatal("a v2 blob cut short must be an error")
	}
}
