package sqs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Invoker runs a function with an event payload and returns its response
// payload; an error is a function error (the whole batch failed).
type Invoker interface {
	Invoke(ctx context.Context, function string, payload []byte) ([]byte, error)
}

// MappingConfig is an AWS::Lambda::EventSourceMapping from a queue.
type MappingConfig struct {
	Queue    string
	Function string
	// BatchSize is the most messages per invocation (1-10 here: one
	// ReceiveMessage; the real service allows more with a batching window).
	BatchSize int
	// ReportBatchItemFailures: the function answers
	// {"batchItemFailures":[{"itemIdentifier":"<messageId>"}]} and only those
	// messages are retried; without it a successful invocation deletes the
	// whole batch.
	ReportBatchItemFailures bool
	// MaxConcurrency bounds concurrent invocations (ScalingConfig
	// MaximumConcurrency, 2-1000); 0 means 5.
	MaxConcurrency int
	// QueueARN and Region fill the records' eventSourceARN and awsRegion;
	// empty: us-east-1 and the emulator's account.
	QueueARN, Region string
	// Report, when set, learns of every invocation that left messages for a
	// retry (the emulator logs one line each). It is called from the
	// pollers, concurrently.
	Report func(BatchReport)
}

// BatchReport is one invocation that did not delete its whole batch.
type BatchReport struct {
	Queue, Function string
	Size            int // messages in the batch
	Failed          int // messages left for a retry: all of them when Err is set
	// Err failed the whole batch: the function's error, a throttle, or a
	// response that is not a valid batchItemFailures; nil when the function
	// reported Failed items.
	Err error
	// Retry is the queue's visibility timeout: when the messages return.
	Retry time.Duration
}

// MappingStats counts what a mapping did.
type MappingStats struct {
	Invocations, Deleted, ItemFailures, BatchFailures int
}

// Mapping polls a queue and invokes a function with batches of its messages.
type Mapping struct {
	cfg    MappingConfig
	broker *Broker
	inv    Invoker

	mu    sync.Mutex
	stats MappingStats
}

// NewMapping checks cfg against the broker's queues.
func NewMapping(b *Broker, inv Invoker, cfg MappingConfig) (*Mapping, error) {
	if _, err := b.Config(cfg.Queue); err != nil {
		return nil, fmt.Errorf("event source mapping to %s: %w", cfg.Function, err)
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = MaxBatch
	}
	if cfg.MaxConcurrency == 0 {
		cfg.MaxConcurrency = 5
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.QueueARN == "" {
		cfg.QueueARN = "arn:aws:sqs:" + cfg.Region + ":" + AccountID + ":" + cfg.Queue
	}
	switch {
	case cfg.Function == "":
		return nil, errors.New("event source mapping without a function")
	case cfg.BatchSize < 1 || cfg.BatchSize > MaxBatch:
		return nil, fmt.Errorf("event source mapping to %s: batch size %d outside 1-%d (the emulator has no batching window)", cfg.Function, cfg.BatchSize, MaxBatch)
	case cfg.MaxConcurrency < 2 || cfg.MaxConcurrency > 1000:
		return nil, fmt.Errorf("event source mapping to %s: maximum concurrency %d outside 2-1000", cfg.Function, cfg.MaxConcurrency)
	}
	return &Mapping{cfg: cfg, broker: b, inv: inv}, nil
}

// Stats returns a snapshot of the counters.
func (m *Mapping) Stats() MappingStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats
}

// Run polls with MaxConcurrency pollers until ctx is done.
func (m *Mapping) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range m.cfg.MaxConcurrency {
		wg.Go(func() {
			for ctx.Err() == nil {
				m.poll(ctx)
			}
		})
	}
	wg.Wait()
}

// poll receives one batch (waiting up to a second) and delivers it.
func (m *Mapping) poll(ctx context.Context) {
	msgs, err := m.broker.Receive(ctx, m.cfg.Queue, m.cfg.BatchSize, 0, time.Second)
	if err != nil || len(msgs) == 0 {
		return
	}
	failed, err := m.invoke(ctx, msgs)
	m.count(func(s *MappingStats) { s.Invocations++ })
	if err != nil {
		// As on AWS: the batch stays in flight and returns after the
		// visibility timeout; redrive counts the receives.
		m.count(func(s *MappingStats) { s.BatchFailures++ })
		m.report(len(msgs), len(msgs), err)
		return
	}
	for _, msg := range msgs {
		if failed[msg.ID] {
			m.count(func(s *MappingStats) { s.ItemFailures++ })
			continue
		}
		if m.broker.Delete(m.cfg.Queue, msg.ReceiptHandle) == nil {
			m.count(func(s *MappingStats) { s.Deleted++ })
		}
	}
	if len(failed) > 0 {
		m.report(len(msgs), len(failed), nil)
	}
}

