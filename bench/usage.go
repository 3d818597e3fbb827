package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/wschat/wschat/internal/emutest"
	"github.com/wschat/wschat/local/gateway"
	"github.com/wschat/wschat/local/lambda"
)

// Usage is the emulator's /@admin/usage document: what the stack would be
// billed for since the emulator started (see local/usage.go). It lives
// here, not in internal/emutest: it is made of the emulator's own types
// (local/gateway, local/lambda), and internal/ imports nothing above it.
type Usage struct {
	Gateway   gateway.Usage           `json:"gateway"`
	Functions map[string]lambda.Usage `json:"functions"`
	SQS       SQSUsage                `json:"sqs"`
	Events    EventsUsage             `json:"events"`
}

// EventsUsage counts the integrations' work (see local/usage.go): entries
// put on a bus and their billing units, rule matches, target deliveries,
// stream batches.
type EventsUsage struct {
	Put           int64 `json:"put"`
	Units         int64 `json:"units"`
	Matched       int64 `json:"matched"`
	Delivered     int64 `json:"delivered"`
	StreamBatches int64 `json:"streamBatches"`
}

// SQSUsage counts SQS requests (see local/usage.go).
type SQSUsage struct {
	Requests       map[string]int64 `json:"requests"`
	Units          int64            `json:"units"`
	MappingBatches int64            `json:"mappingBatches"`
}

// readUsage reads the emulator's usage counters.
func readUsage(ctx context.Context, e *emutest.Emulator) (Usage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.BaseURL+"/@admin/usage", nil)
	if err != nil {
		return Usage{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Usage{}, fmt.Errorf("usage: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Usage{}, fmt.Errorf("usage: %s", resp.Status)
	}
	var u Usage
	return u, json.NewDecoder(resp.Body).Decode(&u)
}

// Sub is u minus an earlier reading: what happened in between.
func (u Usage) Sub(before Usage) Usage {
	g, b := u.Gateway, before.Gateway
	out := Usage{
		Gateway: gateway.Usage{
			MessagesIn: g.MessagesIn - b.MessagesIn, UnitsIn: g.UnitsIn - b.UnitsIn, BytesIn: g.BytesIn - b.BytesIn,
			MessagesOut: g.MessagesOut - b.MessagesOut, UnitsOut: g.UnitsOut - b.UnitsOut, BytesOut: g.BytesOut - b.BytesOut,
			Connects: g.Connects - b.Connects, Disconnects: g.Disconnects - b.Disconnects,
			ConnectedMs: g.ConnectedMs - b.ConnectedMs, ManagementCalls: g.ManagementCalls - b.ManagementCalls,
			MessagesByRoute: subMap(g.MessagesByRoute, b.MessagesByRoute), Invocations: subMap(g.Invocations, b.Invocations),
			MockAnswers: g.MockAnswers - b.MockAnswers, Processing: g.Processing, // a gauge: the later reading
		},
		Functions: map[string]lambda.Usage{},
		SQS: SQSUsage{Requests: map[string]int64{}, Units: u.SQS.Units - before.SQS.Units,
			MappingBatches: u.SQS.MappingBatches - before.SQS.MappingBatches},
		Events: EventsUsage{Put: u.Events.Put - before.Events.Put, Units: u.Events.Units - before.Events.Units,
			Matched: u.Events.Matched - before.Events.Matched, Delivered: u.Events.Delivered - before.Events.Delivered,
			StreamBatches: u.Events.StreamBatches - before.Events.StreamBatches},
	}
	for name, f := range u.Functions {
		p := before.Functions[name]
		out.Functions[name] = lambda.Usage{
			Invocations: f.Invocations - p.Invocations, Errors: f.Errors - p.Errors,
			BilledMs: f.BilledMs - p.BilledMs, DurationMs: f.DurationMs - p.DurationMs,
			ColdStarts: f.ColdStarts - p.ColdStarts, InitMs: f.InitMs - p.InitMs, MemoryMB: f.MemoryMB,
			LogEvents: f.LogEvents - p.LogEvents, LogBytes: f.LogBytes - p.LogBytes,
		}
	}
	for op, n := range u.SQS.Requests {
		if d := n - before.SQS.Requests[op]; d != 0 {
			out.SQS.Requests[op] = d
		}
	}
	return out
}

// subMap is a − b for every key of a, keeping only the keys that changed.
func subMap(a, b map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, n := range a {
		if d := n - b[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}
