// Package sqs emulates the part of Amazon SQS that wschat uses, for the
// local emulator: standard queues with a visibility timeout, a dead-letter
// queue fed by a redrive policy (maxReceiveCount), and the AWS JSON 1.0
// protocol that aws-sdk-go-v2's SQS client speaks (X-Amz-Target:
// AmazonSQS.<Operation>): SendMessage, SendMessageBatch, ReceiveMessage
// (with long polling), DeleteMessage, DeleteMessageBatch,
// ChangeMessageVisibility, GetQueueUrl and GetQueueAttributes.
//
// No ready server fits: goaws v0.4.5, the only version served here, answers
// only the older XML query protocol (a JSON SendMessage gets 400) and binds
// 0.0.0.0; ElasticMQ needs a JVM. Queues are declared by the caller (the
// emulator reads them from the template), never created by a request.
//
// Like the rest of local/, it imports nothing from the project.
package sqs

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Limits of the real service that requests are checked against.
const (
	MaxBodyBytes      = 256 * 1024
	MaxBatch          = 10
	MaxWait           = 20 * time.Second
	MaxVisibility     = 12 * time.Hour
	MaxDelay          = 15 * time.Minute
	DefaultVisibility = 30 * time.Second
	DefaultRetention  = 4 * 24 * time.Hour
	MaxRetention      = 14 * 24 * time.Hour
)

// QueueConfig declares one queue.
type QueueConfig struct {
	Name string
	// VisibilityTimeout hides a received message for this long; 0 means
	// DefaultVisibility.
	VisibilityTimeout time.Duration
	// DeadLetterQueue, when set, names the queue a message moves to when it
	// is received more than MaxReceiveCount times without being deleted.
	DeadLetterQueue string
	MaxReceiveCount int
	// Retention is how long a message is kept (MessageRetentionPeriod,
	// 60 s-14 days); 0 means DefaultRetention. An older message is dropped,
	// even from a dead-letter queue, where its age counts from the first send.
	Retention time.Duration
	// ReceiveWait is the long poll of a ReceiveMessage that gives no
	// WaitTimeSeconds (ReceiveMessageWaitTimeSeconds, 0-20 s).
	ReceiveWait time.Duration
}

// Message is one received message.
type Message struct {
	ID            string
	Body          string
	ReceiptHandle string
	ReceiveCount  int
	SentAt        time.Time
	FirstReceive  time.Time
}

type message struct {
	Message
	visibleAt time.Time
}

type queue struct {
	cfg  QueueConfig
	msgs []*message // in send order
}

// Errors, each named as SQS names it on the wire.
var (
	ErrQueueDoesNotExist     = errors.New("QueueDoesNotExist")
	ErrReceiptHandleInvalid  = errors.New("ReceiptHandleIsInvalid")
	ErrMessageNotInflight    = errors.New("MessageNotInflight")
	ErrInvalidParameterValue = errors.New("InvalidParameterValue")
)

// Broker holds the queues. It is safe for concurrent use.
type Broker struct {
	now func() time.Time

	mu     sync.Mutex
	queues map[string]*queue
	// wake is closed and replaced whenever a message may have become
	// receivable, so long polls wait without spinning.
	wake chan struct{}
	// onRedrive, when set, learns of each message moved to a dead-letter
	// queue (called without the lock held).
	onRedrive func(Redrive)
}

// Redrive is one message moved to its queue's dead-letter queue.
type Redrive struct {
	Queue, DeadLetterQueue string
	Message                Message
}

// OnRedrive makes f learn of every message moved to a dead-letter queue,
// for the emulator's log. Set it before the broker is used.
func (b *Broker) OnRedrive(f func(Redrive)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.onRedrive = f
}

// NewBroker returns an empty broker; now may be nil (time.Now).
func NewBroker(now func() time.Time) *Broker {
	if now == nil {
		now = time.Now
	}
	return &Broker{now: now, queues: map[string]*queue{}, wake: make(chan struct{})}
}

// AddQueue declares a queue. A dead-letter queue must be declared first.
func (b *Broker) AddQueue(cfg QueueConfig) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if cfg.Name != "" && b.queues[cfg.Name] != nil {
		return fmt.Errorf("sqs: queue %s declared twice", cfg.Name)
	}
	cfg, err := b.check(cfg)
	if err != nil {
		return err
	}
	b.queues[cfg.Name] = &queue{cfg: cfg}
	return nil
}

