package main

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wschat/wschat/internal/loopback"
	"github.com/wschat/wschat/internal/sigv4"
	"github.com/wschat/wschat/internal/template"
	"github.com/wschat/wschat/local/httpapi"
	"github.com/wschat/wschat/local/lambda"
	"github.com/wschat/wschat/local/sqs"
)

// sqsServer is the emulator's SQS, started when the template has queues: a
// broker served on its own port (functions reach it through
// AWS_ENDPOINT_URL_SQS), the template's queues, and the event source
// mappings that read them into functions.
type sqsServer struct {
	endpoint string // host:port
	broker   *sqs.Broker
	invoker  *mappingInvoker
	counter  *sqsCounter // counts what the functions ask (/@admin/usage)
	out      *lockedWriter
	close    func() // ends long polls, then stops the server

	mu       sync.Mutex
	mappings map[string]*runningMapping // by logical id
	stopping atomic.Bool                // set at exit: failed batches are no longer logged
}

// runningMapping is one mapping's pollers.
type runningMapping struct {
	cfg  mappingSpec
	m    *sqs.Mapping
	stop context.CancelFunc
	done chan struct{}
}

// mappingSpec is what a reload compares: a mapping whose spec did not change
// keeps running (and keeps its counters).
type mappingSpec struct {
	queue, function, queueARN string
	batch, concurrency        int
	reportItems               bool
}

// signedSQS serves next only to tools on this machine that sign with the
// local credentials (service sqs, any region), as the DynamoDB guard does:
// a web page must not read or inject fan-out tasks.
func (e *session) signedSQS(addr string, next http.Handler) http.Handler {
	v := &sigv4.Verifier{Creds: localCredentials, Service: "sqs"}
	signed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := httpapi.ReadBody(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := v.Verify(r, body); err != nil {
			e.refusals.Log(loopback.Refusal{Listener: "SQS", Reason: "signature: " + err.Error(), Method: r.Method, Path: r.URL.Path})
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			w.Header().Set("X-Amzn-ErrorType", "InvalidClientTokenId")
			w.WriteHeader(http.StatusForbidden)
			_, _ = fmt.Fprintf(w, `{"__type":"com.amazonaws.sqs#InvalidClientTokenId","message":%q}`, err.Error())
			return
		}
		next.ServeHTTP(w, r)
	})
	return loopback.ToolsOnly("SQS", loopback.LocalHosts(addr), signed, e.refusals.Log)
}

// url is the server's base URL, AWS_ENDPOINT_URL_SQS of the functions.
func (s *sqsServer) url() string { return "http://" + s.endpoint }

// startSQS listens on --sqs-port and serves an empty broker; the queues are
// declared by syncQueues once the template is resolved with its endpoint.
// The session's cleanups stop it (see start): a reload may start it from the
// watcher, which must not append to the cleanups.
func (e *session) startSQS() error {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(e.cfg.sqsPort)))
	if err != nil {
		return listenError("--sqs-port", e.cfg.sqsPort, err)
	}
	s := &sqsServer{endpoint: ln.Addr().String(), broker: sqs.NewBroker(nil), out: e.out,
		invoker: &mappingInvoker{fns: map[string]*lambda.Function{}}, mappings: map[string]*runningMapping{}}
	s.broker.OnRedrive(func(r sqs.Redrive) {
		e.out.printf("[sqs] message %s moved from %s to its dead-letter queue %s after %d receives",
			r.Message.ID, r.Queue, r.DeadLetterQueue, r.Message.ReceiveCount)
	})
	// Long polls (up to 20 s) end with the base context, so a shutdown does
	// not wait for them.
	base, cancel := context.WithCancel(context.Background())
	s.counter = &sqsCounter{next: &sqs.Handler{Broker: s.broker, Base: s.url(), Region: e.cfg.region}, ops: map[string]int64{}}
	srv := &http.Server{
		Handler:           e.signedSQS(s.endpoint, s.counter),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return base },
	}
	go func() { _ = srv.Serve(ln) }()
	s.close = func() {
		cancel()
		ctx, done := context.WithTimeout(context.Background(), 5*time.Second)
		defer done()
		_ = srv.Shutdown(ctx)
	}
	e.sqs = s
	return nil
}

