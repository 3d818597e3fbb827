// Package ddbstream emulates DynamoDB Streams for the local emulator, which
// runs on dynalite (no streams): Capture wraps the HTTP handler in front of
// dynalite and records, for each write to a table with a stream, the
// record DynamoDB Streams would write (the old and new images, INSERT /
// MODIFY / REMOVE, none for a write that changed nothing); Stream keeps
// each table's records in order; Mapping is an event source mapping that
// reads a stream into a function, with Lambda's batching, filtering,
// retries, bisection, partial batch responses and on-failure destination.
//
// The capture holds a lock per item key around the write and the reads it
// needs, so a key's records are in the order its writes took effect, as on
// DynamoDB. A stream has one shard: records of every key are in one order,
// which is stricter than DynamoDB (ordered per key only), never looser.
package ddbstream

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"
)

// Stream view types.
const (
	ViewKeysOnly        = "KEYS_ONLY"
	ViewNewImage        = "NEW_IMAGE"
	ViewOldImage        = "OLD_IMAGE"
	ViewNewAndOldImages = "NEW_AND_OLD_IMAGES"
)

// Record is one stream record in the shape Lambda passes it (aws-lambda-go's
// events.DynamoDBEventRecord); images are DynamoDB JSON.
type Record struct {
	EventID        string     `json:"eventID"`
	EventName      string     `json:"eventName"`
	EventVersion   string     `json:"eventVersion"`
	EventSource    string     `json:"eventSource"`
	AWSRegion      string     `json:"awsRegion"`
	Change         StreamData `json:"dynamodb"`
	EventSourceARN string     `json:"eventSourceARN"`
}

// StreamData is a record's "dynamodb" member.
type StreamData struct {
	ApproximateCreationDateTime int64                      `json:"ApproximateCreationDateTime"`
	Keys                        map[string]json.RawMessage `json:"Keys"`
	NewImage                    map[string]json.RawMessage `json:"NewImage,omitempty"`
	OldImage                    map[string]json.RawMessage `json:"OldImage,omitempty"`
	SequenceNumber              string                     `json:"SequenceNumber"`
	SizeBytes                   int64                      `json:"SizeBytes"`
	StreamViewType              string                     `json:"StreamViewType"`
}

// DefaultRetention is how long DynamoDB Streams keeps a record.
const DefaultRetention = 24 * time.Hour

// DefaultMaxRecords bounds a stream's records in memory (benchmarks write
// millions): the oldest go first, as if their 24 hours had passed.
const DefaultMaxRecords = 200_000

// Stream is one table's stream: records in write order, each with its
// position (its sequence number).
type Stream struct {
	Table     string
	ARN       string
	ViewType  string
	Region    string
	retention time.Duration
	max       int
	now       func() time.Time

	mu      sync.Mutex
	entries []entry // positions first .. next-1
	first   uint64  // position of entries[0]
	next    uint64  // position of the next record
	changed chan struct{}
	trimmed int // records dropped before any reader may have read them (the cap)
}

type entry struct {
	pos uint64
	at  time.Time
	rec Record
}

// StreamOptions tune a Stream; zero values take the defaults.
type StreamOptions struct {
	Retention  time.Duration
	MaxRecords int
	Now        func() time.Time
}

// NewStream returns an empty stream of table.
func NewStream(table, arn, viewType, region string, opts StreamOptions) *Stream {
	s := &Stream{Table: table, ARN: arn, ViewType: viewType, Region: region,
		retention: opts.Retention, max: opts.MaxRecords, now: opts.Now, first: 1, next: 1, changed: make(chan struct{})}
	if s.retention <= 0 {
		s.retention = DefaultRetention
	}
	if s.max <= 0 {
		s.max = DefaultMaxRecords
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// seqNumber formats a position as DynamoDB Streams' sequence numbers look
// (21 digits), so they sort as strings too.
func seqNumber(pos uint64) string { return fmt.Sprintf("%021d", pos) }

// append adds a record, stamping its sequence number, and wakes readers.
func (s *Stream) append(rec Record) {
	s.mu.Lock()
	now := s.now()
	rec.Change.SequenceNumber = seqNumber(s.next)
	s.entries = append(s.entries, entry{pos: s.next, at: now, rec: rec})
	s.next++
	s.trimLocked(now)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

func (s *Stream) trimLocked(now time.Time) {
	drop := 0
	for drop < len(s.entries) && now.Sub(s.entries[drop].at) > s.retention {
		drop++
	}
	if over := len(s.entries) - drop - s.max; over > 0 {
		drop += over
		s.trimmed += over
	}
	if drop > 0 {
		s.entries = append(s.entries[:0:0], s.entries[drop:]...)
		s.first += uint64(drop)
	}
}

// Len is the number of records kept.
func (s *Stream) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}

// Records returns a copy of the records kept, oldest first.
func (s *Stream) Records() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Record, len(s.entries))
	for i, e := range s.entries {
		out[i] = e.rec
	}
	return out
}

// trimHorizon is the position of the oldest record kept.
func (s *Stream) trimHorizon() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trimLocked(s.now())
	return s.first
}

// latest is the position the next record will take.
func (s *Stream) latest() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next
}

// read returns up to max entries at positions >= from (a position already
// trimmed reads from the oldest kept), and a channel closed when a record
// is appended.
func (s *Stream) read(from uint64, max int) ([]entry, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trimLocked(s.now())
	if from < s.first {
		from = s.first
	}
	i := int(from - s.first)
	if i >= len(s.entries) {
		return nil, s.changed
	}
	end := min(len(s.entries), i+max)
	return append([]entry(nil), s.entries[i:end]...), s.changed
}

// wait blocks until a record at position >= from exists or ctx ends.
func (s *Stream) wait(ctx context.Context, from uint64) bool {
	for {
		got, changed := s.read(from, 1)
		if len(got) > 0 {
			return true
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return false
		}
	}
}
