package handler_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/dynamo"
	"github.com/wschat/wschat/internal/handler"
)

// historyOf asks history after seq after on connection id and returns the
// one history frame it answers with.
func (e *env) historyOf(id string, auth map[string]any, channel string, after int64) map[string]any {
	e.t.Helper()
	e.gw.take(id)
	e.must(id, auth, fmt.Sprintf(`{"action":"history","channel":%q,"after":%d}`, channel, after))
	f := e.gw.take(id)
	if len(f) != 1 || f[0]["type"] != "history" {
		e.t.Fatalf("history after %d: frames %v, want one history frame", after, f)
	}
	return f[0]
}

// summary renders the settling fields and the seqs of a history frame.
func summary(f map[string]any) string {
	var seqs []string
	for _, m := range f["messages"].([]any) {
		seqs = append(seqs, fmt.Sprint(m.(map[string]any)["seq"]))
	}
	return fmt.Sprintf("seqs [%s] through %v oldest %v truncated %v after %v",
		strings.Join(seqs, ","), f["through"], f["oldest"], f["truncated"], f["after"])
}

func ackSeq(t *testing.T, frames []map[string]any) []float64 {
	t.Helper()
	var got []float64
	for _, f := range frames {
		if f["type"] == "ack" {
			got = append(got, f["seq"].(float64))
		}
	}
	return got
}

// A send that took seq 2 and failed before storing leaves a hole. History
// waits out the grace period, then settles the seq with a tombstone
// (through passes it); the retry of that send finds the tombstone and is
// renumbered: acked once, delivered once, stored once, never lost.
func TestFailedSendSeqIsSettledAndItsRetryRenumbered(t *testing.T) {
	var flaky *flakyStore
	e := newEnv(t, testConfig(), func(s *dynamo.Store) fullStore {
		flaky = &flakyStore{Store: s}
		return flaky
	})
	e.joinAll("general", "a", "b")
	a, b := user("u-a", "User a"), user("u-b", "User b")
	e.must("a", a, `{"action":"send","channel":"general","text":"first","clientId":"k0"}`)
	flaky.step = "PutMessage"
	if resp, err := e.do("a", a, `{"action":"send","channel":"general","text":"late","clientId":"k1"}`); err == nil || resp.StatusCode != 500 {
		t.Fatalf("failing send = %d, %v; want 500", resp.StatusCode, err)
	}
	e.must("a", a, `{"action":"send","channel":"general","text":"second","clientId":"k2"}`)
	e.gw.take("b")

	steps := []struct {
		name    string
		advance time.Duration
		want    string
	}{
		{"within the grace period the hole is not settled", 0, "seqs [1,3] through 1 oldest 1 truncated false after 0"},
		{"past the grace period seq 1 is tombstoned", handler.DefaultSettleGrace + time.Second, "seqs [1,3] through 3 oldest 1 truncated false after 0"},
	}
	for _, s := range steps {
		e.clock.Advance(s.advance)
		if got := summary(e.historyOf("b", b, "general", 0)); got != s.want {
			t.Errorf("%s: history = %s, want %s", s.name, got, s.want)
		}
	}

	e.gw.take("a")
	e.must("a", a, `{"action":"send","channel":"general","text":"late","clientId":"k1"}`)
	// The retry took seq 4 before its claim said seq 2 (settled meanwhile):
	// it settles 4 itself and is renumbered to 5.
	if got := ackSeq(t, e.gw.take("a")); len(got) != 1 || got[0] != 5 {
		t.Errorf("retry acks = %v, want one ack with seq 5 (renumbered past the tombstone)", got)
	}
	if n := e.gw.count("b", "message"); n != 1 {
		t.Errorf("b got %d message frames for the retry, want 1", n)
	}
	if got, want := summary(e.historyOf("b", b, "general", 0)), "seqs [1,3,5] through 5 oldest 1 truncated false after 0"; got != want {
		t.Errorf("history after the retry = %s, want %s", got, want)
	}
	// Another retry stores nothing: the same seq acked (its own seq 6
	// settled at once).
	e.must("a", a, `{"action":"send","channel":"general","text":"late","clientId":"k1"}`)
	if got := ackSeq(t, e.gw.take("a")); len(got) != 1 || got[0] != 5 {
		t.Errorf("second retry acks = %v, want seq 5", got)
	}
	if h := e.history("general"); len(h) != 3 || h[2].Seq != 5 || h[2].Text != "late" || h[2].ClientID != "k1" {
		t.Errorf("stored messages = %+v, want seqs 1, 3 and the renumbered k1 at 5", h)
	}
	if got, want := summary(e.historyOf("b", b, "general", 0)), "seqs [1,3,5] through 6 oldest 1 truncated false after 0"; got != want {
		t.Errorf("history after the second retry = %s, want %s (its seq settled at once)", got, want)
	}
}

// gateStore holds PutMessage until released, as a send whose write is slow.
type gateStore struct {
	*dynamo.Store
	entered chan struct{}
	release chan struct{}
}

