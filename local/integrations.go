package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wschat/wschat/internal/dynalite"
	"github.com/wschat/wschat/internal/eventpattern"
	"github.com/wschat/wschat/internal/loopback"
	"github.com/wschat/wschat/internal/sigv4"
	"github.com/wschat/wschat/internal/template"
	"github.com/wschat/wschat/local/ddbstream"
	"github.com/wschat/wschat/local/eventbridge"
	"github.com/wschat/wschat/local/httpapi"
	"github.com/wschat/wschat/local/lambda"
	"github.com/wschat/wschat/local/secretsmanager"
)

// eventsTailPath streams every event put on a bus (make events).
const eventsTailPath = "/@events"

// services is the emulator's server of the AWS APIs functions call beside
// DynamoDB and SQS: Lambda's Invoke API (a before-send hook), EventBridge's
// PutEvents (the events function) and Secrets Manager's GetSecretValue
// (the webhooks function), every call SigV4-verified with the local
// credentials. Functions reach it through AWS_ENDPOINT_URL_LAMBDA,
// AWS_ENDPOINT_URL_EVENTS and AWS_ENDPOINT_URL_SECRETS_MANAGER.
type services struct {
	endpoint string // host:port
	router   *eventbridge.Router
	secrets  *secretsmanager.Store
	fns      *functionIndex
	close    func()
}

func (s *services) url() string { return "http://" + s.endpoint }

// functionIndex finds the running functions by label, name or ARN; a
// reload replaces it.
type functionIndex struct {
	mu  sync.RWMutex
	fns map[string]*lambda.Function
}

func (x *functionIndex) set(fns map[*template.Function]*lambda.Function) {
	m := map[string]*lambda.Function{}
	for f, fn := range fns {
		m[f.Label], m[f.Name], m[f.ARN], m[f.LogicalID] = fn, fn, fn, fn
	}
	x.mu.Lock()
	x.fns = m
	x.mu.Unlock()
}

// lookup takes what Lambda's FunctionName takes: a name, an ARN or a
// partial ARN, with an optional qualifier.
func (x *functionIndex) lookup(name string) *lambda.Function {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if fn := x.fns[name]; fn != nil {
		return fn
	}
	if _, after, ok := strings.Cut(name, ":function:"); ok {
		name = after
	} else if i := strings.LastIndex(name, "function:"); i >= 0 {
		name = name[i+len("function:"):]
	}
	name, _, _ = strings.Cut(name, ":")
	return x.fns[name]
}

// Invoke runs a function by label, name or ARN (EventBridge targets, stream
// mappings).
func (x *functionIndex) Invoke(ctx context.Context, function string, payload []byte) ([]byte, error) {
	fn := x.lookup(function)
	if fn == nil {
		return nil, fmt.Errorf("function %s is not running", function)
	}
	return fn.Invoke(ctx, payload)
}

