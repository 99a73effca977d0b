package ui

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/disconnect-doctor/disconnect-doctor/classify"
	"github.com/disconnect-doctor/disconnect-doctor/rollup"
)

// Chart geometry, in SVG user units (the SVG scales to the page width; on
// a phone its wrapper scrolls sideways rather than shrinking the text).
const (
	chartW  = 960.0
	chartH  = 260.0
	padL    = 48.0
	padR    = 48.0
	padT    = 12.0
	padB    = 28.0
	plotW   = chartW - padL - padR
	plotH   = chartH - padT - padB
	minPlot = 1.0
)

// causeClass is the CSS class of a cause's colour.
func causeClass(c classify.Cause) string { return "c-" + string(c) }

// causeLabel names a cause for people.
func causeLabel(c classify.Cause) string {
	switch c {
	case classify.TokenExpiry:
		return "token expiry"
	case classify.TokenRenewalFailed:
		return "token renewal failed"
	case classify.DeviceOrNetwork:
		return "device or network"
	case classify.DuplicateIdentity:
		return "duplicate identity"
	case classify.HubTransient:
		return "hub transient"
	case classify.Pending:
		return "pending"
	}
	return string(c)
}

// tick is one axis label.
type tick struct {
	Pos   float64
	Label string
}

// series is one cause's stacked bars, as one path.
type series struct {
	Cause string
	Label string
	Class string
	D     string
	Total uint64
}

// band is an incident drawn across a chart.
type band struct {
	X, W  float64
	Label string
	Href  string
}

// hover is a transparent column whose title tells a bucket's counts.
type hover struct {
	X, W  float64
	Title string
}

// stackChart is a stacked bar chart of counts by cause over time, with
// optional incident bands and a hub-errors line on a right-hand axis.
type stackChart struct {
	W, H                   float64
	PlotX, PlotY, PlotW    float64
	PlotH, PlotB, PlotR    float64
	Series                 []series
	Bands                  []band
	XTicks, YTicks, ZTicks []tick
	Hover                  []hover
	// Line is the hub-errors polyline ("" when not drawn or all zero).
	Line      string
	LineLabel string
	Bucket    string // "5 minutes", "minute"
	Max       uint32
}

// buildStack aggregates per-minute counts into buckets of step and lays
// them out; start is the first minute's time.
func buildStack(minutes []rollup.Counts, start time.Time, step time.Duration, bands []band, withErrors bool) stackChart {
	per := max(1, int(step/time.Minute))
	n := (len(minutes) + per - 1) / per
	buckets := make([]rollup.Counts, n)
	for i, c := range minutes {
		for j := range c {
			buckets[i/per][j] += c[j]
		}
	}
	ch := stackChart{W: chartW, H: chartH, PlotX: padL, PlotY: padT, PlotW: plotW, PlotH: plotH,
		PlotB: padT + plotH, PlotR: padL + plotW, Bucket: bucketName(step)}
	var top, errTop uint32
	for _, b := range buckets {
		top = max(top, b.Disconnects())
		errTop = max(errTop, b[rollup.HubErrors])
	}
	ch.Max = top
	yMax := niceMax(top)
	bw := plotW / float64(max(n, 1))
	y := func(v float64) float64 { return padT + plotH - v/float64(yMax)*plotH }
	base := make([]float64, n)
	for ci, c := range rollup.Causes {
		var d strings.Builder
		var total uint64
		for i, b := range buckets {
			v := b[ci]
			total += uint64(v)
			if v == 0 {
				continue
			}
			x := padL + float64(i)*bw
			y0, y1 := y(base[i]), y(base[i]+float64(v))
			h := math.Max(y0-y1, minPlot/2)
			fmt.Fprintf(&d, "M%s %sh%sv%sh-%sz", f1(x), f1(y0-h), f1(math.Max(bw-0.4, 0.6)), f1(h), f1(math.Max(bw-0.4, 0.6)))
			base[i] += float64(v)
		}
		ch.Series = append(ch.Series, series{Cause: string(c), Label: causeLabel(c), Class: causeClass(c), D: d.String(), Total: total})
	}
	for i, b := range buckets {
		if b.Disconnects() == 0 && b[rollup.HubErrors] == 0 {
			continue
		}
		t := start.Add(time.Duration(i) * step)
		ch.Hover = append(ch.Hover, hover{X: padL + float64(i)*bw, W: bw, Title: bucketTitle(t, step, b)})
	}
	for k := 0; k <= 4; k++ {
		v := float64(yMax) * float64(k) / 4
		ch.YTicks = append(ch.YTicks, tick{Pos: y(v), Label: short(v)})
	}
	if withErrors && errTop > 0 {
		eMax := niceMax(errTop)
		var pts strings.Builder
		for i, b := range buckets {
			x := padL + (float64(i)+0.5)*bw
			fmt.Fprintf(&pts, "%s,%s ", f1(x), f1(padT+plotH-float64(b[rollup.HubErrors])/float64(eMax)*plotH))
		}
		ch.Line = strings.TrimSpace(pts.String())
		ch.LineLabel = "hub-side errors per " + bucketName(step)
		for k := 0; k <= 4; k++ {
			v := float64(eMax) * float64(k) / 4
			ch.ZTicks = append(ch.ZTicks, tick{Pos: padT + plotH - v/float64(eMax)*plotH, Label: short(v)})
		}
	}
	end := start.Add(time.Duration(n) * step)
	ch.XTicks = timeTicks(start, end, padL, plotW)
	ch.Bands = clipBands(bands)
	return ch
}

