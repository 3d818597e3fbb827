package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/wschat/wschat/internal/emutest"
	"github.com/wschat/wschat/internal/eventschema"
	"github.com/wschat/wschat/internal/sigv4"
	"github.com/wschat/wschat/wire/events"
)

// integrationsTemplate writes the dev template with the integrations on
// (emutest.WithIntegrations): the webhook to webhookURL and the word-filter
// hook, text in events.
func integrationsTemplate(t *testing.T, webhookURL string) (string, emutest.Integrations) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "WsChat-events.template.json")
	in, err := emutest.WithIntegrations(realTemplate(t), path, emutest.IntegrationsOptions{EventsText: true, WebhookURL: webhookURL, Hook: true})
	if err != nil {
		t.Fatal(err)
	}
	if in.EventsFunction == emutest.IntegrationsEventsFunction {
		t.Fatal("the dev template has no events function of its own: the stack's events are off")
	}
	return path, in
}

// receiver is a webhook endpoint on 127.0.0.1 that verifies each request's
// signature with the secret the stack generated (read as a team would,
// with GetSecretValue).
type receiver struct {
	mu       sync.Mutex
	secret   string
	verified map[string]events.Event // by webhook-id
	refused  int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.secret == "" {
		w.WriteHeader(http.StatusServiceUnavailable) // not ready: the delivery is retried
		return
	}
	if err := events.Verify(r.secret, req.Header, body, time.Now(), 0); err != nil {
		r.refused++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	ev, _, err := events.Decode(body)
	if err != nil {
		r.refused++
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.verified[req.Header.Get(events.HeaderWebhookID)] = ev
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) snapshot() (map[string]events.Event, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]events.Event{}
	for k, v := range r.verified {
		out[k] = v
	}
	return out, r.refused
}

// putEventsGate is the events function's EventBridge endpoint in the
// kill test: a proxy to the emulator's services that can hold the next
// PutEvents until the test has killed the function.
type putEventsGate struct {
	upstream atomic.Pointer[url.URL]
	arm      atomic.Bool
	held     chan struct{}
	release  chan struct{}
	puts     atomic.Int64
}

func (g *putEventsGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.puts.Add(1)
	if g.arm.CompareAndSwap(true, false) {
		g.held <- struct{}{}
		<-g.release
	}
	u := g.upstream.Load()
	if u == nil {
		http.Error(w, "no upstream yet", http.StatusServiceUnavailable)
		return
	}
	// The services endpoint answers its own Host only, and the signature
	// covers the Host: forward as a client of it, signed again.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(u)
		pr.Out.Host = u.Host
		pr.Out.Body = io.NopCloser(bytes.NewReader(body))
		if err := sigv4.Sign(pr.Out, body, sigv4.Local, "events", sigv4.RegionOf(r)); err != nil {
			panic(err)
		}
	}}
	proxy.ServeHTTP(w, r)
}

// seen reads the queue the test rule copies every event to.
type seen struct {
	client *awssqs.Client
	url    string
	byID   map[string]events.Event // by detail eventId
	order  []string
	dups   int
}

