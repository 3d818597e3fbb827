package publish_test

import (
	"testing"
	"time"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/wire"
)

func moderation(channel, body string) (string, map[string]string, string) {
	return contract.PublishRouteModerate, map[string]string{"channel": channel}, body
}

// TestModerationRoute: a backend names a moderator of a public channel,
// mutes and bans users (the ban takes their connections out at once, each
// told), every action an event to the members as "server" with its seq;
// bad bodies are 400 and change nothing.
func TestModerationRoute(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	e.connect("a1", "ann", "lobby")
	e.connect("b1", "bob", "lobby")
	e.connect("b2", "bob", "lobby")

	for _, bad := range []string{
		`{"op":"mute","userId":"bob","id":"x"}`,                    // no seconds
		`{"op":"mute","userId":"bob","seconds":99999999,"id":"x"}`, // too long
		`{"op":"role","userId":"bob","role":"admin","id":"x"}`,     // no such role
		`{"op":"kick","userId":"bob","id":"x"}`,                    // no such op
		`{"op":"ban","userId":"bob"}`,                              // no id
		`{"op":"ban","userId":"bo/b","id":"x"}`,                    // the user id rule
		`{"op":"ban","userId":"bob","id":"x","reason":"a\u0000b"}`, // control character
		`{"op":"ban","userId":"bob","id":"x","extra":1}`,           // unknown field
	} {
		if status, body := e.do(request(moderation("lobby", bad))); status != 400 || body["code"] != "invalid_field" {
			t.Errorf("%s = %d %v, want 400 invalid_field", bad, status, body)
		}
	}
	if st, _ := e.store.Standing(ctx, "lobby", "bob"); st != (chat.Standing{}) {
		t.Fatalf("bad bodies changed bob's standing: %+v", st)
	}

	status, body := e.do(request(moderation("lobby", `{"op":"role","userId":"ann","role":"moderator","id":"r1"}`)))
	if status != 200 || body["seq"] != float64(1) {
		t.Fatalf("role = %d %v", status, body)
	}
	if st, err := e.store.Standing(ctx, "lobby", "ann"); err != nil || st.Role != wire.RoleModerator || st.Listed {
		t.Errorf("ann's standing = %+v, %v; want an unlisted moderator", st, err)
	}
	status, body = e.do(request(moderation("lobby", `{"op":"mute","userId":"bob","seconds":60,"id":"m1"}`)))
	if status != 200 || body["until"] != e.clock.Now().Add(time.Minute).UTC().Format("2006-01-02T15:04:05Z07:00") {
		t.Fatalf("mute = %d %v", status, body)
	}
	for _, id := range []string{"b1", "b2"} {
		if m, err := e.store.Member(ctx, "lobby", id); err != nil || !m.MutedUntil.Equal(e.clock.Now().Add(time.Minute)) {
			t.Errorf("%s's membership = %+v, %v; want the mute on it", id, m, err)
		}
	}
	status, body = e.do(request(moderation("lobby", `{"op":"ban","userId":"bob","reason":"spam","id":"b1"}`)))
	if status != 200 || body["connections"] != float64(2) || body["seq"] != float64(3) {
		t.Fatalf("ban = %d %v, want 2 connections, seq 3", status, body)
	}
	for _, id := range []string{"b1", "b2"} {
		got := e.gw.received(id)
		last := got[len(got)-1]
		if last["type"] != wire.TypeRemoved || last["reason"] != wire.RemovedByBan {
			t.Errorf("%s's last frame = %v, want removed (banned)", id, last)
		}
		if _, err := e.store.Member(ctx, "lobby", id); err == nil {
			t.Errorf("%s is still a member after the ban", id)
		}
	}
	var mods int
	for _, f := range e.gw.received("a1") {
		if f["type"] == wire.TypeModeration && f["from"] == "server" && f["byName"] == "Orders" {
			mods++
		}
	}
	if mods != 3 {
		t.Errorf("ann received %d moderation events from the server, want 3", mods)
	}
}
