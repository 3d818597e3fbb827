package main

import (
	"encoding/xml"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/emutest"
)

func TestPercentileIsNearestRank(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3}
	for _, tc := range []struct{ p, want float64 }{{0, 1}, {50, 3}, {90, 5}, {99, 5}, {100, 5}, {20, 1}, {21, 2}} {
		if got := percentile(xs, tc.p); got != tc.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", xs, tc.p, got, tc.want)
		}
	}
	if got := percentile(nil, 50); !math.IsNaN(got) {
		t.Errorf("percentile(nil) = %v, want NaN", got)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 21121: "21,121", 10000000: "10,000,000", -4500: "-4,500"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParseOptions(t *testing.T) {
	o, err := parseOptions([]string{"-sizes", "100,1000", "-sends", "3", "-workers", "64,-1", "-handler-workers", ""}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.handlerSends) != 2 || o.handlerSends[1] != 3 {
		t.Errorf("sends padded to the sizes: got %v", o.handlerSends)
	}
	if len(o.variants) != 2 || o.variants[1] != -1 || len(o.handlerWorkers) != 0 {
		t.Errorf("workers %v, handler workers %v", o.variants, o.handlerWorkers)
	}
	for _, args := range [][]string{{"-sizes", "1000,100"}, {"-sizes", "0"}, {"-workers", "0"}, {"-sizes", "20000"}, {"extra"}} {
		if _, err := parseOptions(args, io.Discard); err == nil {
			t.Errorf("parseOptions(%q): want an error", args)
		}
	}
}

func TestReadCostOf(t *testing.T) {
	s := func(items int) sample {
		return sample{counts: emutest.DynamoCounts{ItemsRead: items, ReadCU: 2, WriteCU: 6, Calls: map[string]int{"GetItem": 1, "Query": 1}}}
	}
	rc := readCostOf("c", 10, 120, []sample{s(11), s(11), s(13)})
	if rc.ItemsMin != 11 || rc.ItemsMax != 13 || math.Abs(rc.ItemsRead-35.0/3) > 1e-9 || rc.Calls != "GetItem 1, Query 1" {
		t.Errorf("got %+v", rc)
	}
}

// sampleResults is a small but complete result set.
func sampleResults() *Results {
	return &Results{
		Started: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC), Duration: "3m0s",
		Machine: Machine{CPUs: 2, CPUModel: "Test CPU", GoVersion: "go1.26"},
		Config:  Config{PostLatencyMs: 20, Sizes: []int{100, 1000, 10000}, DevWorkers: 64, SendBudget: 20000},
		Fanout: []FanoutRun{
			{Path: "handler", Workers: 64, Members: 100, Sends: 3, Complete: 3, P50: 60, P99: 70},
			{Path: "handler", Workers: 64, Members: 1000, Sends: 3, Complete: 3, P50: 380, P99: 400},
			{Path: "handler", Workers: 64, Members: 10000, Sends: 3, Complete: 3, P50: 3600, P99: 3900},
			{Path: "direct", Workers: 128, Members: 10000, Sends: 3, Complete: 3, P50: 2300, P99: 2400},
			{Path: "direct", Workers: 1, Members: 1000, Sends: 2, Complete: 0, Note: "2 of 2 sends incomplete"},
		},
		ReadCost: []ReadCost{
			{Channel: "a", Members: 10, TableItems: 120, ItemsRead: 11, ItemsMin: 11, ItemsMax: 11, Overhead: 1},
			{Channel: "b", Members: 10000, TableItems: 21000, ItemsRead: 10001, ItemsMin: 10001, ItemsMax: 10001, Overhead: 1},
		},
		ColdStart: []FunctionStart{{Name: "chat", RawBytes: 10e6, ZipBytes: 3_700_000, InitP50: 4}},
		Capacity:  &Capacity{Connections: 10000, Held: 10000, EmulatorRSSAfter: 500 << 20},
		Reloads: []ReloadRun{
			{Scope: "one function", Function: "chat", Edit: "lambdas/chat/main.go", Seconds: []float64{4.1, 5.2, 6}, P50: 5.2, Max: 6, Connected: true},
			{Scope: "shared", Function: "chat", Edit: "internal/protocol/request.go", Seconds: []float64{7}, P50: 7, Max: 7, Connected: true},
		},
		Scale: []ScaleRun{
			{Members: 1000, Sockets: "real", Path: "sender", Sends: 3, Complete: 3, P50: 220, P99: 260, LimitMs: 156, RatioP50: 1.4, RatioP99: 1.7},
			{Members: 100000, Sockets: "virtual", Path: "queue", Sends: 3, Complete: 3, P50: 14000, P99: 16000, LimitMs: 10000, RatioP50: 1.4, RatioP99: 1.6},
		},
		Fill: []FillRun{{Members: 10000, Seconds: 30, JoinsPerSec: 333, PresenceFrames: 15050}},
		Lifecycle: []LifecycleCost{
			{Action: "edit", Members: 10, Samples: 5, Calls: 13, CallsByOp: map[string]float64{"GetItem": 4, "PutItem": 2, "Query": 1, "UpdateItem": 6}, ReadCU: 5, WriteCU: 8, Posts: 11},
			{Action: "typing", Members: 10, Samples: 5, Calls: 5, CallsByOp: map[string]float64{"GetItem": 4, "Query": 1}, ReadCU: 5, Posts: 10},
		},
		Events: []EventsRun{
			{Events: false, Sends: 50, P50Ms: 60, P99Ms: 90},
			{Events: true, Sends: 50, P50Ms: 61.5, P99Ms: 95, Delivered: 50, EventP50Ms: 17, EventP99Ms: 120},
		},
	}
}

