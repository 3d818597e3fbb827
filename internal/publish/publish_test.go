package publish_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/dynamo"
	"github.com/wschat/wschat/internal/dynamo/dynamotest"
	"github.com/wschat/wschat/internal/fanout"
	"github.com/wschat/wschat/internal/publish"
	"github.com/wschat/wschat/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m)) }

// gateway is a hand-written @connections fake: it records each frame a
// connection receives and each close; ids in gone answer 410.
type gateway struct {
	mu     sync.Mutex
	frames map[string][]string
	closed []string
	gone   map[string]bool
}

func (g *gateway) Post(_ context.Context, id string, frame []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gone[id] {
		return fmt.Errorf("post: %w", chat.ErrGone)
	}
	g.frames[id] = append(g.frames[id], string(frame))
	return nil
}

func (g *gateway) Delete(_ context.Context, id string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gone[id] {
		return fmt.Errorf("delete: %w", chat.ErrGone)
	}
	g.closed = append(g.closed, id)
	return nil
}

func (g *gateway) received(id string) []map[string]any {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []map[string]any
	for _, f := range g.frames[id] {
		var m map[string]any
		_ = json.Unmarshal([]byte(f), &m)
		out = append(out, m)
	}
	return out
}

type env struct {
	t     *testing.T
	store *dynamo.Store
	db    *dynamotest.Counting
	gw    *gateway
	clock *testkit.Clock
	h     *publish.Handler
}

func newEnv(t *testing.T) *env {
	t.Helper()
	client, table := dynamotest.NewTable(t)
	e := &env{t: t, gw: &gateway{frames: map[string][]string{}, gone: map[string]bool{}}, clock: testkit.NewClock()}
	e.db = &dynamotest.Counting{API: client}
	e.store = dynamo.New(e.db, table, dynamo.Options{Now: e.clock.Now, SeqBase: dynamo.FromOne})
	log := slog.New(slog.DiscardHandler)
	fan := fanout.New(e.store, e.gw, fanout.Config{Workers: 4, PageSize: 100}, log, nil)
	e.h = publish.New(publish.Config{
		Names:     map[string]string{"arn:aws:iam::111122223333:role/OrderService": "Orders"},
		Retention: 24 * time.Hour,
	}, e.store, e.gw, fan, log, nil)
	e.h.SetClock(e.clock.Now)
	return e
}

// connect registers connection id of user, member of channels.
func (e *env) connect(id, user string, channels ...string) {
	e.t.Helper()
	ctx := e.t.Context()
	c := chat.Connection{ID: id, Identity: chat.Identity{UserID: user, UserName: strings.ToUpper(user)},
		ConnectedAt: e.clock.Now(), ExpiresAt: e.clock.Now().Add(chat.ConnectionTTL)}
	if err := e.store.PutConnection(ctx, c); err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.PutUserConnection(ctx, c); err != nil {
		e.t.Fatal(err)
	}
	for _, ch := range channels {
		if _, err := e.store.AddMember(ctx, chat.Member{Channel: ch, ConnectionID: id, Identity: c.Identity, JoinedAt: e.clock.Now()}, 20); err != nil {
			e.t.Fatal(err)
		}
	}
}

const roleSession = "arn:aws:sts::111122223333:assumed-role/OrderService/i-0abc"

// request builds an event as API Gateway sends it for an AWS_IAM route.
func request(routeKey string, params map[string]string, body string) events.APIGatewayV2HTTPRequest {
	return events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: routeKey, PathParameters: params, Body: body,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey: routeKey, RequestID: "r1",
			Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				IAM: &events.APIGatewayV2HTTPRequestContextAuthorizerIAMDescription{UserARN: roleSession, AccountID: "111122223333"},
			},
		},
	}
}

func (e *env) do(ev events.APIGatewayV2HTTPRequest) (int, map[string]any) {
	e.t.Helper()
	resp, err := e.h.Handle(e.t.Context(), ev)
	if err != nil {
		e.t.Fatalf("Handle returned a function error: %v", err)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		e.t.Fatalf("answer %d is not JSON: %q", resp.StatusCode, resp.Body)
	}
	if ct := resp.Headers["Content-Type"]; ct != "application/json" {
		e.t.Errorf("Content-Type = %q, want application/json", ct)
	}
	return resp.StatusCode, body
}

func channelMsg(channel, body string) events.APIGatewayV2HTTPRequest {
	return request(contract.PublishRouteChannelMessage, map[string]string{"channel": channel}, body)
}

