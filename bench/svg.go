package main

import (
	"fmt"
	"html"
	"math"
	"sort"
	"strings"
)

// Chart geometry, in SVG user units.
const (
	chartW, chartH                     = 860, 480
	marginL, marginR, marginT, marginB = 72, 250, 48, 56
	plotW, plotH                       = chartW - marginL - marginR, chartH - marginT - marginB
	legendX                            = chartW - marginR + 18
	markerR                            = 4
	whiskerHalf                        = 5
	incompleteLabel                    = "incomplete"
	floorLabel                         = "posting floor"
	targetLabel                        = "target"
	fontFamily                         = "system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"
)

// series is one strategy's points.
type series struct {
	label  string
	color  string
	dash   string
	width  float64
	points []FanoutRun
}

// workerColors colors a series by its worker count; the path is told by
// the stroke (solid: through the chat function, dashed: direct).
var workerColors = map[int]string{
	64:  "#d62728",
	128: "#2ca02c",
	1:   "#9467bd",
	-1:  "#ff7f0e",
}

// latencyChart draws delivery latency (p50 line, p99 whisker) against
// channel size on log-log axes, one line per strategy, with the targets and
// the posting floor of the dev worker count. Hand-written SVG, no scripts.
func latencyChart(r *Results) string {
	groups := map[string]*series{}
	var order []string
	for _, f := range r.Fanout {
		key := fmt.Sprintf("%s %d", f.Path, f.Workers)
		s, ok := groups[key]
		if !ok {
			label := "direct, " + workersLabel(f.Workers)
			if f.Path == "handler" {
				label = "chat function, " + workersLabel(f.Workers)
			}
			color := workerColors[f.Workers]
			if color == "" {
				color = "#7f7f7f"
			}
			s = &series{label: label, color: color, width: 2}
			if f.Path == "handler" {
				s.width = 3
			} else {
				s.dash = "6 3"
			}
			groups[key] = s
			order = append(order, key)
		}
		s.points = append(s.points, f)
	}

	// Axes: log10 of members and of milliseconds.
	minX, maxX := math.Inf(1), math.Inf(-1)
	minY, maxY := math.Inf(1), math.Inf(-1)
	for _, f := range r.Fanout {
		minX, maxX = math.Min(minX, float64(f.Members)), math.Max(maxX, float64(f.Members))
		if f.Complete > 0 {
			minY, maxY = math.Min(minY, f.P50), math.Max(maxY, f.P99)
		}
	}
	if math.IsInf(minX, 1) {
		minX, maxX = 100, 10000
	}
	if math.IsInf(minY, 1) {
		minY, maxY = 10, 1000
	}
	maxY = math.Max(maxY, target10kMs)
	x0, x1 := math.Log10(minX)-0.15, math.Log10(maxX)+0.15
	y0, y1 := math.Floor(math.Log10(math.Max(minY, 1))), math.Ceil(math.Log10(maxY))
	if y1 <= y0 {
		y1 = y0 + 1
	}
	px := func(members float64) float64 { return marginL + (math.Log10(members)-x0)/(x1-x0)*plotW }
	py := func(msv float64) float64 {
		return marginT + plotH - (math.Log10(math.Max(msv, math.Pow(10, y0)))-y0)/(y1-y0)*plotH
	}

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="%s" font-size="12">`+"\n",
		chartW, chartH, chartW, chartH, fontFamily)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", chartW, chartH)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="600">Delivery latency: send → last member's receipt</text>`+"\n", marginL)
	fmt.Fprintf(&b, `<text x="%d" y="38" fill="#555">%s ms per @connections call · line p50, whisker to p99 · log-log · nproc %d</text>`+"\n",
		marginL, trimFloat(r.Config.PostLatencyMs), r.Machine.CPUs)

	// Grid and y labels at decades (and 2×, 5× faintly).
	for d := y0; d <= y1; d++ {
		y := py(math.Pow(10, d))
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ccc"/>`+"\n", marginL, y, marginL+plotW, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", marginL-6, y, msLabel(math.Pow(10, d)))
		for _, m := range []float64{2, 5} {
			if d < y1 {
				yy := py(m * math.Pow(10, d))
				fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>`+"\n", marginL, yy, marginL+plotW, yy)
			}
		}
	}
	sizes := r.Config.Sizes
	if len(sizes) == 0 {
		sizes = []int{int(minX), int(maxX)}
	}
	for _, n := range sizes {
		x := px(float64(n))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`+"\n", x, marginT, x, marginT+plotH)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x, marginT+plotH+18, thousands(n))
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#888"/>`+"\n", marginL, marginT, plotW, plotH)
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">channel members (each a WebSocket client)</text>`+"\n", marginL+plotW/2, chartH-14)
	fmt.Fprintf(&b, `<text transform="translate(18 %d) rotate(-90)" text-anchor="middle">latency</text>`+"\n", marginT+plotH/2)

	// Posting floor of the dev worker count: ⌈n/workers⌉ × latency.
	if r.Config.DevWorkers > 0 && r.Config.PostLatencyMs > 0 {
		var pts []string
		for _, n := range sizes {
			floor := math.Ceil(float64(n)/float64(r.Config.DevWorkers)) * r.Config.PostLatencyMs
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(float64(n)), py(floor)))
		}
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="#999" stroke-width="1.5" stroke-dasharray="2 3"/>`+"\n", strings.Join(pts, " "))
	}

	// Targets.
	for _, t := range []struct{ n, ms float64 }{{1000, target1kMs}, {10000, target10kMs}} {
		if t.n < minX/1.5 || t.n > maxX*1.5 {
			continue
		}
		x, y := px(t.n), py(t.ms)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#000" stroke-width="2"/>`+"\n", x-14, y, x+14, y)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="end" stroke="#fff" stroke-width="3" paint-order="stroke">%s %s</text>`+"\n", x-17, y-5, targetLabel, msLabel(t.ms))
	}

	// Series.
	sort.SliceStable(order, func(i, j int) bool { return seriesRank(order[i]) < seriesRank(order[j]) })
	for _, key := range order {
		s := groups[key]
		sort.Slice(s.points, func(i, j int) bool { return s.points[i].Members < s.points[j].Members })
		var pts []string
		for _, p := range s.points {
			if p.Complete > 0 {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(float64(p.Members)), py(p.P50)))
			}
		}
		dash := ""
		if s.dash != "" {
			dash = fmt.Sprintf(` stroke-dasharray="%s"`, s.dash)
		}
		if len(pts) > 1 {
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="%.1f"%s/>`+"\n", strings.Join(pts, " "), s.color, s.width, dash)
		}
		for _, p := range s.points {
			x := px(float64(p.Members))
			if p.Complete == 0 {
				y := py(math.Pow(10, y1)) + 10
				fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="%s" text-anchor="middle" font-size="11">× %s</text>`+"\n", x, y, s.color, incompleteLabel)
				continue
			}
			y50, y99 := py(p.P50), py(p.P99)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`+"\n", x, y50, x, y99, s.color)
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`+"\n", x-whiskerHalf, y99, x+whiskerHalf, y99, s.color)
			fill := s.color
			if p.Complete < p.Sends {
				fill = "#fff"
			}
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="%d" fill="%s" stroke="%s"><title>%s: %s members, p50 %.0f ms, p99 %.0f ms</title></circle>`+"\n",
				x, y50, markerR, fill, s.color, html.EscapeString(s.label), thousands(p.Members), p.P50, p.P99)
		}
	}

	// Legend.
	ly := marginT + 6
	for _, key := range order {
		s := groups[key]
		dash := ""
		if s.dash != "" {
			dash = fmt.Sprintf(` stroke-dasharray="%s"`, s.dash)
		}
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="%.1f"%s/>`+"\n", legendX, ly, legendX+26, ly, s.color, s.width, dash)
		fmt.Fprintf(&b, `<text x="%d" y="%d" dominant-baseline="middle">%s</text>`+"\n", legendX+32, ly, html.EscapeString(s.label))
		ly += 20
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999" stroke-width="1.5" stroke-dasharray="2 3"/>`+"\n", legendX, ly, legendX+26, ly)
	fmt.Fprintf(&b, `<text x="%d" y="%d" dominant-baseline="middle">%s, %d workers</text>`+"\n", legendX+32, ly, floorLabel, r.Config.DevWorkers)
	ly += 20
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#000" stroke-width="2"/>`+"\n", legendX, ly, legendX+26, ly)
	fmt.Fprintf(&b, `<text x="%d" y="%d" dominant-baseline="middle">%s</text>`+"\n", legendX+32, ly, targetLabel)
	ly += 20
	fmt.Fprintf(&b, `<circle cx="%d" cy="%d" r="%d" fill="#fff" stroke="#555"/>`+"\n", legendX+13, ly, markerR)
	fmt.Fprintf(&b, `<text x="%d" y="%d" dominant-baseline="middle">some sends incomplete</text>`+"\n", legendX+32, ly)
	b.WriteString("</svg>\n")
	return b.String()
}

// seriesRank orders the legend: the chat function first, then direct; by
// workers within each (bounded pools, one at a time, unbounded).
func seriesRank(key string) int {
	var path string
	var w int
	if _, err := fmt.Sscanf(key, "%s %d", &path, &w); err != nil {
		return 1 << 20
	}
	rank := w
	switch w {
	case 1:
		rank = 1 << 16
	case -1:
		rank = 1 << 17
	}
	if path != "handler" {
		rank += 1 << 18
	}
	return rank
}

func workersLabel(w int) string {
	switch w {
	case 1:
		return "1 worker"
	case -1:
		return "goroutine per member"
	}
	return fmt.Sprintf("%d workers", w)
}

func msLabel(v float64) string {
	switch {
	case v >= 1000:
		return trimFloat(v/1000) + " s"
	default:
		return trimFloat(v) + " ms"
	}
}