func TestJudge(t *testing.T) {
	b := &bench{opts: &options{postLatency: 20 * time.Millisecond}, res: sampleResults(), devWorkers: 64}
	b.judge()
	want := map[string]bool{
		"1,000-member channel fully delivered":                              true,
		"10,000-member channel fully delivered":                             false,
		"DynamoDB items read per send":                                      true,
		"every function ≤ 3 MB zipped and init ≤ 20 ms":                     false,
		"10,000 connections held by the emulator":                           true,
		"save → new code answering a frame (make dev, one-function change)": false,
		"100,000-member channel (virtual connections) fully delivered":      false,
		"1,000-member channel no slower than before the queue path":         true,
		"members skipped":                              true,
		"filling a 10,000-member channel":              true,
		"typing stores nothing":                        true,
		"send → ack with events on no slower than off": true,
	}
	for _, tg := range b.res.Targets {
		w, ok := want[tg.Name]
		if !ok {
			t.Errorf("unexpected target %q", tg.Name)
			continue
		}
		if tg.Pass != w {
			t.Errorf("%s: pass = %v, want %v (%s; %s)", tg.Name, tg.Pass, w, tg.Measured, tg.Why)
		}
		if !tg.Pass && tg.Why == "" {
			t.Errorf("%s: a miss must say why", tg.Name)
		}
	}
	for _, tg := range b.res.Targets {
		if tg.Name == "10,000-member channel fully delivered" && !strings.Contains(tg.Why, "3140 ms") {
			t.Errorf("the 10,000 miss should give the posting floor ⌈10000/64⌉ × 20 ms = 3140 ms: %s", tg.Why)
		}
	}
}

