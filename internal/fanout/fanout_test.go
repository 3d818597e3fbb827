package fanout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/logging"
	"github.com/wschat/wschat/internal/metrics"
)

// memberStore is a hand-written Store over a fixed member list, paged by
// index.
type memberStore struct {
	members []chat.Member
	err     error

	mu      sync.Mutex
	pages   int
	removed []string
}

func newMemberStore(n int) *memberStore {
	s := &memberStore{}
	for i := range n {
		s.members = append(s.members, chat.Member{Channel: "room", ConnectionID: fmt.Sprintf("c%03d", i)})
	}
	return s
}

func (s *memberStore) Recipients(_ context.Context, _ string, cursor string, limit int) ([]chat.Member, string, error) {
	s.mu.Lock()
	s.pages++
	s.mu.Unlock()
	if s.err != nil {
		return nil, "", s.err
	}
	start := 0
	if cursor != "" {
		start, _ = strconv.Atoi(cursor)
	}
	end := min(start+limit, len(s.members))
	next := ""
	if end < len(s.members) {
		next = strconv.Itoa(end)
	}
	return s.members[start:end], next, nil
}

func (s *memberStore) RemoveConnection(_ context.Context, id string, _ ...string) (chat.Connection, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removed = append(s.removed, id)
	return chat.Connection{ID: id}, nil
}

// poster is a hand-written Poster: errs[id] is returned for id (a slice is
// consumed one error per call), and it tracks calls and concurrency.
type poster struct {
	mu       sync.Mutex
	errs     map[string][]error
	calls    map[string]int
	delay    time.Duration
	inFlight atomic.Int64
	peak     atomic.Int64
}

