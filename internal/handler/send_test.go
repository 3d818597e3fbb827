package handler_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/dynamo"
	"github.com/wschat/wschat/internal/handler"
)

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%03d", prefix, i)
	}
	return out
}

func TestSendDeliversToMembersAndAcksTheSender(t *testing.T) {
	e := newEnv(t, testConfig())
	members := ids("m", 4)
	e.joinAll("general", members...)
	e.joinAll("other", "outsider")

	e.must("m000", user("u-m000", "User m000"), `{"action":"send","channel":"general","text":"hello <all>","clientId":"c1"}`)

	for _, id := range members {
		frames := e.gw.take(id)
		var msg map[string]any
		acks := 0
		for _, f := range frames {
			switch f["type"] {
			case "message":
				msg = f
			case "ack":
				acks++
				if f["seq"] != 1.0 || f["clientId"] != "c1" || f["channel"] != "general" {
					t.Errorf("ack = %v, want seq 1 for c1 in general", f)
				}
			}
		}
		if msg == nil || msg["text"] != "hello <all>" || msg["seq"] != 1.0 || msg["userId"] != "u-m000" || msg["channel"] != "general" {
			t.Errorf("%s got message %v, want seq 1 from u-m000", id, msg)
		}
		wantAcks := 0
		if id == "m000" {
			wantAcks = 1
		}
		if acks != wantAcks {
			t.Errorf("%s got %d acks, want %d", id, acks, wantAcks)
		}
	}
	if f := e.gw.take("outsider"); len(f) != 0 {
		t.Errorf("a connection outside the channel got %v", f)
	}
	h := e.history("general")
	if len(h) != 1 || h[0].Text != "hello <all>" || h[0].Seq != 1 {
		t.Errorf("history = %+v, want the one message as seq 1", h)
	}
}

