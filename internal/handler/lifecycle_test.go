package handler_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// answer sends body on connection id and returns the frames it got.
func (e *env) answer(id string, auth map[string]any, body string) []map[string]any {
	e.t.Helper()
	e.gw.take(id)
	e.must(id, auth, body)
	return e.gw.take(id)
}

// one returns the only frame of type typ among frames, failing otherwise.
func one(t *testing.T, frames []map[string]any, typ string) map[string]any {
	t.Helper()
	var got []map[string]any
	for _, f := range frames {
		if f["type"] == typ {
			got = append(got, f)
		}
	}
	if len(got) != 1 {
		t.Fatalf("want one %q frame, got %d in %v", typ, len(got), frames)
	}
	return got[0]
}

// errCode is the code of the one error frame among frames.
func errCode(t *testing.T, frames []map[string]any) string {
	t.Helper()
	f := one(t, frames, "error")
	return fmt.Sprint(f["code"])
}

// sendAs sends text and returns its seq.
func (e *env) sendAs(id string, auth map[string]any, channel, text, clientID string) int64 {
	e.t.Helper()
	f := one(e.t, e.answer(id, auth, fmt.Sprintf(`{"action":"send","channel":%q,"text":%q,"clientId":%q}`, channel, text, clientID)), "ack")
	return int64(f["seq"].(float64))
}

// rawHistory reads every item of a channel's history partition straight
// from DynamoDB: what an operator with table access could read.
func (e *env) rawHistory(channel string) []map[string]types.AttributeValue {
	e.t.Helper()
	out, err := e.db.API.Query(e.t.Context(), &dynamodb.QueryInput{
		TableName:                 aws.String(e.table),
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: "HIST#" + channel}},
		ConsistentRead:            aws.Bool(true),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out.Items
}

// holds reports whether any attribute of any item holds text.
func holds(items []map[string]types.AttributeValue, text string) bool {
	for _, it := range items {
		for _, v := range it {
			if s, ok := v.(*types.AttributeValueMemberS); ok && strings.Contains(s.Value, text) {
				return true
			}
		}
	}
	return false
}

