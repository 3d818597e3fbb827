package sqs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wschat/wschat/local/sqs"
)

// handler is a hand-written Invoker: it decodes the payload as
// aws-lambda-go's events.SQSEvent (the type the fan-out function takes) and
// answers with what outcome says for each body.
type handler struct {
	outcome func(body string, receive int) string // "ok", "item" (report failure) or "crash" (function error)

	mu       sync.Mutex
	handled  map[string]int // body → successful handlings
	seen     map[string]int // body → deliveries
	inFlight atomic.Int64
	peak     atomic.Int64
}

func (h *handler) Invoke(_ context.Context, fn string, payload []byte) ([]byte, error) {
	n := h.inFlight.Add(1)
	defer h.inFlight.Add(-1)
	for p := h.peak.Load(); n > p && !h.peak.CompareAndSwap(p, n); p = h.peak.Load() {
	}
	time.Sleep(5 * time.Millisecond)
	var ev events.SQSEvent
	if err := json.Unmarshal(payload, &ev); err != nil || fn != "fanout" {
		return nil, fmt.Errorf("bad event for %s: %v", fn, err)
	}
	var resp events.SQSEventResponse
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range ev.Records {
		if r.EventSource != "aws:sqs" || r.EventSourceARN == "" || r.MessageId == "" {
			return nil, fmt.Errorf("record without source or id: %+v", r)
		}
		var receive int
		fmt.Sscan(r.Attributes["ApproximateReceiveCount"], &receive)
		h.seen[r.Body]++
		switch h.outcome(r.Body, receive) {
		case "crash":
			return nil, errors.New("function error")
		case "item":
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
		default:
			h.handled[r.Body]++
		}
	}
	return json.Marshal(resp)
}

func newHandler(outcome func(string, int) string) *handler {
	return &handler{outcome: outcome, handled: map[string]int{}, seen: map[string]int{}}
}

func broker(t *testing.T, visibility time.Duration, maxReceive int) *sqs.Broker {
	t.Helper()
	b := sqs.NewBroker(nil)
	if err := b.AddQueue(sqs.QueueConfig{Name: "dlq"}); err != nil {
		t.Fatal(err)
	}
	if err := b.AddQueue(sqs.QueueConfig{Name: "tasks", VisibilityTimeout: visibility, DeadLetterQueue: "dlq", MaxReceiveCount: maxReceive}); err != nil {
		t.Fatal(err)
	}
	return b
}

// runUntil runs m until done reports true (bounded by 20 s).
func runUntil(t *testing.T, m *sqs.Mapping, done func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	stopped := make(chan struct{})
	go func() { m.Run(ctx); close(stopped) }()
	for !done() && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-stopped
	if !done() {
		t.Fatalf("mapping did not finish in 20 s: %+v", m.Stats())
	}
}

