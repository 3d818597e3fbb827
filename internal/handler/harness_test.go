package handler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/dynamo"
	"github.com/wschat/wschat/internal/dynamo/dynamotest"
	"github.com/wschat/wschat/internal/fanout"
	"github.com/wschat/wschat/internal/handler"
	"github.com/wschat/wschat/internal/logging"
	"github.com/wschat/wschat/internal/metrics"
	"github.com/wschat/wschat/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m)) }

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

// env is one chat deployment on a fresh dynalite table: the three
// handlers wired as the lambdas wire them, with a fake gateway, a counting
// DynamoDB client, a test clock and captured logs and metrics.
type env struct {
	t       *testing.T
	cfg     handler.Config
	table   string
	db      *dynamotest.Counting
	store   *dynamo.Store
	gw      *gateway
	clock   *testkit.Clock
	logs    *testkit.Buffer
	metrics *testkit.Buffer

	connect    *handler.Connect
	disconnect *handler.Disconnect
	chat       *handler.Chat
	fan        *fanout.Fanout
}

// fullStore is what the chat function's handlers and its fan-out use.
type fullStore interface {
	handler.ChatStore
	fanout.Store
}

// newEnv builds an env; wrap, if given, wraps the store the chat function
// and its fan-out use (to inject failures).
func newEnv(t *testing.T, cfg handler.Config, wrap ...func(*dynamo.Store) fullStore) *env {
	t.Helper()
	client, table := dynamotest.NewTable(t)
	e := &env{t: t, cfg: cfg, table: table, gw: newGateway(), clock: testkit.NewClock(), logs: &testkit.Buffer{}, metrics: &testkit.Buffer{}}
	e.clock.Set(time.Date(2026, 11, 26, 20, 30, 0, 0, time.UTC)) // the day of the testdata events
	e.db = &dynamotest.Counting{API: client}
	// Seqs from 1, as these tests count them (internal/dynamo's
	// TestCounterExpiresAndAComebackStaysAbove tests the time base).
	e.store = dynamo.New(e.db, table, dynamo.Options{Now: e.clock.Now, SeqBase: dynamo.FromOne})
	log := slog.New(logging.Handler{Handler: slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})})
	meter := metrics.New(e.metrics, "WsChat/test")

	var store fullStore = e.store
	for _, w := range wrap {
		store = w(e.store)
	}
	fan := fanout.New(store, e.gw, fanout.Config{Workers: 8, PageSize: 100}, log, meter)
	e.connect = handler.NewConnect(cfg, e.store, log, meter)
	e.disconnect = handler.NewDisconnect(e.store, fan, cfg.SendBudget, log)
	e.chat = handler.NewChat(cfg, store, fan, fan, log, meter)
	e.fan = fan
	handler.SetClock(e.connect, e.disconnect, e.chat, e.clock.Now)
	return e
}

// metricCount counts a metric value in every line written: a request's
// metrics ride on its log line when it writes one (internal/metrics), and
// are written alone otherwise.
func (e *env) metricCount(value string) int {
	return strings.Count(e.logs.String(), value) + strings.Count(e.metrics.String(), value)
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
