package handler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/handler"
)

// closer is a hand-written handler.Closer that records what it closed.
type closer struct {
	mu     sync.Mutex
	closed []string
}

func (c *closer) Delete(_ context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = append(c.closed, id)
	return nil
}

func (c *closer) ids() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.closed...)
}

// connectStatus runs $connect for id as auth and returns the status and body.
func (e *env) connectStatus(id string, auth map[string]any) (int, string) {
	e.t.Helper()
	req := fixture(e.t, "connect")
	req.RequestContext.ConnectionID = id
	req.RequestContext.Authorizer = auth
	resp, err := e.connect.Handle(e.t.Context(), req)
	if err != nil {
		e.t.Fatalf("connect %s: %v", id, err)
	}
	return resp.StatusCode, resp.Body
}

func (e *env) disconnectID(id string, auth map[string]any) {
	e.t.Helper()
	req := fixture(e.t, "disconnect")
	req.RequestContext.ConnectionID = id
	req.RequestContext.Authorizer = auth
	if _, err := e.disconnect.Handle(e.t.Context(), req); err != nil {
		e.t.Fatalf("disconnect %s: %v", id, err)
	}
}

func TestConnectionCapPerUser(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConnectionsPerUser = 3
	e := newEnv(t, cfg)
	ann := user("ann", "Ann")
	var got []int
	for i := range 5 {
		status, body := e.connectStatus(fmt.Sprintf("a%d", i), ann)
		got = append(got, status)
		if status == 429 {
			var ev struct{ Type, Code, Message string }
			if err := json.Unmarshal([]byte(body), &ev); err != nil || ev.Type != "error" || ev.Code != "rate_limited" || !strings.Contains(ev.Message, "3 open connections") {
				t.Errorf("429 body = %q (%v), want an error frame a client can show", body, err)
			}
		}
	}
	if want := "[200 200 200 429 429]"; fmt.Sprint(got) != want {
		t.Errorf("5 connects of one user with cap 3 = %v, want %s", got, want)
	}
	if live, _ := e.store.ConnectionsOfUser(t.Context(), "ann"); len(live) != 3 {
		t.Errorf("user index holds %d live connections, want 3 (refused ones removed)", len(live))
	}
	if _, err := e.store.Connection(t.Context(), "a3"); err == nil {
		t.Error("a refused connection is still registered")
	}
	if status, _ := e.connectStatus("b0", user("bob", "Bob")); status != 200 {
		t.Errorf("another user's connect = %d, want 200", status)
	}
	e.disconnectID("a0", ann)
	if status, _ := e.connectStatus("a9", ann); status != 200 {
		t.Errorf("connect after a disconnect = %d, want 200", status)
	}
	if n := e.metricCount(`"ConnectionsRefused":1`); n != 2 {
		t.Errorf("ConnectionsRefused emitted %d times, want 2", n)
	}
}

// TestUserRateAcrossConnections: 5 connections of one user share one
// bucket; the per-connection limit alone would let all 20 requests through.
func TestUserRateAcrossConnections(t *testing.T) {
	cfg := testConfig()
	cfg.UserRatePerSecond, cfg.UserRateBurst = 1, 5
	e := newEnv(t, cfg)
	ann := user("ann", "Ann")
	for i := range 5 {
		e.open(fmt.Sprintf("a%d", i), ann)
	}
	limited, served := 0, 0
	for round := range 4 {
		for i := range 5 {
			id := fmt.Sprintf("a%d", i)
			e.must(id, ann, fmt.Sprintf(`{"action":"history","channel":"c%d"}`, round))
			for _, f := range e.gw.take(id) {
				if f["code"] == "rate_limited" {
					limited++
				} else {
					served++ // not_member: it got past the limits
				}
			}
		}
	}
	if limited != 15 || served != 5 {
		t.Errorf("20 requests of one user at burst 5: %d served, %d rate_limited; want 5, 15", served, limited)
	}
	e.open("b0", user("bob", "Bob"))
	e.must("b0", user("bob", "Bob"), `{"action":"history","channel":"c0"}`)
	if f := e.gw.take("b0"); len(f) != 1 || f[0]["code"] == "rate_limited" {
		t.Errorf("another user was limited: %v", f)
	}
}