// counter reads the channel's seq counter.
func (e *env) counter(channel string) int64 {
	e.t.Helper()
	n, err := e.store.LastSeq(e.t.Context(), channel)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

// stateOf finds message seq in a history frame's messages or states.
func stateOf(t *testing.T, h map[string]any, seq int64) map[string]any {
	t.Helper()
	for _, key := range []string{"messages", "states"} {
		list, _ := h[key].([]any)
		for _, m := range list {
			if mm := m.(map[string]any); mm["seq"] == float64(seq) {
				return mm
			}
		}
	}
	t.Fatalf("message %d not in history %v", seq, h)
	return nil
}

func TestEditReachesMembersAndHistoryKeepsNoReplacedText(t *testing.T) {
	e := newEnv(t, testConfig())
	e.joinAll("general", "a", "b")
	a := user("u-a", "User a")
	seq := e.sendAs("a", a, "general", "my password is hunter2", "m1")

	frames := e.answer("a", a, fmt.Sprintf(`{"action":"edit","channel":"general","seq":%d,"text":"my password is ***","clientId":"e1"}`, seq))
	ack := one(t, frames, "ack")
	if ack["action"] != "edit" || ack["clientId"] != "e1" || ack["seq"] != float64(seq+1) {
		t.Errorf("ack = %v, want action edit, clientId e1, seq %d", ack, seq+1)
	}
	up := one(t, e.gw.take("b"), "update")
	msg := up["message"].(map[string]any)
	if up["action"] != "edit" || up["target"] != float64(seq) || up["seq"] != float64(seq+1) ||
		msg["text"] != "my password is ***" || msg["rev"] != float64(seq+1) || msg["editedAt"] == nil {
		t.Errorf("b got update %v, want the edit of %d as seq %d with the new text", up, seq, seq+1)
	}
	// A second edit: the first edit's text is replaced too.
	e.answer("a", a, fmt.Sprintf(`{"action":"edit","channel":"general","seq":%d,"text":"nothing to see","clientId":"e2"}`, seq))

	h := e.historyOf("b", user("u-b", "User b"), "general", 0)
	if got := stateOf(t, h, seq); got["text"] != "nothing to see" || got["rev"] != float64(seq+2) {
		t.Errorf("history serves %v, want the current text at rev %d", got, seq+2)
	}
	if ups := h["updates"].([]any); len(ups) != 2 {
		t.Errorf("history updates = %v, want both edits", ups)
	}
	raw := e.rawHistory("general")
	for _, old := range []string{"hunter2", "my password is ***"} {
		if holds(raw, old) {
			t.Errorf("DynamoDB still holds the replaced text %q", old)
		}
	}
	if b, _ := json.Marshal(h); strings.Contains(string(b), "hunter2") || strings.Contains(string(b), "***") {
		t.Errorf("history serves a replaced text: %s", b)
	}
}

func TestEditIsIdempotentByClientID(t *testing.T) {
	e := newEnv(t, testConfig())
	e.joinAll("general", "a", "b")
	a := user("u-a", "User a")
	seq := e.sendAs("a", a, "general", "typo", "m1")
	body := fmt.Sprintf(`{"action":"edit","channel":"general","seq":%d,"text":"fixed","clientId":"e1"}`, seq)
	first := one(t, e.answer("a", a, body), "ack")["seq"]
	second := one(t, e.answer("a", a, body), "ack")["seq"]
	// The retry took seq+2 before its claim said seq+1 (and settled it).
	if first != second || e.counter("general") != seq+2 {
		t.Errorf("acks %v then %v, counter %d; want one seq for both", first, second, e.counter("general"))
	}
	if n := e.gw.count("b", "update"); n != 2 {
		t.Errorf("b got %d updates, want 2 (in a small channel a retry fans out again; b drops the seq it has)", n)
	}
	other := fmt.Sprintf(`{"action":"edit","channel":"general","seq":%d,"text":"else","clientId":"e1"}`, seq)
	if code := errCode(t, e.answer("a", a, other)); code != "invalid_field" {
		t.Errorf("clientId reused for another text: %s, want invalid_field", code)
	}
}

func TestDeleteErasesTheTextAndKeepsATombstone(t *testing.T) {
	e := newEnv(t, testConfig())
	e.joinAll("general", "a", "b")
	a, b := user("u-a", "User a"), user("u-b", "User b")
	seq := e.sendAs("a", a, "general", "secret plans", "m1")
	e.answer("b", b, fmt.Sprintf(`{"action":"send","channel":"general","text":"re","clientId":"r1","replyTo":%d}`, seq))
	e.answer("b", b, fmt.Sprintf(`{"action":"react","channel":"general","seq":%d,"emoji":"👍"}`, seq))

	ack := one(t, e.answer("a", a, fmt.Sprintf(`{"action":"delete","channel":"general","seq":%d,"clientId":"d1"}`, seq)), "ack")
	if ack["action"] != "delete" || ack["seq"] == 0.0 {
		t.Errorf("ack = %v, want a delete with its seq", ack)
	}
	if holds(e.rawHistory("general"), "secret plans") {
		t.Error("DynamoDB still holds the deleted text")
	}
	got := stateOf(t, e.historyOf("b", b, "general", 0), seq)
	if got["deleted"] != true || got["text"] != "" || got["replies"] != 1.0 || got["reactions"] != nil {
		t.Errorf("history serves %v, want a tombstone: deleted, no text, no reactions, its reply counted", got)
	}
	// What a deleted message refuses, and what it shrugs off.
	tests := []struct{ body, want string }{
		{`{"action":"edit","channel":"general","seq":%d,"text":"back","clientId":"e9"}`, "invalid_field"},
		{`{"action":"react","channel":"general","seq":%d,"emoji":"🎉"}`, "invalid_field"},
		{`{"action":"send","channel":"general","text":"re","clientId":"r9","replyTo":%d}`, "invalid_field"},
	}
	before := e.counter("general")
	for _, tt := range tests {
		if code := errCode(t, e.answer("a", a, fmt.Sprintf(tt.body, seq))); code != tt.want {
			t.Errorf("%s on a deleted message: %s, want %s", tt.body, code, tt.want)
		}
	}
	again := one(t, e.answer("a", a, fmt.Sprintf(`{"action":"delete","channel":"general","seq":%d,"clientId":"d2"}`, seq)), "ack")
	if again["seq"] != 0.0 || e.counter("general") != before {
		t.Errorf("deleting again: ack %v, counter %d→%d; want seq 0 and no seq taken", again, before, e.counter("general"))
	}
}

// Every refusal of the "bad input": a clear error and nothing
// written (the channel's counter and history partition unchanged).
func TestLifecycleRefusalsChangeNothing(t *testing.T) {
	e := newEnv(t, testConfig())
	e.joinAll("general", "a", "b")
	a, b := user("u-a", "User a"), user("u-b", "User b")
	seq := e.sendAs("a", a, "general", "hello", "m1")
	e.answer("a", a, fmt.Sprintf(`{"action":"react","channel":"general","seq":%d,"emoji":"👍"}`, seq)) // seq+1: an update
	tests := []struct {
		name, body string
		auth       map[string]any
		code       string
	}{
		{"edit another user's message", `{"action":"edit","channel":"general","seq":1,"text":"mine now","clientId":"x1"}`, b, "forbidden"},
		{"delete another user's message", `{"action":"delete","channel":"general","seq":1,"clientId":"x2"}`, b, "forbidden"},
		{"edit a seq that holds nothing", `{"action":"edit","channel":"general","seq":99,"text":"x","clientId":"x3"}`, a, "invalid_field"},
		{"edit a seq that holds an update", `{"action":"edit","channel":"general","seq":2,"text":"x","clientId":"x4"}`, a, "invalid_field"},
		{"react to nothing", `{"action":"react","channel":"general","seq":99,"emoji":"👍"}`, b, "invalid_field"},
		{"reply to nothing", `{"action":"send","channel":"general","text":"re","clientId":"x5","replyTo":99}`, b, "invalid_field"},
		{"unknown emoji form", `{"action":"react","channel":"general","seq":1,"emoji":"+1"}`, b, "invalid_field"},
		{"emoji too long", `{"action":"react","channel":"general","seq":1,"emoji":"` + strings.Repeat("😀", 9) + `"}`, b, "too_large"},
		{"read beyond the last seq", `{"action":"read","channel":"general","seq":3}`, b, "invalid_field"},
		{"edit in a channel not joined", `{"action":"edit","channel":"other","seq":1,"text":"x","clientId":"x6"}`, a, "not_member"},
		{"blank edit", `{"action":"edit","channel":"general","seq":1,"text":"   ","clientId":"x7"}`, a, "invalid_field"},
	}
	counter, items := e.counter("general"), len(e.rawHistory("general"))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := "a"
			if tt.auth["userId"] == "u-b" {
				id = "b"
			}
			if code := errCode(t, e.answer(id, tt.auth, tt.body)); code != tt.code {
				t.Errorf("code = %s, want %s", code, tt.code)
			}
		})
	}
	if c, n := e.counter("general"), len(e.rawHistory("general")); c != counter || n != items {
		t.Errorf("refusals changed the channel: counter %d→%d, history items %d→%d", counter, c, items, n)
	}
	if got := stateOf(t, e.historyOf("b", b, "general", 0), seq); got["text"] != "hello" {
		t.Errorf("message after the refusals: %v", got)
	}
}

