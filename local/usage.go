package main

import (
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/wschat/wschat/local/gateway"
	"github.com/wschat/wschat/local/lambda"
)

// UsagePath serves what the emulated stack would be billed for so far:
// API Gateway messages and connections, each function's invocations,
// duration and log output, and SQS requests (make cost reads it; see
// docs/cost.md). Every counter only grows, from the emulator's start: a
// reader takes the difference of two readings.
const UsagePath = "/@admin/usage"

// usageDocument is GET UsagePath's answer.
type usageDocument struct {
	Gateway   gateway.Usage           `json:"gateway"`
	Functions map[string]lambda.Usage `json:"functions"` // by label
	SQS       sqsUsage                `json:"sqs"`
	Events    eventsUsage             `json:"events"`
}

// eventsUsage counts the integrations' billable work: events put on a bus
// (PutEvents entries, each 64 KB a billed event), rule matches and the
// deliveries to targets, and the batches the stream mappings invoked a
// function with (DynamoDB Streams reads are free for Lambda triggers; the
// function's invocations are counted with the functions).
type eventsUsage struct {
	Put           int64 `json:"put"`
	Units         int64 `json:"units"`
	Matched       int64 `json:"matched"`
	Delivered     int64 `json:"delivered"`
	StreamBatches int64 `json:"streamBatches"`
}

// sqsUsage counts the SQS API calls the functions made and the calls the
// event source mappings would make: Lambda's pollers receive a batch with
// one ReceiveMessage and delete it with one DeleteMessageBatch (their empty
// long polls, a fixed cost per hour, are not counted).
type sqsUsage struct {
	Requests map[string]int64 `json:"requests"` // by operation, made by the functions
	// Units are the functions' requests in SQS's billing units: each 64 KB
	// of a request's payload is one request.
	Units int64 `json:"units"`
	// MappingBatches are the batches the mappings invoked functions with.
	MappingBatches int64 `json:"mappingBatches"`
}

// handleUsage answers GET UsagePath.
func (e *session) handleUsage(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "GET only", http.StatusMethodNotAllowed)
		return
	}
	doc := usageDocument{Gateway: e.gateway.Usage(), Functions: map[string]lambda.Usage{}}
	e.functionsMu.RLock()
	for tf, f := range e.functions {
		doc.Functions[tf.Label] = f.Usage()
	}
	e.functionsMu.RUnlock()
	if e.sqs != nil {
		doc.SQS = e.sqs.usage()
	}
	doc.Events = e.eventsUsage()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(doc)
}

// sqsCounter counts the requests the SQS server answers, by operation.
type sqsCounter struct {
	next  http.Handler
	units atomic.Int64
	mu    sync.Mutex
	ops   map[string]int64
}

// sqsChunk is SQS's billing unit of payload.
const sqsChunk = 64 << 10

func (c *sqsCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := r.Header.Get("X-Amz-Target")
	if i := len("AmazonSQS."); len(op) > i {
		op = op[i:]
	}
	body := &countingBody{ReadCloser: r.Body}
	r.Body = body
	c.next.ServeHTTP(w, r)
	c.mu.Lock()
	c.ops[op]++
	c.mu.Unlock()
	c.units.Add(int64(max(1, (body.n+sqsChunk-1)/sqsChunk)))
}

type countingBody struct {
	io.ReadCloser
	n int
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += n
	return n, err
}

func (c *sqsCounter) snapshot() (map[string]int64, int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.ops))
	for k, v := range c.ops {
		out[k] = v
	}
	return out, c.units.Load()
}

// usage reads the SQS counters.
func (s *sqsServer) usage() sqsUsage {
	u := sqsUsage{}
	u.Requests, u.Units = s.counter.snapshot()
	s.mu.Lock()
	ids := make([]string, 0, len(s.mappings))
	for id := range s.mappings {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		u.MappingBatches += int64(s.mappings[id].m.Stats().Invocations)
	}
	s.mu.Unlock()
	return u
}
