package reliability

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wschat/wschat/client"
	"github.com/wschat/wschat/internal/emutest"
	"github.com/wschat/wschat/wire"
)

// The message lifecycle in the SDK proof: besides sends, the senders edit
// and delete their own messages, react and unreact to anyone's, and reply,
// while the faults run. Every change is an item of the stream (an update
// with its own seq), so the exactly-once, in-order checks count them with
// the messages; at the end every client's folded state of every message
// must equal the current state history serves to that client's user.

// lifeTally counts the lifecycle requests of a run.
type lifeTally struct {
	mu                                        sync.Mutex
	edits, deletes, reacts, unreacts, replies int
	unchanged, refused                        int
}

func (l *lifeTally) String() string {
	return fmt.Sprintf("edits %d, deletes %d, reactions %d, unreactions %d, replies %d (refused %d, unchanged %d)",
		l.edits, l.deletes, l.reacts, l.unreacts, l.replies, l.refused, l.unchanged)
}

// lifeEmoji are the reactions the proof uses.
var lifeEmoji = []string{"👍", "🎉", "❤️", ":eyes:"}

// sender is one sender's view of the channels: what it sent and where it
// reacted, to pick its next change from.
type sender struct {
	own  map[string][]int64 // its messages, per channel (deleted ones removed)
	seen map[string][]int64 // every acked message of the channel it knows
	rx   map[string][][2]any
	rng  *rand.Rand
}

// lifecycleStep makes one change after send k of a sender and records
// what it acked: the update's seq (0 when nothing changed) joins acked.
// A refusal that a concurrent change explains (the message was deleted
// by its author meanwhile) is counted, not failed.
func lifecycleStep(ctx context.Context, c *client.Client, s *sender, ch string, k int, tally *lifeTally) (int64, error) {
	var (
		seq int64
		err error
		n   *int
	)
	pick := func(xs []int64) int64 { return xs[s.rng.IntN(len(xs))] }
	switch {
	case k%7 == 6 && len(s.own[ch]) > 1:
		i := s.rng.IntN(len(s.own[ch]) - 1)
		target := s.own[ch][i]
		s.own[ch] = append(s.own[ch][:i], s.own[ch][i+1:]...)
		n = &tally.deletes
		seq, err = c.Delete(ctx, ch, target)
	case k%3 == 1 && len(s.own[ch]) > 0:
		n = &tally.edits
		seq, err = c.Edit(ctx, ch, pick(s.own[ch]), fmt.Sprintf("edited #%d", k))
	case k%5 == 4 && len(s.rx[ch]) > 0:
		r := s.rx[ch][0]
		s.rx[ch] = s.rx[ch][1:]
		n = &tally.unreacts
		seq, err = c.Unreact(ctx, ch, r[0].(int64), r[1].(string))
	case k%4 == 3 && len(s.seen[ch]) > 0:
		n = &tally.replies
		seq, err = c.Reply(ctx, ch, pick(s.seen[ch]), fmt.Sprintf("reply #%d", k))
	case len(s.seen[ch]) > 0:
		target, em := pick(s.seen[ch]), lifeEmoji[s.rng.IntN(len(lifeEmoji))]
		n = &tally.reacts
		seq, err = c.React(ctx, ch, target, em)
		if err == nil {
			s.rx[ch] = append(s.rx[ch], [2]any{target, em})
		}
	default:
		return 0, nil
	}
	tally.mu.Lock()
	defer tally.mu.Unlock()
	var se *client.ServerError
	switch {
	case errors.As(err, &se) && (se.Code == "invalid_field" || se.Code == "too_large"):
		tally.refused++ // e.g. a reaction to a message its author just deleted
		return 0, nil
	case err != nil:
		return 0, err
	case seq == 0:
		tally.unchanged++
	default:
		*n++
	}
	return seq, nil
}

// msgState is what the convergence check compares of one message.
type msgState struct {
	Text      string
	Deleted   bool
	Replies   int64
	Reactions string // "emoji:count[*]" in order, * = mine
}

func stateFromModel(m client.Message) msgState {
	var rx []string
	for _, r := range m.Reactions {
		if r.Count == 0 {
			continue
		}
		mine := ""
		if r.Mine {
			mine = "*"
		}
		rx = append(rx, fmt.Sprintf("%s:%d%s", r.Emoji, r.Count, mine))
	}
	return msgState{Text: m.Text, Deleted: m.Deleted, Replies: m.Replies, Reactions: strings.Join(rx, " ")}
}

func stateFromEntry(e wire.Entry) msgState {
	var rx []string
	for _, r := range e.Reactions {
		mine := ""
		if r.Mine {
			mine = "*"
		}
		rx = append(rx, fmt.Sprintf("%s:%d%s", r.Emoji, r.Count, mine))
	}
	return msgState{Text: e.Text, Deleted: e.Deleted, Replies: e.Replies, Reactions: strings.Join(rx, " ")}
}

