package rollup

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// errDamaged marks a stored row that does not decode; it is recounted from
// what comes next rather than failing Evaluate or a page.
var errDamaged = errors.New("rollup: damaged row")

// memberID is the first 8 bytes of a record's event.ID: enough to tell the
// records of one hub-minute apart (a collision needs ~2^32 of them), half
// the size in the member rows.
type memberID [8]byte

func idOf(id event.ID) memberID { return memberID(id[:8]) }

const (
	membersVersion = 2 // 1: a single row without a page count (still read)
	dayVersion     = 1
	memberSize     = len(memberID{}) + 1
	// membersPerPage bounds one member row under issue 9's 64 KiB bound
	// on a state blob (with room for the header): a minute with more
	// members (a 20 000-device hub dropping in one minute: 91 102 bytes in
	// one row) spreads over several rows.
	membersPerPage = (64<<10 - 32) / memberSize
)

// encodeMembers writes a minute's members as pages, sorted by ID so that
// the same set always encodes to the same bytes: per page the version, the
// number of pages, the count, then per member 8 ID bytes and its column.
// There is always at least one page.
func encodeMembers(m map[memberID]uint8) [][]byte {
	ids := make([]memberID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b memberID) int { return slices.Compare(a[:], b[:]) })
	pages := max(1, (len(ids)+membersPerPage-1)/membersPerPage)
	out := make([][]byte, 0, pages)
	for p := range pages {
		chunk := ids[min(p*membersPerPage, len(ids)):min((p+1)*membersPerPage, len(ids))]
		b := make([]byte, 0, 1+2*binary.MaxVarintLen64+len(chunk)*memberSize)
		b = append(b, membersVersion)
		b = binary.AppendUvarint(b, uint64(pages))
		b = binary.AppendUvarint(b, uint64(len(chunk)))
		for _, id := range chunk {
			b = append(b, id[:]...)
			b = append(b, m[id])
		}
		out = append(out, b)
	}
	return out
}

// decodeMembers adds one page's members to m and returns the number of
// pages the minute has (1 for a version-1 row).
func decodeMembers(b []byte, m map[memberID]uint8) (pages int, err error) {
	if len(b) < 1 || (b[0] != 1 && b[0] != membersVersion) {
		return 0, fmt.Errorf("rollup: members: unknown version")
	}
	rest := b[1:]
	pages = 1
	if b[0] == membersVersion {
		np, k := binary.Uvarint(rest)
		if k <= 0 || np == 0 || np > 1<<16 {
			return 0, fmt.Errorf("rollup: members: bad page count")
		}
		pages, rest = int(np), rest[k:]
	}
	n, k := binary.Uvarint(rest)
	if k <= 0 {
		return 0, fmt.Errorf("rollup: members: bad count")
	}
	rest = rest[k:]
	if n > uint64(len(rest)) || uint64(len(rest)) != n*uint64(memberSize) {
		return 0, fmt.Errorf("rollup: members: %d bytes for %d members", len(rest), n)
	}
	for i := 0; i < len(rest); i += memberSize {
		col := rest[i+memberSize-1]
		if col >= Columns {
			return 0, fmt.Errorf("rollup: members: column %d out of range", col)
		}
		m[memberID(rest[i:i+8])] = col
	}
	return pages, nil
}

// Day is one hub's counts for one UTC day.
type Day struct {
	Hub  string
	Date time.Time // midnight UTC
	// Minutes maps the minute of the day (0..1439) to its counts; minutes
	// with nothing counted are absent.
	Minutes map[int]Counts
	// LastRecord is the newest record time of the hub Evaluate saw that day.
	LastRecord time.Time
}

// encode writes the day compactly: version, the newest record (unix
// seconds, 0 for none), the number of minutes, then per minute (ascending)
// its index and its Columns counters, all as uvarints.
func (d *Day) encode() []byte {
	mins := make([]int, 0, len(d.Minutes))
	for m := range d.Minutes {
		mins = append(mins, m)
	}
	slices.Sort(mins)
	b := make([]byte, 0, 16+len(mins)*(2+Columns*2))
	b = append(b, dayVersion)
	var last uint64
	if !d.LastRecord.IsZero() {
		last = uint64(d.LastRecord.Unix())
	}
	b = binary.AppendUvarint(b, last)
	b = binary.AppendUvarint(b, uint64(len(mins)))
	for _, m := range mins {
		b = binary.AppendUvarint(b, uint64(m))
		for _, c := range d.Minutes[m] {
			b = binary.AppendUvarint(b, uint64(c))
		}
	}
	return b
}

// DecodeDay reads a stored day row (the inverse of encode). Hub and Date
// are the caller's: they are the row's key.
func DecodeDay(b []byte) (*Day, error) {
	if len(b) < 1 || b[0] != dayVersion {
		return nil, fmt.Errorf("rollup: day: unknown version")
	}
	b = b[1:]
	next := func() (uint64, error) {
		v, k := binary.Uvarint(b)
		if k <= 0 {
			return 0, fmt.Errorf("rollup: day: truncated")
		}
		b = b[k:]
		return v, nil
	}
	last, err := next()
	if err != nil {
		return nil, err
	}
	n, err := next()
	if err != nil {
		return nil, err
	}
	if n > 24*60 {
		return nil, fmt.Errorf("rollup: day: %d minutes", n)
	}
	d := &Day{Minutes: make(map[int]Counts, n)}
	if last > 0 {
		if last > 1<<40 {
			return nil, fmt.Errorf("rollup: day: record time out of range")
		}
		d.LastRecord = time.Unix(int64(last), 0).UTC()
	}
	for range n {
		m, err := next()
		if err != nil {
			return nil, err
		}
		if m >= 24*60 {
			return nil, fmt.Errorf("rollup: day: minute %d", m)
		}
		var c Counts
		for i := range c {
			v, err := next()
			if err != nil {
				return nil, err
			}
			if v > 1<<32-1 {
				return nil, fmt.Errorf("rollup: day: count out of range")
			}
			c[i] = uint32(v)
		}
		d.Minutes[int(m)] = c
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("rollup: day: %d trailing bytes", len(b))
	}
	return d, nil
}
