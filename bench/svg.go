package main

import (
	"fmt"
	"html"
	"math"
	"slices"
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
	groups, order := groupSeries(r.Fanout)
	c := newChart(r)
	c.header()
	c.grid()
	c.postingFloor()
	c.targets()
	for _, key := range order {
		c.series(groups[key])
	}
	scale := scaleSeries(r.Scale)
	if scale != nil {
		c.limitLine()
		c.series(scale)
		groups["scale"] = scale
		order = append(order, "scale")
	}
	c.legend(groups, order)
	c.b.WriteString("</svg>\n")
	return c.b.String()
}

// scaleSeries is the "Channels of any size" rows as one series (throttle
// on, queue path above the threshold), nil without rows.
func scaleSeries(runs []ScaleRun) *series {
	if len(runs) == 0 {
		return nil
	}
	s := &series{label: "throttle on, any size", color: "#1f77b4", width: 3, dash: "1 0"}
	for _, r := range runs {
		s.points = append(s.points, FanoutRun{Members: r.Members, Sends: r.Sends, Complete: r.Complete, P50: r.P50, P99: r.P99})
	}
	sort.Slice(s.points, func(i, j int) bool { return s.points[i].Members < s.points[j].Members })
	return s
}

// limitLine draws each scale row's limit: members ÷ account rate, or the
// posting time at full concurrency, whichever is larger.
func (c *chart) limitLine() {
	runs := append([]ScaleRun(nil), c.r.Scale...)
	sort.Slice(runs, func(i, j int) bool { return runs[i].Members < runs[j].Members })
	var pts []string
	for _, r := range runs {
		if r.LimitMs > 0 {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", c.px(float64(r.Members)), c.py(r.LimitMs)))
		}
	}
	if len(pts) > 0 {
		c.printf(`<polyline points="%s" fill="none" stroke="#1f77b4" stroke-width="1.5" stroke-dasharray="8 4" opacity="0.7"/>`, strings.Join(pts, " "))
	}
}

// groupSeries puts the runs into one series per path and worker count, in
// legend order.
func groupSeries(runs []FanoutRun) (map[string]*series, []string) {
	groups := map[string]*series{}
	var order []string
	for _, f := range runs {
		key := fmt.Sprintf("%s %d", f.Path, f.Workers)
		s, ok := groups[key]
		if !ok {
			s = newSeries(f)
			groups[key] = s
			order = append(order, key)
		}
		s.points = append(s.points, f)
	}
	sort.SliceStable(order, func(i, j int) bool { return seriesRank(order[i]) < seriesRank(order[j]) })
	for _, s := range groups {
		sort.Slice(s.points, func(i, j int) bool { return s.points[i].Members < s.points[j].Members })
	}
	return groups, order
}

// newSeries styles the series of f's path and worker count.
func newSeries(f FanoutRun) *series {
	label := "direct, " + workersLabel(f.Workers)
	if f.Path == "handler" {
		label = "chat function, " + workersLabel(f.Workers)
	}
	color := workerColors[f.Workers]
	if color == "" {
		color = "#7f7f7f"
	}
	s := &series{label: label, color: color, width: 2}
	if f.Path == "handler" {
		s.width = 3
	} else {
		s.dash = "6 3"
	}
	return s
}

// chart is one SVG being written, with its log-log scales.
type chart struct {
	b          strings.Builder
	r          *Results
	minX, maxX float64 // members
	x0, x1     float64 // log10 of members at the plot's edges
	y0, y1     float64 // log10 of milliseconds at the plot's edges (whole decades)
	sizes      []int   // channel sizes with a grid line
}

