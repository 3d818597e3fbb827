// Package eventbridge emulates the EventBridge a template declares: its
// event buses, their rules (event patterns, see internal/eventpattern) and
// their targets — Lambda functions, invoked asynchronously as EventBridge
// does, and SQS queues — with Input, InputPath and InputTransformer,
// retry policies and dead-letter queues. PutEvents is served over the AWS
// JSON 1.1 protocol the SDK speaks (X-Amz-Target: AWSEvents.PutEvents),
// and every event put on a bus can be followed live (Tail), which is what
// `make events` shows.
package eventbridge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/wschat/wschat/internal/eventpattern"
)

// Invoker runs a function with a payload (synchronously: the router makes
// it asynchronous to the caller of PutEvents).
type Invoker interface {
	Invoke(ctx context.Context, function string, payload []byte) ([]byte, error)
}

// Throttled is implemented by invocation errors that are a throttle (the
// function's reserved concurrency), which EventBridge retries under the
// target's retry policy.
type Throttled interface{ Throttled() bool }

// Sender sends a message to a queue by name.
type Sender interface {
	Send(ctx context.Context, queue, body string) error
}

// Bus is an event bus.
type Bus struct{ Name, ARN string }

// Rule is an enabled or disabled rule of a bus.
type Rule struct {
	Name, ARN, Bus string
	Pattern        *eventpattern.Pattern
	Enabled        bool
	Targets        []Target
}

// Target is where a rule sends a matched event.
type Target struct {
	ID       string
	Function string // a function's name, as the Invoker knows it
	Queue    string // or a queue's name
	// Input, InputPath, Transformer: see the template's RuleTarget.
	Input       *string
	InputPath   string
	Transformer *Transformer
	// MaxRetries and MaxEventAge bound the retries of a delivery that did
	// not reach the target (a throttle, a missing queue).
	MaxRetries  int
	MaxEventAge time.Duration
	// DeadLetterQueue gets the event when retries are exhausted; "": dropped.
	DeadLetterQueue string
}

// Transformer is an InputTransformer.
type Transformer struct {
	PathsMap map[string]string
	Template string
}

// Config configures a Router.
type Config struct {
	Region, Account string
	Buses           []Bus
	Rules           []Rule
	Invoker         Invoker
	Sender          Sender
	// RetryDelay is the first retry's delay of a delivery, doubling up to a
	// minute; 0 means 200 ms. FunctionRetries is how often Lambda's
	// asynchronous invocation retries a function error (2, as Lambda).
	RetryDelay      time.Duration
	FunctionRetries *int
	// Report hears of deliveries that failed or were given up (one line
	// each in the emulator's output).
	Report func(Report)
}

// Report is one failed delivery.
type Report struct {
	Rule, Target string
	Attempt      int
	Err          error
	// Final: the delivery was given up (sent to the dead-letter queue when
	// DeadLetterQueue is set, else dropped).
	Final           bool
	DeadLetterQueue string
}

// Stats counts what the router did.
type Stats struct {
	Put, Matched, Delivered, Failed, DeadLettered, Dropped int
	// Units are the accepted entries in EventBridge's billing units: each
	// 64 KB of an entry is one event.
	Units int
}

// Router holds the buses and rules and delivers matched events.
type Router struct {
	cfg Config

	mu    sync.RWMutex
	buses map[string]Bus // by name and by ARN
	rules map[string][]Rule

	subsMu sync.Mutex
	subs   map[chan []byte]struct{}

	statsMu sync.Mutex
	stats   Stats

	wg      sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc
	now     func() time.Time
	pending chan struct{} // bounds concurrent deliveries
}

// MaxDeliveries bounds the deliveries in flight; a PutEvents beyond it
// waits (EventBridge's own throughput is far higher; one machine is not).
const MaxDeliveries = 256

// New returns a router with cfg's buses and rules.
func New(cfg Config) (*Router, error) {
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = 200 * time.Millisecond
	}
	if cfg.FunctionRetries == nil {
		two := 2
		cfg.FunctionRetries = &two
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Router{cfg: cfg, subs: map[chan []byte]struct{}{}, ctx: ctx, cancel: cancel, now: time.Now, pending: make(chan struct{}, MaxDeliveries)}
	if err := r.Update(cfg.Buses, cfg.Rules); err != nil {
		cancel()
		return nil, err
	}
	return r, nil
}

