package sim

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/event"
)

// CauseScore is the accuracy of one cause: how many diagnoses named it
// rightly (TP), wrongly (FP), and how many true disconnects of that cause
// got another verdict (FN).
type CauseScore struct {
	Cause      classify.Cause
	TP, FP, FN int
}

// Precision is TP/(TP+FP); 1 when the cause was never named.
func (c CauseScore) Precision() float64 {
	if c.TP+c.FP == 0 {
		return 1
	}
	return float64(c.TP) / float64(c.TP+c.FP)
}

// Recall is TP/(TP+FN); 1 when the cause never occurred.
func (c CauseScore) Recall() float64 {
	if c.TP+c.FN == 0 {
		return 1
	}
	return float64(c.TP) / float64(c.TP+c.FN)
}

// Score compares diagnoses with the simulator's truth.
type Score struct {
	Causes []CauseScore
	// Matched counts diagnoses paired with a true 404104.
	Matched int
	// Unseen counts true 404104s without a diagnosis; LostRecords of them
	// had their record lost in delivery (no system can see those).
	Unseen, LostRecords int
	// Spurious counts diagnoses with no true 404104 behind them.
	Spurious int
	// Pending counts diagnoses still pending.
	Pending int
	// Confusion[truth][verdict] counts matched pairs.
	Confusion map[classify.Cause]map[classify.Cause]int
	// Wrong lists the matched pairs whose verdict differs from the truth,
	// in diagnosis order, for investigation.
	Wrong []Mismatch
}

// Mismatch is a diagnosis that disagrees with the truth.
type Mismatch struct {
	Truth     Truth
	Diagnosis classify.Diagnosis
}

type truthKey struct {
	k event.Key
	t time.Time
}

// ScoreDiagnoses pairs each diagnosis with the true 404104 of the same
// device at the same second and scores every cause.
func ScoreDiagnoses(truth []Truth, ds []classify.Diagnosis) Score {
	byKey := make(map[truthKey][]int, len(truth))
	for i, t := range truth {
		k := truthKey{event.Key{Hub: t.Hub, Device: t.Device, Module: t.Module}, t.Time.UTC().Truncate(time.Second)}
		byKey[k] = append(byKey[k], i)
	}
	used := make([]bool, len(truth))
	s := Score{Confusion: map[classify.Cause]map[classify.Cause]int{}}
	counts := map[classify.Cause]*CauseScore{}
	get := func(c classify.Cause) *CauseScore {
		if counts[c] == nil {
			counts[c] = &CauseScore{Cause: c}
		}
		return counts[c]
	}
	for _, d := range ds {
		if d.Cause == classify.Pending {
			s.Pending++
		}
		k := truthKey{d.Key, d.Time.UTC().Truncate(time.Second)}
		idx := -1
		for _, i := range byKey[k] {
			if !used[i] {
				idx = i
				break
			}
		}
		if idx < 0 {
			s.Spurious++
			get(d.Cause).FP++
			continue
		}
		used[idx] = true
		s.Matched++
		want := truth[idx].Cause
		if s.Confusion[want] == nil {
			s.Confusion[want] = map[classify.Cause]int{}
		}
		s.Confusion[want][d.Cause]++
		if d.Cause == want {
			get(want).TP++
		} else {
			get(d.Cause).FP++
			get(want).FN++
			s.Wrong = append(s.Wrong, Mismatch{Truth: truth[idx], Diagnosis: d})
		}
	}
	for i, t := range truth {
		if !used[i] {
			s.Unseen++
			if t.Lost {
				s.LostRecords++
			}
		}
	}
	for _, c := range counts {
		s.Causes = append(s.Causes, *c)
	}
	sort.Slice(s.Causes, func(i, j int) bool { return s.Causes[i].Cause < s.Causes[j].Cause })
	return s
}

// Print writes the score as a table.
func (s Score) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "cause\ttrue pos\tfalse pos\tfalse neg\tprecision\trecall")
	for _, c := range s.Causes {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%.3f\t%.3f\n", c.Cause, c.TP, c.FP, c.FN, c.Precision(), c.Recall())
	}
	tw.Flush()
	fmt.Fprintf(w, "matched %d diagnoses to true disconnects; %d true disconnects unseen (%d of them had their record lost in delivery); %d spurious; %d pending\n",
		s.Matched, s.Unseen, s.LostRecords, s.Spurious, s.Pending)
	var lines []string
	for want, got := range s.Confusion {
		for c, n := range got {
			if c != want {
				lines = append(lines, fmt.Sprintf("  %d × truth %s diagnosed as %s", n, want, c))
			}
		}
	}
	sort.Strings(lines)
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}