// historyStates reads the current state of every message of channel as
// user sees it, from history with a plain WebSocket client (not the SDK
// under test): each page's messages and the states of what its updates
// target; of two states of one message the one with the higher rev wins.
// The emulator cuts every connection after a few seconds in these tests,
// so a read cut short is started again on a new connection.
func historyStates(ctx context.Context, e *emutest.Emulator, user, channel string) (map[int64]msgState, error) {
	var err error
	for range 5 {
		var states map[int64]msgState
		if states, err = readHistoryStates(ctx, e, user, channel); err == nil || ctx.Err() != nil {
			return states, err
		}
	}
	return nil, err
}

func readHistoryStates(ctx context.Context, e *emutest.Emulator, user, channel string) (map[int64]msgState, error) {
	tok, err := e.Token(ctx, user)
	if err != nil {
		return nil, err
	}
	c, err := emutest.Dial(ctx, e.DialURL(tok), user, emutest.ClientOptions{})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.Join(ctx, channel); err != nil {
		return nil, err
	}
	states, revs := map[int64]msgState{}, map[int64]int64{}
	keep := func(es []wire.Entry) {
		for _, en := range es {
			if rev := max(en.Rev, en.Seq); rev >= revs[en.Seq] {
				states[en.Seq], revs[en.Seq] = stateFromEntry(en), rev
			}
		}
	}
	for after, page := int64(0), 0; page < 1000; page++ {
		f, err := c.Request(ctx, map[string]any{"action": "history", "channel": channel, "after": after, "limit": 100}, "history",
			func(f emutest.Frame) bool { return f.Type == "history" && f.Channel == channel })
		var fe *emutest.FrameError
		if errors.As(err, &fe) && fe.Code() == "rate_limited" {
			time.Sleep(500 * time.Millisecond)
			continue
		}
		if err != nil {
			return nil, err
		}
		var h wire.HistoryPage
		if err := json.Unmarshal(f.Raw, &h); err != nil {
			return nil, err
		}
		keep(h.Messages)
		keep(h.States)
		if !h.More {
			return states, nil
		}
		after = h.Next
	}
	return nil, errors.New("history: too many pages")
}

// converge compares every client's model of every channel with history:
// the number of (client, channel, message) states checked and those that
// differ (each logged).
func converge(ctx context.Context, t *testing.T, e *emutest.Emulator, names []string, channels []string,
	model func(i int, ch string) []client.Message) (checked, diverged int) {
	t.Helper()
	for i, user := range names {
		for _, ch := range channels {
			want, err := historyStates(ctx, e, user, ch)
			if err != nil {
				t.Errorf("history of %s as %s: %v", ch, user, err)
				continue
			}
			c, d, diffs := compareStates(want, model(i, ch))
			checked, diverged = checked+c, diverged+d
			for _, diff := range diffs {
				t.Logf("%s in %s: %s", user, ch, diff)
			}
		}
	}
	return checked, diverged
}

// compareStates compares a client's messages with history's states: the
// messages checked (every one history serves) and those that differ or
// that the client lacks, with a line for each.
func compareStates(want map[int64]msgState, model []client.Message) (checked, diverged int, diffs []string) {
	got := map[int64]msgState{}
	for _, m := range model {
		got[m.Seq] = stateFromModel(m)
	}
	seqs := make([]int64, 0, len(want))
	for seq := range want {
		seqs = append(seqs, seq)
	}
	sort.Slice(seqs, func(a, b int) bool { return seqs[a] < seqs[b] })
	for _, seq := range seqs {
		checked++
		if g, ok := got[seq]; !ok || g != want[seq] {
			diverged++
			diffs = append(diffs, fmt.Sprintf("message %d: client has %+v (known %v), history serves %+v", seq, g, ok, want[seq]))
		}
	}
	return checked, diverged, diffs
}

// TestCompareStatesFindsEveryDifference is the convergence check's
// positive control: each field it compares, when it differs, is counted.
func TestCompareStatesFindsEveryDifference(t *testing.T) {
	want := map[int64]msgState{1: {Text: "hi", Replies: 1, Reactions: "👍:2*"}, 2: {Deleted: true}}
	same := []client.Message{
		{Seq: 1, Text: "hi", Replies: 1, Reactions: []client.Reaction{{Emoji: "👍", Count: 2, Mine: true}}},
		{Seq: 2, Deleted: true},
	}
	if c, d, _ := compareStates(want, same); c != 2 || d != 0 {
		t.Fatalf("equal states: checked %d, diverged %d; want 2, 0", c, d)
	}
	tests := map[string]func(m []client.Message) []client.Message{
		"text":    func(m []client.Message) []client.Message { m[0].Text = "old"; return m },
		"deleted": func(m []client.Message) []client.Message { m[1].Deleted = false; return m },
		"replies": func(m []client.Message) []client.Message { m[0].Replies = 0; return m },
		"count":   func(m []client.Message) []client.Message { m[0].Reactions[0].Count = 1; return m },
		"mine":    func(m []client.Message) []client.Message { m[0].Reactions[0].Mine = false; return m },
		"missing": func(m []client.Message) []client.Message { return m[:1] },
		"new emoji": func(m []client.Message) []client.Message {
			m[1].Reactions = []client.Reaction{{Emoji: "🎉", Count: 1}}
			return m
		},
	}
	for name, mutate := range tests {
		m := []client.Message{same[0], same[1]}
		m[0].Reactions = []client.Reaction{same[0].Reactions[0]}
		if _, d, _ := compareStates(want, mutate(m)); d != 1 {
			t.Errorf("%s differs: diverged %d, want 1", name, d)
		}
	}
}

