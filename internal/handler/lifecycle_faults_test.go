package handler_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/dynamo"
)

// stateStore wraps the store to interfere with WriteState, the step that
// applies a change to its target: before runs first (it may make another
// request); crashAfter/crashBefore make the next call fail after or before
// writing, as a handler killed at that point would.
type stateStore struct {
	*dynamo.Store
	mu                      sync.Mutex
	crashAfter, crashBefore int
	before                  func()
}

func (s *stateStore) WriteState(ctx context.Context, channel string, obs, next chat.Message, seq int64) (chat.Message, error) {
	s.mu.Lock()
	before, after, early := s.before, s.crashAfter > 0, s.crashBefore > 0
	s.before = nil
	if after {
		s.crashAfter--
	}
	if early {
		s.crashBefore--
	}
	s.mu.Unlock()
	if before != nil {
		before()
	}
	if early {
		return chat.Message{}, errors.New("crashed before applying")
	}
	got, err := s.Store.WriteState(ctx, channel, obs, next, seq)
	if after && err == nil {
		return chat.Message{}, errors.New("crashed after applying")
	}
	return got, err
}

func newStateEnv(t *testing.T) (*env, *stateStore) {
	var ss *stateStore
	e := newEnv(t, testConfig(), func(s *dynamo.Store) fullStore {
		ss = &stateStore{Store: s}
		return ss
	})
	return e, ss
}

// A change applied to its message by an attempt that died before fanning
// it out is completed by the retry: the same seq, delivered once.
func TestChangeAppliedThenCrashedIsCompletedByItsRetry(t *testing.T) {
	e, ss := newStateEnv(t)
	e.joinAll("general", "a", "b")
	a := user("u-a", "User a")
	seq := e.sendAs("a", a, "general", "draft", "m1")
	ss.crashAfter = 1
	body := fmt.Sprintf(`{"action":"edit","channel":"general","seq":%d,"text":"final","clientId":"e1"}`, seq)
	if resp, err := e.do("a", a, body); err == nil || resp.StatusCode != 500 {
		t.Fatalf("crashed attempt = %d, %v; want a failure", resp.StatusCode, err)
	}
	if n := e.gw.count("b", "update"); n != 0 {
		t.Fatalf("b got %d updates from the crashed attempt", n)
	}
	ack := one(t, e.answer("a", a, body), "ack")
	if ack["seq"] != float64(seq+1) {
		t.Errorf("retry acked %v, want the first attempt's seq %d", ack["seq"], seq+1)
	}
	up := one(t, e.gw.take("b"), "update")
	if up["message"].(map[string]any)["text"] != "final" {
		t.Errorf("b got %v", up)
	}
	if got := stateOf(t, e.historyOf("b", user("u-b", "User b"), "general", 0), seq); got["text"] != "final" || got["rev"] != float64(seq+1) {
		t.Errorf("history = %v", got)
	}
}

// A change stored but never applied, and never retried: history waits
// for it during the grace period, then fences its message and voids it,
// so that every client passes its seq; a late retry is renumbered above
// and applied there, never below what clients have passed.
func TestChangeNeverAppliedIsVoidedAndItsLateRetryRenumbered(t *testing.T) {
	e, ss := newStateEnv(t)
	e.joinAll("general", "a", "b")
	a, b := user("u-a", "User a"), user("u-b", "User b")
	seq := e.sendAs("a", a, "general", "draft", "m1")
	ss.crashBefore = 1
	body := fmt.Sprintf(`{"action":"edit","channel":"general","seq":%d,"text":"final","clientId":"e1"}`, seq)
	if _, err := e.do("a", a, body); err == nil {
		t.Fatal("the crashed attempt succeeded")
	}
	change := seq + 1
	if h := e.historyOf("b", b, "general", 0); h["through"] != float64(seq) || h["updates"] != nil {
		t.Errorf("within the grace period: through %v, updates %v; want through %d and the change waited for", h["through"], h["updates"], seq)
	}
	e.clock.Advance(6 * time.Second)
	h := e.historyOf("b", b, "general", 0)
	if h["through"] != float64(change) || h["updates"] != nil || stateOf(t, h, seq)["text"] != "draft" {
		t.Errorf("after the grace period: %v; want the change's seq settled as void and the message unchanged", h)
	}
	ack := one(t, e.answer("a", a, body), "ack")
	if ack["seq"] == float64(change) {
		t.Fatalf("the late retry was applied at its voided seq %d", change)
	}
	h = e.historyOf("b", b, "general", float64ToInt(h["through"]))
	if ups := h["updates"].([]any); len(ups) != 1 || ups[0].(map[string]any)["seq"] != ack["seq"] {
		t.Errorf("after the retry: updates %v, want the edit at the renumbered seq %v", ups, ack["seq"])
	}
	if got := stateOf(t, h, seq); got["text"] != "final" {
		t.Errorf("state = %v", got)
	}
}

func float64ToInt(v any) int64 { return int64(v.(float64)) }

// A change overtaken between storing and applying (another change of the
// same message was applied with a higher seq) is voided at its seq and
// applied at a new, higher one: the stream's order is the order applied.
func TestOvertakenChangeIsRenumbered(t *testing.T) {
	e, ss := newStateEnv(t)
	e.joinAll("general", "a", "b")
	a, b := user("u-a", "User a"), user("u-b", "User b")
	seq := e.sendAs("a", a, "general", "v0", "m1")
	ss.before = func() {
		// While the first edit is between storing and applying, a second
		// edit (another tab of the same author) goes all the way.
		e.must("a", a, fmt.Sprintf(`{"action":"edit","channel":"general","seq":%d,"text":"v2","clientId":"e2"}`, seq))
	}
	var ack map[string]any
	for _, f := range e.answer("a", a, fmt.Sprintf(`{"action":"edit","channel":"general","seq":%d,"text":"v1","clientId":"e1"}`, seq)) {
		if f["type"] == "ack" && f["clientId"] == "e1" {
			ack = f
		}
	}
	if ack["seq"] != float64(seq+3) {
		t.Errorf("first edit acked as %v, want renumbered to %d (its seq %d overtaken by %d)", ack["seq"], seq+3, seq+1, seq+2)
	}
	var order []string
	for _, f := range e.gw.take("b") {
		if f["type"] == "update" {
			order = append(order, fmt.Sprint(f["seq"], ":", f["message"].(map[string]any)["text"]))
		}
	}
	if want := fmt.Sprintf("[%d:v2 %d:v1]", seq+2, seq+3); fmt.Sprint(order) != want {
		t.Errorf("b got updates %v, want %s", order, want)
	}
	h := e.historyOf("b", b, "general", 0)
	if got := stateOf(t, h, seq); got["text"] != "v1" || got["rev"] != float64(seq+3) {
		t.Errorf("history = %v", got)
	}
	if ups := h["updates"].([]any); len(ups) != 2 {
		t.Errorf("history updates = %v, want the two applied edits (the voided seq holds nothing)", ups)
	}
}