// TestEveryFrameCounts: pings and garbage spend the in-memory frame budget
// (a frame past it costs no DynamoDB call), a flood is answered with at
// most one rate_limited frame a second, and a connection that keeps going
// is closed.
func TestEveryFrameCounts(t *testing.T) {
	cfg := testConfig()
	cfg.FrameRatePerSecond, cfg.FrameBurst = 1, 5
	e := newEnv(t, cfg)
	cl := &closer{}
	e.chat.CloseWith(cl)
	e.open("c1", nil)
	e.open("c2", nil)
	e.db.Reset()
	frames := []string{`{"action":"ping"}`, `not json`, `{"action":"nope"}`, "\x00\x01"}
	for i := range 40 {
		e.must("c1", nil, frames[i%len(frames)])
	}
	// The 3 garbage frames within the frame budget spent the connection's
	// and the user's shared budgets, both on the user's item: one
	// UpdateItem each (the first in the fresh form, the later ones in the
	// busy form the first answer predicted), 3 in all; the 35 frames past
	// the frame budget and the pings spent nothing there.
	if calls := e.db.Stats().Calls; calls["UpdateItem"] != 3 || len(calls) != 1 {
		t.Errorf("40 pings and garbage frames made DynamoDB calls %v, want 3 UpdateItems (3 frames, one write each for both budgets)", calls)
	}
	got := e.gw.take("c1")
	pongs, limited, other := 0, 0, 0
	for _, f := range got {
		switch {
		case f["type"] == "pong":
			pongs++
		case f["code"] == "rate_limited":
			limited++
		default:
			other++
		}
	}
	// The first 5 frames (ping, garbage, unknown, garbage, ping) are served;
	// 35 are refused, answered once.
	if pongs != 2 || other != 3 || limited != 1 {
		t.Errorf("answers: %d pongs, %d other errors, %d rate_limited; want 2, 3, 1", pongs, other, limited)
	}
	if n := e.metricCount(`"FramesDropped":1`); n != 35 {
		t.Errorf("FramesDropped emitted %d times, want 35", n)
	}
	if len(cl.ids()) != 0 {
		t.Errorf("closed %v after 35 strikes, want none before %d", cl.ids(), 50)
	}
	e.must("c2", nil, `{"action":"ping"}`)
	if f := e.gw.take("c2"); len(f) != 1 || f[0]["type"] != "pong" {
		t.Errorf("a bystander's ping got %v, want a pong", f)
	}
	for range 30 {
		e.must("c1", nil, `{"action":"ping"}`)
	}
	if ids := cl.ids(); len(ids) != 1 || ids[0] != "c1" {
		t.Errorf("closed %v, want exactly [c1] once", ids)
	}
	if !strings.Contains(e.logs.String(), "closing connection: it kept exceeding its limits") ||
		e.metricCount(`"ConnectionsClosed":1`) != 1 {
		t.Error("closing was not logged or counted once")
	}
	// The budget refills: after a pause a frame is served again.
	e.gw.take("c1")
	e.clock.Advance(10 * time.Second)
	e.must("c1", nil, `{"action":"ping"}`)
	if f := e.gw.take("c1"); len(f) != 1 || f[0]["type"] != "pong" {
		t.Errorf("after backing off got %v, want a pong", f)
	}
}