// UpdateQueue changes a declared queue's configuration and keeps its
// messages, as SetQueueAttributes does (the emulator's template reload).
func (b *Broker) UpdateQueue(cfg QueueConfig) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	q, err := b.queue(cfg.Name)
	if err != nil {
		return err
	}
	if cfg, err = b.check(cfg); err != nil {
		return err
	}
	q.cfg = cfg
	b.notify() // a shorter retention or a new redrive may free waiters
	return nil
}

// check validates cfg against the declared queues and fills its defaults;
// b.mu is held.
func (b *Broker) check(cfg QueueConfig) (QueueConfig, error) {
	switch {
	case cfg.Name == "":
		return cfg, errors.New("sqs: queue without a name")
	case cfg.VisibilityTimeout < 0 || cfg.VisibilityTimeout > MaxVisibility:
		return cfg, fmt.Errorf("sqs: queue %s: visibility timeout %v outside 0-12h", cfg.Name, cfg.VisibilityTimeout)
	case cfg.Retention != 0 && (cfg.Retention < time.Minute || cfg.Retention > MaxRetention):
		return cfg, fmt.Errorf("sqs: queue %s: retention %v outside 60s-14d", cfg.Name, cfg.Retention)
	case cfg.ReceiveWait < 0 || cfg.ReceiveWait > MaxWait:
		return cfg, fmt.Errorf("sqs: queue %s: receive wait %v outside 0-20s", cfg.Name, cfg.ReceiveWait)
	case cfg.DeadLetterQueue == cfg.Name:
		return cfg, fmt.Errorf("sqs: queue %s is its own dead-letter queue", cfg.Name)
	case cfg.DeadLetterQueue != "" && b.queues[cfg.DeadLetterQueue] == nil:
		return cfg, fmt.Errorf("sqs: queue %s: dead-letter queue %s is not declared", cfg.Name, cfg.DeadLetterQueue)
	case cfg.DeadLetterQueue != "" && (cfg.MaxReceiveCount < 1 || cfg.MaxReceiveCount > 1000):
		return cfg, fmt.Errorf("sqs: queue %s: maxReceiveCount %d outside 1-1000", cfg.Name, cfg.MaxReceiveCount)
	}
	if cfg.VisibilityTimeout == 0 {
		cfg.VisibilityTimeout = DefaultVisibility
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultRetention
	}
	return cfg, nil
}

func (b *Broker) queue(name string) (*queue, error) {
	q := b.queues[name]
	if q == nil {
		return nil, fmt.Errorf("%w: %s", ErrQueueDoesNotExist, name)
	}
	return q, nil
}

func (b *Broker) notify() {
	close(b.wake)
	b.wake = make(chan struct{})
}

