package ddbstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/wschat/wschat/internal/eventpattern"
)

// Invoker runs a function with an event and returns its response; an error
// is a failed invocation (function error, timeout, crash, throttle).
type Invoker interface {
	Invoke(ctx context.Context, function string, payload []byte) ([]byte, error)
}

// Destination takes the record of a batch the mapping gave up on (an SQS
// queue, the on-failure destination).
type Destination interface {
	Send(ctx context.Context, body string) error
}

// MappingConfig is an AWS::Lambda::EventSourceMapping from a stream.
type MappingConfig struct {
	Stream      *Stream
	Function    string // as the Invoker knows it
	FunctionARN string // for the on-failure record
	// BatchSize is the most records per invocation (1-10000, default 100).
	BatchSize int
	// BatchingWindow waits for a fuller batch (MaximumBatchingWindowInSeconds).
	BatchingWindow time.Duration
	// TrimHorizon starts at the oldest record kept; otherwise (LATEST) at
	// the records written after the mapping starts.
	TrimHorizon bool
	// Filters are FilterCriteria's patterns: a record is delivered when one
	// matches; one that matches none is dropped, as Lambda does. None: all.
	Filters []*eventpattern.Pattern
	// BisectOnError splits a failed batch in two and retries each half
	// (BisectBatchOnFunctionError); splitting is not a retry.
	BisectOnError bool
	// MaxRetries bounds the retries of a failed batch (-1: until the
	// records expire, Lambda's default).
	MaxRetries int
	// MaxRecordAge gives up on a batch whose oldest record is older (0: never).
	MaxRecordAge time.Duration
	// ReportBatchItemFailures: the function answers
	// {"batchItemFailures":[{"itemIdentifier":"<SequenceNumber>"}]} and the
	// batch is retried from the first failed record.
	ReportBatchItemFailures bool
	// OnFailure, when set, gets a record of each batch given up on
	// (DestinationConfig.OnFailure); without it the batch is dropped.
	OnFailure Destination
	// StartAt, when not 0, is the position to start at (a restarted
	// mapping resumes where it was: Position), whatever TrimHorizon says.
	StartAt uint64
	// RetryDelay is the first retry's delay, doubling up to a minute; 0
	// means 100 ms.
	RetryDelay time.Duration
	// Report, when set, hears of every failed invocation and discarded batch.
	Report func(Report)
}

// Report is one failed invocation, or a batch given up on.
type Report struct {
	Function  string
	Size      int   // records in the batch
	Err       error // why the invocation failed
	Attempt   int   // retries so far (the first invocation is 0)
	Discarded string
	// Discarded, when set, is why the batch was given up on
	// (RetryAttemptsExhausted, RecordAgeExceeded); Err is the last failure.
}

// Stats counts what a mapping did.
type Stats struct {
	Invocations, Records, Filtered, Failures, Bisections, Discarded int
}

// Mapping reads a stream into a function, one batch at a time in stream
// order (one shard), retrying a failed batch before it moves on.
type Mapping struct {
	cfg   MappingConfig
	inv   Invoker
	start uint64 // LATEST: the stream's end when the mapping was made

	mu    sync.Mutex
	stats Stats
	pos   uint64 // the next position to deliver
}

// NewMapping checks cfg.
func NewMapping(inv Invoker, cfg MappingConfig) (*Mapping, error) {
	if cfg.BatchSize == 0 {
		cfg.BatchSize = 100
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = 100 * time.Millisecond
	}
	switch {
	case cfg.Stream == nil:
		return nil, errors.New("stream event source mapping without a stream")
	case cfg.Function == "":
		return nil, errors.New("stream event source mapping without a function")
	case cfg.BatchSize < 1 || cfg.BatchSize > 10000:
		return nil, fmt.Errorf("stream event source mapping to %s: batch size %d outside 1-10000", cfg.Function, cfg.BatchSize)
	case cfg.MaxRetries < -1 || cfg.MaxRetries > 10000:
		return nil, fmt.Errorf("stream event source mapping to %s: maximum retry attempts %d outside -1-10000", cfg.Function, cfg.MaxRetries)
	}
	m := &Mapping{cfg: cfg, inv: inv, start: cfg.Stream.latest()}
	if cfg.StartAt > 0 {
		m.start = cfg.StartAt
	}
	m.pos = m.start
	return m, nil
}

