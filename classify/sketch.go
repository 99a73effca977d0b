package classify

import (
	"encoding/binary"
	"math"
	"math/bits"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// Hub-side error records are counted per hub minute, and the same record
// delivered twice must count once (PRODUCT.md §5 "Idempotent"). A minute of
// a hub-wide outage holds millions of them, so the minute cannot keep their
// IDs: it keeps them exactly up to sketchExact, then switches to a
// HyperLogLog sketch of sketchRegs registers, whose size is fixed. A record
// seen again hashes to the same register with the same rank and changes
// nothing, so redelivery still counts once; distinct records are then
// counted within about 1.04/√sketchRegs (±1.6%), which is plenty for
// thresholds that compare against a multiple of the hub's baseline.
const (
	sketchExact = 64
	sketchP     = 12
	sketchRegs  = 1 << sketchP
)

// idSketch deduplicates the hub-side error records of one open minute.
type idSketch struct {
	ids []event.ID // exact, while len ≤ sketchExact (unsorted; linear scan)
	reg []uint8    // HyperLogLog registers once past sketchExact, else nil
	// sum and zeros are Σ 2^-reg and the count of zero registers, kept
	// up to date so that an estimate costs O(1).
	sum   float64
	zeros int
}

// add records id. It reports whether the sketch changed: always for a new
// ID while exact; in sketch mode only when the ID raised a register (a new
// ID that raises none is indistinguishable from a duplicate, and the
// estimate does not move either way).
func (s *idSketch) add(id event.ID) bool {
	if s.reg == nil {
		for i := range s.ids {
			if s.ids[i] == id {
				return false
			}
		}
		if len(s.ids) < sketchExact {
			s.ids = append(s.ids, id)
			return true
		}
		s.toSketch()
	}
	return s.raise(id)
}

// toSketch moves the exact IDs into registers.
func (s *idSketch) toSketch() {
	s.reg = make([]uint8, sketchRegs)
	s.sum, s.zeros = sketchRegs, sketchRegs
	for _, id := range s.ids {
		s.raise(id)
	}
	s.ids = nil
}

func (s *idSketch) raise(id event.ID) bool {
	x := idHash(id)
	j := x >> (64 - sketchP)
	rank := uint8(bits.LeadingZeros64(x<<sketchP|1<<(sketchP-1)) + 1)
	old := s.reg[j]
	if rank <= old {
		return false
	}
	s.reg[j] = rank
	s.sum += math.Ldexp(1, -int(rank)) - math.Ldexp(1, -int(old))
	if old == 0 {
		s.zeros--
	}
	return true
}

// count returns the number of distinct IDs added: exact while exact, the
// HyperLogLog estimate (with its small-range correction) after.
func (s *idSketch) count() int {
	if s.reg == nil {
		return len(s.ids)
	}
	m := float64(sketchRegs)
	est := 0.7213 / (1 + 1.079/m) * m * m / s.sum
	if est <= 2.5*m && s.zeros > 0 {
		est = m * math.Log(m/float64(s.zeros))
	}
	return int(est + 0.5)
}

// recount recomputes sum and zeros from the registers (after decoding).
func (s *idSketch) recount() {
	s.sum, s.zeros = 0, 0
	for _, r := range s.reg {
		s.sum += math.Ldexp(1, -int(r))
		if r == 0 {
			s.zeros++
		}
	}
}

// idHash spreads an event ID (an FNV-128 digest, whose bytes are not evenly
// mixed) over 64 bits for the sketch.
func idHash(id event.ID) uint64 {
	x := binary.LittleEndian.Uint64(id[:8]) ^ bits.RotateLeft64(binary.LittleEndian.Uint64(id[8:]), 31)
	// splitmix64 finalizer
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