func (s *gateStore) PutMessage(ctx context.Context, m chat.Message) error {
	if m.ClientID == "slow" {
		close(s.entered)
		<-s.release
	}
	return s.Store.PutMessage(ctx, m)
}

// A send that has taken its seq but not stored it yet is not skipped:
// through stops below it until it is stored, and the message keeps its seq.
func TestSlowSendIsNotSkipped(t *testing.T) {
	var gate *gateStore
	e := newEnv(t, testConfig(), func(s *dynamo.Store) fullStore {
		gate = &gateStore{Store: s, entered: make(chan struct{}), release: make(chan struct{})}
		return gate
	})
	e.joinAll("general", "a", "b")
	a, b := user("u-a", "User a"), user("u-b", "User b")
	done := make(chan error, 1)
	go func() {
		resp, err := e.do("a", a, `{"action":"send","channel":"general","text":"slow one","clientId":"slow"}`)
		if err == nil && resp.StatusCode != 200 {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		done <- err
	}()
	select {
	case <-gate.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow send never reached PutMessage")
	}
	if got, want := summary(e.historyOf("b", b, "general", 0)), "seqs [] through 0 oldest 2 truncated false after 0"; got != want {
		t.Errorf("history while seq 1 is being stored = %s, want %s", got, want)
	}
	e.must("b", b, `{"action":"send","channel":"general","text":"fast one","clientId":"fast"}`)
	if got, want := summary(e.historyOf("b", b, "general", 0)), "seqs [2] through 0 oldest 2 truncated false after 0"; got != want {
		t.Errorf("history with seq 2 stored and 1 in flight = %s, want %s", got, want)
	}
	close(gate.release)
	if err := <-done; err != nil {
		t.Fatalf("slow send: %v", err)
	}
	if got, want := summary(e.historyOf("b", b, "general", 0)), "seqs [1,2] through 2 oldest 1 truncated false after 0"; got != want {
		t.Errorf("history after the slow send = %s, want %s", got, want)
	}
}

// Messages past retention are reported (oldest, truncated), never skipped
// silently; asking from the oldest retained seq is not truncated.
func TestHistoryReportsTruncationAfterExpiry(t *testing.T) {
	cfg := testConfig()
	cfg.HistoryRetention = time.Hour
	e := newEnv(t, cfg)
	e.joinAll("general", "a")
	a := user("u-a", "User a")
	if got, want := summary(e.historyOf("a", a, "general", 0)), "seqs [] through 0 oldest 0 truncated false after 0"; got != want {
		t.Errorf("history of a new channel = %s, want %s", got, want)
	}
	for i := 1; i <= 3; i++ {
		e.must("a", a, fmt.Sprintf(`{"action":"send","channel":"general","text":"old %d","clientId":"o%d"}`, i, i))
	}
	e.clock.Advance(2 * time.Hour) // seqs 1-3 expire; the connection is kept alive below
	e.open("a", a)
	e.must("a", a, `{"action":"join","channel":"general"}`)
	e.must("a", a, `{"action":"send","channel":"general","text":"new","clientId":"n1"}`)
	tests := []struct {
		after int64
		want  string
	}{
		{0, "seqs [4] through 4 oldest 4 truncated true after 0"},
		{2, "seqs [4] through 4 oldest 4 truncated true after 2"},
		{3, "seqs [4] through 4 oldest 4 truncated false after 3"},
		{4, "seqs [] through 4 oldest 4 truncated false after 4"},
	}
	for _, tt := range tests {
		if got := summary(e.historyOf("a", a, "general", tt.after)); got != tt.want {
			t.Errorf("history after %d = %s, want %s", tt.after, got, tt.want)
		}
	}
	e.clock.Advance(2 * time.Hour) // everything expired: oldest is the counter + 1
	e.open("a", a)
	e.must("a", a, `{"action":"join","channel":"general"}`)
	if got, want := summary(e.historyOf("a", a, "general", 1)), "seqs [] through 4 oldest 5 truncated true after 1"; got != want {
		t.Errorf("history with all expired = %s, want %s", got, want)
	}
}

// joined carries the channel's counter, read after the membership was
// stored, on first and repeated joins.
func TestJoinedCarriesLastSeq(t *testing.T) {
	e := newEnv(t, testConfig())
	e.joinAll("general", "a")
	a := user("u-a", "User a")
	for i := 1; i <= 2; i++ {
		e.must("a", a, fmt.Sprintf(`{"action":"send","channel":"general","text":"m%d","clientId":"k%d"}`, i, i))
	}
	b := user("u-b", "User b")
	e.open("b", b)
	tests := []struct {
		name string
		want float64
	}{{"first join", 2}, {"repeated join", 2}}
	for _, tt := range tests {
		e.must("b", b, `{"action":"join","channel":"general"}`)
		f := e.gw.take("b")
		if len(f) != 1 || f[0]["type"] != "joined" || f[0]["lastSeq"] != tt.want {
			t.Errorf("%s: frames %v, want one joined with lastSeq %v", tt.name, f, tt.want)
		}
	}
	e.open("c", user("u-c", "User c"))
	e.must("c", user("u-c", "User c"), `{"action":"join","channel":"empty"}`)
	if f := e.gw.take("c"); len(f) != 1 || f[0]["lastSeq"] != 0.0 {
		t.Errorf("join of a channel without messages: frames %v, want lastSeq 0", f)
	}
}

// joined echoes the join's ref to every member, so a joiner tells its own
// announcement from another member's concurrent join; without a ref the
// frame has none.
func TestJoinedEchoesRef(t *testing.T) {
	e := newEnv(t, testConfig())
	a, b := user("u-a", "User a"), user("u-b", "User b")
	e.open("a", a)
	e.open("b", b)
	e.must("a", a, `{"action":"join","channel":"general"}`)
	if f := e.gw.take("a"); len(f) != 1 || f[0]["ref"] != nil {
		t.Errorf("join without ref: frames %v, want one joined without ref", f)
	}
	e.must("b", b, `{"action":"join","channel":"general","ref":"b-join-1"}`)
	for _, id := range []string{"a", "b"} {
		if f := e.gw.take(id); len(f) != 1 || f[0]["type"] != "joined" || f[0]["userId"] != "u-b" || f[0]["ref"] != "b-join-1" {
			t.Errorf("%s got %v, want one joined of u-b with ref b-join-1", id, f)
		}
	}
}

// Error frames echo the request's channel and clientId, so a client can
// match them with several requests in flight.
func TestErrorFramesEchoChannelAndClientID(t *testing.T) {
	e := newEnv(t, testConfig())
	a := user("u-a", "User a")
	e.open("a", a)
	tests := []struct {
		body, wantCode, wantChannel, wantClientID string
	}{
		{`{"action":"send","channel":"general","text":"hi","clientId":"k9"}`, "not_member", "general", "k9"},
		{`{"action":"history","channel":"general"}`, "not_member", "general", ""},
		{`{"action":"send","channel":"general"}`, "invalid_field", "", ""}, // not decoded: nothing to echo
	}
	for _, tt := range tests {
		e.must("a", a, tt.body)
		f := e.gw.take("a")
		if len(f) != 1 || f[0]["code"] != tt.wantCode || str(f[0]["channel"]) != tt.wantChannel || str(f[0]["clientId"]) != tt.wantClientID {
			t.Errorf("%s: frames %v, want code %s channel %q clientId %q", tt.body, f, tt.wantCode, tt.wantChannel, tt.wantClientID)
		}
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// Below the oldest retained seq an empty slot may be a failed send or a
// message past retention: after the grace period it is reported truncated
// (erring towards a discontinuity) to every asker, and the failed send's
// retry is renumbered above it instead of being stored where clients have
// already passed.
func TestEmptySlotBelowOldestIsTruncatedAndBlocksALateRetry(t *testing.T) {
	var flaky *flakyStore
	e := newEnv(t, testConfig(), func(s *dynamo.Store) fullStore {
		flaky = &flakyStore{Store: s}
		return flaky
	})
	e.joinAll("general", "a")
	a := user("u-a", "User a")
	flaky.step = "PutMessage"
	if resp, err := e.do("a", a, `{"action":"send","channel":"general","text":"lost slot","clientId":"k1"}`); err == nil || resp.StatusCode != 500 {
		t.Fatalf("failing send = %d, %v; want 500", resp.StatusCode, err)
	}
	e.must("a", a, `{"action":"send","channel":"general","text":"kept","clientId":"k2"}`)
	steps := []struct {
		name    string
		advance time.Duration
		want    string
	}{
		{"within the grace period: wait", 0, "seqs [2] through 0 oldest 2 truncated false after 0"},
		{"after it: truncated", handler.DefaultSettleGrace + time.Second, "seqs [2] through 2 oldest 2 truncated true after 0"},
		{"asked again: the same answer", 0, "seqs [2] through 2 oldest 2 truncated true after 0"},
	}
	for _, s := range steps {
		e.clock.Advance(s.advance)
		if got := summary(e.historyOf("a", a, "general", 0)); got != s.want {
			t.Errorf("%s: history = %s, want %s", s.name, got, s.want)
		}
	}
	e.must("a", a, `{"action":"send","channel":"general","text":"lost slot","clientId":"k1"}`)
	// The retry's own seq 3 is settled at once; it is renumbered to 4.
	if got := ackSeq(t, e.gw.take("a")); len(got) != 1 || got[0] != 4 {
		t.Errorf("retry acks = %v, want seq 4 (above the slot clients passed)", got)
	}
	if got, want := summary(e.historyOf("a", a, "general", 2)), "seqs [4] through 4 oldest 2 truncated false after 2"; got != want {
		t.Errorf("history after 2 = %s, want %s", got, want)
	}
}