// TestSendReadsOnlyTheChannelsItems: with 1,000 connections in the table
// and 10 in the channel, a send reads the channel's members and a constant
// number of other items, all from the channel's own partition.
func TestSendReadsOnlyTheChannelsItems(t *testing.T) {
	e := newEnv(t, testConfig())
	ctx := t.Context()
	now := e.clock.Now()
	var g errgroup.Group
	g.SetLimit(16)
	for i := range 1000 {
		g.Go(func() error {
			id := fmt.Sprintf("conn%04d", i)
			c := chat.Connection{ID: id, Identity: chat.Identity{UserID: "u" + id, UserName: id}, ConnectedAt: now, ExpiresAt: now.Add(chat.ConnectionTTL)}
			if err := e.store.PutConnection(ctx, c); err != nil {
				return err
			}
			channel := fmt.Sprintf("busy%d", i%7)
			if i < 10 {
				channel = "room"
			}
			_, err := e.store.AddMember(ctx, chat.Member{Channel: channel, ConnectionID: id, Identity: c.Identity, JoinedAt: now}, 20)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}

	e.db.Reset()
	e.must("conn0003", user("uconn0003", "conn0003"), `{"action":"send","channel":"room","text":"hi","clientId":"k1"}`)
	st := e.db.Stats()

	// The constant: the sender's connection item (its grant), its
	// membership and the channel's item, read in one BatchGetItem.
	const members, constant = 10, 3
	if st.ItemsRead > members+constant {
		t.Errorf("send read %d items, want at most %d (members) + %d", st.ItemsRead, members, constant)
	}
	for pk, n := range st.ReadPKs {
		// The channel's item (shard count), its roster (the sender's
		// membership) and its keys-only fan-out partitions, and the
		// sender's own connection item (the batch is counted under its
		// first key's partition).
		if pk != "CHAN#room" && pk != "CONN#conn0003" && !strings.HasPrefix(pk, "CHAN#room#") && !strings.HasPrefix(pk, "M#room#") {
			t.Errorf("send read %d items of partition %s, want only the channel's membership partitions", n, pk)
		}
	}
	if st.Calls["Query"] != 1 {
		t.Errorf("send made %d Query calls, want 1 page of members", st.Calls["Query"])
	}
	for i := range 10 {
		if n := e.gw.count(fmt.Sprintf("conn%04d", i), "message"); n != 1 {
			t.Errorf("member conn%04d got %d messages, want 1", i, n)
		}
	}
	t.Logf("one send: %d items read, calls %v", st.ItemsRead, st.Calls)
}

func TestSendRemovesExactlyTheGoneMembers(t *testing.T) {
	e := newEnv(t, testConfig())
	members := ids("m", 50)
	e.joinAll("general", members...)
	gone := []string{"m007", "m023", "m041"}
	e.gw.setGone(gone...)

	e.must("m000", user("u-m000", "User m000"), `{"action":"send","channel":"general","text":"hi","clientId":"c1"}`)

	delivered := 0
	for _, id := range members {
		delivered += e.gw.count(id, "message")
	}
	if delivered != 47 {
		t.Errorf("deliveries = %d, want 47", delivered)
	}
	isGone := map[string]bool{}
	for _, id := range gone {
		isGone[id] = true
	}
	for _, id := range members {
		_, connErr := e.store.Connection(t.Context(), id)
		_, memErr := e.store.Member(t.Context(), "general", id)
		if isGone[id] && (!errors.Is(connErr, chat.ErrNotFound) || !errors.Is(memErr, chat.ErrNotFound)) {
			t.Errorf("gone %s not removed: connection %v, membership %v", id, connErr, memErr)
		}
		if !isGone[id] && (connErr != nil || memErr != nil) {
			t.Errorf("live %s removed: connection %v, membership %v", id, connErr, memErr)
		}
	}
	if !strings.Contains(e.logs.String(), `"Gone":3`) {
		t.Errorf("fanout log line does not report Gone 3:\n%s", e.logs)
	}
}

// A retry is stored once and acked with the first attempt's seq. In a small
// channel it is fanned out again (members drop the seq they have: the SDKs'
// exactly-once); in one above handler.MarkDeliveredAbove members only acked
// (TestRetryOfABigBroadcastIsOnlyAcked).
func TestRetriedSendIsStoredOnceAndFannedOutAgain(t *testing.T) {
	e := newEnv(t, testConfig())
	members := ids("m", 5)
	e.joinAll("general", members...)
	// The same user on a second connection: a retry after a reconnect.
	sender := user("u-m000", "User m000")
	e.open("m000-again", sender)
	e.must("m000-again", sender, `{"action":"join","channel":"general"}`)
	for _, id := range append(members, "m000-again") {
		e.gw.take(id)
	}

	body := `{"action":"send","channel":"general","text":"only once","clientId":"retry-1"}`
	e.must("m000", sender, body)
	e.must("m000", sender, body)
	e.must("m000-again", sender, body)

	for _, id := range append(members, "m000-again") {
		if n := e.gw.count(id, "message"); n != 3 {
			t.Errorf("%s got %d messages, want 3 (one per attempt, each seq 1)", id, n)
		}
	}
	acks := append(e.gw.take("m000"), e.gw.take("m000-again")...)
	nAcks := 0
	for _, f := range acks {
		if f["type"] == "ack" {
			nAcks++
			if f["seq"] != 1.0 {
				t.Errorf("ack %v, want seq 1 for every retry", f)
			}
		}
	}
	if nAcks != 3 {
		t.Errorf("got %d acks, want one per attempt (3)", nAcks)
	}
	if h := e.history("general"); len(h) != 1 || h[0].Seq != 1 {
		t.Errorf("history = %+v, want one item with seq 1", h)
	}
	e.must("m000", sender, `{"action":"send","channel":"general","text":"next","clientId":"retry-2"}`)
	// Each retry took a seq before its claim found the first attempt's:
	// seqs 2 and 3 are gaps that history settles.
	if h := e.history("general"); len(h) != 2 || h[1].Seq != 4 {
		t.Errorf("history after a new send = %+v, want seqs 1, 4", h)
	}
}

// flakyStore fails one step of a send once, as a crash or a timeout would.
type flakyStore struct {
	*dynamo.Store
	step   string
	failed atomic.Bool
}

var errInjected = errors.New("injected failure")

func (s *flakyStore) fail(step string) error {
	if s.step == step && s.failed.CompareAndSwap(false, true) {
		return fmt.Errorf("%s: %w", step, errInjected)
	}
	return nil
}

func (s *flakyStore) NextSeq(ctx context.Context, ch string) (int64, error) {
	if err := s.fail("NextSeq"); err != nil {
		return 0, err
	}
	return s.Store.NextSeq(ctx, ch)
}

func (s *flakyStore) TakeSeq(ctx context.Context, ch string, cost, burst time.Duration) (int64, bool, error) {
	if err := s.fail("TakeSeq"); err != nil {
		return 0, false, err
	}
	return s.Store.TakeSeq(ctx, ch, cost, burst)
}

func (s *flakyStore) SetClaimSeq(ctx context.Context, k chat.ClaimKey, seq int64) (int64, error) {
	if err := s.fail("SetClaimSeq"); err != nil {
		return 0, err
	}
	return s.Store.SetClaimSeq(ctx, k, seq)
}

func (s *flakyStore) PutMessage(ctx context.Context, m chat.Message) error {
	if err := s.fail("PutMessage"); err != nil {
		return err
	}
	return s.Store.PutMessage(ctx, m)
}

func (s *flakyStore) Members(ctx context.Context, ch, cursor string, limit int) ([]chat.Member, string, error) {
	if err := s.fail("Members"); err != nil {
		return nil, "", err
	}
	return s.Store.Members(ctx, ch, cursor, limit)
}

// Recipients is the fan-out's read of the members; it fails with Members.
func (s *flakyStore) Recipients(ctx context.Context, ch, cursor string, limit int) ([]chat.Member, string, error) {
	if err := s.fail("Members"); err != nil {
		return nil, "", err
	}
	return s.Store.Recipients(ctx, ch, cursor, limit)
}

func (s *flakyStore) Claim(ctx context.Context, c chat.Claim) (chat.Claim, bool, error) {
	if err := s.fail("Claim"); err != nil {
		return chat.Claim{}, false, err
	}
	return s.Store.Claim(ctx, c)
}

func TestSendRetryCompletesWhatAFailedAttemptLeft(t *testing.T) {
	tests := []struct {
		step          string
		firstAcked    bool
		wantSeq       float64
		wantDelivered int // message frames per member over both attempts
	}{
		{"TakeSeq", false, 1, 1},
		{"Claim", false, 2, 1},      // seq 1 was taken, then lost: a gap
		{"PutMessage", false, 1, 1}, // the claim holds seq 1; the retry's seq 2 is a gap
		{"Members", false, 1, 1},    // stored, fan-out failed: the retry fans out
		// Nothing failed, but the ack was lost: the retry is acked with
		// the same seq and fans out again (nothing records a fan-out since
		// issue #23); members drop the seq they have.
		{"nothing", true, 1, 2},
	}
	for _, tt := range tests {
		t.Run("fail "+tt.step, func(t *testing.T) {
			var flaky *flakyStore
			e := newEnv(t, testConfig(), func(s *dynamo.Store) fullStore {
				flaky = &flakyStore{Store: s}
				return flaky
			})
			members := ids("m", 3)
			e.joinAll("general", members...)
			flaky.step = tt.step
			sender := user("u-m000", "User m000")
			body := `{"action":"send","channel":"general","text":"survives","clientId":"k"}`

			resp, err := e.do("m000", sender, body)
			first := e.gw.take("m000")
			if tt.firstAcked {
				if err != nil || resp.StatusCode != 200 || countType(first, "ack") != 1 {
					t.Fatalf("first attempt = %d, %v, frames %v; want an ack", resp.StatusCode, err, first)
				}
			} else {
				if !errors.Is(err, errInjected) || resp.StatusCode != 500 {
					t.Errorf("first attempt = %d, %v; want 500 and the failure", resp.StatusCode, err)
				}
				if countType(first, "ack") != 0 || countCode(first, "internal") != 1 {
					t.Errorf("first attempt frames %v, want one internal error and no ack", first)
				}
			}
			delivered := map[string]int{}
			for _, id := range members {
				delivered[id] += countType(first, "message")*boolInt(id == "m000") + e.gw.count(id, "message")*boolInt(id != "m000")
			}
			for _, id := range members[1:] {
				e.gw.take(id)
			}

			e.must("m000", sender, body)
			second := e.gw.take("m000")
			delivered["m000"] += countType(second, "message")
			var ack map[string]any
			for _, f := range second {
				if f["type"] == "ack" {
					ack = f
				}
			}
			if ack == nil || ack["seq"] != tt.wantSeq {
				t.Errorf("retry frames %v, want an ack with seq %v", second, tt.wantSeq)
			}
			for _, id := range members[1:] {
				delivered[id] += e.gw.count(id, "message")
			}
			for id, n := range delivered {
				if n != tt.wantDelivered {
					t.Errorf("%s got %d messages over both attempts, want %d", id, n, tt.wantDelivered)
				}
			}
			h := e.history("general")
			if len(h) != 1 || float64(h[0].Seq) != tt.wantSeq || h[0].Text != "survives" {
				t.Errorf("history = %+v, want exactly one item, seq %v", h, tt.wantSeq)
			}
		})
	}
}

func countType(frames []map[string]any, typ string) int {
	n := 0
	for _, f := range frames {
		if f["type"] == typ {
			n++
		}
	}
	return n
}

func countCode(frames []map[string]any, code string) int {
	n := 0
	for _, f := range frames {
		if f["type"] == "error" && f["code"] == code {
			n++
		}
	}
	return n
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestRateLimitedSendsStoreNothing(t *testing.T) {
	cfg := handler.DefaultConfig()
	cfg.DefaultChannels = "*" // open, as in dev
	cfg.RatePerSecond, cfg.RateBurst = 1, 3
	e := newEnv(t, cfg)
	ann := user("u-ann", "Ann")
	e.open("c1", ann)
	e.open("c2", user("u-bob", "Bob"))
	e.must("c1", ann, `{"action":"join","channel":"general"}`) // token 1
	e.must("c2", user("u-bob", "Bob"), `{"action":"join","channel":"general"}`)
	e.gw.take("c1")
	e.gw.take("c2")

	codes := []string{}
	writes := []map[string]int{}
	for i := range 4 {
		e.db.Reset()
		e.must("c1", ann, fmt.Sprintf(`{"action":"send","channel":"general","text":"m%d","clientId":"k%d"}`, i, i))
		writes = append(writes, e.db.Stats().WritePKs)
		code := "ok"
		for _, f := range e.gw.take("c1") {
			if f["type"] == "error" {
				code = f["code"].(string)
			}
		}
		codes = append(codes, code)
	}
	want := []string{"ok", "ok", "rate_limited", "rate_limited"}
	if fmt.Sprint(codes) != fmt.Sprint(want) {
		t.Errorf("send outcomes = %v, want %v (burst 3, one token spent on join)", codes, want)
	}
	for i, w := range writes[2:] {
		for pk := range w {
			// The refused write on the rate item stores nothing.
			if pk != "USER#u-ann" {
				t.Errorf("rate-limited send %d wrote to %s", i+2, pk)
			}
		}
	}
	if n := len(e.history("general")); n != 2 {
		t.Errorf("history has %d messages, want 2", n)
	}
	if n := e.gw.count("c2", "message"); n != 2 {
		t.Errorf("the other member got %d messages, want 2", n)
	}
	if n := e.metricCount(`"RateLimited":1`); n != 2 {
		t.Errorf("RateLimited metric emitted %d times, want 2:\n%s%s", n, e.logs, e.metrics)
	}

	e.clock.Advance(time.Second)
	e.must("c1", ann, `{"action":"send","channel":"general","text":"later","clientId":"k9"}`)
	if f := e.gw.take("c1"); countType(f, "ack") != 1 {
		t.Errorf("a send a second later got %v, want an ack", f)
	}
}

func TestPingTouchesNoStorageAndSkipsTheRateLimit(t *testing.T) {
	cfg := handler.DefaultConfig()
	cfg.DefaultChannels = "*" // open, as in dev
	cfg.RatePerSecond, cfg.RateBurst = 1, 1
	e := newEnv(t, cfg)
	e.open("c1", nil)
	e.db.Reset()
	for range 3 {
		e.must("c1", nil, `{"action":"ping"}`)
	}
	if calls := e.db.Stats().Calls; len(calls) != 0 {
		t.Errorf("ping made DynamoDB calls %v, want none", calls)
	}
	frames := e.gw.take("c1")
	if countType(frames, "pong") != 3 {
		t.Errorf("frames = %v, want 3 pongs", frames)
	}
}

func TestConcurrentSendsGetDistinctSeqs(t *testing.T) {
	e := newEnv(t, testConfig())
	members := ids("m", 6)
	e.joinAll("general", members...)
	var wg sync.WaitGroup
	for i, id := range members {
		wg.Go(func() {
			resp, err := e.do(id, user("u-"+id, "User "+id), fmt.Sprintf(`{"action":"send","channel":"general","text":"t%d","clientId":"k"}`, i))
			if err != nil || resp.StatusCode != 200 {
				t.Errorf("send from %s = %d, %v", id, resp.StatusCode, err)
			}
		})
	}
	wg.Wait()
	h := e.history("general")
	if len(h) != len(members) {
		t.Fatalf("history has %d messages, want %d", len(h), len(members))
	}
	for i, m := range h {
		if m.Seq != int64(i+1) {
			t.Errorf("history[%d].Seq = %d, want %d (no gaps without failures)", i, m.Seq, i+1)
		}
	}
}

// TestSendPathCalls counts what one send to a 10-member channel asks of
// DynamoDB (issue #23: at most 6 calls): the request limits (one
// UpdateItem for both buckets), the membership and the channel's size
// (one BatchGetItem), the seq (UpdateItem), the claim carrying it
// (PutItem), the history item (PutItem) and the members (one Query).
func TestSendPathCalls(t *testing.T) {
	e := newEnv(t, testConfig())
	members := ids("m", 10)
	e.joinAll("general", members...)
	sender := user("u-m000", "User m000")
	e.must("m000", sender, `{"action":"send","channel":"general","text":"warm","clientId":"w"}`)
	// A second later, as a chat's sends come: the channel's rate state
	// is behind the clock again, and the form the store tries first fits.
	e.clock.Advance(time.Second)
	e.db.Reset()
	e.must("m000", sender, `{"action":"send","channel":"general","text":"counted","clientId":"c"}`)
	st := e.db.Stats()
	want := map[string]int{"UpdateItem": 2, "BatchGetItem": 1, "PutItem": 2, "Query": 1}
	if fmt.Sprint(st.Calls) != fmt.Sprint(want) {
		t.Errorf("one send made %v, want %v", st.Calls, want)
	}
	if n := st.WritePKs["IDEM#general#c#u-m000"]; n != 1 {
		t.Errorf("the claim was written %d times, want once (it carries its seq)", n)
	}
}

// TestSendWithoutEchoIsAckedWithTheMessage: echo:false leaves the sending
// connection out of the broadcast and its ack carries what the message
// frame would have; the user's other connection and every member still
// get the message. Without the field the sender gets both, as before.
func TestSendWithoutEchoIsAckedWithTheMessage(t *testing.T) {
	e := newEnv(t, testConfig())
	members := ids("m", 3)
	e.joinAll("general", members...)
	sender := user("u-m000", "User m000")
	e.open("m000-tab", sender)
	e.must("m000-tab", sender, `{"action":"join","channel":"general"}`)
	for _, id := range append(members, "m000-tab") {
		e.gw.take(id)
	}
	e.must("m000", sender, `{"action":"send","channel":"general","text":"one frame","clientId":"q1","echo":false}`)
	got := e.gw.take("m000")
	if len(got) != 1 || got[0]["type"] != "ack" {
		t.Fatalf("sender got %v, want exactly one frame, the ack", got)
	}
	ack := got[0]
	if ack["seq"] != 1.0 || ack["userId"] != "u-m000" || ack["userName"] != "User m000" || ack["clientId"] != "q1" {
		t.Errorf("ack = %v, want seq 1, the sender's id and name, its clientId", ack)
	}
	if at, _ := ack["sentAt"].(string); at == "" {
		t.Errorf("ack = %v, want sentAt", ack)
	}
	for _, id := range append(members[1:], "m000-tab") {
		msgs := 0
		for _, f := range e.gw.take(id) {
			if f["type"] == "message" {
				msgs++
				if f["sentAt"] != ack["sentAt"] || f["seq"] != ack["seq"] {
					t.Errorf("%s got %v, want the ack's seq and sentAt", id, f)
				}
			}
		}
		if msgs != 1 {
			t.Errorf("%s got %d messages, want 1", id, msgs)
		}
	}
	e.must("m000", sender, `{"action":"send","channel":"general","text":"echoed","clientId":"q2"}`)
	got = e.gw.take("m000")
	if len(got) != 2 || got[0]["type"] != "message" || got[1]["type"] != "ack" || got[1]["sentAt"] != nil {
		t.Errorf("without echo:false the sender got %v, want the message, then a plain ack", got)
	}
}