func TestReactionsCountMineAndLimits(t *testing.T) {
	e := newEnv(t, testConfig())
	e.joinAll("general", "a", "b", "c")
	a, b, c := user("u-a", "User a"), user("u-b", "User b"), user("u-c", "User c")
	seq := e.sendAs("a", a, "general", "vote", "m1")
	react := func(id string, auth map[string]any, op, emoji string) map[string]any {
		return one(t, e.answer(id, auth, fmt.Sprintf(`{"action":%q,"channel":"general","seq":%d,"emoji":%q}`, op, seq, emoji)), "ack")
	}
	react("b", b, "react", "👍")
	react("c", c, "react", "👍")
	react("c", c, "react", "🎉")
	if ack := react("b", b, "react", "👍"); ack["seq"] != 0.0 {
		t.Errorf("reacting twice: ack %v, want seq 0 (nothing changed)", ack)
	}
	if ack := react("a", a, "unreact", "👍"); ack["seq"] != 0.0 {
		t.Errorf("unreacting what is not there: ack %v, want seq 0", ack)
	}
	h := e.historyOf("c", c, "general", 0)
	want := `[{"count":2,"emoji":"👍","mine":true},{"count":1,"emoji":"🎉","mine":true}]`
	if got, _ := json.Marshal(stateOf(t, h, seq)["reactions"]); string(got) != want {
		t.Errorf("c's history reactions = %s, want %s", got, want)
	}
	hb := e.historyOf("b", b, "general", 0)
	wantB := `[{"count":2,"emoji":"👍","mine":true},{"count":1,"emoji":"🎉"}]`
	if got, _ := json.Marshal(stateOf(t, hb, seq)["reactions"]); string(got) != wantB {
		t.Errorf("b's history reactions = %s, want %s", got, wantB)
	}
	react("c", c, "unreact", "🎉")
	if got, _ := json.Marshal(stateOf(t, e.historyOf("b", b, "general", 0), seq)["reactions"]); string(got) != `[{"count":2,"emoji":"👍","mine":true}]` {
		t.Errorf("after unreact: %s", got)
	}

	// Limits: per user per message, then distinct emoji per message.
	emoji := []string{"😀", "😁", "😂", "🤣", "😃", "😄", "😅", "😆", "😉", "😊", "😋", "😎", "😍", "😘", "🥰", "😗", "😙", "🥲", "☺️", "🙂", "🤗"}
	for _, em := range emoji[:9] {
		react("b", b, "react", em)
	}
	frames := e.answer("b", b, fmt.Sprintf(`{"action":"react","channel":"general","seq":%d,"emoji":%q}`, seq, emoji[9]))
	if code := errCode(t, frames); code != "too_large" {
		t.Errorf("an 11th reaction of one user: %s, want too_large", code)
	}
	for _, em := range emoji[9:18] { // c: 👍 and 9 more
		react("c", c, "react", em)
	}
	react("a", a, "react", emoji[18]) // the 20th distinct emoji
	frames = e.answer("a", a, fmt.Sprintf(`{"action":"react","channel":"general","seq":%d,"emoji":%q}`, seq, emoji[19]))
	if code := errCode(t, frames); code != "too_large" {
		t.Errorf("a 21st distinct emoji: %s, want too_large", code)
	}
	if len(stateOf(t, e.historyOf("a", a, "general", 0), seq)["reactions"].([]any)) != 20 {
		t.Error("want 20 distinct emoji on the message")
	}
}