// newChart fits the axes to the runs: log10 of members and of milliseconds.
func newChart(r *Results) *chart {
	minX, maxX := math.Inf(1), math.Inf(-1)
	minY, maxY := math.Inf(1), math.Inf(-1)
	for _, f := range r.Fanout {
		minX, maxX = math.Min(minX, float64(f.Members)), math.Max(maxX, float64(f.Members))
		if f.Complete > 0 {
			minY, maxY = math.Min(minY, f.P50), math.Max(maxY, f.P99)
		}
	}
	for _, f := range r.Scale {
		minX, maxX = math.Min(minX, float64(f.Members)), math.Max(maxX, float64(f.Members))
		if f.Complete > 0 {
			minY, maxY = math.Min(minY, math.Min(f.P50, f.LimitMs)), math.Max(maxY, f.P99)
		}
	}
	if math.IsInf(minX, 1) {
		minX, maxX = 100, 10000
	}
	if math.IsInf(minY, 1) {
		minY, maxY = 10, 1000
	}
	maxY = math.Max(maxY, target10kMs)
	c := &chart{r: r, minX: minX, maxX: maxX}
	c.x0, c.x1 = math.Log10(minX)-0.15, math.Log10(maxX)+0.15
	c.y0, c.y1 = math.Floor(math.Log10(math.Max(minY, 1))), math.Ceil(math.Log10(maxY))
	if c.y1 <= c.y0 {
		c.y1 = c.y0 + 1
	}
	c.sizes = append([]int(nil), r.Config.Sizes...)
	for _, f := range r.Scale {
		if !slices.Contains(c.sizes, f.Members) {
			c.sizes = append(c.sizes, f.Members)
		}
	}
	slices.Sort(c.sizes)
	if len(c.sizes) == 0 {
		c.sizes = []int{int(minX), int(maxX)}
	}
	return c
}

func (c *chart) px(members float64) float64 {
	return marginL + (math.Log10(members)-c.x0)/(c.x1-c.x0)*plotW
}

func (c *chart) py(msv float64) float64 {
	return marginT + plotH - (math.Log10(math.Max(msv, math.Pow(10, c.y0)))-c.y0)/(c.y1-c.y0)*plotH
}

func (c *chart) printf(format string, args ...any) {
	fmt.Fprintf(&c.b, format+"\n", args...)
}

