package ddbstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/eventpattern"
)

// fakeFn records each invocation's sequence numbers and answers with what
// answer says.
type fakeFn struct {
	mu     sync.Mutex
	calls  [][]string
	answer func(seqs []string, call int) ([]byte, error)
}

func (f *fakeFn) Invoke(_ context.Context, _ string, payload []byte) ([]byte, error) {
	var ev struct{ Records []Record }
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, err
	}
	var seqs []string
	for _, r := range ev.Records {
		seqs = append(seqs, r.Change.SequenceNumber)
	}
	f.mu.Lock()
	f.calls = append(f.calls, seqs)
	n := len(f.calls)
	f.mu.Unlock()
	if f.answer == nil {
		return nil, nil
	}
	return f.answer(seqs, n)
}

func (f *fakeFn) snapshot() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

type fakeDest struct {
	mu   sync.Mutex
	sent []string
}

func (d *fakeDest) Send(_ context.Context, body string) error {
	d.mu.Lock()
	d.sent = append(d.sent, body)
	d.mu.Unlock()
	return nil
}

func (d *fakeDest) bodies() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.sent)
}

func addRecords(s *Stream, n int, pk string) {
	for range n {
		s.append(Record{EventName: "INSERT", Change: StreamData{Keys: map[string]json.RawMessage{"pk": json.RawMessage(`{"S":"` + pk + `"}`)}}})
	}
}

