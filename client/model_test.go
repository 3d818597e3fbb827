package client

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// state renders a message of the model for comparison.
func state(m *model, seq int64) string {
	msg, ok := m.message(seq)
	if !ok {
		return "absent"
	}
	var rx []string
	for _, r := range msg.Reactions {
		mine := ""
		if r.Mine {
			mine = "*"
		}
		rx = append(rx, fmt.Sprintf("%s%d%s", r.Emoji, r.Count, mine))
	}
	return fmt.Sprintf("%q rev %d del %v edited %v rx [%s] replies %d", msg.Text, msg.Rev, msg.Deleted, msg.Edited, strings.Join(rx, " "), msg.Replies)
}

func msgEv(seq int64, user, text string) Event {
	return Event{Type: EventMessage, Message: Message{Seq: seq, Rev: seq, UserID: user, Text: text}}
}

func updEv(seq int64, action, user, emoji string, st Message) Event {
	return Event{Type: EventUpdate, Update: Update{Seq: seq, Action: action, Target: st.Seq, UserID: user, Emoji: emoji, State: st}}
}

func TestModelFoldsTheStream(t *testing.T) {
	m := newModel(100)
	m.me = "me"
	m.fold(msgEv(1, "ann", "hi"))
	m.fold(updEv(2, UpdateEdit, "ann", "", Message{Seq: 1, Rev: 2, UserID: "ann", Text: "hello", Edited: true}))
	m.fold(updEv(3, UpdateReact, "me", "👍", Message{Seq: 1, Rev: 3, UserID: "ann", Text: "hello", Edited: true,
		Reactions: []Reaction{{Emoji: "👍", Count: 1}}}))
	m.fold(updEv(4, UpdateReact, "bo", "👍", Message{Seq: 1, Rev: 4, UserID: "ann", Text: "hello", Edited: true,
		Reactions: []Reaction{{Emoji: "👍", Count: 2}}}))
	if got, want := state(m, 1), `"hello" rev 4 del false edited true rx [👍2*] replies 0`; got != want {
		t.Errorf("after edit and reactions: %s, want %s", got, want)
	}
	// A stale state (lower rev) changes nothing; a newer one wins whole.
	m.fold(updEv(2, UpdateEdit, "ann", "", Message{Seq: 1, Rev: 2, UserID: "ann", Text: "hello"}))
	m.fold(updEv(5, UpdateDelete, "ann", "", Message{Seq: 1, Rev: 5, UserID: "ann", Deleted: true, Edited: true}))
	if got, want := state(m, 1), `"" rev 5 del true edited true rx [] replies 0`; got != want {
		t.Errorf("after delete: %s, want %s", got, want)
	}
	// A reply carries its parent's state.
	m.fold(msgEv(6, "bo", "q"))
	reply := msgEv(7, "ann", "a")
	reply.Message.ReplyTo = 6
	reply.parent = &Message{Seq: 6, Rev: 7, UserID: "bo", Text: "q", Replies: 1}
	m.fold(reply)
	if got, want := state(m, 6), `"q" rev 7 del false edited false rx [] replies 1`; got != want {
		t.Errorf("parent after a reply: %s, want %s", got, want)
	}
	// Unread: not mine, not deleted, above lastRead.
	m.fold(msgEv(8, "me", "mine"))
	if n := m.unread(); n != 2 {
		t.Errorf("unread = %d, want 2 (6 and 7)", n)
	}
	m.fold(Event{Type: EventRead, Read: ReadReceipt{UserID: "me", Seq: 6}})
	m.fold(Event{Type: EventRead, Read: ReadReceipt{UserID: "me", Seq: 2}}) // lower: ignored
	if n := m.unread(); n != 1 || m.lastRead != 6 {
		t.Errorf("unread = %d, lastRead %d; want 1 and 6", n, m.lastRead)
	}
}

func TestModelMineFromHistoryAndOwnUpdates(t *testing.T) {
	m := newModel(100)
	m.me = "me"
	// History (personal) says the message is at rev 9 with my 👍.
	hist := Event{Type: EventMessage, personal: true, Message: Message{Seq: 1, Rev: 9, UserID: "ann", Text: "x",
		Reactions: []Reaction{{Emoji: "👍", Count: 2, Mine: true}, {Emoji: "🎉", Count: 1}}}}
	m.fold(hist)
	// An update of mine below rev 9 arrives in order: its state is older.
	m.fold(updEv(5, UpdateReact, "me", "👍", Message{Seq: 1, Rev: 5, Reactions: []Reaction{{Emoji: "👍", Count: 1}}}))
	// A broadcast (not personal) newer state keeps my flags.
	m.fold(updEv(10, UpdateReact, "bo", "🎉", Message{Seq: 1, Rev: 10, Text: "x",
		Reactions: []Reaction{{Emoji: "👍", Count: 2}, {Emoji: "🎉", Count: 2}}}))
	if got, want := state(m, 1), `"x" rev 10 del false edited false rx [👍2* 🎉2] replies 0`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	m.fold(updEv(11, UpdateUnreact, "me", "👍", Message{Seq: 1, Rev: 11, Text: "x",
		Reactions: []Reaction{{Emoji: "👍", Count: 1}, {Emoji: "🎉", Count: 2}}}))
	if got, want := state(m, 1), `"x" rev 11 del false edited false rx [👍1 🎉2] replies 0`; got != want {
		t.Errorf("after my unreact: %s, want %s", got, want)
	}
}

