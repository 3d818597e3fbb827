package eventbridge_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/wschat/wschat/internal/eventpattern"
	eb "github.com/wschat/wschat/local/eventbridge"
)

type sink struct {
	mu       sync.Mutex
	got      map[string][]string // queue or function → bodies
	throttle int                 // throttles before the function runs
	failFn   bool
}

type throttled struct{}

func (throttled) Error() string   { return "TooManyRequestsException" }
func (throttled) Throttled() bool { return true }

func (s *sink) Send(_ context.Context, queue, body string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if queue == "missing" {
		return errors.New("no such queue")
	}
	s.got[queue] = append(s.got[queue], body)
	return nil
}

func (s *sink) Invoke(_ context.Context, fn string, payload []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got[fn] = append(s.got[fn], string(payload))
	if s.throttle > 0 {
		s.throttle--
		return nil, throttled{}
	}
	if s.failFn {
		return nil, errors.New("function failed")
	}
	return nil, nil
}

func (s *sink) bodies(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got[name]...)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func setup(t *testing.T, s *sink, rules []eb.Rule) (*eb.Router, *eventbridge.Client) {
	t.Helper()
	zero := 0
	r, err := eb.New(eb.Config{Region: "eu-west-1", Account: "000000000000", Invoker: s, Sender: s, RetryDelay: time.Millisecond, FunctionRetries: &zero,
		Buses: []eb.Bus{{Name: "default", ARN: "arn:default"}, {Name: "chat", ARN: "arn:aws:events:eu-west-1:000000000000:event-bus/chat"}}, Rules: rules})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r.Handler())
	t.Cleanup(func() { srv.Close(); r.Close(time.Second) })
	client := eventbridge.New(eventbridge.Options{Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
	return r, client
}

func entry(bus, typ, detail string) types.PutEventsRequestEntry {
	return types.PutEventsRequestEntry{EventBusName: aws.String(bus), Source: aws.String("wschat"), DetailType: aws.String(typ), Detail: aws.String(detail)}
}

// TestRulesRouteEventsToTargets puts events with the real SDK client: a
// rule's pattern picks which reach its targets, in the shape EventBridge
// gives them; a transformer wraps the event; InputPath sends a part.
func TestRulesRouteEventsToTargets(t *testing.T) {
	s := &sink{got: map[string][]string{}}
	rules := []eb.Rule{
		{Name: "messages", ARN: "arn:rule/chat/messages", Bus: "chat", Enabled: true,
			Pattern: eventpattern.MustParse(`{"source":["wschat"],"detail-type":[{"prefix":"message."}]}`),
			Targets: []eb.Target{{ID: "q", Queue: "seen"}, {ID: "fn", Function: "indexer", InputPath: "$.detail"}}},
		{Name: "webhook", ARN: "arn:rule/chat/webhook", Bus: "chat", Enabled: true,
			Pattern: eventpattern.MustParse(`{"detail-type":["channel.occupied.v1"]}`),
			Targets: []eb.Target{{ID: "hook", Queue: "webhooks", Transformer: &eb.Transformer{
				PathsMap: map[string]string{"channel": "$.detail.channel", "n": "$.detail.n"},
				Template: `{"webhook":"orders","rule":"<aws.events.rule-name>","about":"channel <channel> (<n>)","channel":<channel>,"event":<aws.events.event.json>}`}}}},
		{Name: "off", Bus: "chat", Enabled: false, Pattern: eventpattern.MustParse(`{"source":["wschat"]}`), Targets: []eb.Target{{ID: "x", Queue: "never"}}},
	}
	r, client := setup(t, s, rules)
	at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	e1 := entry("chat", "message.created.v1", `{"channel":"general","seq":1}`)
	e1.Time = aws.Time(at)
	out, err := client.PutEvents(t.Context(), &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{
		e1, entry("arn:aws:events:eu-west-1:000000000000:event-bus/chat", "channel.occupied.v1", `{"channel":"general","n":3}`),
		entry("chat", "member.joined.v1", `{}`), entry("default", "message.created.v1", `{}`),
	}})
	if err != nil || out.FailedEntryCount != 0 || len(out.Entries) != 4 || out.Entries[0].EventId == nil {
		t.Fatalf("PutEvents: %+v, %v", out, err)
	}
	eventually(t, "the deliveries", func() bool {
		return len(s.bodies("seen")) == 1 && len(s.bodies("indexer")) == 1 && len(s.bodies("webhooks")) == 1
	})
	var ev eb.Event
	if err := json.Unmarshal([]byte(s.bodies("seen")[0]), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Version != "0" || ev.ID != *out.Entries[0].EventId || ev.Source != "wschat" || ev.DetailType != "message.created.v1" || ev.Account != "000000000000" ||
		ev.Region != "eu-west-1" || ev.Time != "2026-05-06T07:08:09Z" || ev.Resources == nil || string(ev.Detail) != `{"channel":"general","seq":1}` {
		t.Errorf("event %+v", ev)
	}
	if got := s.bodies("indexer")[0]; got != `{"channel":"general","seq":1}` {
		t.Errorf("InputPath input %s", got)
	}
	var wrapped struct {
		Webhook, Rule, About, Channel string
		Event                         eb.Event
	}
	if err := json.Unmarshal([]byte(s.bodies("webhooks")[0]), &wrapped); err != nil {
		t.Fatalf("%s: %v", s.bodies("webhooks")[0], err)
	}
	if wrapped.Webhook != "orders" || wrapped.Rule != "webhook" || wrapped.About != "channel general (3)" || wrapped.Channel != "general" ||
		wrapped.Event.DetailType != "channel.occupied.v1" || string(wrapped.Event.Detail) != `{"channel":"general","n":3}` {
		t.Errorf("transformed %+v", wrapped)
	}
	time.Sleep(20 * time.Millisecond)
	if len(s.bodies("never")) != 0 || r.Stats().Put != 4 || r.Stats().Matched != 2 {
		t.Errorf("a disabled rule delivered, or stats %+v", r.Stats())
	}
}

func TestPutEventsRefusals(t *testing.T) {
	s := &sink{got: map[string][]string{}}
	_, client := setup(t, s, nil)
	out, err := client.PutEvents(t.Context(), &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{
		entry("chat", "x.v1", `{}`), {EventBusName: aws.String("chat"), Source: aws.String("aws.ec2"), DetailType: aws.String("x"), Detail: aws.String(`{}`)},
		entry("chat", "x.v1", `[1]`), {EventBusName: aws.String("chat"), Source: aws.String("wschat"), Detail: aws.String(`{}`)},
	}})
	if err != nil || out.FailedEntryCount != 3 || out.Entries[0].EventId == nil || *out.Entries[1].ErrorCode != "NotAuthorizedForSourceException" ||
		*out.Entries[2].ErrorCode != "MalformedDetail" || *out.Entries[3].ErrorCode != "InvalidArgument" {
		t.Errorf("PutEvents: %+v, %v", out, err)
	}
	var many []types.PutEventsRequestEntry
	for range 11 {
		many = append(many, entry("chat", "x.v1", `{}`))
	}
	if _, err := client.PutEvents(t.Context(), &eventbridge.PutEventsInput{Entries: many}); err == nil {
		t.Error("11 entries accepted")
	}
	if _, err := client.PutEvents(t.Context(), &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{entry("nope", "x.v1", `{}`)}}); err == nil || !strings.Contains(err.Error(), "ResourceNotFound") {
		t.Errorf("unknown bus: %v", err)
	}
	big := `{"t":"` + strings.Repeat("x", 200*1024) + `"}`
	if _, err := client.PutEvents(t.Context(), &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{entry("chat", "x.v1", big), entry("chat", "x.v1", big)}}); err == nil {
		t.Error("400 KB of entries accepted")
	}
}