// bandAt places [from, to) on a time axis from start to end; ok is false
// when it falls outside.
func bandAt(from, to, start, end time.Time) (x, w float64, ok bool) {
	if to.Before(start) || !from.Before(end) {
		return 0, 0, false
	}
	if from.Before(start) {
		from = start
	}
	if to.After(end) {
		to = end
	}
	span := end.Sub(start).Seconds()
	x = padL + from.Sub(start).Seconds()/span*plotW
	w = math.Max(to.Sub(from).Seconds()/span*plotW, 2)
	return x, w, true
}

func clipBands(bs []band) []band {
	out := bs[:0:0]
	for _, b := range bs {
		if b.X+b.W > padL+plotW {
			b.W = padL + plotW - b.X
		}
		out = append(out, b)
	}
	return out
}

func bucketName(step time.Duration) string {
	switch step {
	case time.Minute:
		return "minute"
	case 5 * time.Minute:
		return "5 minutes"
	}
	return step.String()
}

func bucketTitle(t time.Time, step time.Duration, c rollup.Counts) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s–%s UTC: %d disconnects", t.Format("15:04"), t.Add(step).Format("15:04"), c.Disconnects())
	for i, cause := range rollup.Causes {
		if c[i] > 0 {
			fmt.Fprintf(&b, ", %d %s", c[i], causeLabel(cause))
		}
	}
	if c[rollup.HubErrors] > 0 {
		fmt.Fprintf(&b, "; %d hub-side errors", c[rollup.HubErrors])
	}
	return b.String()
}

// niceMax rounds a maximum up to 1, 2, 4, 5 or 8 times a power of ten,
// divisible by 4 (at least 4), so that quarter gridlines get whole labels.
func niceMax(v uint32) uint32 {
	if v <= 4 {
		return 4
	}
	for p := uint64(1); ; p *= 10 {
		for _, m := range []uint64{1, 2, 4, 5, 8} {
			if c := m * p; c >= uint64(v) && c%4 == 0 {
				return uint32(min(c, 1<<32-4))
			}
		}
	}
}

// short formats an axis value: 950, 1.2k, 35k.
func short(v float64) string {
	switch {
	case v >= 10000:
		return strconv.FormatFloat(v/1000, 'f', 0, 64) + "k"
	case v >= 1000:
		return strconv.FormatFloat(v/1000, 'f', 1, 64) + "k"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// f1 formats a coordinate with one decimal.
func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// timeTicks picks about six round times between start and end.
func timeTicks(start, end time.Time, x0, w float64) []tick {
	span := end.Sub(start)
	if span <= 0 {
		return nil
	}
	steps := []time.Duration{time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute,
		30 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
		48 * time.Hour, 7 * 24 * time.Hour}
	step := steps[len(steps)-1]
	for _, s := range steps {
		if span/s <= 7 {
			step = s
			break
		}
	}
	layout := "15:04"
	if span > 36*time.Hour {
		layout = "Jan 2 15:04"
		if step >= 24*time.Hour {
			layout = "Jan 2"
		}
	}
	var ts []tick
	for t := start.Truncate(step); !t.After(end); t = t.Add(step) {
		if t.Before(start) {
			continue
		}
		ts = append(ts, tick{Pos: x0 + t.Sub(start).Seconds()/span.Seconds()*w, Label: t.UTC().Format(layout)})
	}
	return ts
}