func TestModelTypingExpiresAndReceipts(t *testing.T) {
	m := newModel(100)
	m.me = "me"
	now := time.Now()
	m.fold(Event{Type: EventTyping, Typing: Typist{UserID: "ann", UserName: "Ann", Until: now.Add(time.Second)}})
	m.fold(Event{Type: EventTyping, Typing: Typist{UserID: "me", Until: now.Add(time.Second)}})
	m.fold(Event{Type: EventTyping, Typing: Typist{UserID: "bo", UserName: "Bo", Until: now.Add(3 * time.Second)}})
	if got := m.typists(now); len(got) != 2 || got[0].UserName != "Ann" {
		t.Errorf("typing = %+v, want Ann and Bo (not me)", got)
	}
	if got := m.typists(now.Add(2 * time.Second)); len(got) != 1 || got[0].UserName != "Bo" {
		t.Errorf("typing 2 s later = %+v, want Bo only", got)
	}
	m.fold(msgEv(3, "bo", "done"))
	if _, ok := m.typing["bo"]; ok {
		t.Error("a message did not end its author's typing")
	}
	// A message sent before the typing signal (a catch-up delivers it
	// late) does not end it: only a newer one does.
	m.fold(Event{Type: EventTyping, Typing: Typist{UserID: "bo", Until: now.Add(3 * time.Second), since: now}})
	old := msgEv(4, "bo", "sent before")
	old.Message.SentAt = now.Add(-time.Second)
	if m.fold(old); len(m.typists(now)) != 1 {
		t.Error("a message older than the typing signal ended it")
	}
	late := msgEv(5, "bo", "sent after")
	late.Message.SentAt = now.Add(time.Second)
	if m.fold(late); len(m.typists(now)) != 0 {
		t.Error("a message newer than the typing signal did not end it")
	}
	m.fold(Event{Type: EventRead, Read: ReadReceipt{UserID: "ann", Seq: 3}})
	m.fold(Event{Type: EventRead, Read: ReadReceipt{UserID: "ann", Seq: 2}})
	if m.reads["ann"].Seq != 3 {
		t.Errorf("ann's receipt = %d, want 3", m.reads["ann"].Seq)
	}
}

func TestModelIsBounded(t *testing.T) {
	m := newModel(50)
	for i := int64(1); i <= 200; i++ {
		m.fold(msgEv(i, "ann", "x"))
	}
	if n := len(m.msgs); n > 50 {
		t.Errorf("model holds %d messages, bound 50", n)
	}
	if _, ok := m.message(200); !ok {
		t.Error("the newest message was evicted")
	}
}

// A joined event of a channel above the presence size carries the member
// count in "members", where a members answer has its list: both decode.
func TestFrameDecodesMembersAsCountOrList(t *testing.T) {
	for _, raw := range []string{
		`{"type":"joined","channel":"big","userId":"u1","userName":"A","at":"2026-01-02T03:04:05Z","lastSeq":4,"members":4213,"lastRead":2}`,
		`{"type":"members","channel":"big","members":[{"userId":"u1","userName":"A","joinedAt":"2026-01-02T03:04:05Z"}]}`,
		`{"type":"error","code":"forbidden","message":"no","action":"edit"}`,
		`{"type":"update","channel":"c","seq":5,"action":"edit","target":1,"userId":"u1","userName":"A","at":"2026-01-02T03:04:05Z","message":{"seq":1,"userId":"u1","userName":"A","text":"x","clientId":"c1","sentAt":"2026-01-02T03:04:05Z","rev":5}}`,
	} {
		var f frame
		if err := json.Unmarshal([]byte(raw), &f); err != nil {
			t.Errorf("%s: %v", raw, err)
		}
	}
	var f frame
	_ = json.Unmarshal([]byte(`{"type":"error","code":"forbidden","message":"not yours","action":"edit"}`), &f)
	if se := f.serverError(); se.Message != "not yours" || se.Action != "edit" {
		t.Errorf("serverError = %+v", se)
	}
}