// startServices listens on --services-port and serves the three APIs; the
// router and secrets are filled from the template by syncIntegrations.
func (e *session) startServices() error {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(e.cfg.servicesPort)))
	if err != nil {
		return listenError("--services-port", e.cfg.servicesPort, err)
	}
	s := &services{endpoint: ln.Addr().String(), secrets: secretsmanager.NewStore(), fns: &functionIndex{}}
	s.router, err = eventbridge.New(eventbridge.Config{Region: e.cfg.region, Account: "000000000000", Invoker: s.fns,
		Sender: e.queueSender(), Report: e.reportDelivery})
	if err != nil {
		_ = ln.Close()
		return err
	}
	base, cancel := context.WithCancel(context.Background())
	invoke := &lambda.InvokeAPI{Lookup: s.fns.lookup, Base: base, OnAsyncError: func(fn string, err error) {
		e.out.printf("[lambda] asynchronous invocation of %s failed: %v", fn, err)
	}}
	signed := func(service string, h http.Handler) http.Handler {
		v := &sigv4.Verifier{Creds: localCredentials, Region: e.cfg.region, Service: service}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := httpapi.ReadBody(r)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			if err := v.Verify(r, body); err != nil {
				e.refusals.Log(loopback.Refusal{Listener: "services", Reason: "signature: " + err.Error(), Method: r.Method, Path: r.URL.Path})
				httpapi.Deny(w, err)
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	events, secrets, lambdaAPI := signed("events", s.router.Handler()), signed("secretsmanager", s.secrets.Handler()), signed("lambda", invoke)
	mux := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target := r.Header.Get("X-Amz-Target")
		switch {
		case strings.HasPrefix(r.URL.Path, lambda.InvokePrefix):
			lambdaAPI.ServeHTTP(w, r)
		case strings.HasPrefix(target, "AWSEvents."):
			events.ServeHTTP(w, r)
		case strings.HasPrefix(target, "secretsmanager."):
			secrets.ServeHTTP(w, r)
		default:
			http.Error(w, "the emulator's services serve Lambda Invoke, EventBridge PutEvents and Secrets Manager GetSecretValue", http.StatusNotFound)
		}
	})
	// Like SQS and the DynamoDB guard: tools on this machine only (a web
	// page must not invoke a function, put events or read a secret), and
	// then only signed calls.
	guarded := loopback.ToolsOnly("services", loopback.LocalHosts(s.endpoint), mux, e.refusals.Log)
	srv := &http.Server{Handler: guarded, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return base }}
	go func() { _ = srv.Serve(ln) }()
	s.close = func() {
		s.router.Close(2 * time.Second)
		cancel()
		ctx, done := context.WithTimeout(context.Background(), 5*time.Second)
		defer done()
		_ = srv.Shutdown(ctx)
	}
	e.services = s
	return nil
}

// queueSender sends to the template's queues (targets, dead-letter queues,
// on-failure destinations).
func (e *session) queueSender() *brokerSender { return &brokerSender{e: e} }

type brokerSender struct{ e *session }

func (b *brokerSender) Send(_ context.Context, queue, body string) error {
	if b.e.sqs == nil {
		return fmt.Errorf("queue %s: the template has no queues", queue)
	}
	_, err := b.e.sqs.broker.Send(queue, body, 0)
	return err
}

func (e *session) reportDelivery(r eventbridge.Report) {
	switch {
	case r.Final && r.DeadLetterQueue != "":
		e.out.printf("[events] rule %s → %s: gave up after %d retries (%v); the event is in %s", r.Rule, r.Target, r.Attempt, r.Err, r.DeadLetterQueue)
	case r.Final:
		e.out.printf("[events] rule %s → %s: event dropped after %d retries: %v", r.Rule, r.Target, r.Attempt, r.Err)
	default:
		e.out.printf("[events] rule %s → %s: delivery failed (attempt %d), retrying: %v", r.Rule, r.Target, r.Attempt+1, r.Err)
	}
}

// syncIntegrations gives the services the stack's secrets, buses, rules and
// functions. A secret keeps its value across reloads.
func (e *session) syncIntegrations(stack *template.Stack, fns map[*template.Function]*lambda.Function) error {
	s := e.services
	s.fns.set(fns)
	for _, sec := range stack.Secrets {
		if _, ok := s.secrets.Get(sec.ARN); ok {
			continue
		}
		value := sec.Value
		if sec.Generate != nil {
			g := *sec.Generate
			v, err := secretsmanager.Generate(g).Value()
			if err != nil {
				return fmt.Errorf("%s (AWS::SecretsManager::Secret) property GenerateSecretString: %w", sec.LogicalID, err)
			}
			value = v
		}
		s.secrets.Put(secretsmanager.Secret{Name: sec.Name, ARN: sec.ARN, Value: value})
	}
	var buses []eventbridge.Bus
	for _, b := range stack.EventBuses {
		buses = append(buses, eventbridge.Bus{Name: b.Name, ARN: b.ARN})
	}
	var rules []eventbridge.Rule
	for _, r := range stack.Rules {
		rule := eventbridge.Rule{Name: r.Name, ARN: r.ARN, Bus: r.Bus.Name, Enabled: r.Enabled, Pattern: eventpattern.MustParse(string(r.Pattern))}
		for _, t := range r.Targets {
			tt := eventbridge.Target{ID: t.ID, Input: t.Input, InputPath: t.InputPath, MaxRetries: t.MaxRetries, MaxEventAge: t.MaxEventAge}
			if t.Function != nil {
				tt.Function = t.Function.Label
			}
			if t.Queue != nil {
				tt.Queue = t.Queue.Name
			}
			if t.DeadLetterQueue != nil {
				tt.DeadLetterQueue = t.DeadLetterQueue.Name
			}
			if t.InputTransformer != nil {
				tt.Transformer = &eventbridge.Transformer{PathsMap: t.InputTransformer.PathsMap, Template: t.InputTransformer.Template}
			}
			rule.Targets = append(rule.Targets, tt)
		}
		rules = append(rules, rule)
	}
	return s.router.Update(buses, rules)
}

