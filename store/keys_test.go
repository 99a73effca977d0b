package store_test

import (
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/disconnect-doctor/disconnect-doctor/event"
	"github.com/disconnect-doctor/disconnect-doctor/store"
	"github.com/disconnect-doctor/disconnect-doctor/store/storetest"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden:\n got: %s\nwant: %s", path, got, want)
	}
}

// checkEncoded asserts what Azure Table keys need: no / \ # ? or quote, no
// control characters.
func checkEncoded(t testing.TB, in, enc string) {
	t.Helper()
	for _, r := range enc {
		if strings.ContainsRune(`/\#?'`, r) || r < 0x20 || (r >= 0x7f && r <= 0x9f) {
			t.Fatalf("EncodeKey(%q) = %q contains %q", in, enc, r)
		}
	}
	if !utf8.ValidString(enc) {
		t.Fatalf("EncodeKey(%q) = %q is not UTF-8", in, enc)
	}
}

func TestEncodeKeyGolden(t *testing.T) {
	keys := append([]string{"", "\xff\xfe invalid utf-8", "%", "%%2F"}, storetest.NastyKeys...)
	var out bytes.Buffer
	for _, k := range keys {
		enc := store.EncodeKey(k)
		checkEncoded(t, k, enc)
		dec, err := store.DecodeKey(enc)
		if err != nil || dec != k {
			t.Errorf("DecodeKey(EncodeKey(%q)) = %q, %v", k, dec, err)
		}
		fmt.Fprintf(&out, "%s\t%s\n", strconv.Quote(k), enc)
	}
	golden(t, "keys.golden", out.Bytes())
}

func TestDecodeKeyErrors(t *testing.T) {
	for _, bad := range []string{"%", "%4", "abc%zz", "%G0"} {
		if got, err := store.DecodeKey(bad); err == nil {
			t.Errorf("DecodeKey(%q) = %q, want an error", bad, got)
		}
	}
}

func FuzzEncodeKey(f *testing.F) {
	for _, k := range storetest.NastyKeys {
		f.Add(k, "a")
	}
	f.Add("a!", "a")
	f.Add("\x00", "")
	f.Fuzz(func(t *testing.T, a, b string) {
		ea, eb := store.EncodeKey(a), store.EncodeKey(b)
		checkEncoded(t, a, ea)
		if dec, err := store.DecodeKey(ea); err != nil || dec != a {
			t.Fatalf("round trip %q: %q, %v", a, dec, err)
		}
		if (a == b) != (ea == eb) {
			t.Fatalf("EncodeKey not injective: %q→%q, %q→%q", a, ea, b, eb)
		}
	})
}

func FuzzDecodeKey(f *testing.F) {
	for _, k := range storetest.NastyKeys {
		f.Add(store.EncodeKey(k))
	}
	f.Add("%")
	f.Add("%zz")
	f.Fuzz(func(t *testing.T, s string) {
		dec, err := store.DecodeKey(s)
		if err != nil {
			return
		}
		// whatever decodes re-encodes to something that decodes the same
		if again, err := store.DecodeKey(store.EncodeKey(dec)); err != nil || again != dec {
			t.Fatalf("%q: decoded %q, re-encoded round trip %q, %v", s, dec, again, err)
		}
	})
}

func goldenEvent() event.Event {
	e := event.Event{Source: event.ResourceLog, Kind: event.Disconnect, Hub: "contoso-prod-hub", Device: "it's/#?",
		Module: "opcPublisher", Time: time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC), Category: "Connections",
		Operation: "deviceDisconnect", Code: 404104, Description: "DeviceConnectionClosedRemotely", Protocol: "Mqtt",
		SDK: "azure-iot-device-iothub-py/2.12.0", AuthType: "sas", MaskedIP: "10.0.0.XXX", Message: "ünï", Seq: "00A1"}
	e.ID = event.NewID(&e, "")
	return e
}

// TestEventCodecGolden freezes the stored event format: rows written by an
// older build must stay readable.
func TestEventCodecGolden(t *testing.T) {
	e := goldenEvent()
	enc := store.EncodeEvent(&e)
	golden(t, "event-v1.golden", []byte(hex.EncodeToString(enc)+"\n"))
	raw, err := os.ReadFile(filepath.Join("testdata", "event-v1.golden"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := store.DecodeEvent(b)
	if err != nil || got != e {
		t.Fatalf("DecodeEvent(golden) = %+v, %v; want %+v", got, err, e)
	}
}

func TestDecodeEventErrors(t *testing.T) {
	e := goldenEvent()
	good := store.EncodeEvent(&e)
	for name, b := range map[string][]byte{
		"empty":       nil,
		"version":     append([]byte{9}, good[1:]...),
		"truncated":   good[:len(good)-1],
		"trailing":    append(append([]byte{}, good...), 0),
		"header only": good[:19],
		"huge length": append(append([]byte{}, good[:21]...), 0xff, 0xff, 0xff, 0xff, 0x0f),
	} {
		if _, err := store.DecodeEvent(b); err == nil {
			t.Errorf("%s: DecodeEvent accepted %x", name, b)
		}
	}
}

func FuzzDecodeEvent(f *testing.F) {
	e := goldenEvent()
	f.Add(store.EncodeEvent(&e))
	for i := range 4 {
		ev := storetest.Event(i, "hub", storetest.NastyKeys[i], storetest.T0)
		f.Add(store.EncodeEvent(&ev))
	}
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := store.DecodeEvent(b)
		if err != nil {
			return
		}
		again, err := store.DecodeEvent(store.EncodeEvent(&ev))
		if err != nil || again != ev {
			t.Fatalf("re-encoding changed the event: %+v → %+v, %v", ev, again, err)
		}
	})
}