func run(t *testing.T, fn *fakeFn, cfg MappingConfig) (*Mapping, func()) {
	t.Helper()
	cfg.Function = "events"
	cfg.RetryDelay = time.Millisecond
	m, err := NewMapping(fn, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	return m, func() { cancel(); <-done }
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func seq(i int) string { return seqNumber(uint64(i)) }

func TestMappingDeliversInOrderInBatches(t *testing.T) {
	s := NewStream("t", "arn", ViewNewAndOldImages, "us-east-1", StreamOptions{})
	addRecords(s, 3, "before") // TRIM_HORIZON reads these
	fn := &fakeFn{}
	m, stop := run(t, fn, MappingConfig{Stream: s, BatchSize: 4, TrimHorizon: true})
	addRecords(s, 7, "after")
	eventually(t, "10 records", func() bool { return m.Stats().Records == 10 })
	stop()
	var all []string
	for _, c := range fn.snapshot() {
		if len(c) > 4 {
			t.Errorf("batch of %d, want at most 4", len(c))
		}
		all = append(all, c...)
	}
	want := []string{}
	for i := 1; i <= 10; i++ {
		want = append(want, seq(i))
	}
	if !slices.Equal(all, want) {
		t.Errorf("delivered %v, want %v in order", all, want)
	}

	fn2 := &fakeFn{}
	m2, stop2 := run(t, fn2, MappingConfig{Stream: s}) // LATEST
	addRecords(s, 1, "new")
	eventually(t, "the new record", func() bool { return m2.Stats().Records == 1 })
	stop2()
	if c := fn2.snapshot(); len(c) != 1 || !slices.Equal(c[0], []string{seq(11)}) {
		t.Errorf("LATEST delivered %v, want only %s", c, seq(11))
	}
}

func TestMappingFilters(t *testing.T) {
	s := NewStream("t", "arn", ViewNewAndOldImages, "us-east-1", StreamOptions{})
	fn := &fakeFn{}
	m, stop := run(t, fn, MappingConfig{Stream: s, BatchSize: 100, BatchingWindow: 50 * time.Millisecond,
		Filters: []*eventpattern.Pattern{eventpattern.MustParse(`{"dynamodb":{"Keys":{"pk":{"S":[{"prefix":"HIST#"}]}}}}`)}})
	addRecords(s, 3, "CTR#a")
	addRecords(s, 2, "HIST#a")
	addRecords(s, 3, "CTR#a")
	eventually(t, "the filtered records", func() bool { st := m.Stats(); return st.Records+st.Filtered == 8 })
	stop()
	if st := m.Stats(); st.Records != 2 || st.Filtered != 6 {
		t.Errorf("stats %+v, want 2 delivered and 6 filtered", st)
	}
	for _, c := range fn.snapshot() {
		for _, sq := range c {
			if sq != seq(4) && sq != seq(5) {
				t.Errorf("delivered %s, which the filter drops", sq)
			}
		}
	}
}

// TestMappingRetriesAndBisects: one poison record (seq 3) in a batch of 4
// fails every invocation that holds it. Bisection narrows the batch to it
// without counting as retries; after MaxRetries it goes to the on-failure
// destination and the records after it are delivered, in order.
func TestMappingRetriesAndBisects(t *testing.T) {
	s := NewStream("t", "arn:stream", ViewNewAndOldImages, "us-east-1", StreamOptions{})
	fn := &fakeFn{answer: func(seqs []string, _ int) ([]byte, error) {
		if slices.Contains(seqs, seq(3)) {
			return nil, errors.New("Runtime.ExitError: poison")
		}
		return nil, nil
	}}
	dest := &fakeDest{}
	var reports []Report
	var mu sync.Mutex
	m, stop := run(t, fn, MappingConfig{Stream: s, BatchSize: 4, BisectOnError: true, MaxRetries: 2, OnFailure: dest,
		FunctionARN: "arn:fn", Report: func(r Report) { mu.Lock(); reports = append(reports, r); mu.Unlock() }})
	addRecords(s, 6, "x")
	eventually(t, "the discarded batch", func() bool { return len(dest.bodies()) == 1 && m.Stats().Discarded == 1 })
	eventually(t, "records 5 and 6", func() bool {
		for _, c := range fn.snapshot() {
			if slices.Contains(c, seq(6)) {
				return true
			}
		}
		return false
	})
	stop()
	calls := fn.snapshot()
	// [1 2 3 4] fails → [1 2] ok, [3 4] fails → [3] fails, retried twice → discarded; [4] ok; then [5 6].
	want := [][]string{{seq(1), seq(2), seq(3), seq(4)}, {seq(1), seq(2)}, {seq(3), seq(4)}, {seq(3)}, {seq(3)}, {seq(3)}, {seq(4)}, {seq(5), seq(6)}}
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Errorf("invocations\n%v\nwant\n%v", calls, want)
	}
	var doc struct {
		RequestContext struct {
			Condition              string
			ApproximateInvokeCount int
			FunctionArn            string
		} `json:"requestContext"`
		Info struct {
			StartSequenceNumber, EndSequenceNumber, StreamArn string
			BatchSize                                         int
		} `json:"DDBStreamBatchInfo"`
	}
	if err := json.Unmarshal([]byte(dest.bodies()[0]), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.RequestContext.Condition != "RetryAttemptsExhausted" || doc.RequestContext.ApproximateInvokeCount != 3 || doc.RequestContext.FunctionArn != "arn:fn" ||
		doc.Info.StartSequenceNumber != seq(3) || doc.Info.EndSequenceNumber != seq(3) || doc.Info.BatchSize != 1 || doc.Info.StreamArn != "arn:stream" {
		t.Errorf("on-failure record %s", dest.bodies()[0])
	}
	if st := m.Stats(); st.Bisections != 2 || st.Failures != 5 {
		t.Errorf("stats %+v, want 2 bisections and 5 failed invocations", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reports) == 0 || reports[len(reports)-1].Discarded != "RetryAttemptsExhausted" {
		t.Errorf("reports %+v", reports)
	}
}

// TestMappingPartialBatchResponse: the function reports record 3 failed
// once; the batch is retried from it (3, 4), not from the start.
func TestMappingPartialBatchResponse(t *testing.T) {
	s := NewStream("t", "arn", ViewNewAndOldImages, "us-east-1", StreamOptions{})
	fn := &fakeFn{answer: func(seqs []string, call int) ([]byte, error) {
		switch call {
		case 1:
			return []byte(`{"batchItemFailures":[{"itemIdentifier":"` + seq(4) + `"},{"itemIdentifier":"` + seq(3) + `"}]}`), nil
		case 2:
			return []byte(`{"batchItemFailures":[{"itemIdentifier":"nope"}]}`), nil // fails the whole batch
		}
		return []byte(`{"batchItemFailures":[]}`), nil
	}}
	m, stop := run(t, fn, MappingConfig{Stream: s, BatchSize: 4, BatchingWindow: time.Second, ReportBatchItemFailures: true, MaxRetries: -1})
	addRecords(s, 4, "x")
	eventually(t, "3 invocations", func() bool { return len(fn.snapshot()) == 3 })
	stop()
	want := [][]string{{seq(1), seq(2), seq(3), seq(4)}, {seq(3), seq(4)}, {seq(3), seq(4)}}
	if got := fn.snapshot(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("invocations %v, want %v", got, want)
	}
	if m.Stats().Discarded != 0 {
		t.Error("a batch was discarded")
	}
}

func TestMappingRecordAgeAndTrim(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := NewStream("t", "arn", ViewNewAndOldImages, "us-east-1", StreamOptions{Now: clock, MaxRecords: 3})
	addRecords(s, 5, "x")
	if s.Len() != 3 || s.Records()[0].Change.SequenceNumber != seq(3) {
		t.Fatalf("a stream capped at 3 keeps %d records from %s", s.Len(), s.Records()[0].Change.SequenceNumber)
	}
	mu.Lock()
	now = now.Add(25 * time.Hour)
	mu.Unlock()
	if s.trimHorizon() != 6 || s.Len() != 0 {
		t.Errorf("after 25 h: horizon %d, %d records; want 6 and none", s.trimHorizon(), s.Len())
	}
	dest := &fakeDest{}
	fn := &fakeFn{answer: func([]string, int) ([]byte, error) {
		mu.Lock()
		now = now.Add(time.Minute)
		mu.Unlock()
		return nil, errors.New("failing")
	}}
	m, stop := run(t, fn, MappingConfig{Stream: s, MaxRetries: -1, MaxRecordAge: 90 * time.Second, OnFailure: dest})
	addRecords(s, 1, "x")
	eventually(t, "the discarded record", func() bool { return len(dest.bodies()) == 1 })
	stop()
	if !json.Valid([]byte(dest.bodies()[0])) || m.Stats().Invocations != 2 {
		t.Errorf("stats %+v, on-failure %s; want 2 invocations then RecordAgeExceeded", m.Stats(), dest.bodies())
	}
}

func TestNewMappingChecks(t *testing.T) {
	s := NewStream("t", "arn", ViewKeysOnly, "us-east-1", StreamOptions{})
	for _, cfg := range []MappingConfig{{Function: "f"}, {Stream: s}, {Stream: s, Function: "f", BatchSize: 10001}, {Stream: s, Function: "f", MaxRetries: -2}} {
		if _, err := NewMapping(&fakeFn{}, cfg); err == nil {
			t.Errorf("NewMapping(%+v) accepted", cfg)
		}
	}
}