// streams is the emulated DynamoDB Streams: the capture of the table's
// writes and the stream event source mappings.
type streams struct {
	capture  *ddbstream.Capture
	mu       sync.Mutex
	mappings map[string]*runningStream
	stopping bool
}

type runningStream struct {
	spec string // what a reload compares
	m    *ddbstream.Mapping
	stop context.CancelFunc
	done chan struct{}
}

// streamTables are the tables of stack that have a stream.
func streamTables(stack *template.Stack, region string) []ddbstream.Table {
	var out []ddbstream.Table
	for _, t := range stack.Tables {
		if t.StreamViewType == "" {
			continue
		}
		tb := ddbstream.Table{Name: t.Name, ViewType: t.StreamViewType, StreamARN: t.StreamARN, Region: region}
		for _, k := range t.KeySchema {
			if k.KeyType == "HASH" {
				tb.HashKey = k.AttributeName
			} else {
				tb.RangeKey = k.AttributeName
			}
		}
		out = append(out, tb)
	}
	return out
}

// newStreamCapture sets up the capture when the template has a table with
// a stream; startDynamo puts it where it sees every write.
func (e *session) newStreamCapture() error {
	tables := streamTables(e.stack, e.cfg.region)
	if len(tables) == 0 {
		return nil
	}
	capture, err := ddbstream.NewCapture(tables, ddbstream.CaptureOptions{})
	if err != nil {
		return err
	}
	e.streams = &streams{capture: capture, mappings: map[string]*runningStream{}}
	return nil
}

