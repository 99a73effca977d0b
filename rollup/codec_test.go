package rollup

import (
	"bytes"
	"encoding/binary"
	"maps"
	"testing"
	"time"
)

func TestDayRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		day  Day
	}{
		{"empty", Day{Minutes: map[int]Counts{}}},
		{"one minute", Day{Minutes: map[int]Counts{0: {1, 2, 3, 4, 5, 6, 7}}, LastRecord: time.Date(2026, 12, 6, 4, 0, 0, 0, time.UTC)}},
		{"full day, big counts", func() Day {
			d := Day{Minutes: map[int]Counts{}}
			for m := range 24 * 60 {
				d.Minutes[m] = Counts{uint32(m), 1 << 31, 0, 0, 0, 0, uint32(m * 7)}
			}
			return d
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.day.encode()
			got, err := DecodeDay(b)
			if err != nil {
				t.Fatalf("DecodeDay: %v", err)
			}
			if !got.LastRecord.Equal(tt.day.LastRecord) || len(got.Minutes) != len(tt.day.Minutes) {
				t.Fatalf("got %d minutes, last %v; want %d, %v", len(got.Minutes), got.LastRecord, len(tt.day.Minutes), tt.day.LastRecord)
			}
			for m, c := range tt.day.Minutes {
				if got.Minutes[m] != c {
					t.Fatalf("minute %d: %v, want %v", m, got.Minutes[m], c)
				}
			}
		})
	}
}

func TestDecodeDamaged(t *testing.T) {
	good := (&Day{Minutes: map[int]Counts{5: {1}}}).encode()
	members := encodeMembers(map[memberID]uint8{{1}: 2, {2}: HubErrors})[0]
	tests := []struct {
		name string
		b    []byte
		day  bool
	}{
		{"empty day", nil, true},
		{"day version", append([]byte{9}, good[1:]...), true},
		{"day truncated", good[:len(good)-1], true},
		{"day trailing", append(append([]byte{}, good...), 0), true},
		{"day minute out of range", []byte{dayVersion, 0, 1, 0xa0, 0x0b, 0, 0, 0, 0, 0, 0, 0}, true},
		{"members version", append([]byte{9}, members[1:]...), false},
		{"members truncated", members[:len(members)-1], false},
		{"members column", append(append([]byte{}, members[:len(members)-1]...), Columns), false},
		{"members huge count", []byte{membersVersion, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, false},
		{"members no pages", []byte{membersVersion, 0, 0}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.day {
				_, err = DecodeDay(tt.b)
			} else {
				_, err = decodeMembers(tt.b, map[memberID]uint8{})
			}
			if err == nil {
				t.Fatal("decoded a damaged row without an error")
			}
		})
	}
}

// FuzzDecodeDay: any bytes decode or fail cleanly, and what decodes
// re-encodes to the same bytes.
func FuzzDecodeDay(f *testing.F) {
	f.Add((&Day{Minutes: map[int]Counts{1: {1, 2}, 1439: {9}}, LastRecord: time.Unix(1_700_000_000, 0)}).encode())
	f.Add([]byte{dayVersion, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := DecodeDay(b)
		if err != nil {
			return
		}
		again, err := DecodeDay(d.encode())
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if len(again.Minutes) != len(d.Minutes) || !again.LastRecord.Equal(d.LastRecord) {
			t.Fatal("round trip changed the day")
		}
	})
}

// FuzzDecodeMembers: any bytes decode or fail cleanly; a decoded set
// encodes canonically.
func FuzzDecodeMembers(f *testing.F) {
	f.Add(encodeMembers(map[memberID]uint8{{1}: 0, {2, 3}: HubErrors})[0])
	f.Add([]byte{membersVersion, 1, 0})
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m := map[memberID]uint8{}
		if _, err := decodeMembers(b, m); err != nil {
			return
		}
		enc := encodeMembers(m)
		m2 := map[memberID]uint8{}
		for _, page := range enc {
			if _, err := decodeMembers(page, m2); err != nil {
				t.Fatalf("round trip: %v", err)
			}
		}
		if len(m2) != len(m) || !bytes.Equal(bytes.Join(encodeMembers(m2), nil), bytes.Join(enc, nil)) {
			t.Fatal("round trip changed the members")
		}
	})
}

// TestMembersPages: a minute with more members than one row holds spreads
// over pages, each under issue 9's 64 KiB bound, and reads back whole; a
// version-1 row (before pages) still decodes.
func TestMembersPages(t *testing.T) {
	m := map[memberID]uint8{}
	for i := range 2*membersPerPage + 10 {
		var id memberID
		binary.BigEndian.PutUint64(id[:], uint64(i)*0x9e3779b97f4a7c15)
		m[id] = uint8(i % Columns)
	}
	pages := encodeMembers(m)
	if len(pages) != 3 {
		t.Fatalf("%d members in %d pages, want 3", len(m), len(pages))
	}
	got := map[memberID]uint8{}
	for i, p := range pages {
		if len(p) >= 64<<10 {
			t.Fatalf("page %d: %d bytes, over issue 9's 64 KiB bound on a state blob", i, len(p))
		}
		n, err := decodeMembers(p, got)
		if err != nil || n != 3 {
			t.Fatalf("page %d: pages %d, err %v", i, n, err)
		}
	}
	if !maps.Equal(got, m) {
		t.Fatalf("read back %d members, want %d", len(got), len(m))
	}
	v1 := []byte{1, 1, 7, 0, 0, 0, 0, 0, 0, 0, 2}
	old := map[memberID]uint8{}
	if n, err := decodeMembers(v1, old); err != nil || n != 1 || old[memberID{7}] != 2 {
		t.Fatalf("version-1 row: pages %d, %v, err %v", n, old, err)
	}
}