// Update replaces the buses and rules (a reload); deliveries in flight
// finish.
func (r *Router) Update(buses []Bus, rules []Rule) error {
	byName := map[string]Bus{}
	for _, b := range buses {
		byName[b.Name], byName[b.ARN] = b, b
	}
	byBus := map[string][]Rule{}
	for _, rule := range rules {
		if _, ok := byName[rule.Bus]; !ok {
			return fmt.Errorf("rule %s: no bus %q", rule.Name, rule.Bus)
		}
		for _, t := range rule.Targets {
			if (t.Function == "") == (t.Queue == "") {
				return fmt.Errorf("rule %s target %s: want a function or a queue", rule.Name, t.ID)
			}
		}
		byBus[rule.Bus] = append(byBus[rule.Bus], rule)
	}
	r.mu.Lock()
	r.buses, r.rules = byName, byBus
	r.mu.Unlock()
	return nil
}

// Stats returns a snapshot of the counters.
func (r *Router) Stats() Stats {
	r.statsMu.Lock()
	defer r.statsMu.Unlock()
	return r.stats
}

func (r *Router) count(f func(*Stats)) {
	r.statsMu.Lock()
	f(&r.stats)
	r.statsMu.Unlock()
}

// Close stops retries and waits (up to wait) for deliveries in flight.
func (r *Router) Close(wait time.Duration) {
	r.cancel()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(wait):
	}
	r.subsMu.Lock()
	for ch := range r.subs {
		close(ch)
		delete(r.subs, ch)
	}
	r.subsMu.Unlock()
}

// Entry is one PutEvents entry.
type Entry struct {
	Source       string   `json:"Source"`
	DetailType   string   `json:"DetailType"`
	Detail       string   `json:"Detail"`
	EventBusName string   `json:"EventBusName,omitempty"`
	Resources    []string `json:"Resources,omitempty"`
	// Time is the event's time; zero: now.
	Time time.Time `json:"-"`
}

// Result is one entry's outcome: an EventId, or an error code and message.
type Result struct {
	EventID      string `json:"EventId,omitempty"`
	ErrorCode    string `json:"ErrorCode,omitempty"`
	ErrorMessage string `json:"ErrorMessage,omitempty"`
}