func TestRepliesCountOnTheParentAndFormAThread(t *testing.T) {
	e := newEnv(t, testConfig())
	e.joinAll("general", "a", "b")
	a, b := user("u-a", "User a"), user("u-b", "User b")
	parent := e.sendAs("a", a, "general", "question?", "m1")
	var replies []int64
	for i := range 3 {
		frames := e.answer("b", b, fmt.Sprintf(`{"action":"send","channel":"general","text":"answer %d","clientId":"r%d","replyTo":%d}`, i, i, parent))
		replies = append(replies, int64(one(t, frames, "ack")["seq"].(float64)))
	}
	// a saw each reply with the parent's new state.
	var counts []any
	for _, f := range e.gw.take("a") {
		if f["type"] == "message" {
			counts = append(counts, f["parent"].(map[string]any)["replies"])
		}
	}
	if fmt.Sprint(counts) != "[1 2 3]" {
		t.Errorf("a saw the parent's reply counts %v, want [1 2 3]", counts)
	}
	h := e.historyOf("a", a, "general", 0)
	if got := stateOf(t, h, parent); got["replies"] != 3.0 || got["rev"] != float64(replies[2]) {
		t.Errorf("parent in history = %v, want 3 replies at rev %d", got, replies[2])
	}
	if got := stateOf(t, h, replies[0]); got["replyTo"] != float64(parent) {
		t.Errorf("reply in history = %v, want replyTo %d", got, parent)
	}
	th := e.historyOf2("a", a, fmt.Sprintf(`{"action":"history","channel":"general","thread":%d,"limit":2}`, parent))
	if th["thread"] != float64(parent) || len(th["messages"].([]any)) != 2 || th["more"] != true {
		t.Errorf("thread page 1 = %v, want 2 replies and more", th)
	}
	if st := th["states"].([]any)[0].(map[string]any); st["seq"] != float64(parent) || st["replies"] != 3.0 {
		t.Errorf("thread's parent state = %v", st)
	}
	th2 := e.historyOf2("a", a, fmt.Sprintf(`{"action":"history","channel":"general","thread":%d,"after":%v}`, parent, th["next"]))
	if ms := th2["messages"].([]any); len(ms) != 1 || ms[0].(map[string]any)["text"] != "answer 2" || th2["more"] != false {
		t.Errorf("thread page 2 = %v, want the last reply", th2)
	}
	if code := errCode(t, e.answer("a", a, fmt.Sprintf(`{"action":"send","channel":"general","text":"x","clientId":"r9","replyTo":%d}`, replies[0]))); code != "invalid_field" {
		t.Errorf("a reply to a reply: %s, want invalid_field", code)
	}
	ro := withChannels("u-r", "v1:general=r")
	e.open("r", ro)
	e.must("r", ro, `{"action":"join","channel":"general"}`)
	if code := errCode(t, e.answer("r", ro, fmt.Sprintf(`{"action":"send","channel":"general","text":"x","clientId":"r8","replyTo":%d}`, parent))); code != "forbidden" {
		t.Errorf("a reply without w: %s, want forbidden", code)
	}
}