func (c *chart) header() {
	c.printf(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="%s" font-size="12">`,
		chartW, chartH, chartW, chartH, fontFamily)
	c.printf(`<rect width="%d" height="%d" fill="#ffffff"/>`, chartW, chartH)
	c.printf(`<text x="%d" y="22" font-size="15" font-weight="600">Delivery latency: send → last member's receipt</text>`, marginL)
	c.printf(`<text x="%d" y="38" fill="#555">%s ms per @connections call · line p50, whisker to p99 · log-log · nproc %d</text>`,
		marginL, trimFloat(c.r.Config.PostLatencyMs), c.r.Machine.CPUs)
}

// grid draws the frame, y labels at decades (and 2×, 5× faintly), a line
// per channel size and the axis titles.
func (c *chart) grid() {
	for d := c.y0; d <= c.y1; d++ {
		y := c.py(math.Pow(10, d))
		c.printf(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ccc"/>`, marginL, y, marginL+plotW, y)
		c.printf(`<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`, marginL-6, y, msLabel(math.Pow(10, d)))
		for _, m := range []float64{2, 5} {
			if d < c.y1 {
				yy := c.py(m * math.Pow(10, d))
				c.printf(`<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#eee"/>`, marginL, yy, marginL+plotW, yy)
			}
		}
	}
	for _, n := range c.sizes {
		x := c.px(float64(n))
		c.printf(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/>`, x, marginT, x, marginT+plotH)
		c.printf(`<text x="%.1f" y="%d" text-anchor="middle">%s</text>`, x, marginT+plotH+18, thousands(n))
	}
	c.printf(`<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#888"/>`, marginL, marginT, plotW, plotH)
	c.printf(`<text x="%d" y="%d" text-anchor="middle">channel members (each a WebSocket client)</text>`, marginL+plotW/2, chartH-14)
	c.printf(`<text transform="translate(18 %d) rotate(-90)" text-anchor="middle">latency</text>`, marginT+plotH/2)
}

// postingFloor draws ⌈n/workers⌉ × latency for the dev worker count.
func (c *chart) postingFloor() {
	cfg := c.r.Config
	if cfg.DevWorkers <= 0 || cfg.PostLatencyMs <= 0 {
		return
	}
	var pts []string
	for _, n := range c.sizes {
		floor := math.Ceil(float64(n)/float64(cfg.DevWorkers)) * cfg.PostLatencyMs
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", c.px(float64(n)), c.py(floor)))
	}
	c.printf(`<polyline points="%s" fill="none" stroke="#999" stroke-width="1.5" stroke-dasharray="2 3"/>`, strings.Join(pts, " "))
}

// targets marks the latency targets of the channel sizes on the chart.
func (c *chart) targets() {
	for _, t := range []struct{ n, ms float64 }{{1000, target1kMs}, {10000, target10kMs}} {
		if t.n < c.minX/1.5 || t.n > c.maxX*1.5 {
			continue
		}
		x, y := c.px(t.n), c.py(t.ms)
		c.printf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#000" stroke-width="2"/>`, x-14, y, x+14, y)
		c.printf(`<text x="%.1f" y="%.1f" font-size="11" text-anchor="end" stroke="#fff" stroke-width="3" paint-order="stroke">%s %s</text>`, x-17, y-5, targetLabel, msLabel(t.ms))
	}
}

// series draws one strategy: the p50 line, and per size a marker with a
// whisker to p99, or "incomplete" where no send completed.
func (c *chart) series(s *series) {
	var pts []string
	for _, p := range s.points {
		if p.Complete > 0 {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", c.px(float64(p.Members)), c.py(p.P50)))
		}
	}
	if len(pts) > 1 {
		c.printf(`<polyline points="%s" fill="none" stroke="%s" stroke-width="%.1f"%s/>`, strings.Join(pts, " "), s.color, s.width, s.dashAttr())
	}
	for _, p := range s.points {
		x := c.px(float64(p.Members))
		if p.Complete == 0 {
			y := c.py(math.Pow(10, c.y1)) + 10
			c.printf(`<text x="%.1f" y="%.1f" fill="%s" text-anchor="middle" font-size="11">× %s</text>`, x, y, s.color, incompleteLabel)
			continue
		}
		y50, y99 := c.py(p.P50), c.py(p.P99)
		c.printf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`, x, y50, x, y99, s.color)
		c.printf(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`, x-whiskerHalf, y99, x+whiskerHalf, y99, s.color)
		fill := s.color
		if p.Complete < p.Sends {
			fill = "#fff"
		}
		c.printf(`<circle cx="%.1f" cy="%.1f" r="%d" fill="%s" stroke="%s"><title>%s: %s members, p50 %.0f ms, p99 %.0f ms</title></circle>`,
			x, y50, markerR, fill, s.color, html.EscapeString(s.label), thousands(p.Members), p.P50, p.P99)
	}
}

// legend names each series, the posting floor, the target marks and the
// hollow marker.
func (c *chart) legend(groups map[string]*series, order []string) {
	ly := marginT + 6
	for _, key := range order {
		s := groups[key]
		c.printf(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="%.1f"%s/>`, legendX, ly, legendX+26, ly, s.color, s.width, s.dashAttr())
		c.printf(`<text x="%d" y="%d" dominant-baseline="middle">%s</text>`, legendX+32, ly, html.EscapeString(s.label))
		ly += 20
	}
	c.printf(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999" stroke-width="1.5" stroke-dasharray="2 3"/>`, legendX, ly, legendX+26, ly)
	c.printf(`<text x="%d" y="%d" dominant-baseline="middle">%s, %d workers</text>`, legendX+32, ly, floorLabel, c.r.Config.DevWorkers)
	ly += 20
	c.printf(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#000" stroke-width="2"/>`, legendX, ly, legendX+26, ly)
	c.printf(`<text x="%d" y="%d" dominant-baseline="middle">%s</text>`, legendX+32, ly, targetLabel)
	ly += 20
	c.printf(`<circle cx="%d" cy="%d" r="%d" fill="#fff" stroke="#555"/>`, legendX+13, ly, markerR)
	c.printf(`<text x="%d" y="%d" dominant-baseline="middle">some sends incomplete</text>`, legendX+32, ly)
	if len(c.r.Scale) > 0 {
		ly += 20
		c.printf(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#1f77b4" stroke-width="1.5" stroke-dasharray="8 4" opacity="0.7"/>`, legendX, ly, legendX+26, ly)
		c.printf(`<text x="%d" y="%d" dominant-baseline="middle">limit (account rate)</text>`, legendX+32, ly)
	}
}

func (s *series) dashAttr() string {
	if s.dash == "" {
		return ""
	}
	return fmt.Sprintf(` stroke-dasharray="%s"`, s.dash)
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