// startCaptureFront serves the capture in front of upstream
// (--dynamodb-endpoint) behind the same guard as dynalite's endpoint, and
// returns its endpoint, which the functions use. Requests go on signed
// again: the capture rewrites some and makes its own reads.
func (e *session) startCaptureFront(upstream string) (string, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return "", fmt.Errorf("DynamoDB endpoint %q: %w", upstream, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = u.Host
		},
		Transport: &resigner{next: &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: time.Minute}},
	}
	srv := &http.Server{Handler: dynalite.Guard(ln.Addr().String(), e.streams.capture.Wrap(proxy), e.refusals.Log), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	e.cleanups = append(e.cleanups, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return "http://" + ln.Addr().String(), nil
}

// resigner signs each request again with the local credentials, in the
// region the caller signed for.
type resigner struct{ next http.RoundTripper }

func (s *resigner) RoundTrip(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	_ = r.Body.Close()
	if err != nil {
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	if err := sigv4.Sign(r, body, dynalite.Credentials, "dynamodb", sigv4.RegionOf(r)); err != nil {
		return nil, err
	}
	return s.next.RoundTrip(r)
}

func streamSpec(m *template.StreamMapping) string {
	q := ""
	if m.OnFailure != nil {
		q = m.OnFailure.Name
	}
	return fmt.Sprintf("%s|%s|%d|%s|%v|%q|%v|%d|%s|%v|%s", m.Table.Name, m.Function.Label, m.BatchSize, m.BatchingWindow, m.TrimHorizon,
		m.Filters, m.BisectOnError, m.MaxRetries, m.MaxRecordAge, m.ReportBatchItemFailures, q)
}

// syncStreamMappings makes the running stream mappings those of stack:
// unchanged ones keep running, changed ones restart where they were.
func (e *session) syncStreamMappings(stack *template.Stack) (started, stopped []string, err error) {
	st := e.streams
	want := map[string]*template.StreamMapping{}
	for _, m := range stack.StreamMappings {
		if m.Enabled {
			want[m.LogicalID] = m
		}
	}
	if st == nil {
		if len(want) > 0 {
			return nil, nil, errors.New("stream event source mappings, but the emulator started without a table stream to capture: restart it")
		}
		return nil, nil, nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	resume := map[string]uint64{}
	for id, r := range st.mappings {
		if m, ok := want[id]; ok && streamSpec(m) == r.spec {
			continue
		}
		r.stop()
		<-r.done
		resume[id] = r.m.Position()
		delete(st.mappings, id)
		stopped = append(stopped, id)
	}
	for _, id := range slices.Sorted(maps.Keys(want)) {
		if st.mappings[id] != nil {
			continue
		}
		if err := e.startStreamMapping(want[id], resume[id]); err != nil {
			return started, stopped, err
		}
		started = append(started, id)
	}
	return started, stopped, nil
}

// startStreamMapping starts one mapping at position from (0: its
// StartingPosition); st.mu is held.
func (e *session) startStreamMapping(m *template.StreamMapping, from uint64) error {
	st := e.streams
	stream := st.capture.Stream(m.Table.Name)
	if stream == nil {
		return fmt.Errorf("%s (AWS::Lambda::EventSourceMapping): table %s was not captured at start: restart the emulator", m.LogicalID, m.Table.Name)
	}
	cfg := ddbstream.MappingConfig{Stream: stream, Function: m.Function.Label, FunctionARN: m.Function.ARN, BatchSize: m.BatchSize,
		BatchingWindow: m.BatchingWindow, TrimHorizon: m.TrimHorizon, BisectOnError: m.BisectOnError, MaxRetries: m.MaxRetries,
		MaxRecordAge: m.MaxRecordAge, ReportBatchItemFailures: m.ReportBatchItemFailures, StartAt: from,
		Report: func(r ddbstream.Report) { e.reportStream(m, r) }}
	for _, f := range m.Filters {
		cfg.Filters = append(cfg.Filters, eventpattern.MustParse(f))
	}
	if m.OnFailure != nil {
		cfg.OnFailure = queueDestination{sender: e.queueSender(), queue: m.OnFailure.Name}
	}
	mapping, err := ddbstream.NewMapping(e.services.fns, cfg)
	if err != nil {
		return fmt.Errorf("%s (AWS::Lambda::EventSourceMapping): %w", m.LogicalID, err)
	}
	ctx, stop := context.WithCancel(context.Background())
	r := &runningStream{spec: streamSpec(m), m: mapping, stop: stop, done: make(chan struct{})}
	go func() { mapping.Run(ctx); close(r.done) }()
	st.mappings[m.LogicalID] = r
	return nil
}

type queueDestination struct {
	sender *brokerSender
	queue  string
}

func (q queueDestination) Send(ctx context.Context, body string) error {
	return q.sender.Send(ctx, q.queue, body)
}

func (e *session) reportStream(m *template.StreamMapping, r ddbstream.Report) {
	if e.streams.isStopping() {
		return
	}
	where := fmt.Sprintf("[stream] %s → %s", m.Table.Name, m.Function.Label)
	switch {
	case r.Discarded != "" && m.OnFailure != nil:
		e.out.printf("%s: gave up on a batch of %d records (%s); its record is in %s: %v", where, r.Size, r.Discarded, m.OnFailure.Name, r.Err)
	case r.Discarded != "":
		e.out.printf("%s: gave up on a batch of %d records (%s), dropped: %v", where, r.Size, r.Discarded, r.Err)
	default:
		e.out.printf("%s: batch of %d records failed (retry %d), retrying: %v", where, r.Size, r.Attempt+1, r.Err)
	}
}

func (st *streams) isStopping() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.stopping
}

// stopStreamMappings ends every mapping at exit and prints what they did.
func (e *session) stopStreamMappings() {
	st := e.streams
	if st == nil {
		return
	}
	st.mu.Lock()
	st.stopping = true
	running := st.mappings
	st.mappings = map[string]*runningStream{}
	st.mu.Unlock()
	var sum ddbstream.Stats
	for _, r := range running {
		r.stop()
	}
	for _, r := range running {
		select {
		case <-r.done:
		case <-time.After(2 * time.Second):
		}
		s := r.m.Stats()
		sum.Invocations += s.Invocations
		sum.Records += s.Records
		sum.Filtered += s.Filtered
		sum.Failures += s.Failures
		sum.Discarded += s.Discarded
	}
	if sum.Invocations > 0 || sum.Filtered > 0 {
		e.out.printf("[stream] event source mappings: %d invocations, %d records delivered, %d filtered out, %d failed invocations, %d batches given up",
			sum.Invocations, sum.Records, sum.Filtered, sum.Failures, sum.Discarded)
	}
}

// integrationsBanner describes the services, buses, rules, secrets and
// streams for the banner.
func (e *session) integrationsBanner() string {
	var b strings.Builder
	s := e.stack
	if e.services != nil {
		fmt.Fprintf(&b, "  services    %s  (Lambda Invoke, EventBridge, Secrets Manager)\n", e.services.url())
	}
	rulesOf := map[string][]*template.Rule{}
	for _, r := range s.Rules {
		rulesOf[r.Bus.Name] = append(rulesOf[r.Bus.Name], r)
	}
	for _, bus := range s.EventBuses {
		if bus.LogicalID == "" && len(rulesOf[bus.Name]) == 0 {
			continue
		}
		fmt.Fprintf(&b, "    bus       %s\n", bus.Name)
		for _, r := range rulesOf[bus.Name] {
			var targets []string
			for _, t := range r.Targets {
				if t.Function != nil {
					targets = append(targets, "function "+t.Function.Label)
				} else {
					targets = append(targets, "queue "+t.Queue.Name)
				}
			}
			state := ""
			if !r.Enabled {
				state = " (disabled)"
			}
			fmt.Fprintf(&b, "      rule    %s%s → %s\n", r.Name, state, strings.Join(targets, ", "))
		}
	}
	if len(s.Rules) > 0 || e.streams != nil {
		fmt.Fprintf(&b, "    events    make events PORT=%s  (follow every event put on a bus)\n", portOf(e.endpoint))
	}
	for _, sec := range s.Secrets {
		fmt.Fprintf(&b, "    secret    %s  %s\n", sec.Name, sec.ARN)
	}
	for _, m := range s.StreamMappings {
		extra := fmt.Sprintf("batch %d, %d filters", m.BatchSize, len(m.Filters))
		if m.BisectOnError {
			extra += ", bisect"
		}
		if m.MaxRetries >= 0 {
			extra += fmt.Sprintf(", %d retries", m.MaxRetries)
		}
		if m.OnFailure != nil {
			extra += ", on failure " + m.OnFailure.Name
		}
		fmt.Fprintf(&b, "  stream      %s (%s) → %s (%s)\n", m.Table.Name, m.Table.StreamViewType, m.Function.Label, extra)
	}
	return b.String()
}

// eventsUsage reads the integrations' counters (usage.go).
func (e *session) eventsUsage() eventsUsage {
	var u eventsUsage
	if e.services != nil {
		st := e.services.router.Stats()
		u.Put, u.Units, u.Matched, u.Delivered = int64(st.Put), int64(st.Units), int64(st.Matched), int64(st.Delivered)
	}
	if st := e.streams; st != nil {
		st.mu.Lock()
		for _, r := range st.mappings {
			u.StreamBatches += int64(r.m.Stats().Invocations)
		}
		st.mu.Unlock()
	}
	return u
}
