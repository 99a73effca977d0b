package classify

import (
	"math"
	"testing"
)

// TestIDSketch: exact up to sketchExact distinct IDs, then within the
// HyperLogLog's error (3σ = 3 × 1.04/√sketchRegs); a repeated ID never
// moves the count; the count survives an encode/decode of its bucket.
func TestIDSketch(t *testing.T) {
	for _, n := range []int{1, sketchExact, sketchExact + 1, 500, 5_000, 50_000, 500_000} {
		s := &idSketch{}
		for i := range n {
			s.add(idOf(uint64(i) * 7919))
		}
		got := s.count()
		for i := range min(n, 1000) {
			if s.add(idOf(uint64(i) * 7919)) {
				t.Fatalf("n=%d: a repeated ID changed the sketch", n)
			}
		}
		if s.count() != got {
			t.Errorf("n=%d: repeats moved the count from %d to %d", n, got, s.count())
		}
		switch {
		case n <= sketchExact:
			if got != n || s.reg != nil {
				t.Errorf("n=%d: counted %d (sketch %v), want exact", n, got, s.reg != nil)
			}
		default:
			if rel := math.Abs(float64(got-n)) / float64(n); rel > 3*1.04/math.Sqrt(sketchRegs) {
				t.Errorf("n=%d: counted %d (%.1f%% off)", n, got, 100*rel)
			}
		}
		w := &writer{}
		encodeBucket(w, 1, &bucket{secs: make([]int32, 60), seen: s, errs: got})
		r := &reader{b: w.b}
		_, b := decodeBucket(r)
		if r.err != nil || len(r.b) != 0 || b.seen.count() != got {
			t.Errorf("n=%d: decoded bucket counts %d (err %v), want %d", n, b.seen.count(), r.err, got)
		}
	}
}