// historyOf2 sends a history request body and returns the history frame.
func (e *env) historyOf2(id string, auth map[string]any, body string) map[string]any {
	e.t.Helper()
	return one(e.t, e.answer(id, auth, body), "history")
}

func TestLifecycleCapabilities(t *testing.T) {
	cfg := testConfig()
	e := newEnv(t, cfg)
	a := user("u-a", "User a")
	e.joinAll("general", "a")
	seq := e.sendAs("a", a, "general", "hi", "m1")
	ro := withChannels("u-a", "v1:general=r") // the author, reading only
	e.open("ro", ro)
	e.must("ro", ro, `{"action":"join","channel":"general"}`)
	tests := []struct{ body, want string }{
		{`{"action":"react","channel":"general","seq":%d,"emoji":"👍"}`, "ack"},
		{`{"action":"unreact","channel":"general","seq":%d,"emoji":"👍"}`, "ack"},
		{`{"action":"read","channel":"general","seq":%d}`, "read"},
		{`{"action":"edit","channel":"general","seq":%d,"text":"x","clientId":"e1"}`, "forbidden"},
		{`{"action":"delete","channel":"general","seq":%d,"clientId":"d1"}`, "forbidden"},
		{`{"action":"send","channel":"general","text":"x","clientId":"r1","replyTo":%d}`, "forbidden"},
	}
	for _, tt := range tests {
		frames := e.answer("ro", ro, fmt.Sprintf(tt.body, seq))
		got := fmt.Sprint(frames[len(frames)-1]["type"])
		if got == "error" {
			got = fmt.Sprint(frames[len(frames)-1]["code"])
		}
		if got != tt.want {
			t.Errorf("%s with r only: %s, want %s (%v)", tt.body, got, tt.want, frames)
		}
	}
	wo := withChannels("u-w", "v1:general=w")
	e.open("wo", wo)
	if code := errCode(t, e.answer("wo", wo, `{"action":"typing","channel":"general"}`)); code != "forbidden" {
		t.Errorf("typing with w only: %s, want forbidden", code)
	}
}

