package rollup

import (
	"bytes"
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
	members := encodeMembers(map[memberID]uint8{{1}: 2, {2}: HubErrors})
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
		{"members huge count", []byte{membersVersion, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.day {
				_, err = DecodeDay(tt.b)
			} else {
				_, err = decodeMembers(tt.b)
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
	f.Add(encodeMembers(map[memberID]uint8{{1}: 0, {2, 3}: HubErrors}))
	f.Add([]byte{membersVersion, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMembers(b)
		if err != nil {
			return
		}
		enc := encodeMembers(m)
		m2, err := decodeMembers(enc)
		if err != nil || len(m2) != len(m) || !bytes.Equal(encodeMembers(m2), enc) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