// Position is the stream position of the next record the mapping will
// deliver (to resume a restarted mapping there).
func (m *Mapping) Position() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pos
}

// Stats returns a snapshot of the counters.
func (m *Mapping) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats
}

func (m *Mapping) count(f func(*Stats)) {
	m.mu.Lock()
	f(&m.stats)
	m.mu.Unlock()
}

// Run delivers records until ctx ends.
func (m *Mapping) Run(ctx context.Context) {
	s := m.cfg.Stream
	pos := m.start
	if m.cfg.TrimHorizon && m.cfg.StartAt == 0 {
		pos = s.trimHorizon()
	}
	for ctx.Err() == nil {
		if !s.wait(ctx, pos) {
			return
		}
		if m.cfg.BatchingWindow > 0 {
			m.fill(ctx, pos)
		}
		entries, _ := s.read(pos, m.cfg.BatchSize)
		if len(entries) == 0 {
			continue
		}
		batch := m.filter(entries)
		if len(batch) > 0 && !m.process(ctx, batch, 0) {
			return // ctx ended while the batch was pending: not done
		}
		pos = entries[len(entries)-1].pos + 1
		m.mu.Lock()
		m.pos = pos
		m.mu.Unlock()
	}
}

// fill waits up to the batching window for a full batch.
func (m *Mapping) fill(ctx context.Context, pos uint64) {
	deadline := time.NewTimer(m.cfg.BatchingWindow)
	defer deadline.Stop()
	for {
		got, changed := m.cfg.Stream.read(pos, m.cfg.BatchSize)
		if len(got) >= m.cfg.BatchSize {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

func (m *Mapping) filter(entries []entry) []entry {
	if len(m.cfg.Filters) == 0 {
		return entries
	}
	out := entries[:0:0]
	for _, e := range entries {
		doc := mustJSON(e.rec)
		for _, f := range m.cfg.Filters {
			if ok, err := f.Match(doc); err == nil && ok {
				out = append(out, e)
				break
			}
		}
	}
	m.count(func(s *Stats) { s.Filtered += len(entries) - len(out) })
	return out
}

// process delivers batch until it succeeds, is given up on, or ctx ends
// (false). attempts counts the retries already spent on these records.
func (m *Mapping) process(ctx context.Context, batch []entry, attempts int) bool {
	for {
		failedAt, err := m.invoke(ctx, batch)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		m.count(func(s *Stats) { s.Failures++ })
		if failedAt > 0 {
			// A partial batch response: the records before the first failure
			// are done; the rest is retried (a retry like any other).
			batch = batch[failedAt:]
		}
		if m.cfg.BisectOnError && len(batch) > 1 && failedAt == 0 {
			m.count(func(s *Stats) { s.Bisections++ })
			half := len(batch) / 2
			return m.process(ctx, batch[:half], attempts) && m.process(ctx, batch[half:], attempts)
		}
		m.report(Report{Size: len(batch), Err: err, Attempt: attempts})
		if reason := m.giveUp(batch, attempts); reason != "" {
			m.discard(ctx, batch, reason, attempts, err)
			return true
		}
		attempts++
		delay := min(m.cfg.RetryDelay<<min(attempts-1, 10), time.Minute)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return false
		}
	}
}

// giveUp says why a failed batch is not retried, or "".
func (m *Mapping) giveUp(batch []entry, attempts int) string {
	if m.cfg.MaxRetries >= 0 && attempts >= m.cfg.MaxRetries {
		return "RetryAttemptsExhausted"
	}
	if m.cfg.MaxRecordAge > 0 && m.cfg.Stream.now().Sub(batch[0].at) > m.cfg.MaxRecordAge {
		return "RecordAgeExceeded"
	}
	return ""
}

func (m *Mapping) report(r Report) {
	if m.cfg.Report != nil {
		r.Function = m.cfg.Function
		m.cfg.Report(r)
	}
}

// invoke runs the function on batch. A partial batch response that names a
// record returns its index (> 0 when earlier records succeeded) and an error.
func (m *Mapping) invoke(ctx context.Context, batch []entry) (int, error) {
	recs := make([]Record, len(batch))
	for i, e := range batch {
		recs[i] = e.rec
	}
	m.count(func(s *Stats) { s.Invocations++; s.Records += len(batch) })
	resp, err := m.inv.Invoke(ctx, m.cfg.Function, mustJSON(map[string]any{"Records": recs}))
	if err != nil {
		return 0, err
	}
	if !m.cfg.ReportBatchItemFailures || len(resp) == 0 || string(resp) == "null" {
		return 0, nil
	}
	var out struct {
		BatchItemFailures []struct {
			ItemIdentifier *string `json:"itemIdentifier"`
		} `json:"batchItemFailures"`
	}
	if err := json.Unmarshal(resp, &out); err != nil {
		return 0, fmt.Errorf("batch response is not a batchItemFailures object: %w", err)
	}
	first := -1
	for _, f := range out.BatchItemFailures {
		if f.ItemIdentifier == nil || *f.ItemIdentifier == "" {
			return 0, errors.New("batch response names an empty itemIdentifier: the whole batch fails, as on Lambda")
		}
		i := indexOf(batch, *f.ItemIdentifier)
		if i < 0 {
			return 0, fmt.Errorf("batch response names record %q, not in the batch: the whole batch fails, as on Lambda", *f.ItemIdentifier)
		}
		if first < 0 || i < first {
			first = i
		}
	}
	if first < 0 {
		return 0, nil
	}
	return first, fmt.Errorf("record %s reported in batchItemFailures", batch[first].rec.Change.SequenceNumber)
}

func indexOf(batch []entry, seq string) int {
	for i, e := range batch {
		if e.rec.Change.SequenceNumber == seq {
			return i
		}
	}
	return -1
}

// discard sends the on-failure record of a batch given up on.
func (m *Mapping) discard(ctx context.Context, batch []entry, reason string, attempts int, last error) {
	m.count(func(s *Stats) { s.Discarded++ })
	m.report(Report{Size: len(batch), Err: last, Attempt: attempts, Discarded: reason})
	if m.cfg.OnFailure == nil {
		return
	}
	first, lastRec := batch[0], batch[len(batch)-1]
	doc := map[string]any{
		"requestContext": map[string]any{
			"requestId": newEventID(), "functionArn": m.cfg.FunctionARN,
			"condition": reason, "approximateInvokeCount": attempts + 1,
		},
		"responseContext": map[string]any{"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
		"version":         "1.0",
		"timestamp":       m.cfg.Stream.now().UTC().Format("2006-01-02T15:04:05.000Z"),
		"DDBStreamBatchInfo": map[string]any{
			"shardId":                         "shardId-00000000000000000000-00000001",
			"startSequenceNumber":             first.rec.Change.SequenceNumber,
			"endSequenceNumber":               lastRec.rec.Change.SequenceNumber,
			"approximateArrivalOfFirstRecord": first.at.UTC().Format("2006-01-02T15:04:05Z"),
			"approximateArrivalOfLastRecord":  lastRec.at.UTC().Format("2006-01-02T15:04:05Z"),
			"batchSize":                       len(batch),
			"streamArn":                       m.cfg.Stream.ARN,
		},
	}
	sendCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := m.cfg.OnFailure.Send(sendCtx, string(mustJSON(doc))); err != nil {
		m.report(Report{Size: len(batch), Err: fmt.Errorf("on-failure destination: %w", err), Attempt: attempts, Discarded: reason})
	}
}