func TestTypingIsBroadcastThrottledAndStoresNothing(t *testing.T) {
	e := newEnv(t, testConfig())
	e.joinAll("general", "a", "b")
	a := user("u-a", "User a")
	e.db.Reset()
	e.must("a", a, `{"action":"typing","channel":"general"}`)
	ev := one(t, e.gw.take("b"), "typing")
	if ev["userId"] != "u-a" || ev["channel"] != "general" || ev["expiresIn"] != 6000.0 {
		t.Errorf("b got %v, want a's typing with expiresIn 6000", ev)
	}
	st := e.db.Stats()
	if n := st.Calls["PutItem"] + st.Calls["UpdateItem"] + st.Calls["DeleteItem"]; n != 0 {
		t.Errorf("typing wrote %d times (%v); want nothing stored", n, st.Calls)
	}
	e.clock.Advance(time.Second)
	if code := errCode(t, e.answer("a", a, `{"action":"typing","channel":"general"}`)); code != "rate_limited" {
		t.Errorf("typing again within 2 s: %s, want rate_limited", code)
	}
	if n := e.gw.count("b", "typing"); n != 0 {
		t.Errorf("the throttled typing reached b %d times", n)
	}
	e.clock.Advance(1500 * time.Millisecond)
	e.must("a", a, `{"action":"typing","channel":"general"}`)
	if n := e.gw.count("b", "typing"); n != 1 {
		t.Errorf("typing after the interval reached b %d times, want 1", n)
	}
}

func TestTypingIsQuietAbovePresenceSize(t *testing.T) {
	cfg := testConfig()
	cfg.PresenceMaxMembers = 2
	e := newEnv(t, cfg)
	e.joinAll("general", "a", "b", "c")
	e.must("a", user("u-a", "User a"), `{"action":"typing","channel":"general"}`)
	for _, id := range []string{"a", "b", "c"} {
		if n := e.gw.count(id, "typing"); n != 0 {
			t.Errorf("%s got %d typing events in a channel above the presence size", id, n)
		}
	}
}

func TestReadIsMonotonicSharedAndReceipted(t *testing.T) {
	e := newEnv(t, testConfig())
	e.joinAll("general", "a", "b")
	a, b := user("u-a", "User a"), user("u-b", "User b")
	for i := range 3 {
		e.sendAs("b", b, "general", fmt.Sprintf("m%d", i), fmt.Sprintf("c%d", i))
	}
	e.open("a2", a) // a's second device, not in the channel
	e.gw.take("b")
	e.must("a", a, `{"action":"read","channel":"general","seq":2}`)
	if r := one(t, e.gw.take("a"), "read"); r["seq"] != 2.0 || r["userId"] != "u-a" {
		t.Errorf("a got %v, want its read at 2", r)
	}
	if r := one(t, e.gw.take("a2"), "read"); r["seq"] != 2.0 {
		t.Errorf("a's other device got %v, want the read at 2", r)
	}
	if r := one(t, e.gw.take("b"), "read"); r["userId"] != "u-a" || r["seq"] != 2.0 {
		t.Errorf("b got %v, want a's read receipt", r)
	}
	// Lower: nothing changes, and only the requester hears the stored seq.
	if r := one(t, e.answer("a", a, `{"action":"read","channel":"general","seq":1}`), "read"); r["seq"] != 2.0 {
		t.Errorf("read at 1 after 2 answered %v, want 2", r)
	}
	if n := e.gw.count("b", "read") + e.gw.count("a2", "read"); n != 0 {
		t.Errorf("a lower read was announced %d times", n)
	}
	// The joiner learns it on any connection.
	e.must("a2", a, `{"action":"join","channel":"general"}`)
	var joined map[string]any
	for _, f := range e.gw.take("a2") {
		if f["type"] == "joined" && f["userId"] == "u-a" {
			joined = f
		}
	}
	if joined == nil || joined["lastRead"] != 2.0 {
		t.Errorf("a's join on its second device = %v, want lastRead 2", joined)
	}
}