// Send enqueues body, visible after delay, and returns the message id.
func (b *Broker) Send(name, body string, delay time.Duration) (string, error) {
	if len(body) == 0 || len(body) > MaxBodyBytes {
		return "", fmt.Errorf("%w: message body of %d bytes, want 1-%d", ErrInvalidParameterValue, len(body), MaxBodyBytes)
	}
	if delay < 0 || delay > MaxDelay {
		return "", fmt.Errorf("%w: delay %v outside 0-15m", ErrInvalidParameterValue, delay)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	q, err := b.queue(name)
	if err != nil {
		return "", err
	}
	now := b.now()
	m := &message{Message: Message{ID: newID(), Body: body, SentAt: now}, visibleAt: now.Add(delay)}
	q.msgs = append(q.msgs, m)
	b.notify()
	return m.ID, nil
}

// Receive returns up to max visible messages of queue name, hiding each for
// visibility (0: the queue's timeout), waiting up to wait for the first one.
// A message already received MaxReceiveCount times moves to the dead-letter
// queue instead of being returned, as SQS's redrive does.
func (b *Broker) Receive(ctx context.Context, name string, max int, visibility, wait time.Duration) ([]Message, error) {
	if max < 1 || max > MaxBatch {
		return nil, fmt.Errorf("%w: MaxNumberOfMessages %d outside 1-10", ErrInvalidParameterValue, max)
	}
	if wait < 0 || wait > MaxWait || visibility < 0 || visibility > MaxVisibility {
		return nil, fmt.Errorf("%w: wait %v (0-20s) or visibility %v (0-12h)", ErrInvalidParameterValue, wait, visibility)
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		b.mu.Lock()
		got, moved, err := b.take(name, max, visibility)
		wake, hook := b.wake, b.onRedrive
		b.mu.Unlock()
		if hook != nil {
			for _, r := range moved {
				hook(r)
			}
		}
		if err != nil || len(got) > 0 {
			return got, err
		}
		// Messages also become visible when their timeout passes: poll at
		// least every 100 ms for those.
		tick := time.NewTimer(100 * time.Millisecond)
		select {
		case <-ctx.Done():
			tick.Stop()
			return nil, ctx.Err()
		case <-deadline.C:
			tick.Stop()
			return nil, nil
		case <-wake:
		case <-tick.C:
		}
		tick.Stop()
	}
}

// take receives up to max messages and returns them with the messages it
// moved to the dead-letter queue; b.mu is held.
func (b *Broker) take(name string, max int, visibility time.Duration) ([]Message, []Redrive, error) {
	q, err := b.queue(name)
	if err != nil {
		return nil, nil, err
	}
	if visibility == 0 {
		visibility = q.cfg.VisibilityTimeout
	}
	now := b.now()
	var out []Message
	var moved []Redrive
	kept := q.msgs[:0]
	for _, m := range q.msgs {
		switch {
		case now.Sub(m.SentAt) > q.cfg.Retention:
			continue // past the retention period: gone
		case len(out) == max || m.visibleAt.After(now):
			kept = append(kept, m)
			continue
		}
		if dlq := q.cfg.DeadLetterQueue; dlq != "" && m.ReceiveCount >= q.cfg.MaxReceiveCount {
			dead := b.queues[dlq]
			m.visibleAt = now
			dead.msgs = append(dead.msgs, m) // keeps its id, body and count
			moved = append(moved, Redrive{Queue: name, DeadLetterQueue: dlq, Message: m.Message})
			continue
		}
		m.ReceiveCount++
		if m.FirstReceive.IsZero() {
			m.FirstReceive = now
		}
		m.ReceiptHandle = newID() + "." + m.ID
		m.visibleAt = now.Add(visibility)
		out = append(out, m.Message)
		kept = append(kept, m)
	}
	q.msgs = kept
	return out, moved, nil
}

// find returns the message whose current receipt handle is handle.
func (q *queue) find(handle string) (int, bool) {
	for i, m := range q.msgs {
		if m.ReceiptHandle == handle {
			return i, true
		}
	}
	return -1, false
}

func validHandle(handle string) bool {
	return len(handle) > 33 && handle[32] == '.'
}

// Delete removes the message received with handle. A well-formed handle
// whose message is gone (deleted, or received again since) is a no-op, as on
// SQS.
func (b *Broker) Delete(name, handle string) error {
	if !validHandle(handle) {
		return fmt.Errorf("%w: %q", ErrReceiptHandleInvalid, handle)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	q, err := b.queue(name)
	if err != nil {
		return err
	}
	if i, ok := q.find(handle); ok {
		q.msgs = append(q.msgs[:i], q.msgs[i+1:]...)
	}
	return nil
}

// ChangeVisibility makes the in-flight message of handle visible after d.
func (b *Broker) ChangeVisibility(name, handle string, d time.Duration) error {
	if !validHandle(handle) {
		return fmt.Errorf("%w: %q", ErrReceiptHandleInvalid, handle)
	}
	if d < 0 || d > MaxVisibility {
		return fmt.Errorf("%w: visibility %v outside 0-12h", ErrInvalidParameterValue, d)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	q, err := b.queue(name)
	if err != nil {
		return err
	}
	now := b.now()
	i, ok := q.find(handle)
	if !ok || !q.msgs[i].visibleAt.After(now) {
		return fmt.Errorf("%w: %q", ErrMessageNotInflight, handle)
	}
	q.msgs[i].visibleAt = now.Add(d)
	if d == 0 {
		b.notify()
	}
	return nil
}

// Depth returns the visible and in-flight messages of a queue (SQS's
// ApproximateNumberOfMessages and ...NotVisible), and the age of the oldest.
func (b *Broker) Depth(name string) (visible, inflight int, oldest time.Duration, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q, err := b.queue(name)
	if err != nil {
		return 0, 0, 0, err
	}
	now := b.now()
	for _, m := range q.msgs {
		if now.Sub(m.SentAt) > q.cfg.Retention {
			continue // expired; dropped by the next receive
		}
		if m.visibleAt.After(now) {
			inflight++
		} else {
			visible++
		}
		oldest = max(oldest, now.Sub(m.SentAt))
	}
	return visible, inflight, oldest, nil
}

// Config returns a declared queue's configuration.
func (b *Broker) Config(name string) (QueueConfig, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q, err := b.queue(name)
	if err != nil {
		return QueueConfig{}, err
	}
	return q.cfg, nil
}

// newID is a random 32-hex-digit id.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// bodyMD5 is the checksum SQS returns and the SDK verifies.
func bodyMD5(body string) string {
	sum := md5.Sum([]byte(body))
	return hex.EncodeToString(sum[:])
}