// TestRetriesAndDeadLetters: a throttled function is retried until it
// takes the event; a queue that refuses every send exhausts the target's
// retries and the event goes to its dead-letter queue; a function that
// fails is retried as Lambda's async invocation does, then dropped.
func TestRetriesAndDeadLetters(t *testing.T) {
	s := &sink{got: map[string][]string{}, throttle: 2}
	var mu sync.Mutex
	var reports []eb.Report
	zero := 0
	r, err := eb.New(eb.Config{Region: "r", Account: "a", Invoker: s, Sender: s, RetryDelay: time.Millisecond, FunctionRetries: &zero,
		Report: func(rep eb.Report) { mu.Lock(); reports = append(reports, rep); mu.Unlock() },
		Buses:  []eb.Bus{{Name: "default", ARN: "arn:d"}},
		Rules: []eb.Rule{{Name: "all", Bus: "default", Enabled: true, Pattern: eventpattern.MustParse(`{"source":["wschat"]}`), Targets: []eb.Target{
			{ID: "fn", Function: "consumer", MaxRetries: 185},
			{ID: "q", Queue: "missing", MaxRetries: 3, DeadLetterQueue: "dlq"},
		}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(time.Second)
	if _, err := r.Put([]eb.Entry{{Source: "wschat", DetailType: "x.v1", Detail: `{"a":1}`}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the dead letter and the third invocation", func() bool { return len(s.bodies("dlq")) == 1 && len(s.bodies("consumer")) == 3 })
	st := r.Stats()
	if st.Delivered != 1 || st.DeadLettered != 1 || st.Failed != 2+4 {
		t.Errorf("stats %+v, want 1 delivered (after 2 throttles), 1 dead-lettered (after 4 sends)", st)
	}
	var ev eb.Event
	if err := json.Unmarshal([]byte(s.bodies("dlq")[0]), &ev); err != nil || ev.Source != "wschat" {
		t.Errorf("dead letter %s", s.bodies("dlq")[0])
	}
	s.failFn = true
	if _, err := r.Put([]eb.Entry{{Source: "wschat", DetailType: "x.v1", Detail: `{}`}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the dropped event", func() bool { return r.Stats().Dropped == 1 })
	mu.Lock()
	defer mu.Unlock()
	if len(reports) == 0 {
		t.Error("no reports")
	}
}

func TestTail(t *testing.T) {
	s := &sink{got: map[string][]string{}}
	r, _ := setup(t, s, []eb.Rule{{Name: "m", Bus: "chat", Enabled: true, Pattern: eventpattern.MustParse(`{"source":["wschat"]}`), Targets: []eb.Target{{ID: "q", Queue: "q"}}}})
	srv := httptest.NewServer(r.TailHandler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	eventually(t, "a follower", func() bool {
		_, _ = r.Put([]eb.Entry{{EventBusName: "chat", Source: "wschat", DetailType: "t.v1", Detail: `{"n":1}`}})
		return true
	})
	line, err := bufio.NewReader(resp.Body).ReadBytes('\n')
	if err != nil {
		t.Fatal(err)
	}
	var l struct {
		Bus   string
		Rules []string
		Event eb.Event
	}
	if err := json.Unmarshal(line, &l); err != nil || l.Bus != "chat" || len(l.Rules) != 1 || l.Event.DetailType != "t.v1" {
		t.Errorf("tail line %s: %v", line, err)
	}
}
