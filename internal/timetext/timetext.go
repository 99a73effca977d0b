// Package timetext renders times for people: always in UTC, saying so, and
// with the date whenever it is not the date of the message the time is read
// in. "offline since 10:07:00" in a reminder sent two days later, or read in
// another time zone, cannot be placed; "offline since 2024-05-14 10:07:00
// UTC" can. It is the one place that formats a time for a summary, an
// evidence line, a card or an e-mail, so that they all read alike.
package timetext

import "time"

const (
	dateLayout = "2006-01-02"
	timeLayout = "15:04:05"
)

// At renders t as "15:04:05 UTC" when it falls on ref's UTC date, else as
// "2006-01-02 15:04:05 UTC". A zero ref means "no reference" and always
// gives the date: use it for text that may be read on another day (an alert
// summary reused by a reminder). The zero t renders as "".
func At(t, ref time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.UTC()
	if !ref.IsZero() && sameDate(t, ref.UTC()) {
		return t.Format(timeLayout) + " UTC"
	}
	return t.Format(dateLayout+" "+timeLayout) + " UTC"
}

// Unix is At for Unix seconds, as the engine keeps its times; a zero ref
// (0) means no reference.
func Unix(t, ref int64) string {
	var r time.Time
	if ref != 0 {
		r = time.Unix(ref, 0)
	}
	return At(time.Unix(t, 0), r)
}

func sameDate(a, b time.Time) bool {
	ay, am, ad := a.Date()
	by, bm, bd := b.Date()
	return ay == by && am == bm && ad == bd
}
