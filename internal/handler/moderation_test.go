package handler_test

import (
	"testing"
	"time"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/wire"
)

// TestModerationOnAPublicChannel: a moderator (named by a backend, on the
// store) mutes, bans and deletes; every refusal says why; every action is
// an event in the stream with its own seq, fanned out and in history.
func TestModerationOnAPublicChannel(t *testing.T) {
	e := newEnv(t, testConfig())
	ctx := t.Context()
	e.joinAll("lobby", "m", "a", "b")
	mod, ann, bob := user("u-m", "User m"), user("u-a", "User a"), user("u-b", "User b")
	if _, err := e.store.Moderate(ctx, "lobby", "u-m", wire.ModRole, time.Time{}, wire.RoleModerator); err != nil {
		t.Fatal(err)
	}
	e.must("a", ann, `{"action":"send","channel":"lobby","text":"from ann","clientId":"a1"}`)
	e.gw.take("a")
	e.gw.take("b")
	e.gw.take("m")

	// A member acting as a moderator, and moderating oneself or a peer of
	// the same role.
	refusals := []struct{ id, body, want string }{
		{"a", `{"action":"moderate","channel":"lobby","op":"mute","userId":"u-b","seconds":60,"clientId":"x1"}`, "forbidden"},
		{"b", `{"action":"delete","channel":"lobby","seq":1,"clientId":"x2"}`, "forbidden"},
		{"m", `{"action":"moderate","channel":"lobby","op":"mute","userId":"u-m","seconds":60,"clientId":"x3"}`, "invalid_field"},
		{"m", `{"action":"moderate","channel":"lobby","op":"role","userId":"u-a","role":"moderator","clientId":"x4"}`, "forbidden"},
		{"m", `{"action":"moderate","channel":"lobby","op":"mute","userId":"u-a","clientId":"x5"}`, "invalid_field"},
		{"m", `{"action":"moderate","channel":"other","op":"ban","userId":"u-a","clientId":"x6"}`, "not_member"},
	}
	auth := map[string]map[string]any{"a": ann, "b": bob, "m": mod}
	for _, r := range refusals {
		if got := e.outcome(r.id, auth[r.id], r.body); got != r.want {
			t.Errorf("%s: %s = %s, want %s", r.id, r.body, got, r.want)
		}
	}

	// Mute: ann still receives, cannot send, react, type or edit (muted).
	if got := e.outcome("m", mod, `{"action":"moderate","channel":"lobby","op":"mute","userId":"u-a","seconds":600,"reason":"cool off","clientId":"k1"}`); got != "ack" {
		t.Fatalf("mute = %s, want ack", got)
	}
	ev := lastOf(e.gw.take("a"), wire.TypeModeration)
	if ev == nil || ev["op"] != "mute" || ev["userId"] != "u-a" || ev["byId"] != "u-m" || ev["until"] == nil || ev["seq"].(float64) != 2 {
		t.Fatalf("ann's moderation event = %v", ev)
	}
	for _, body := range []string{
		`{"action":"send","channel":"lobby","text":"still?","clientId":"a2"}`,
		`{"action":"react","channel":"lobby","seq":1,"emoji":":+1:"}`,
		`{"action":"typing","channel":"lobby"}`,
		`{"action":"edit","channel":"lobby","seq":1,"text":"edited","clientId":"a3"}`,
	} {
		if got := e.outcome("a", ann, body); got != string(wire.CodeMuted) {
			t.Errorf("muted %s = %s, want muted", body, got)
		}
	}
	e.must("b", bob, `{"action":"send","channel":"lobby","text":"from bob","clientId":"b1"}`)
	if n := e.gw.count("a", "message"); n != 1 {
		t.Errorf("muted ann got %d messages, want 1 (she still reads)", n)
	}
	// The mute ends on time.
	e.clock.Advance(601 * time.Second)
	if got := e.outcome("a", ann, `{"action":"send","channel":"lobby","text":"back","clientId":"a4"}`); got != "ack" {
		t.Errorf("send after the mute = %s, want ack", got)
	}

	// A moderator deletes another's message.
	if got := e.outcome("m", mod, `{"action":"delete","channel":"lobby","seq":1,"clientId":"k2"}`); got != "ack" {
		t.Errorf("moderator's delete = %s, want ack", got)
	}
	if m := e.history("lobby")[0]; !m.Deleted {
		t.Errorf("message 1 after the moderator's delete: %+v", m)
	}

	// Ban: ann's connection is out at once, gets the event then removed,
	// and cannot rejoin until unbanned.
	e.gw.take("a")
	if got := e.outcome("m", mod, `{"action":"moderate","channel":"lobby","op":"ban","userId":"u-a","clientId":"k3"}`); got != "ack" {
		t.Fatalf("ban = %s", got)
	}
	frames := e.gw.take("a")
	if lastOf(frames, wire.TypeModeration) == nil || lastOf(frames, wire.TypeRemoved)["reason"] != wire.RemovedByBan {
		t.Fatalf("banned ann's frames = %v", frames)
	}
	e.must("b", bob, `{"action":"send","channel":"lobby","text":"after the ban","clientId":"b2"}`)
	if n := e.gw.count("a", "message"); n != 0 {
		t.Errorf("banned ann received %d messages", n)
	}
	if got := e.outcome("a", ann, `{"action":"join","channel":"lobby"}`); got != string(wire.CodeBanned) {
		t.Errorf("banned rejoin = %s, want banned", got)
	}
	e.open("a2", ann) // a new connection is no way around it
	if got := e.outcome("a2", ann, `{"action":"join","channel":"lobby"}`); got != string(wire.CodeBanned) {
		t.Errorf("banned rejoin on a new connection = %s, want banned", got)
	}
	if got := e.outcome("m", mod, `{"action":"moderate","channel":"lobby","op":"unban","userId":"u-a","clientId":"k4"}`); got != "ack" {
		t.Fatalf("unban = %s", got)
	}
	if got := e.outcome("a", ann, `{"action":"join","channel":"lobby"}`); got != "joined" {
		t.Errorf("join after unban = %s, want joined", got)
	}

	// The stream replays every action in order.
	e.must("b", bob, `{"action":"history","channel":"lobby"}`)
	page := lastOf(e.gw.take("b"), "history")
	mods, _ := page["moderation"].([]any)
	var ops []string
	for _, m := range mods {
		ops = append(ops, m.(map[string]any)["op"].(string))
	}
	if len(ops) != 3 || ops[0] != "mute" || ops[1] != "ban" || ops[2] != "unban" {
		t.Errorf("history's moderation = %v, want mute ban unban", ops)
	}
}