func TestChannelsListUnreadAndPreview(t *testing.T) {
	e := newEnv(t, testConfig())
	e.joinAll("general", "a", "b")
	e.joinAll("random", "a")
	a, b := user("u-a", "User a"), user("u-b", "User b")
	e.sendAs("a", a, "general", "mine", "c0")                                                        // own: not unread
	m1 := e.sendAs("b", b, "general", "one", "c1")                                                   // unread
	m2 := e.sendAs("b", b, "general", "two", "c2")                                                   // deleted: not unread
	e.answer("b", b, fmt.Sprintf(`{"action":"react","channel":"general","seq":%d,"emoji":"👍"}`, m1)) // an update: not unread
	e.answer("b", b, fmt.Sprintf(`{"action":"delete","channel":"general","seq":%d,"clientId":"d"}`, m2))
	e.sendAs("b", b, "general", strings.Repeat("long ", 40), "c3") // unread, the preview

	list := one(t, e.answer("a", a, `{"action":"channels"}`), "channels")["channels"].([]any)
	if len(list) != 2 {
		t.Fatalf("channels = %v, want general and random", list)
	}
	g := list[0].(map[string]any)
	last := g["last"].(map[string]any)
	if g["channel"] != "general" || g["lastSeq"] != float64(e.counter("general")) || g["lastRead"] != 0.0 || g["unread"] != 2.0 ||
		len([]rune(last["text"].(string))) != 101 || last["userId"] != "u-b" {
		t.Errorf("general = %v, want 2 unread and the last message's preview", g)
	}
	// Read on one connection: every connection's list follows.
	e.must("a", a, fmt.Sprintf(`{"action":"read","channel":"general","seq":%d}`, m1))
	e.open("a3", a)
	g = one(t, e.answer("a3", a, `{"action":"channels"}`), "channels")["channels"].([]any)[0].(map[string]any)
	if g["lastRead"] != float64(m1) || g["unread"] != 1.0 {
		t.Errorf("after reading up to %d on another connection: %v, want 1 unread", m1, g)
	}
	// An explicit leave takes the channel off the list.
	e.must("a", a, `{"action":"leave","channel":"random"}`)
	if list := one(t, e.answer("a3", a, `{"action":"channels"}`), "channels")["channels"].([]any); len(list) != 1 {
		t.Errorf("after leaving random: %v", list)
	}
	// A token that no longer grants a channel does not list it.
	e.open("a4", withChannels("u-a", "v1:random"))
	if list := one(t, e.answer("a4", withChannels("u-a", "v1:random"), `{"action":"channels"}`), "channels")["channels"].([]any); len(list) != 0 {
		t.Errorf("channels of a token without general: %v", list)
	}
}

// Concurrent reactions to one message from many users: each is applied
// once, under its own seq, and the state every member folds equals the
// state history serves.
func TestConcurrentReactionsConverge(t *testing.T) {
	e := newEnv(t, testConfig())
	users := ids("u", 12)
	e.joinAll("general", users...)
	auth := func(id string) map[string]any { return user("u-"+id, "User "+id) }
	seq := e.sendAs(users[0], auth(users[0]), "general", "party", "m1")
	for _, id := range users {
		e.gw.take(id)
	}
	var wg sync.WaitGroup
	for i, id := range users {
		wg.Go(func() {
			em := []string{"👍", "🎉", "❤️"}[i%3]
			if _, err := e.do(id, auth(id), fmt.Sprintf(`{"action":"react","channel":"general","seq":%d,"emoji":%q,"clientId":"x%d"}`, seq, em, i)); err != nil {
				t.Logf("react by %s: %v", id, err)
			}
		})
	}
	wg.Wait()
	// Fold what one member received, keeping the state with the highest rev.
	var best map[string]any
	for _, f := range e.gw.take(users[1]) {
		if f["type"] == "update" {
			if m := f["message"].(map[string]any); best == nil || m["rev"].(float64) > best["rev"].(float64) {
				best = m
			}
		}
	}
	h := stateOf(t, e.historyOf(users[2], auth(users[2]), "general", 0), seq)
	total := 0.0
	for _, r := range h["reactions"].([]any) {
		total += r.(map[string]any)["count"].(float64)
	}
	if total != 12 || best["rev"] != h["rev"] {
		for _, id := range users {
			for _, f := range e.gw.take(id) {
				if f["type"] == "error" {
					t.Logf("%s got %v", id, f)
				}
			}
		}
		t.Errorf("history: %v reactions at rev %v; folded stream at rev %v; want 12, the same rev", total, h["rev"], best["rev"])
	}
	if b1, _ := json.Marshal(best["reactions"]); !strings.Contains(string(b1), `"count":4`) {
		t.Errorf("folded reactions = %s, want 4 of each", b1)
	}
}