func TestPublishStoresFansOutAndIsIdempotent(t *testing.T) {
	e := newEnv(t)
	e.connect("a1", "ann", "general")
	e.connect("b1", "bob", "general")
	e.connect("c1", "carol", "random")

	status, body := e.do(channelMsg("general", `{"text":"order 42 shipped","id":"order-42"}`))
	if status != 200 || body["seq"] != float64(1) || body["id"] != "order-42" || body["channel"] != "general" {
		t.Fatalf("publish = %d %v, want 200 with seq 1", status, body)
	}
	for _, id := range []string{"a1", "b1"} {
		got := e.gw.received(id)
		if len(got) != 1 || got[0]["type"] != "message" || got[0]["from"] != "server" || got[0]["userName"] != "Orders" ||
			got[0]["text"] != "order 42 shipped" || got[0]["seq"] != float64(1) {
			t.Errorf("%s received %v, want one message from server \"Orders\" seq 1", id, got)
		}
	}
	if got := e.gw.received("c1"); len(got) != 0 {
		t.Errorf("c1 (not a member) received %v, want nothing", got)
	}
	msgs, _, _, err := e.store.History(t.Context(), "general", 0, 10)
	if err != nil || len(msgs) != 1 || msgs[0].From != chat.FromServer || msgs[0].UserName != "Orders" {
		t.Fatalf("history = %+v, %v; want the published message from the server", msgs, err)
	}

	// A retry (another session of the same role) stores no second message.
	// Since issue #23 it takes a seq before its claim finds the first
	// attempt's (and settles that seq at once with a tombstone), and in a
	// channel this small fans out again: a1 drops the seq it has.
	e.db.Reset()
	status, body = e.do(channelMsg("general", `{"text":"order 42 shipped","id":"order-42"}`))
	if status != 200 || body["seq"] != float64(1) {
		t.Fatalf("retry = %d %v, want 200 with the same seq 1", status, body)
	}
	st := e.db.Stats()
	for pk := range st.WritePKs {
		if pk != "CTR#general" && pk != "HIST#general" && !strings.HasPrefix(pk, "IDEM#general#order-42#") {
			t.Errorf("retry wrote to %s, want only the counter, its settled seq and the refused claim", pk)
		}
	}
	if msgs, _, _, _ := e.store.History(t.Context(), "general", 0, 10); len(msgs) != 1 {
		t.Errorf("history after retry has %d messages, want 1", len(msgs))
	}
	if got := e.gw.received("a1"); len(got) != 2 {
		t.Errorf("a1 received %d frames after the retry, want 2 (both seq 1)", len(got))
	}
	// The same id with another text is a client mistake.
	if status, body = e.do(channelMsg("general", `{"text":"different","id":"order-42"}`)); status != 400 || body["code"] != "invalid_field" {
		t.Errorf("reused id = %d %v, want 400 invalid_field", status, body)
	}
	// A new id takes the next seq (2 and 3 went to the retries, settled).
	if status, body = e.do(channelMsg("general", `{"text":"order 43 shipped","id":"order-43"}`)); status != 200 || body["seq"] != float64(4) {
		t.Errorf("second publish = %d %v, want seq 4", status, body)
	}
}

func TestNoticeReachesEveryConnectionOfTheUserOnly(t *testing.T) {
	e := newEnv(t)
	e.connect("a1", "ann")
	e.connect("a2", "ann", "general")
	e.connect("a3", "ann")
	e.connect("b1", "bob", "general")
	e.gw.gone["a3"] = true // its $disconnect never ran

	status, body := e.do(request(contract.PublishRouteUserMessage, map[string]string{"userId": "ann"}, `{"text":"your export is ready","id":"n1"}`))
	if status != 200 || body["connections"] != float64(3) || body["delivered"] != float64(2) {
		t.Fatalf("notice = %d %v, want 200, 3 connections, 2 delivered", status, body)
	}
	for _, id := range []string{"a1", "a2"} {
		got := e.gw.received(id)
		if len(got) != 1 || got[0]["type"] != "notice" || got[0]["text"] != "your export is ready" || got[0]["userName"] != "Orders" || got[0]["id"] != "n1" {
			t.Errorf("%s received %v, want one notice", id, got)
		}
	}
	if got := e.gw.received("b1"); len(got) != 0 {
		t.Errorf("bob received %v, want nothing", got)
	}
	conns, _ := e.store.ConnectionsOfUser(t.Context(), "ann")
	if ids := ids(conns); !slices.Equal(ids, []string{"a1", "a2"}) {
		t.Errorf("after the 410 ann's connections = %v, want the gone a3 cleaned up", ids)
	}
	status, body = e.do(request(contract.PublishRouteUserMessage, map[string]string{"userId": "nobody"}, `{"text":"hi"}`))
	if status != 200 || body["connections"] != float64(0) {
		t.Errorf("notice to a user without connections = %d %v, want 200 and 0", status, body)
	}
}

func TestDisconnectClosesEveryConnectionOfTheUser(t *testing.T) {
	e := newEnv(t)
	e.connect("a1", "ann", "general")
	e.connect("a2", "ann")
	e.connect("b1", "bob", "general")
	status, body := e.do(request(contract.PublishRouteUserConnections, map[string]string{"userId": "ann"}, ""))
	if status != 200 || body["closed"] != float64(2) {
		t.Fatalf("disconnect = %d %v, want 200 and 2 closed", status, body)
	}
	e.gw.mu.Lock()
	closed := slices.Sorted(slices.Values(e.gw.closed))
	e.gw.mu.Unlock()
	if !slices.Equal(closed, []string{"a1", "a2"}) {
		t.Errorf("closed %v, want ann's a1 and a2 only", closed)
	}
}

func ids(cs []chat.Connection) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID)
	}
	slices.Sort(out)
	return out
}