// Event is an event as targets get it.
type Event struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       string          `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// ErrNoBus is a PutEvents to a bus that does not exist.
var ErrNoBus = errors.New("event bus does not exist")

// Put puts entries on their buses (PutEvents): each accepted entry gets an
// id and is delivered to the targets of every matching rule, after Put
// returns. A refused entry gets an error code, as EventBridge answers.
func (r *Router) Put(entries []Entry) ([]Result, error) {
	out := make([]Result, len(entries))
	for i, e := range entries {
		bus := e.EventBusName
		if bus == "" {
			bus = "default"
		}
		r.mu.RLock()
		b, ok := r.buses[bus]
		rules := r.rules[b.Name]
		r.mu.RUnlock()
		if !ok {
			return nil, fmt.Errorf("%w: %s", ErrNoBus, bus)
		}
		if code, msg := checkEntry(e); code != "" {
			out[i] = Result{ErrorCode: code, ErrorMessage: msg}
			continue
		}
		at := e.Time
		if at.IsZero() {
			at = r.now()
		}
		ev := Event{Version: "0", ID: newUUID(), DetailType: e.DetailType, Source: e.Source, Account: r.cfg.Account,
			Time: at.UTC().Format("2006-01-02T15:04:05Z"), Region: r.cfg.Region, Resources: e.Resources, Detail: json.RawMessage(e.Detail)}
		if ev.Resources == nil {
			ev.Resources = []string{}
		}
		out[i] = Result{EventID: ev.ID}
		r.route(b, ev, rules)
	}
	return out, nil
}

func checkEntry(e Entry) (code, msg string) {
	switch {
	case strings.TrimSpace(e.Source) == "":
		return "InvalidArgument", "Parameter Source is not valid. Reason: Source is a required argument."
	case strings.TrimSpace(e.DetailType) == "":
		return "InvalidArgument", "Parameter DetailType is not valid. Reason: DetailType is a required argument."
	case strings.HasPrefix(e.Source, "aws."):
		return "NotAuthorizedForSourceException", "Not authorized for the source " + e.Source + "."
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal([]byte(e.Detail), &obj) != nil {
		return "MalformedDetail", "Detail is malformed."
	}
	return "", ""
}

// route matches ev against rules and starts a delivery per target.
func (r *Router) route(b Bus, ev Event, rules []Rule) {
	doc, _ := json.Marshal(ev)
	var matched []string
	for _, rule := range rules {
		if !rule.Enabled {
			continue
		}
		ok, err := rule.Pattern.Match(doc)
		if err != nil || !ok {
			continue
		}
		matched = append(matched, rule.Name)
		for _, t := range rule.Targets {
			r.deliverLater(rule, t, ev, doc)
		}
	}
	units := max(1, (len(doc)+64*1024-1)/(64*1024))
	r.count(func(s *Stats) { s.Put++; s.Units += units; s.Matched += len(matched) })
	r.publish(b, doc, matched)
}

// publish sends one tail line to every follower.
func (r *Router) publish(b Bus, doc []byte, matched []string) {
	if matched == nil {
		matched = []string{}
	}
	line, _ := json.Marshal(struct {
		Bus   string          `json:"bus"`
		Rules []string        `json:"rules"`
		Event json.RawMessage `json:"event"`
	}{b.Name, matched, doc})
	r.subsMu.Lock()
	defer r.subsMu.Unlock()
	for ch := range r.subs {
		select {
		case ch <- line:
		default: // a follower that does not keep up misses lines rather than slowing the bus
		}
	}
}

// Follow returns a channel of tail lines ({"bus","rules","event"}) for
// every event put from now on, and a function that stops following.
func (r *Router) Follow() (<-chan []byte, func()) {
	ch := make(chan []byte, 1024)
	r.subsMu.Lock()
	r.subs[ch] = struct{}{}
	r.subsMu.Unlock()
	return ch, func() {
		r.subsMu.Lock()
		if _, ok := r.subs[ch]; ok {
			delete(r.subs, ch)
			close(ch)
		}
		r.subsMu.Unlock()
	}
}

func (r *Router) deliverLater(rule Rule, t Target, ev Event, doc []byte) {
	input, err := inputOf(t, doc, rule)
	if err != nil {
		r.reportf(rule, t, 0, err, true)
		r.count(func(s *Stats) { s.Dropped++ })
		return
	}
	select {
	case r.pending <- struct{}{}:
	case <-r.ctx.Done():
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer func() { <-r.pending }()
		r.deliver(rule, t, ev, input)
	}()
}

// deliver sends input to t, retrying as EventBridge and Lambda do.
func (r *Router) deliver(rule Rule, t Target, ev Event, input []byte) {
	first := r.now()
	delay := r.cfg.RetryDelay
	functionErrors := 0
	for attempt := 0; ; attempt++ {
		err := r.send(t, input)
		if err == nil {
			r.count(func(s *Stats) { s.Delivered++ })
			return
		}
		r.count(func(s *Stats) { s.Failed++ })
		var th Throttled
		throttle := errors.As(err, &th) && th.Throttled()
		if t.Function != "" && !throttle {
			// Lambda took the asynchronous invocation; the function failed.
			// Lambda retries it (twice), then drops it: a function's own
			// failure destination is not emulated.
			functionErrors++
			if functionErrors > *r.cfg.FunctionRetries {
				r.reportf(rule, t, attempt, err, true)
				r.count(func(s *Stats) { s.Dropped++ })
				return
			}
		} else if attempt >= t.MaxRetries || (t.MaxEventAge > 0 && r.now().Sub(first) > t.MaxEventAge) {
			r.giveUp(rule, t, ev, err, attempt)
			return
		}
		r.reportf(rule, t, attempt, err, false)
		select {
		case <-time.After(delay):
		case <-r.ctx.Done():
			return
		}
		delay = min(2*delay, time.Minute)
	}
}

func (r *Router) send(t Target, input []byte) error {
	ctx, cancel := context.WithTimeout(r.ctx, 15*time.Minute)
	defer cancel()
	if t.Queue != "" {
		return r.cfg.Sender.Send(ctx, t.Queue, string(input))
	}
	_, err := r.cfg.Invoker.Invoke(ctx, t.Function, input)
	return err
}

// giveUp sends the event to the target's dead-letter queue, or drops it.
func (r *Router) giveUp(rule Rule, t Target, ev Event, last error, attempt int) {
	if t.DeadLetterQueue == "" {
		r.reportf(rule, t, attempt, last, true)
		r.count(func(s *Stats) { s.Dropped++ })
		return
	}
	doc, _ := json.Marshal(ev)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.cfg.Sender.Send(ctx, t.DeadLetterQueue, string(doc)); err != nil {
		r.reportf(rule, t, attempt, fmt.Errorf("%w; and the dead-letter queue %s refused it: %w", last, t.DeadLetterQueue, err), true)
		r.count(func(s *Stats) { s.Dropped++ })
		return
	}
	if r.cfg.Report != nil {
		r.cfg.Report(Report{Rule: rule.Name, Target: t.label(), Attempt: attempt, Err: last, Final: true, DeadLetterQueue: t.DeadLetterQueue})
	}
	r.count(func(s *Stats) { s.DeadLettered++ })
}

func (r *Router) reportf(rule Rule, t Target, attempt int, err error, final bool) {
	if r.cfg.Report != nil {
		r.cfg.Report(Report{Rule: rule.Name, Target: t.label(), Attempt: attempt, Err: err, Final: final})
	}
}

func (t Target) label() string {
	if t.Function != "" {
		return "function " + t.Function
	}
	return "queue " + t.Queue
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