func (s *seen) poll(t *testing.T, within time.Duration, done func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	for !done() {
		out, err := s.client.ReceiveMessage(ctx, &awssqs.ReceiveMessageInput{QueueUrl: &s.url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			t.Fatalf("receive: %v", err)
		}
		for _, m := range out.Messages {
			body := []byte(aws.ToString(m.Body))
			ev, err := eventschema.ValidateEvent(body)
			if err != nil {
				t.Errorf("an event the rule delivered is not as its schema says: %v", err)
			}
			var id struct {
				EventID string `json:"eventId"`
			}
			_ = json.Unmarshal(ev.Detail, &id)
			if _, dup := s.byID[id.EventID]; dup {
				s.dups++ // at least once: a retry may repeat an event
			} else {
				s.byID[id.EventID] = ev
				s.order = append(s.order, id.EventID)
			}
			_, _ = s.client.DeleteMessage(ctx, &awssqs.DeleteMessageInput{QueueUrl: &s.url, ReceiptHandle: m.ReceiptHandle})
		}
	}
}

// describe is one event in the test's words.
func describeEvent(ev events.Event) string {
	_, d, err := events.Decode(mustMarshal(ev))
	if err != nil {
		return "undecodable " + ev.DetailType
	}
	switch x := d.(type) {
	case *events.MessageCreated:
		text := ""
		if x.Text != nil {
			text = *x.Text
		}
		return fmt.Sprintf("message.created %s %s %q", x.Channel, x.UserID, text)
	case *events.MemberJoined:
		return "member.joined " + x.Channel + " " + x.UserID
	case *events.MemberLeft:
		return "member.left " + x.Channel + " " + x.UserID
	case *events.ChannelOccupied:
		return "channel.occupied " + x.Channel
	case *events.ChannelVacated:
		return "channel.vacated " + x.Channel
	case *events.ConnectionOpened:
		return "connection.opened " + x.UserID
	case *events.ConnectionClosed:
		return "connection.closed " + x.UserID
	case *events.MessageEdited:
		text := ""
		if x.Text != nil {
			text = *x.Text
		}
		return fmt.Sprintf("message.edited %s %s %q", x.Channel, x.UserID, text)
	case *events.ReactionAdded:
		return fmt.Sprintf("reaction.added %s %s %s %d", x.Channel, x.UserID, x.Emoji, x.Count)
	case *events.UserNotified:
		return fmt.Sprintf("user.notified %s %d/%d", x.UserID, x.Connections, x.Delivered)
	}
	return ev.DetailType
}

func mustMarshal(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func (s *seen) descriptions() map[string]int {
	out := map[string]int{}
	for _, id := range s.order {
		out[describeEvent(s.byID[id])]++
	}
	return out
}

// TestIntegrationsEndToEnd runs a scripted chat on the emulator with the
// integrations on, and checks what leaves it: the rule gets one event per
// stored change (connections, memberships, channel occupied and vacated,
// messages), each exactly as its JSON Schema says and none for refused
// requests; the word-filter hook rejects (an error frame to the sender),
// redacts and allows; a webhook receiver on 127.0.0.1 gets signed requests
// it verifies; and an events function killed after it read the records but
// before it put their events on the bus still yields them.
func TestIntegrationsEndToEnd(t *testing.T) {
	rcv := &receiver{verified: map[string]events.Event{}}
	rcvSrv := &http.Server{Handler: rcv, ReadHeaderTimeout: 5 * time.Second}
	rcvLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = rcvSrv.Serve(rcvLn) }()
	defer rcvSrv.Close()
	gate := &putEventsGate{held: make(chan struct{}, 1), release: make(chan struct{})}
	gateLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gateSrv := &http.Server{Handler: gate, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = gateSrv.Serve(gateLn) }()
	defer gateSrv.Close()

	tpl, in := integrationsTemplate(t, "http://"+rcvLn.Addr().String()+"/hooks/wschat")
	ready := filepath.Join(t.TempDir(), "ready.json")
	e := startEmulator(t, "--template", tpl, "--allow-stale", "--ready-file", ready,
		"--function-env", in.EventsFunction+":AWS_ENDPOINT_URL_EVENTS=http://"+gateLn.Addr().String())
	doc := readReady(t, ready)
	services, _ := url.Parse(doc.Services)
	gate.upstream.Store(services)
	creds := credentials.NewStaticCredentialsProvider("local", "local", "")
	secrets := sm.New(sm.Options{Region: "us-east-1", BaseEndpoint: aws.String(doc.Services), Credentials: creds})
	var secretARN string
	for _, s := range doc.Secrets {
		if s.LogicalID == emutest.IntegrationsWebhookKey {
			secretARN = s.ARN
		}
	}
	got, err := secrets.GetSecretValue(t.Context(), &sm.GetSecretValueInput{SecretId: aws.String(secretARN)})
	if err != nil {
		t.Fatalf("GetSecretValue(%s): %v", secretARN, err)
	}
	rcv.mu.Lock()
	rcv.secret = aws.ToString(got.SecretString)
	rcv.mu.Unlock()
	sq := &seen{client: awssqs.New(awssqs.Options{Region: "us-east-1", BaseEndpoint: aws.String(doc.SQS), Credentials: creds}),
		url: queueURLs(doc)[emutest.IntegrationsSeenQueue], byID: map[string]events.Event{}}

	// The scripted chat.
	ann, bob := connectAs(t, e, "ann"), connectAs(t, e, "bob")
	ann.join(t, "general")
	bob.join(t, "general")
	ann.send(t, map[string]any{"action": "send", "channel": "general", "text": "hello bob", "clientId": "m1"})
	m1 := ann.expect(t, "ack", map[string]any{"clientId": "m1"})["seq"]
	// The lifecycle (#20): an edit goes through the hook too (its word
	// masked), a reaction and its repeat (one change: one event).
	ann.send(t, map[string]any{"action": "edit", "channel": "general", "seq": m1, "text": "hello darn bob", "clientId": "e1"})
	ann.expect(t, "ack", map[string]any{"clientId": "e1"})
	if up := bob.expect(t, "update", map[string]any{"action": "edit"}); fmt.Sprint(up["message"].(map[string]any)["text"]) != "hello **** bob" {
		t.Errorf("bob got the edit as %v, want the masked text", up)
	}
	for range 2 {
		bob.send(t, map[string]any{"action": "react", "channel": "general", "seq": m1, "emoji": "👍"})
		bob.expect(t, "ack", map[string]any{"action": "react"})
	}
	ann.send(t, map[string]any{"action": "send", "channel": "general", "text": "buy spam now", "clientId": "m2"})
	rejected := ann.expect(t, "error", map[string]any{"clientId": "m2"})
	if rejected["code"] != "rejected" || !strings.Contains(fmt.Sprint(rejected["message"]), "spam") {
		t.Errorf("the hook's rejection reached the sender as %v", rejected)
	}
	// With no echo the ack is ann's only copy, so it carries the text.
	ann.send(t, map[string]any{"action": "send", "channel": "general", "text": "darn it", "clientId": "m3", "echo": false})
	if ack := ann.expect(t, "ack", map[string]any{"clientId": "m3"}); ack["text"] != "**** it" {
		t.Errorf("ann's ack of a redacted send: %v, want the redacted text", ack)
	}
	redacted := bob.expect(t, "message", map[string]any{"clientId": "m3"})
	if redacted["text"] != "**** it" {
		t.Errorf("bob got %q, want the redacted text", redacted["text"])
	}
	// Refused requests: no change, so no event.
	bob.send(t, map[string]any{"action": "send", "channel": "random", "text": "hi", "clientId": "b1"})
	bob.expect(t, "error", map[string]any{"code": "not_member"})
	bob.send(t, map[string]any{"action": "join", "channel": "Not A Channel"})
	bob.expect(t, "error", map[string]any{"code": "invalid_field"})
	// A backend's notice: not stored for the user, recorded for its event.
	if _, err := publishClient(t, e, "local").Notify(t.Context(), "bob", "n1", "your export is ready"); err != nil {
		t.Fatalf("notify: %v", err)
	}
	bob.expect(t, "notice", map[string]any{"id": "n1"})
	ann.send(t, map[string]any{"action": "leave", "channel": "general"})
	ann.expect(t, "left", map[string]any{"channel": "general", "userId": "ann"})
	_ = bob.conn.Close(1000, "bye")
	_ = ann.conn.Close(1000, "bye")

	want := map[string]int{
		"connection.opened ann": 1, "connection.opened bob": 1,
		"channel.occupied general": 1, "member.joined general ann": 1, "member.joined general bob": 1,
		`message.created general ann "hello bob"`: 1, `message.created general ann "**** it"`: 1,
		"member.left general ann": 1, "member.left general bob": 1, "channel.vacated general": 1,
		"connection.closed ann": 1, "connection.closed bob": 1,
		"user.notified bob 1/1":                       1,
		`message.edited general ann "hello **** bob"`: 1, "reaction.added general bob 👍 1": 1,
	}
	total := 0
	for _, n := range want {
		total += n
	}
	sq.poll(t, 60*time.Second, func() bool { return len(sq.order) >= total })
	time.Sleep(500 * time.Millisecond) // anything extra would come now
	sq.poll(t, 2*time.Second, func() bool { return false })
	if got := sq.descriptions(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events the rule received (distinct eventIds):\n%v\nwant:\n%v", got, want)
	}
	t.Logf("%d distinct events, %d repeats, each valid against its schema", len(sq.order), sq.dups)
	var usage usageDocument
	if resp, err := http.Get(e.baseURL + UsagePath); err == nil {
		_ = json.NewDecoder(resp.Body).Decode(&usage)
		resp.Body.Close()
	}
	if u := usage.Events; u.Put < int64(total) || u.Units < u.Put || u.Matched < u.Put || u.StreamBatches == 0 {
		t.Errorf("usage of the integrations %+v: want at least the %d events put, matched and billed, and the stream's batches", u, total)
	}

	// The webhook receiver verified a signed request for each message.
	deadline := time.Now().Add(30 * time.Second)
	var hooks map[string]events.Event
	var refused int
	for time.Now().Before(deadline) {
		if hooks, refused = rcv.snapshot(); len(hooks) >= 2 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(hooks) != 2 || refused != 0 {
		t.Errorf("webhook receiver verified %d requests (refused %d), want the 2 messages", len(hooks), refused)
	}
	for id, ev := range hooks {
		if _, ok := sq.byID[id]; !ok || ev.DetailType != events.TypeMessageCreated {
			t.Errorf("webhook-id %s (%s) is not a message's eventId", id, ev.DetailType)
		}
	}

	t.Run("web pages and unsigned calls reach neither the services nor the event tail", func(t *testing.T) {
		for _, c := range []struct {
			name, url, origin string
		}{
			{"a page's PutEvents", doc.Services, "http://evil.example"},
			{"an unsigned PutEvents", doc.Services, ""},
			{"a page reading the event tail", doc.EventsURL, "http://evil.example"},
		} {
			req, _ := http.NewRequest(http.MethodPost, c.url, strings.NewReader(`{"Entries":[]}`))
			if c.url == doc.EventsURL {
				req.Method = http.MethodGet
			}
			req.Header.Set("X-Amz-Target", "AWSEvents.PutEvents")
			req.Header.Set("Content-Type", "application/x-amz-json-1.1")
			if c.origin != "" {
				req.Header.Set("Origin", c.origin)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s: %s, want 403", c.name, resp.Status)
			}
		}
	})

	t.Run("an events function killed before it puts the events still yields them", func(t *testing.T) {
		carl := connectAs(t, e, "carl")
		sq.poll(t, 30*time.Second, func() bool { return sq.descriptions()["connection.opened carl"] == 1 })
		gate.arm.Store(true)
		carl.join(t, "kill")
		select {
		case <-gate.held:
		case <-time.After(30 * time.Second):
			t.Fatal("the events function never called PutEvents")
		}
		killed := killFunction(t, doc.PID, in.EventsFunction)
		close(gate.release)
		if killed != 1 {
			t.Fatalf("killed %d events function processes, want the 1 holding the batch", killed)
		}
		sq.poll(t, 60*time.Second, func() bool {
			d := sq.descriptions()
			return d["member.joined kill carl"] == 1 && d["channel.occupied kill"] == 1
		})
		d := sq.descriptions()
		if d["member.joined kill carl"] != 1 || d["channel.occupied kill"] != 1 {
			t.Errorf("after 1 kill: events %v, want carl's join and the channel occupied", d)
		}
		if !strings.Contains(e.log.String(), "[stream] ") {
			t.Error("the emulator did not report the failed batch")
		}
		t.Logf("1 kill between store and emit; the batch was retried; %d PutEvents calls in all", gate.puts.Load())
	})
}

// killFunction SIGKILLs the running instances of the function with logical
// id, found among this process's children by their executable (the
// emulator builds each function to <dir>/<logical id>/bootstrap).
// Only the processes of the emulator emulatorPID (its descendants): a
// test running beside this one may run the same template, whose function
// binaries have the same logical id.
func killFunction(t *testing.T, emulatorPID int, logicalID string) int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for _, ent := range entries {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", ent.Name(), "exe"))
		if err != nil || !strings.HasSuffix(exe, "/"+logicalID+"/bootstrap") || !descendantOf(pid, emulatorPID) {
			continue
		}
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			killed++
		}
	}
	return killed
}

// descendantOf reports whether process pid descends from ancestor (within
// a few generations: the emulator starts its functions itself).
func descendantOf(pid, ancestor int) bool {
	for range 8 {
		stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil {
			return false
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		rest := string(stat[bytes.LastIndexByte(stat, ')')+1:])
		fields := strings.Fields(rest)
		if len(fields) < 2 {
			return false
		}
		ppid, err := strconv.Atoi(fields[1])
		if err != nil || ppid <= 1 {
			return false
		}
		if ppid == ancestor {
			return true
		}
		pid = ppid
	}
	return false
}
