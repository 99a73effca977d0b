package store

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestKeyIndexOrder: however keys arrive (in order, a late one, all
// shuffled, interleaved with reads and drops), the index returns them in
// order, like a sort of everything would.
func TestKeyIndexOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	shuffled := make([]string, 300)
	for i := range shuffled {
		shuffled[i] = strings.Repeat("k", 1+r.IntN(3)) + string(rune('a'+r.IntN(26))) + string(rune('a'+i%26)) + string(rune('A'+i/26))
	}
	r.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
	tests := []struct {
		name string
		keys []string
		read int // read after every read-th add (0: only at the end)
		drop string
	}{
		{"in order", []string{"a", "b", "c", "d"}, 1, ""},
		{"one late", []string{"a", "c", "d", "b"}, 0, ""},
		{"late before everything", []string{"b", "c", "a"}, 2, "b"},
		{"shuffled, reads between", shuffled, 7, "kk"},
		{"shuffled, one read", shuffled, 0, "kkk"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var x keyIndex
			for i, k := range tc.keys {
				x.add(k)
				if tc.read > 0 && i%tc.read == 0 {
					if got, want := x.ordered(), slices.Sorted(slices.Values(tc.keys[:i+1])); !slices.Equal(got, want) {
						t.Fatalf("after %d adds: %q, want %q", i+1, got, want)
					}
				}
			}
			want := slices.Sorted(slices.Values(tc.keys))
			if got := x.ordered(); !slices.Equal(got, want) {
				t.Fatalf("%q, want %q", got, want)
			}
			var gone []string
			x.dropBefore(tc.drop, func(k string) { gone = append(gone, k) })
			i, _ := slices.BinarySearch(want, tc.drop)
			if !slices.Equal(gone, want[:i]) || !slices.Equal(x.ordered(), want[i:]) {
				t.Fatalf("drop before %q: dropped %q, kept %q", tc.drop, gone, x.ordered())
			}
			x.add("zzzz")
			x.add("0")
			if got := x.ordered(); got[0] != "0" || got[len(got)-1] != "zzzz" || !slices.IsSorted(got) {
				t.Fatalf("adds after a drop: %q", got)
			}
		})
	}
}