// TestClientSDKLifecycleAPI drives the Go client's lifecycle calls against
// the emulator on the dev template, without faults: a reply and its
// thread, typing seen and then expired, read state shared by two clients
// of one user, the channel list's unread count, and the refusals an
// application gets as *ServerError.
func TestClientSDKLifecycleAPI(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	e := startEmulator(t, emutest.Options{})
	dial := func(user string) *client.Client {
		c, err := client.Dial(ctx, e.WebSocketURL, client.Options{
			Token: func(ctx context.Context) (string, error) { return e.Token(ctx, user) }, AckTimeout: 5 * time.Second})
		if err != nil {
			t.Fatalf("dial %s: %v", user, err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	join := func(c *client.Client) *client.Subscription {
		s, err := c.Join(ctx, "api", client.From(0))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ann, bo, ann2 := dial("api-ann"), dial("api-bo"), dial("api-ann")
	annSub, boSub, ann2Sub := join(ann), join(bo), join(ann2)
	q, err := ann.Send(ctx, "api", "question?")
	if err != nil {
		t.Fatal(err)
	}
	r, err := bo.Reply(ctx, "api", q, "answer")
	if err != nil {
		t.Fatal(err)
	}
	th, err := ann.Thread(ctx, "api", q, 0)
	if err != nil || len(th.Replies) != 1 || th.Replies[0].Seq != r || th.Parent.Replies != 1 {
		t.Errorf("Thread = %+v, %v; want the reply %d and the parent counting it", th, err, r)
	}
	// bo types: ann's stream says so, then says it expired.
	bo.Typing("api")
	bo.Typing("api") // throttled by the client: one frame
	var started, expired bool
	for deadline := time.After(15 * time.Second); !expired; {
		select {
		case ev := <-annSub.Events():
			if ev.Type == client.EventTyping && ev.Typing.UserID == "api-bo" {
				if ev.Typing.Until.After(time.Now()) {
					started = true
					if got := annSub.Typing(); len(got) != 1 {
						t.Errorf("Typing() = %+v, want bo", got)
					}
				} else {
					expired = started
				}
			}
		case <-deadline:
			t.Fatalf("typing: started %v, expired %v within 15 s", started, expired)
		}
	}
	if got := annSub.Typing(); len(got) != 0 {
		t.Errorf("Typing() after the expiry = %+v", got)
	}
	// Unread, read on one client, the other client of the same user follows.
	if n := annSub.Unread(); n != 1 {
		t.Errorf("ann's Unread = %d, want 1 (bo's reply)", n)
	}
	if err := ann.MarkRead(ctx, "api", r); err != nil {
		t.Fatal(err)
	}
	if err := pollUntil(ctx, func() bool { return ann2Sub.LastRead() == r && ann2Sub.Unread() == 0 }); err != nil {
		t.Errorf("ann's second client: LastRead %d, Unread %d; want %d and 0", ann2Sub.LastRead(), ann2Sub.Unread(), r)
	}
	if err := pollUntil(ctx, func() bool { return boSub.ReadBy()["api-ann"] == r }); err != nil {
		t.Errorf("bo's read receipts = %v, want ann at %d", boSub.ReadBy(), r)
	}
	list, err := bo.Channels(ctx)
	if err != nil || len(list) != 1 || list[0].Channel != "api" || list[0].Unread != 1 || list[0].Last == nil || list[0].Last.Seq != r {
		t.Errorf("bo's Channels = %+v, %v; want api with ann's question unread and the reply last", list, err)
	}
	// Refusals come back as server errors, and change nothing.
	var se *client.ServerError
	if _, err := bo.Edit(ctx, "api", q, "mine now"); !errors.As(err, &se) || se.Code != "forbidden" {
		t.Errorf("bo editing ann's message: %v, want forbidden", err)
	}
	if _, err := ann.Reply(ctx, "api", r, "nested"); !errors.As(err, &se) || se.Code != "invalid_field" {
		t.Errorf("a reply to a reply: %v, want invalid_field", err)
	}
	if _, err := ann.React(ctx, "api", q, "not an emoji"); !errors.Is(err, client.ErrInvalid) {
		t.Errorf("React with text: %v, want ErrInvalid before sending", err)
	}
	if m, ok := annSub.Message(q); !ok || m.Text != "question?" || m.Replies != 1 {
		t.Errorf("ann's model of the question = %+v, %v", m, ok)
	}
	if uid := bo.UserID(); uid != "api-bo" {
		t.Errorf("UserID = %q", uid)
	}
}

func pollUntil(ctx context.Context, cond func() bool) error {
	return poll(ctx, 10*time.Second, func() (bool, error) { return cond(), nil })
}
