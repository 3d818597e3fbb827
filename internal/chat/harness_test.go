package chat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"wschat/internal/chat"
	"wschat/internal/contract"
	"wschat/internal/dynamo"
	"wschat/internal/dynamo/dynamotest"
	"wschat/internal/fanout"
	"wschat/internal/metrics"
)

func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m)) }

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// gateway is a fake @connections endpoint: it keeps the frames posted to
// each connection, and answers ErrGone for the ids in gone.
type gateway struct {
	mu     sync.Mutex
	frames map[string][]map[string]any
	gone   map[string]bool
}

func newGateway() *gateway {
	return &gateway{frames: map[string][]map[string]any{}, gone: map[string]bool{}}
}

func (g *gateway) Post(_ context.Context, id string, data []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gone[id] {
		return fmt.Errorf("post: %w", chat.ErrGone)
	}
	var f map[string]any
	if err := json.Unmarshal(data, &f); err != nil {
		return fmt.Errorf("gateway: frame is not JSON: %v", err)
	}
	g.frames[id] = append(g.frames[id], f)
	return nil
}

func (g *gateway) setGone(ids ...string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, id := range ids {
		g.gone[id] = true
	}
}

// take returns and forgets the frames posted to id.
func (g *gateway) take(id string) []map[string]any {
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.frames[id]
	delete(g.frames, id)
	return f
}

// count returns how many frames of type typ were posted to id.
func (g *gateway) count(id, typ string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, f := range g.frames[id] {
		if f["type"] == typ {
			n++
		}
	}
	return n
}

// clock is a settable test clock.
type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// env is one chat deployment on a fresh dynalite table: the three
// handlers wired as the lambdas wire them, with a fake gateway, a counting
// DynamoDB client, a test clock and captured logs and metrics.
type env struct {
	t       *testing.T
	cfg     chat.Config
	db      *dynamotest.Counting
	store   *dynamo.Store
	gw      *gateway
	clock   *clock
	logs    *syncBuffer
	metrics *syncBuffer

	connect    *chat.ConnectHandler
	disconnect *chat.DisconnectHandler
	chat       *chat.ChatHandler
}

// fullStore is what the chat function's handlers and its fan-out use.
type fullStore interface {
	chat.ChatStore
	fanout.Store
}

// newEnv builds an env; wrap, if given, wraps the store the chat function
// and its fan-out use (to inject failures).
func newEnv(t *testing.T, cfg chat.Config, wrap ...func(*dynamo.Store) fullStore) *env {
	t.Helper()
	client, table := dynamotest.NewTable(t)
	e := &env{t: t, cfg: cfg, gw: newGateway(), clock: &clock{}, logs: &syncBuffer{}, metrics: &syncBuffer{}}
	e.clock.ns.Store(time.Date(2026, 11, 26, 20, 30, 0, 0, time.UTC).UnixNano())
	e.db = &dynamotest.Counting{API: client}
	e.store = dynamo.New(e.db, table, dynamo.Options{Now: e.clock.Now})
	log := slog.New(chat.ContextHandler{Handler: slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})})
	meter := metrics.New(e.metrics, "WsChat/test")

	var store fullStore = e.store
	for _, w := range wrap {
		store = w(e.store)
	}
	fan := fanout.New(store, e.gw, fanout.Config{Workers: 8, PageSize: 100}, log, meter)
	e.connect = chat.NewConnectHandler(e.store, log)
	e.disconnect = chat.NewDisconnectHandler(e.store, fan, cfg.SendBudget, log)
	e.chat = chat.NewChatHandler(cfg, store, fan, fan, log, meter)
	chat.SetClock(e.connect, e.disconnect, e.chat, e.clock.Now)
	return e
}

// fixture loads testdata/<name>.json.
func fixture(t *testing.T, name string) events.APIGatewayWebsocketProxyRequest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var req events.APIGatewayWebsocketProxyRequest
	if err := json.Unmarshal(b, &req); err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
	return req
}

// user returns an authorizer context as API Gateway delivers it.
func user(id, name string) map[string]any {
	return map[string]any{"principalId": id, "userId": id, "userName": name}
}

// open connects id as the user of auth (nil: anonymous).
func (e *env) open(id string, auth map[string]any) {
	e.t.Helper()
	req := fixture(e.t, "connect")
	req.RequestContext.ConnectionID = id
	req.RequestContext.Authorizer = auth
	if auth == nil {
		req.RequestContext.Authorizer = nil
	}
	resp, err := e.connect.Handle(e.t.Context(), req)
	if err != nil || resp.StatusCode != 200 {
		e.t.Fatalf("connect %s = %d, %v; want 200", id, resp.StatusCode, err)
	}
}

var requestSeq atomic.Int64

// do sends body on connection id (authorized as auth) to the chat function.
func (e *env) do(id string, auth map[string]any, body string) (events.APIGatewayProxyResponse, error) {
	e.t.Helper()
	req := fixture(e.t, "message")
	req.RequestContext.ConnectionID = id
	req.RequestContext.Authorizer = auth
	if auth == nil {
		req.RequestContext.Authorizer = nil
	}
	req.RequestContext.RequestID = fmt.Sprintf("req-%d", requestSeq.Add(1))
	var probe struct {
		Action string `json:"action"`
	}
	// API Gateway's route selection: a known action picks its route,
	// anything else goes to $default.
	req.RequestContext.RouteKey = "$default"
	if json.Unmarshal([]byte(body), &probe) == nil && slices.Contains(contract.Actions, probe.Action) {
		req.RequestContext.RouteKey = probe.Action
	}
	req.Body = body
	return e.chat.Handle(e.t.Context(), req)
}

// must sends body and fails the test unless the handler answered 200.
func (e *env) must(id string, auth map[string]any, body string) {
	e.t.Helper()
	resp, err := e.do(id, auth, body)
	if err != nil || resp.StatusCode != 200 {
		e.t.Fatalf("%s on %s = %d, %v; want 200", body, id, resp.StatusCode, err)
	}
}

// joinAll connects ids (one user each) and joins them to channel,
// discarding their frames.
func (e *env) joinAll(channel string, ids ...string) {
	e.t.Helper()
	for _, id := range ids {
		e.open(id, user("u-"+id, "User "+id))
		e.must(id, user("u-"+id, "User "+id), `{"action":"join","channel":"`+channel+`"}`)
	}
	for _, id := range ids {
		e.gw.take(id)
	}
}

// history returns the channel's stored messages (read straight from the
// store, bypassing the handlers).
func (e *env) history(channel string) []chat.Message {
	e.t.Helper()
	msgs, _, _, err := e.store.History(e.t.Context(), channel, 0, 100)
	if err != nil {
		e.t.Fatal(err)
	}
	return msgs
}