// TestEventsTarget: a slower send with events on, or an event that never
// reached the bus, misses the target and says why.
func TestEventsTarget(t *testing.T) {
	for _, tt := range []struct {
		on   EventsRun
		pass bool
	}{
		{EventsRun{Events: true, Sends: 50, P50Ms: 62.9, Delivered: 50}, true},
		{EventsRun{Events: true, Sends: 50, P50Ms: 70, Delivered: 50}, false},
		{EventsRun{Events: true, Sends: 50, P50Ms: 55, Delivered: 49}, false},
	} {
		b := &bench{opts: &options{}, res: &Results{Events: []EventsRun{{Sends: 50, P50Ms: 60}, tt.on}}}
		tg := b.eventsTarget()
		if tg.Pass != tt.pass || tg.NotMeasured || (!tg.Pass && tg.Why == "") {
			t.Errorf("on %+v: %+v, want pass %v", tt.on, tg, tt.pass)
		}
	}
	// With the middle row, a miss splits the difference between the
	// emulator's capture and the events function.
	split := &bench{opts: &options{}, res: &Results{Events: []EventsRun{{Sends: 50, P50Ms: 60}, {Capture: true, Sends: 50, P50Ms: 64},
		{Events: true, Sends: 50, P50Ms: 70, Delivered: 50}}}}
	if tg := split.eventsTarget(); tg.Pass || !strings.Contains(tg.Why, "+10.0 ms") || !strings.Contains(tg.Why, "accounts for +4.0 ms") ||
		!strings.Contains(tg.Why, "cores for +6.0 ms") {
		t.Errorf("the split: %+v", tg)
	}
	if md := eventsMarkdown(split.res); !strings.Contains(md, "| off, stream captured | 50 | 64.0 |") {
		t.Errorf("markdown:\n%s", md)
	}
	if tg := (&bench{opts: &options{}, res: &Results{}}).eventsTarget(); !tg.NotMeasured {
		t.Errorf("without runs: %+v, want not measured", tg)
	}
	if md := eventsMarkdown(sampleResults()); !strings.Contains(md, "| on | 50 | 61.5 | 95.0 |") {
		t.Errorf("markdown:\n%s", md)
	}
}

func TestReloadTarget(t *testing.T) {
	tests := []struct {
		runs         []ReloadRun
		pass, notRun bool
	}{
		{nil, false, true},
		{[]ReloadRun{{Scope: "shared", Seconds: []float64{2.1}, P50: 2.1, Max: 2.1, Connected: true}}, false, true},
		{[]ReloadRun{{Scope: "one function", Seconds: []float64{2.1}, P50: 2.1, Max: 2.1, Connected: true}}, true, false},
		{[]ReloadRun{{Scope: "one function", Seconds: []float64{2.1}, P50: 2.1, Max: 2.1, Connected: false}}, false, false},
		{[]ReloadRun{{Scope: "one function", Seconds: []float64{3.2}, P50: 3.2, Max: 3.2, Connected: true}}, false, false},
		{[]ReloadRun{
			{Scope: "one function", Seconds: []float64{2.1}, P50: 2.1, Max: 2.1, Connected: true},
			{Scope: "shared", Seconds: []float64{7}, P50: 7, Max: 7, Connected: true},
		}, true, false},
	}
	for i, tt := range tests {
		b := &bench{res: &Results{Reloads: tt.runs}}
		got := b.reloadTarget()
		if got.Pass != tt.pass || got.NotMeasured != tt.notRun || (!got.Pass && !got.NotMeasured && got.Why == "") {
			t.Errorf("%d: %+v, want pass %v, not measured %v, and a why for a miss", i, got, tt.pass, tt.notRun)
		}
	}
}

func TestLatencyChartIsWellFormedSVG(t *testing.T) {
	svg := latencyChart(sampleResults())
	dec := xml.NewDecoder(strings.NewReader(svg))
	for {
		_, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, svg)
		}
	}
	for _, want := range []string{"<svg", "chat function, 64 workers", "direct, 128 workers", "direct, 1 worker<", "× incomplete", "target 3 s", "10,000"} {
		if !strings.Contains(svg, want) {
			t.Errorf("chart lacks %q", want)
		}
	}
	if strings.Contains(svg, "NaN") || strings.Contains(svg, "Inf") {
		t.Error("chart has NaN or Inf coordinates")
	}
}

func TestMarkdownHasEverySection(t *testing.T) {
	r := sampleResults()
	b := &bench{opts: &options{postLatency: 20 * time.Millisecond}, res: r, devWorkers: 64}
	b.judge()
	md := markdown(r)
	for _, want := range []string{"## Targets", "| **PASS** |", "| **MISS** |", "## Fan-out", "latency.svg", "## DynamoDB", "## Functions", "## Emulator capacity", "Test CPU"} {
		if !strings.Contains(md, want) {
			t.Errorf("results.md lacks %q", want)
		}
	}
}