func (p *poster) Post(ctx context.Context, id string, _ []byte) error {
	n := p.inFlight.Add(1)
	defer p.inFlight.Add(-1)
	for {
		old := p.peak.Load()
		if n <= old || p.peak.CompareAndSwap(old, n) {
			break
		}
	}
	if p.delay > 0 {
		select {
		case <-time.After(p.delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.calls == nil {
		p.calls = map[string]int{}
	}
	p.calls[id]++
	if errs := p.errs[id]; len(errs) > 0 {
		err := errs[0]
		if len(errs) > 1 {
			p.errs[id] = errs[1:]
		}
		return err
	}
	return nil
}

func noSleep(context.Context, time.Duration) error { return nil }

func newFanout(s Store, p Poster, cfg Config, log *slog.Logger) *Fanout {
	f := New(s, p, cfg, log, nil)
	f.sleep = noSleep
	return f
}

func TestBroadcastWorkerStrategies(t *testing.T) {
	tests := []struct {
		name     string
		workers  int
		wantPeak func(int64) bool
		want     string
	}{
		{"one at a time", 1, func(p int64) bool { return p == 1 }, "1"},
		{"pool of 8", 8, func(p int64) bool { return p > 1 && p <= 8 }, "2..8"},
		{"unbounded", Unbounded, func(p int64) bool { return p > 8 }, "> 8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newMemberStore(40)
			p := &poster{delay: 20 * time.Millisecond}
			f := newFanout(s, p, Config{Workers: tt.workers, PageSize: 7}, nil)
			stats, err := f.Broadcast(t.Context(), nil, "room", []byte("{}"))
			if err != nil {
				t.Fatalf("Broadcast: %v", err)
			}
			if stats.Members != 40 || stats.Delivered != 40 || stats.Failed+stats.Gone+stats.Skipped != 0 {
				t.Errorf("stats = %+v, want 40 members all delivered", stats)
			}
			if s.pages != 6 {
				t.Errorf("member pages read = %d, want 6 (40 members, 7 per page)", s.pages)
			}
			if peak := p.peak.Load(); !tt.wantPeak(peak) {
				t.Errorf("peak concurrent posts = %d, want %s", peak, tt.want)
			}
		})
	}
}

func TestBroadcastRetriesOnlyRetryableErrors(t *testing.T) {
	unavailable := fmt.Errorf("post: %w", chat.ErrUnavailable)
	gone := fmt.Errorf("post: %w", chat.ErrGone)
	forbidden := errors.New("post: forbidden")
	s := newMemberStore(5)
	p := &poster{errs: map[string][]error{
		"c000": {unavailable, unavailable, nil},                           // recovers on the 3rd attempt
		"c001": {unavailable, unavailable, unavailable, unavailable, nil}, // never within 1+3 attempts
		"c002": {gone},
		"c003": {forbidden},
	}}
	f := newFanout(s, p, Config{Workers: 2, Retries: 3}, nil)
	stats, err := f.Broadcast(t.Context(), nil, "room", []byte("{}"))
	if err != nil {
		t.Fatalf("Broadcast: %v", err)
	}
	want := chat.FanoutStats{Members: 5, Delivered: 2, Gone: 1, Failed: 2}
	stats.Duration = 0
	if stats != want {
		t.Errorf("stats = %+v, want %+v", stats, want)
	}
	wantCalls := map[string]int{"c000": 3, "c001": 4, "c002": 1, "c003": 1, "c004": 1}
	for id, n := range wantCalls {
		if p.calls[id] != n {
			t.Errorf("posts to %s = %d, want %d", id, p.calls[id], n)
		}
	}
	if !slices.Equal(s.removed, []string{"c002"}) {
		t.Errorf("removed = %v, want [c002]", s.removed)
	}
}

func TestBroadcastStopsAtTheBudget(t *testing.T) {
	s := newMemberStore(10)
	p := &poster{}
	f := newFanout(s, p, Config{Workers: 3}, nil)
	budget := chat.NewBudget(6)
	first, err := f.Broadcast(t.Context(), budget, "room", []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.Broadcast(t.Context(), budget, "room", []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	if first.Delivered != 6 || first.Skipped != 4 || second.Delivered != 0 || second.Skipped != 10 {
		t.Errorf("with a budget of 6 shared by two broadcasts: first %+v, second %+v; want 6+4 skipped, then 0+10 skipped", first, second)
	}
}

func TestBroadcastKeepsInsideTheDeadline(t *testing.T) {
	s := newMemberStore(50)
	p := &poster{delay: time.Second}
	f := newFanout(s, p, Config{Workers: 4, Reserve: 50 * time.Millisecond, CallTimeout: 10 * time.Second}, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	stats, err := f.Broadcast(ctx, nil, "room", []byte("{}"))
	// The posts would take 1 s each (10 s timeout): returning at all well
	// before that shows the deadline (minus the reserve) is respected.
	// The bound leaves room for a loaded CI machine.
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("Broadcast took %v, want it back at the deadline minus the reserve (~100ms)", took)
	}
	if err != nil {
		t.Errorf("Broadcast error = %v, want nil (all members were read)", err)
	}
	if stats.Delivered != 0 || stats.Failed != 50 {
		t.Errorf("stats = %+v, want 50 failed", stats)
	}
}

func TestBroadcastReportsUnreadableMembers(t *testing.T) {
	s := newMemberStore(3)
	s.err = chat.ErrUnavailable
	f := newFanout(s, &poster{}, Config{}, nil)
	if _, err := f.Broadcast(t.Context(), nil, "room", []byte("{}")); !errors.Is(err, chat.ErrUnavailable) {
		t.Errorf("Broadcast error = %v, want the store's error", err)
	}
}

func TestBroadcastLogsOneLine(t *testing.T) {
	var buf bytes.Buffer
	log, err := logging.New(&buf, "") // the functions' own logger: docs/protocol.md names its keys
	if err != nil {
		t.Fatal(err)
	}
	s := newMemberStore(4)
	p := &poster{errs: map[string][]error{"c001": {chat.ErrGone}}}
	var emf bytes.Buffer
	f := New(s, p, Config{}, log, metrics.New(&emf, "WsChat/test"))
	// A value the request recorded before the broadcast rides on its line.
	ctx := metrics.WithBatch(t.Context())
	f.meter.Record(ctx, metrics.Value{Name: "MessagesAccepted", Unit: metrics.Count, Value: 1})
	if _, err := f.Broadcast(ctx, chat.NewBudget(3), "room", []byte(`{"text":"secret words"}`)); err != nil {
		t.Fatal(err)
	}
	if emf.Len() != 0 {
		t.Errorf("metrics written apart from the broadcast's line: %s", emf.String())
	}
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	if len(lines) != 1 {
		t.Fatalf("Broadcast logged %d lines, want 1:\n%s", len(lines), buf.Bytes())
	}
	var got map[string]any
	if err := json.Unmarshal(lines[0], &got); err != nil {
		t.Fatal(err)
	}
	// Counts are the EMF values; a count of 0 is left out.
	for k, want := range map[string]any{"message": "fanout", "level": "WARN", "channel": "room", "members": 4.0, "skipped": 1.0,
		"Deliveries": 2.0, "Gone": 1.0, "FanoutFailed": nil, "FanoutThrottled": nil, "MessagesAccepted": 1.0} {
		if got[k] != want {
			t.Errorf("log %s = %v, want %v (line %s)", k, got[k], want, lines[0])
		}
	}
	if _, ok := got["_aws"]; !ok || got["FanoutDurationMs"] == nil {
		t.Errorf("line %s: want the EMF block and the duration", lines[0])
	}
	if bytes.Contains(buf.Bytes(), []byte("secret")) {
		t.Errorf("fanout log contains the frame: %s", buf.Bytes())
	}
}

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		env     string
		want    int
		wantErr bool
	}{
		{"", DefaultWorkers, false},
		{"1", 1, false},
		{"200", 200, false},
		{"-1", Unbounded, false},
		{"0", 0, true},
		{"-2", 0, true},
		{"many", 0, true},
	}
	for _, tt := range tests {
		cfg, err := ConfigFromEnv(func(k string) string {
			if k == "WSCHAT_FANOUT_WORKERS" {
				return tt.env
			}
			return ""
		})
		if (err != nil) != tt.wantErr || (err == nil && cfg.Workers != tt.want) {
			t.Errorf("ConfigFromEnv(WSCHAT_FANOUT_WORKERS=%q) = %d, %v; want %d, error %v", tt.env, cfg.Workers, err, tt.want, tt.wantErr)
		}
	}
}

func TestBroadcastStopsReadingWhenTheBudgetIsSpent(t *testing.T) {
	s := newMemberStore(100)
	f := newFanout(s, &poster{}, Config{PageSize: 10}, nil)
	stats, err := f.Broadcast(t.Context(), chat.NewBudget(25), "room", []byte("{}"))
	if err != nil {
		t.Fatalf("Broadcast: %v, want nil: a spent budget is not a failure", err)
	}
	if stats.Delivered != 25 || stats.Skipped != 5 || s.pages != 3 {
		t.Errorf("stats = %+v after %d pages, want 25 delivered, 5 skipped, 3 pages read", stats, s.pages)
	}
}

// TestBroadcastPostsOnceToAConnectionListedTwice: a recent joiner is read
// from the recent joins and from its shard; it gets the frame once.
func TestBroadcastPostsOnceToAConnectionListedTwice(t *testing.T) {
	s := newMemberStore(20)
	s.members = append(s.members, s.members[3], s.members[17], s.members[3])
	p := &poster{}
	f := newFanout(s, p, Config{Workers: 4, PageSize: 6}, nil)
	stats, err := f.Broadcast(t.Context(), nil, "room", []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	if stats.Members != 20 || stats.Delivered != 20 {
		t.Errorf("stats = %+v, want 20 members, 20 delivered", stats)
	}
	for id, n := range p.calls {
		if n != 1 {
			t.Errorf("%s posted %d times, want 1", id, n)
		}
	}
	if len(p.calls) != 20 {
		t.Errorf("posted to %d connections, want 20", len(p.calls))
	}
}

// A 429 is retried after a short pause of its own, with its own count (a
// post throttled many times still gets its server-error retries), every
// 429 is counted in the stats, and the window is cut.
func TestBroadcastRetriesThrottledPostsWithTheirOwnCount(t *testing.T) {
	throttled := fmt.Errorf("post: %w", chat.ErrThrottled)
	unavailable := fmt.Errorf("post: %w", chat.ErrUnavailable)
	s := newMemberStore(3)
	p := &poster{errs: map[string][]error{
		// 6 throttles then a server error then success: beyond Retries (1)
		// in total, within each kind's own count.
		"c000": {throttled, throttled, throttled, throttled, throttled, throttled, unavailable, nil},
		"c001": {throttled, throttled, throttled, throttled, throttled, throttled, throttled, throttled, throttled}, // > 8
		"c002": {unavailable, unavailable, nil},                                                                     // 2 server errors > Retries 1
	}}
	f := New(s, p, Config{Workers: 1, Retries: 1, ThrottleRetries: 8, Backoff: time.Millisecond, ThrottleBackoff: 100 * time.Millisecond}, nil, nil)
	var mu sync.Mutex
	var waits []time.Duration
	f.sleep = func(_ context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		waits = append(waits, d)
		return nil
	}
	stats, err := f.Broadcast(t.Context(), nil, "room", []byte("{}"))
	if err != nil {
		t.Fatalf("Broadcast: %v", err)
	}
	stats.Duration = 0
	want := chat.FanoutStats{Members: 3, Delivered: 1, Failed: 2, Throttled: 6 + 9}
	if stats != want {
		t.Errorf("stats = %+v, want %+v", stats, want)
	}
	if p.calls["c000"] != 8 || p.calls["c001"] != 9 || p.calls["c002"] != 2 {
		t.Errorf("posts = %v, want c000 8, c001 9 (1 + 8 retries), c002 2 (1 + 1 retry)", p.calls)
	}
	// 15 pauses after a 429, each below ThrottleBackoff, however many came
	// before (no growing per-post back-off); 2 server-error waits ≤ 1 ms.
	long := 0
	for _, w := range waits {
		if w > 100*time.Millisecond {
			t.Errorf("wait %v, want none above ThrottleBackoff (100ms)", w)
		}
		if w > 2*time.Millisecond {
			long++
		}
	}
	if len(waits) != 15+2 || long == 0 {
		t.Errorf("waits %v: want 17, the throttle pauses drawn up to 100ms", waits)
	}
	if _, _, cuts := f.win.state(); cuts == 0 {
		t.Error("the window was never cut by 15 429s")
	}
}

// bucketPoster answers like the account's token bucket with attempts for a
// clock: each call adds refill tokens (up to burst), and a call finding less
// than one token is refused 429. It records the deliveries.
type bucketPoster struct {
	refill, burst float64

	mu        sync.Mutex
	tokens    float64
	calls     int
	delivered map[string]int
}

func (b *bucketPoster) Post(_ context.Context, id string, _ []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls++
	b.tokens = min(b.burst, b.tokens+b.refill)
	if b.tokens < 1 {
		return fmt.Errorf("post: %w", chat.ErrThrottled)
	}
	b.tokens--
	if b.delivered == nil {
		b.delivered = map[string]int{}
	}
	b.delivered[id]++
	return nil
}

// TestBroadcastLosesNoMemberToThrottling: with most attempts refused, every
// member is still delivered, once, each 429 counted, for every strategy.
func TestBroadcastLosesNoMemberToThrottling(t *testing.T) {
	for _, workers := range []int{1, 16, Unbounded} {
		t.Run(strconv.Itoa(workers), func(t *testing.T) {
			s := newMemberStore(300)
			b := &bucketPoster{refill: 0.25, burst: 5, tokens: 5}
			f := newFanout(s, b, Config{Workers: workers, PageSize: 50}, nil)
			stats, err := f.Broadcast(t.Context(), nil, "room", []byte("{}"))
			if err != nil {
				t.Fatalf("Broadcast: %v", err)
			}
			if stats.Delivered != 300 || stats.Failed != 0 || len(b.delivered) != 300 {
				t.Errorf("stats = %+v, %d distinct delivered; want all 300 delivered, none failed", stats, len(b.delivered))
			}
			for id, n := range b.delivered {
				if n != 1 {
					t.Errorf("%s delivered %d times, want 1", id, n)
				}
			}
			if stats.Throttled == 0 || stats.Throttled != b.calls-300 {
				t.Errorf("throttled = %d with %d calls for 300 deliveries, want calls - 300 and more than 0", stats.Throttled, b.calls)
			}
		})
	}
}

// TestBroadcastSamplesFailedDeliveries: five members fail for good; the
// line names the first three (connection and error) and counts all five;
// at debug level every failed delivery also gets a line of its own, and a
// successful one never does.
func TestBroadcastSamplesFailedDeliveries(t *testing.T) {
	for _, level := range []string{"info", "debug"} {
		t.Run(level, func(t *testing.T) {
			var buf bytes.Buffer
			log, err := logging.New(&buf, level)
			if err != nil {
				t.Fatal(err)
			}
			perm := errors.New("403 ForbiddenException")
			p := &poster{errs: map[string][]error{}}
			for i := range 5 {
				p.errs[fmt.Sprintf("c%03d", i)] = []error{perm}
			}
			f := New(newMemberStore(20), p, Config{}, log, metrics.New(io.Discard, "x"))
			f.sleep = noSleep
			if _, err := f.Broadcast(t.Context(), chat.NewBudget(100), "room", []byte("{}")); err != nil {
				t.Fatal(err)
			}
			var line map[string]any
			deliveries := 0
			for _, l := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
				var m map[string]any
				if err := json.Unmarshal(l, &m); err != nil {
					t.Fatal(err)
				}
				switch m["message"] {
				case "fanout":
					line = m
				case "delivery":
					deliveries++
				}
			}
			failures, _ := line["failures"].([]any)
			if line["FanoutFailed"] != 5.0 || line["Deliveries"] != 15.0 || len(failures) != maxFailureSamples {
				t.Fatalf("line %v: want 5 failed, 15 delivered, %d of the failures named", line, maxFailureSamples)
			}
			first, _ := failures[0].(map[string]any)
			if first["connectionId"] == "" || first["error"] != "403 ForbiddenException" {
				t.Errorf("failure sample %v: want the connection and its error", first)
			}
			if want := map[string]int{"info": 0, "debug": 5}[level]; deliveries != want {
				t.Errorf("%d delivery lines at %s, want %d (failures only)", deliveries, level, want)
			}
		})
	}
}

// TestBroadcastMetricsSurviveAQuietLogger: with the log level above info
// the broadcast writes no line, and its metrics are still written.
func TestBroadcastMetricsSurviveAQuietLogger(t *testing.T) {
	var logs, emf bytes.Buffer
	log, err := logging.New(&logs, "warn")
	if err != nil {
		t.Fatal(err)
	}
	f := New(newMemberStore(3), &poster{}, Config{}, log, metrics.New(&emf, "x"))
	if _, err := f.Broadcast(t.Context(), chat.NewBudget(10), "room", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 0 || !bytes.Contains(emf.Bytes(), []byte(`"Deliveries":3`)) {
		t.Errorf("logs %q, metrics %q: want no line and the metrics alone", logs.String(), emf.String())
	}
}