// syncQueues declares stack's queues, dead-letter queues first; a queue
// already declared (a reload) keeps its messages and takes the template's
// new settings. It returns the names of the new queues.
func (s *sqsServer) syncQueues(stack *template.Stack) ([]string, error) {
	var added []string
	for _, q := range stack.Queues {
		cfg := sqs.QueueConfig{Name: q.Name, VisibilityTimeout: q.VisibilityTimeout, Retention: q.Retention, ReceiveWait: q.ReceiveWait}
		if q.DeadLetterQueue != nil {
			cfg.DeadLetterQueue, cfg.MaxReceiveCount = q.DeadLetterQueue.Name, q.MaxReceiveCount
		}
		if _, err := s.broker.Config(q.Name); err == nil {
			if err := s.broker.UpdateQueue(cfg); err != nil {
				return nil, fmt.Errorf("queue %s (%s): %w", q.Name, q.LogicalID, err)
			}
			continue
		}
		if err := s.broker.AddQueue(cfg); err != nil {
			return nil, fmt.Errorf("queue %s (%s): %w", q.Name, q.LogicalID, err)
		}
		added = append(added, q.Name)
	}
	return added, nil
}

// spec is the runner configuration of m; the emulator delivers at most 10
// messages per invocation (one ReceiveMessage).
func spec(m *template.EventSourceMapping) mappingSpec {
	return mappingSpec{queue: m.Queue.Name, function: m.Function.Label, queueARN: m.Queue.ARN,
		batch: min(m.BatchSize, sqs.MaxBatch), concurrency: m.MaximumConcurrency, reportItems: m.ReportBatchItemFailures}
}