func TestMappingRetriesReportedItemsAndRedrivesPoison(t *testing.T) {
	b := broker(t, 200*time.Millisecond, 3)
	h := newHandler(func(body string, receive int) string {
		switch {
		case body == "poison":
			return "item"
		case body == "task-07" && receive == 1: // fails once mid-batch, then succeeds
			return "item"
		case body == "task-13" && receive == 1: // the whole batch fails once
			return "crash"
		}
		return "ok"
	})
	var bodies []string
	for i := range 30 {
		bodies = append(bodies, fmt.Sprintf("task-%02d", i))
	}
	bodies = append(bodies, "poison")
	for _, body := range bodies {
		if _, err := b.Send("tasks", body, 0); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var reports []sqs.BatchReport
	var redrives []sqs.Redrive
	b.OnRedrive(func(r sqs.Redrive) { mu.Lock(); redrives = append(redrives, r); mu.Unlock() })
	report := func(r sqs.BatchReport) { mu.Lock(); reports = append(reports, r); mu.Unlock() }
	m, err := sqs.NewMapping(b, h, sqs.MappingConfig{Queue: "tasks", Function: "fanout", BatchSize: 4, ReportBatchItemFailures: true, MaxConcurrency: 3, QueueARN: "arn:aws:sqs:us-east-1:000000000000:tasks", Report: report})
	if err != nil {
		t.Fatal(err)
	}
	runUntil(t, m, func() bool {
		visible, inflight, _, _ := b.Depth("tasks")
		dead, _, _, _ := b.Depth("dlq")
		return visible+inflight == 0 && dead == 1
	})

	h.mu.Lock()
	defer h.mu.Unlock()
	for _, body := range bodies[:30] {
		if h.handled[body] < 1 {
			t.Errorf("%s handled %d times, want at least once", body, h.handled[body])
		}
	}
	if h.seen["task-07"] != 2 {
		t.Errorf("task-07 delivered %d times, want 2 (a reported failure, then success)", h.seen["task-07"])
	}
	if h.seen["poison"] != 3 || h.handled["poison"] != 0 {
		t.Errorf("poison delivered %d times, handled %d; want 3 deliveries (maxReceiveCount), then the DLQ", h.seen["poison"], h.handled["poison"])
	}
	st := m.Stats()
	if st.BatchFailures != 1 || st.ItemFailures < 4 || h.peak.Load() > 3 {
		t.Errorf("stats %+v, peak concurrency %d; want 1 batch failure, ≥ 4 item failures (1 + 3 poison), ≤ 3 concurrent", st, h.peak.Load())
	}
	t.Logf("%d messages: %+v, peak %d concurrent invocations", len(bodies), st, h.peak.Load())

	mu.Lock()
	defer mu.Unlock()
	var whole, items int
	for _, r := range reports {
		if r.Queue != "tasks" || r.Function != "fanout" || r.Retry != 200*time.Millisecond || r.Failed < 1 || r.Failed > r.Size {
			t.Errorf("report %+v: want tasks → fanout, retry 200ms, 1..size failed", r)
		}
		if r.Err != nil {
			whole++
		} else {
			items += r.Failed
		}
	}
	if whole != st.BatchFailures || items != st.ItemFailures {
		t.Errorf("reports: %d whole-batch, %d items; want the stats' %d and %d", whole, items, st.BatchFailures, st.ItemFailures)
	}
	if len(redrives) != 1 || redrives[0].Message.Body != "poison" || redrives[0].DeadLetterQueue != "dlq" || redrives[0].Message.ReceiveCount != 3 {
		t.Errorf("redrives = %+v, want the poison message once, to dlq after 3 receives", redrives)
	}
}

func TestMappingWithoutItemReportsDeletesTheBatch(t *testing.T) {
	b := broker(t, time.Minute, 3)
	h := newHandler(func(string, int) string { return "item" }) // ignored: not reported
	for i := range 5 {
		if _, err := b.Send("tasks", fmt.Sprint(i), 0); err != nil {
			t.Fatal(err)
		}
	}
	m, err := sqs.NewMapping(b, h, sqs.MappingConfig{Queue: "tasks", Function: "fanout", MaxConcurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	runUntil(t, m, func() bool { return m.Stats().Deleted == 5 })
}

func TestNewMappingRejectsBadConfig(t *testing.T) {
	b := broker(t, time.Minute, 3)
	tests := []struct {
		name string
		cfg  sqs.MappingConfig
	}{
		{"unknown queue", sqs.MappingConfig{Queue: "nope", Function: "f"}},
		{"no function", sqs.MappingConfig{Queue: "tasks"}},
		{"batch too big", sqs.MappingConfig{Queue: "tasks", Function: "f", BatchSize: 11}},
		{"concurrency 1", sqs.MappingConfig{Queue: "tasks", Function: "f", MaxConcurrency: 1}},
	}
	for _, tt := range tests {
		if _, err := sqs.NewMapping(b, newHandler(nil), tt.cfg); err == nil {
			t.Errorf("%s: NewMapping = nil error", tt.name)
		}
	}
}

// TestSampleEventHasLambdaKeys compares a record's keys, and its system
// attributes', with aws-lambda-go's sqs-event.json: the same, but for
// md5OfMessageAttributes, which Lambda sends only with message attributes
// (which the emulator does not take).
func TestSampleEventHasLambdaKeys(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/aws/aws-lambda-go").Output()
	if err != nil {
		t.Fatalf("locate aws-lambda-go: %v", err)
	}
	raw, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "events", "testdata", "sqs-event.json"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ours, err := sqs.SampleEvent([]sqs.Message{{ID: "m1", Body: "b", ReceiptHandle: "h", ReceiveCount: 1, SentAt: now, FirstReceive: now}}, "arn:aws:sqs:us-east-1:000000000000:q", "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	type event struct{ Records []map[string]json.RawMessage }
	keys := func(data []byte) (rec, attrs []string) {
		var ev event
		if err := json.Unmarshal(data, &ev); err != nil || len(ev.Records) != 1 {
			t.Fatalf("event %s: %v", data, err)
		}
		var a map[string]string
		_ = json.Unmarshal(ev.Records[0]["attributes"], &a)
		return slices.Sorted(maps.Keys(ev.Records[0])), slices.Sorted(maps.Keys(a))
	}
	wantRec, wantAttrs := keys(raw)
	wantRec = slices.DeleteFunc(wantRec, func(k string) bool { return k == "md5OfMessageAttributes" })
	gotRec, gotAttrs := keys(ours)
	if !slices.Equal(gotRec, wantRec) || !slices.Equal(gotAttrs, wantAttrs) {
		t.Errorf("record keys %v, attributes %v;\nwant %v, %v", gotRec, gotAttrs, wantRec, wantAttrs)
	}
	var ev events.SQSEvent
	dec := json.NewDecoder(strings.NewReader(string(ours)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ev); err != nil || ev.Records[0].EventSource != "aws:sqs" || ev.Records[0].Md5OfBody == "" {
		t.Errorf("as events.SQSEvent: %+v, %v", ev, err)
	}
}