// TestInvalidFramesSpendTheSharedBudgets: frames that fail validation
// (issue #25, finding 5: a blank send returned before the shared rate
// limits, so across instances only the per-instance frame budget counted
// it) cost what valid requests cost: past the connection's and the user's
// burst they are rate_limited, and they count towards closing.
func TestInvalidFramesSpendTheSharedBudgets(t *testing.T) {
	cfg := testConfig()
	cfg.RatePerSecond, cfg.RateBurst = 1, 5
	cfg.UserRatePerSecond, cfg.UserRateBurst = 1, 8
	cfg.FrameRatePerSecond = 0 // as if every frame landed on another instance
	e := newEnv(t, cfg)
	ann := user("ann", "Ann")
	e.open("a1", ann)
	e.open("a2", ann)
	count := func(id string) (invalid, limited int) {
		for _, f := range e.gw.take(id) {
			switch f["code"] {
			case "rate_limited":
				limited++
			case "invalid_field", "invalid_json", "unknown_action":
				invalid++
			}
		}
		return invalid, limited
	}
	bad := []string{`{"action":"send","channel":"general","text":"   ","clientId":"c1"}`, `{"action":"send","channel":"general","clientId":"c1"}`, `{"action":"nope"}`, `not json`}
	for i := range 10 {
		e.must("a1", ann, bad[i%len(bad)])
	}
	if inv, lim := count("a1"); inv != 5 || lim != 5 {
		t.Errorf("10 invalid frames on one connection at burst 5: %d invalid, %d rate_limited; want 5, 5", inv, lim)
	}
	// The user's budget (8) is shared: a second connection gets 3 more.
	for range 5 {
		e.must("a2", ann, bad[0])
	}
	if inv, lim := count("a2"); inv != 3 || lim != 2 {
		t.Errorf("the user's second connection: %d invalid, %d rate_limited; want 3, 2 (user burst 8)", inv, lim)
	}
}

var _ handler.Closer = (*closer)(nil)

// TestChannelRateBoundsOneChannelsDeliveries: sends into one channel from
// many users (each within its own limits) are held to the channel's
// delivery rate, counted per member (issue #25, finding 5: a channel had
// no rate, so its members could ask for the account's whole @connections
// budget); another channel is not affected.
func TestChannelRateBoundsOneChannelsDeliveries(t *testing.T) {
	cfg := testConfig()
	cfg.ChannelRate = 100 // deliveries a second
	e := newEnv(t, cfg)
	members := ids("m", 20)
	e.joinAll("crowd", members...)
	e.joinAll("quiet", "q000")
	acked, limited := 0, 0
	// 20 members, one send each at one instant: the first costs one member
	// (this process has not broadcast to crowd yet) and shows it 20; each
	// later one costs 20 ÷ 100 = 200 ms, within the 1 s burst.
	for i, id := range members {
		e.must(id, user("u-"+id, "User "+id), fmt.Sprintf(`{"action":"send","channel":"crowd","text":"hi %d","clientId":"c%d"}`, i, i))
		for _, f := range e.gw.take(id) {
			switch {
			case f["type"] == "ack":
				acked++
			case f["code"] == "rate_limited" && strings.Contains(f["message"].(string), "channel crowd"):
				limited++
			}
		}
	}
	if acked != 6 || limited != 14 {
		t.Errorf("20 sends into a 20-member channel at 100 deliveries/s: %d acked, %d rate_limited; want 6, 14", acked, limited)
	}
	e.must("q000", user("u-q000", "User q000"), `{"action":"send","channel":"quiet","text":"still fine","clientId":"q1"}`)
	if f := e.gw.take("q000"); countType(f, "ack") != 1 {
		t.Errorf("another channel's send got %v, want an ack", f)
	}
	// A refused send is retried later with the same clientId and stored once.
	e.clock.Advance(2 * time.Second)
	id := members[19]
	e.must(id, user("u-"+id, "User "+id), `{"action":"send","channel":"crowd","text":"hi 19","clientId":"c19"}`)
	if f := e.gw.take(id); countType(f, "ack") != 1 {
		t.Errorf("the retry after the channel's rate refilled got %v, want an ack", f)
	}
	if n := len(e.history("crowd")); n != 7 {
		t.Errorf("crowd holds %d messages, want 7", n)
	}
}