func (m *Mapping) report(size, failed int, err error) {
	if m.cfg.Report == nil {
		return
	}
	r := BatchReport{Queue: m.cfg.Queue, Function: m.cfg.Function, Size: size, Failed: failed, Err: err}
	if cfg, cerr := m.broker.Config(m.cfg.Queue); cerr == nil {
		r.Retry = cfg.VisibilityTimeout
	}
	m.cfg.Report(r)
}

func (m *Mapping) count(f func(*MappingStats)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f(&m.stats)
}

// invoke sends the batch as an SQS event and returns the failed message ids.
func (m *Mapping) invoke(ctx context.Context, msgs []Message) (map[string]bool, error) {
	payload, err := json.Marshal(sqsEvent{Records: records(msgs, m.cfg.QueueARN, m.cfg.Region)})
	if err != nil {
		return nil, err
	}
	resp, err := m.inv.Invoke(ctx, m.cfg.Function, payload)
	if err != nil {
		return nil, err
	}
	if !m.cfg.ReportBatchItemFailures {
		return nil, nil
	}
	return batchItemFailures(resp, msgs)
}

// batchItemFailures reads a ReportBatchItemFailures response. An empty or
// null response means every message succeeded; a response that names an
// unknown or empty id fails the whole batch, as Lambda does.
func batchItemFailures(resp []byte, msgs []Message) (map[string]bool, error) {
	var out struct {
		BatchItemFailures []struct {
			ItemIdentifier string `json:"itemIdentifier"`
		} `json:"batchItemFailures"`
	}
	if len(resp) == 0 || string(resp) == "null" {
		return nil, nil
	}
	if err := json.Unmarshal(resp, &out); err != nil {
		return nil, fmt.Errorf("batch response is not a batchItemFailures object: %w", err)
	}
	known := map[string]bool{}
	for _, msg := range msgs {
		known[msg.ID] = true
	}
	failed := map[string]bool{}
	for _, f := range out.BatchItemFailures {
		if !known[f.ItemIdentifier] {
			return nil, fmt.Errorf("batch response names item %q, not in the batch", f.ItemIdentifier)
		}
		failed[f.ItemIdentifier] = true
	}
	return failed, nil
}

// sqsEvent is the event Lambda passes for an SQS batch (the shape of
// aws-lambda-go's events.SQSEvent).
type sqsEvent struct {
	Records []sqsRecord `json:"Records"`
}

type sqsRecord struct {
	MessageID         string            `json:"messageId"`
	ReceiptHandle     string            `json:"receiptHandle"`
	Body              string            `json:"body"`
	Attributes        map[string]string `json:"attributes"`
	MessageAttributes map[string]any    `json:"messageAttributes"`
	MD5OfBody         string            `json:"md5OfBody"`
	EventSource       string            `json:"eventSource"`
	EventSourceARN    string            `json:"eventSourceARN"`
	AWSRegion         string            `json:"awsRegion"`
}

func records(msgs []Message, queueARN, region string) []sqsRecord {
	recs := make([]sqsRecord, 0, len(msgs))
	for _, msg := range msgs {
		recs = append(recs, sqsRecord{
			MessageID: msg.ID, ReceiptHandle: msg.ReceiptHandle, Body: msg.Body, MD5OfBody: bodyMD5(msg.Body),
			Attributes:        systemAttributes(msg),
			MessageAttributes: map[string]any{},
			EventSource:       "aws:sqs", EventSourceARN: queueARN, AWSRegion: region,
		})
	}
	return recs
}

// SampleEvent is the event a mapping from queueARN in region would pass for
// msgs, for sample events and tests: the code that builds live events.
func SampleEvent(msgs []Message, queueARN, region string) ([]byte, error) {
	return json.MarshalIndent(sqsEvent{Records: records(msgs, queueARN, region)}, "", "  ")
}
