package main

import (
	"fmt"
	"html"
	"math"
	"sort"
	"strings"

	"github.com/wschat/wschat/internal/cost"
)

// partColors color wschat's parts in the cost chart.
var partColors = map[string]string{
	cost.PartMessages:    "#1f77b4",
	cost.PartHTTP:        "#aec7e8",
	cost.PartConnections: "#9ecae1",
	cost.PartLambdaReq:   "#ff7f0e",
	cost.PartLambdaTime:  "#ffbb78",
	cost.PartDynamoWrite: "#d62728",
	cost.PartDynamoRead:  "#ff9896",
	cost.PartSQS:         "#9467bd",
	cost.PartEvents:      "#c5b0d5",
	cost.PartLogs:        "#8c564b",
}

// anchorStyles draw the anchors' lines.
var anchorStyles = map[string]struct{ color, dash string }{
	"Ably":            {"#2ca02c", "1 0"},
	"Pusher Channels": {"#e377c2", "6 3"},
	"AppSync Events":  {"#17becf", "2 2"},
	"Hotsock":         {"#7f7f7f", "8 3 2 3"},
}

// costChart draws the cost per million delivered messages of each workload
// by channel size: wschat's parts stacked in a bar, each anchor a line
// through its workloads (a lower bound is marked "≥" in the legend; an
// unlisted price leaves a gap). Hand-written SVG, no scripts.
func costChart(c *CostResults) string {
	runs := append([]CostRun(nil), c.Runs...)
	sort.SliceStable(runs, func(i, j int) bool { return runs[i].Members < runs[j].Members })
	var b strings.Builder
	if len(runs) == 0 {
		return `<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>` + "\n"
	}
	top := 0.0
	for _, r := range runs {
		top = max(top, r.Bill.PerMillionDelivered)
		for _, a := range r.Anchors {
			if !a.Unpriced {
				top = max(top, a.PerMillionDelivered)
			}
		}
	}
	top = niceCeil(top)
	slot := float64(plotW) / float64(len(runs))
	x := func(i int) float64 { return marginL + slot*(float64(i)+0.5) }
	y := func(v float64) float64 { return marginT + plotH - v/top*plotH }
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" font-family="%s" font-size="12">`+"\n", chartW, chartH, chartW, chartH, fontFamily)
	b.WriteString(`<rect width="100%" height="100%" fill="white"/>` + "\n")
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="15" font-weight="600">Cost per million delivered messages, by channel size (USD)</text>`+"\n", marginL)
	for i := 0; i <= 5; i++ {
		v := top * float64(i) / 5
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#e5e5e5"/><text x="%d" y="%.1f" text-anchor="end" fill="#555">$%s</text>`+"\n",
			marginL, marginL+plotW, y(v), y(v), marginL-6, y(v)+4, trimFloat(v))
	}
	for i, r := range runs {
		bottom := 0.0
		w := slot * 0.42
		for _, p := range cost.Parts {
			v := r.Bill.Line(p).PerMillionDelivered
			if v <= 0 {
				continue
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %s</title></rect>`+"\n",
				x(i)-w/2, y(bottom+v), w, y(bottom)-y(bottom+v), partColors[p], html.EscapeString(r.Name+", "+p), usd(v))
			bottom += v
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-weight="600">%s</text>`+"\n", x(i), y(bottom)-5, usd(bottom))
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text><text x="%.1f" y="%d" text-anchor="middle" fill="#555">%s members</text>`+"\n",
			x(i), marginT+plotH+18, html.EscapeString(shortName(r.Name)), x(i), marginT+plotH+34, thousands(r.Members))
	}
	anchorLines(&b, runs, x, y)
	costLegend(&b, runs)
	b.WriteString("</svg>\n")
	return b.String()
}

// anchorLines draws each anchor through the workloads it prices.
func anchorLines(b *strings.Builder, runs []CostRun, x func(int) float64, y func(float64) float64) {
	for _, name := range anchorNames(&CostResults{Runs: runs}) {
		st := anchorStyles[name]
		var path []string
		for i, r := range runs {
			a := anchorOf(r, name)
			if a.Unpriced {
				if len(path) > 1 {
					fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2" stroke-dasharray="%s"/>`+"\n", strings.Join(path, " "), st.color, st.dash)
				}
				path = nil
				continue
			}
			path = append(path, fmt.Sprintf("%.1f,%.1f", x(i), y(a.PerMillionDelivered)))
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="%d" fill="%s"><title>%s, %s: %s</title></circle>`+"\n",
				x(i), y(a.PerMillionDelivered), markerR, st.color, html.EscapeString(name), html.EscapeString(r.Name), usd(a.PerMillionDelivered))
		}
		if len(path) > 1 {
			fmt.Fprintf(b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2" stroke-dasharray="%s"/>`+"\n", strings.Join(path, " "), st.color, st.dash)
		}
	}
}

func costLegend(b *strings.Builder, runs []CostRun) {
	ly := marginT + 4
	fmt.Fprintf(b, `<text x="%d" y="%d" font-weight="600">wschat on AWS (stacked)</text>`+"\n", legendX, ly)
	for i := len(cost.Parts) - 1; i >= 0; i-- {
		p := cost.Parts[i]
		used := false
		for _, r := range runs {
			used = used || r.Bill.Line(p).PerMillionDelivered > 0
		}
		if !used {
			continue
		}
		ly += 18
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n", legendX, ly-10, partColors[p], legendX+18, ly, html.EscapeString(p))
	}
	ly += 28
	fmt.Fprintf(b, `<text x="%d" y="%d" font-weight="600">list prices (lines)</text>`+"\n", legendX, ly)
	for _, name := range anchorNames(&CostResults{Runs: runs}) {
		st := anchorStyles[name]
		label := name
		for _, r := range runs {
			if a := anchorOf(r, name); a.LowerBound {
				label = name + " (≥ AWS floor)"
			} else if a.Unpriced && a.Plan != "" {
				label = name + " (gap: no plan)"
			}
		}
		ly += 18
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="2" stroke-dasharray="%s"/><text x="%d" y="%d">%s</text>`+"\n",
			legendX, legendX+24, ly-4, ly-4, st.color, st.dash, legendX+30, ly, html.EscapeString(label))
	}
}

// shortName is a workload's name without its size, which the axis gives.
func shortName(name string) string {
	if _, rest, ok := strings.Cut(name, "-member "); ok {
		return rest
	}
	return name
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}