// TestModerationOnAPrivateChannel: roles live on the member list; an owner
// names a moderator in-band; a ban keeps the list entry (an unban lets the
// user back) and survives a removal from the list; a mute reaches a
// membership joined after it.
func TestModerationOnAPrivateChannel(t *testing.T) {
	e := newEnv(t, testConfig())
	ctx := t.Context()
	now := e.clock.Now()
	if _, err := e.store.CreatePrivate(ctx, "board", []chat.Listed{{UserID: "own", Role: wire.RoleOwner, AddedAt: now},
		{UserID: "ann", AddedAt: now}, {UserID: "bob", AddedAt: now}}); err != nil {
		t.Fatal(err)
	}
	own, ann, bob := user("own", "Owner"), user("ann", "Ann"), user("bob", "Bob")
	for id, a := range map[string]map[string]any{"o": own, "a": ann, "b": bob} {
		e.open(id, a)
		e.must(id, a, `{"action":"join","channel":"board"}`)
	}
	if got := e.outcome("a", ann, `{"action":"moderate","channel":"board","op":"ban","userId":"bob","clientId":"x"}`); got != "forbidden" {
		t.Errorf("member's ban = %s, want forbidden", got)
	}
	if got := e.outcome("o", own, `{"action":"moderate","channel":"board","op":"role","userId":"ann","role":"moderator","clientId":"r1"}`); got != "ack" {
		t.Fatalf("owner's role = %s", got)
	}
	if l, err := e.store.Listed(ctx, "board", "ann"); err != nil || l.Role != wire.RoleModerator {
		t.Fatalf("ann's list entry = %+v, %v; want moderator", l, err)
	}
	// A moderator cannot moderate the owner.
	if got := e.outcome("a", ann, `{"action":"moderate","channel":"board","op":"mute","userId":"own","seconds":5,"clientId":"x2"}`); got != "forbidden" {
		t.Errorf("moderator muting the owner = %s, want forbidden", got)
	}
	// A mute reaches a connection that joins after it.
	if got := e.outcome("a", ann, `{"action":"moderate","channel":"board","op":"mute","userId":"bob","seconds":60,"clientId":"m1"}`); got != "ack" {
		t.Fatalf("mute = %s", got)
	}
	e.open("b2", bob)
	e.must("b2", bob, `{"action":"join","channel":"board"}`)
	if got := e.outcome("b2", bob, `{"action":"send","channel":"board","text":"hi","clientId":"b1"}`); got != string(wire.CodeMuted) {
		t.Errorf("muted send on a later connection = %s, want muted", got)
	}
	// Ban, removal from the list and re-adding do not lift it.
	if got := e.outcome("a", ann, `{"action":"moderate","channel":"board","op":"ban","userId":"bob","clientId":"m2"}`); got != "ack" {
		t.Fatalf("ban = %s", got)
	}
	if _, err := e.store.RemoveListed(ctx, "board", "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.AddListed(ctx, chat.Listed{Channel: "board", UserID: "bob", AddedAt: now}); err != nil {
		t.Fatal(err)
	}
	if got := e.outcome("b", bob, `{"action":"join","channel":"board"}`); got != string(wire.CodeBanned) {
		t.Errorf("banned member's join = %s, want banned", got)
	}
	if got := e.outcome("a", ann, `{"action":"moderate","channel":"board","op":"unban","userId":"bob","clientId":"m3"}`); got != "ack" {
		t.Fatalf("unban = %s", got)
	}
	if got := e.outcome("b", bob, `{"action":"join","channel":"board"}`); got != "joined" {
		t.Errorf("join after unban = %s, want joined", got)
	}
	// A retried moderation (same clientId) is recorded once.
	if got := e.outcome("a", ann, `{"action":"moderate","channel":"board","op":"unban","userId":"bob","clientId":"m3"}`); got != "ack" {
		t.Fatalf("retried unban = %s", got)
	}
	page, err := e.store.SettledHistory(ctx, chat.HistoryQuery{Channel: "board", Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(page.Moderation); n != 4 {
		t.Errorf("stream holds %d moderation actions, want 4 (role, mute, ban, unban once)", n)
	}
}