// syncMappings makes the running mappings those of stack, invoking fns:
// unchanged ones keep running, changed or removed ones stop (their
// in-flight batches finish), new ones start. It returns what it started
// and stopped, for the reload line.
func (s *sqsServer) syncMappings(stack *template.Stack, fns map[*template.Function]*lambda.Function, region string) (started, stopped []string, err error) {
	s.invoker.set(fns)
	want := map[string]mappingSpec{}
	for _, m := range stack.Mappings {
		if m.Enabled {
			want[m.LogicalID] = spec(m)
		}
	}
	s.mu.Lock()
	var ending []*runningMapping
	for id, r := range s.mappings {
		if cfg, ok := want[id]; !ok || cfg != r.cfg {
			ending = append(ending, r)
			delete(s.mappings, id)
			stopped = append(stopped, id)
		}
	}
	s.mu.Unlock()
	// Outside the lock: a poller finishing its batch may report.
	for _, r := range ending {
		r.stop()
		<-r.done
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range slices.Sorted(maps.Keys(want)) {
		if s.mappings[id] != nil {
			continue
		}
		if err := s.startMapping(id, want[id], region); err != nil {
			return started, stopped, err
		}
		started = append(started, id)
	}
	return started, stopped, nil
}

// startMapping starts the pollers of one mapping; s.mu is held.
func (s *sqsServer) startMapping(id string, cfg mappingSpec, region string) error {
	m, err := sqs.NewMapping(s.broker, s.invoker, sqs.MappingConfig{
		Queue: cfg.queue, Function: cfg.function, BatchSize: cfg.batch, ReportBatchItemFailures: cfg.reportItems,
		MaxConcurrency: cfg.concurrency, QueueARN: cfg.queueARN, Region: region, Report: s.report,
	})
	if err != nil {
		return fmt.Errorf("%s (AWS::Lambda::EventSourceMapping): %w", id, err)
	}
	ctx, stop := context.WithCancel(context.Background())
	r := &runningMapping{cfg: cfg, m: m, stop: stop, done: make(chan struct{})}
	go func() { m.Run(ctx); close(r.done) }()
	s.mappings[id] = r
	return nil
}

// report logs one line per invocation that left messages for a retry.
func (s *sqsServer) report(r sqs.BatchReport) {
	if s.stopping.Load() {
		return
	}
	if r.Err != nil {
		s.out.printf("[sqs] %s → %s: batch of %d failed, every message returns after the visibility timeout (%s): %v",
			r.Queue, r.Function, r.Size, r.Retry, r.Err)
		return
	}
	s.out.printf("[sqs] %s → %s: %d of %d messages reported in batchItemFailures, they return after the visibility timeout (%s)",
		r.Queue, r.Function, r.Failed, r.Size, r.Retry)
}

// stopMappings ends every mapping at exit, waiting a little for batches in
// flight (the functions are stopped next, which ends the rest), and prints
// what the mappings did.
func (s *sqsServer) stopMappings() {
	s.stopping.Store(true)
	s.mu.Lock()
	running := s.mappings
	s.mappings = map[string]*runningMapping{}
	s.mu.Unlock()
	deadline := time.After(2 * time.Second)
	var sum sqs.MappingStats
	for _, r := range running {
		r.stop()
	}
	for _, r := range running {
		select {
		case <-r.done:
		case <-deadline:
		}
		st := r.m.Stats()
		sum.Invocations += st.Invocations
		sum.Deleted += st.Deleted
		sum.ItemFailures += st.ItemFailures
		sum.BatchFailures += st.BatchFailures
	}
	if sum.Invocations > 0 {
		s.out.printf("[sqs] event source mappings: %d invocations, %d messages deleted, %d reported failed, %d failed batches",
			sum.Invocations, sum.Deleted, sum.ItemFailures, sum.BatchFailures)
	}
}

// bannerLines describes the server and each queue for the banner.
func (s *sqsServer) bannerLines(stack *template.Stack) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  SQS         %s\n", s.url())
	for _, q := range stack.Queues {
		line := fmt.Sprintf("    queue     %s (visibility %s", q.Name, q.VisibilityTimeout)
		if q.DeadLetterQueue != nil {
			line += fmt.Sprintf(", to %s after %d receives", q.DeadLetterQueue.Name, q.MaxReceiveCount)
		}
		line += ")"
		for _, m := range stack.Mappings {
			if m.Queue == q {
				line += " → " + mappingSummary(m)
			}
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

func mappingSummary(m *template.EventSourceMapping) string {
	s := fmt.Sprintf("%s (batch %d", m.Function.Label, min(m.BatchSize, sqs.MaxBatch))
	if m.MaximumConcurrency > 0 {
		s += fmt.Sprintf(", concurrency %d", m.MaximumConcurrency)
	}
	if m.ReportBatchItemFailures {
		s += ", ReportBatchItemFailures"
	}
	if !m.Enabled {
		s += ", disabled"
	}
	return s + ")"
}

// mappingInvoker invokes the emulator's functions by label, through the
// same lambda.Function as routes (reserved concurrency included); a reload
// replaces the set.
type mappingInvoker struct {
	mu  sync.RWMutex
	fns map[string]*lambda.Function
}

func (i *mappingInvoker) set(fns map[*template.Function]*lambda.Function) {
	byLabel := map[string]*lambda.Function{}
	for f, fn := range fns {
		byLabel[f.Label] = fn
	}
	i.mu.Lock()
	i.fns = byLabel
	i.mu.Unlock()
}

func (i *mappingInvoker) Invoke(ctx context.Context, function string, payload []byte) ([]byte, error) {
	i.mu.RLock()
	fn := i.fns[function]
	i.mu.RUnlock()
	if fn == nil {
		return nil, fmt.Errorf("function %s is not running", function)
	}
	return fn.Invoke(ctx, payload)
}
