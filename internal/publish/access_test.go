package publish_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/wire"
)

func privateChannel(channel, body string) (string, map[string]string, string) {
	return contract.PublishRoutePrivateChannel, map[string]string{"channel": channel}, body
}

func member(route, channel, user, body string) (string, map[string]string, string) {
	return route, map[string]string{"channel": channel, "userId": user}, body
}

// TestPrivateChannelRoutes drives a private channel's life through the
// publish API: create with first members (a retry is harmless), add, list
// page by page, remove (the user's connections are taken out at once and
// told; the others see left; the user cannot join again), and every
// refusal with its status and code.
func TestPrivateChannelRoutes(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	do := func(route string, params map[string]string, body string) (int, map[string]any) {
		return e.do(request(route, params, body))
	}
	status, body := do(privateChannel("board", `{"members":[{"userId":"ann","userName":"Ann"},{"userId":"bob"}]}`))
	if status != 200 || body["created"] != true || body["members"] != float64(2) {
		t.Fatalf("create = %d %v, want 200, created, 2 members", status, body)
	}
	if status, body = do(privateChannel("board", `{"members":[{"userId":"ann"}]}`)); status != 200 || body["created"] != false {
		t.Errorf("create again = %d %v, want 200, not created (a retry)", status, body)
	}
	for _, u := range []string{"carol", "dave"} {
		if status, body = do(member(contract.PublishRouteAddMember, "board", u, "")); status != 200 || body["added"] != true {
			t.Errorf("add %s = %d %v, want added", u, status, body)
		}
	}
	if status, body = do(member(contract.PublishRouteAddMember, "board", "carol", `{"userName":"Carol"}`)); status != 200 || body["added"] != false {
		t.Errorf("add carol again = %d %v, want 200, not added", status, body)
	}
	var listed []string
	cursor := ""
	for range 4 {
		ev := request(contract.PublishRouteListMembers, map[string]string{"channel": "board"}, "")
		if cursor != "" {
			ev.QueryStringParameters = map[string]string{"cursor": cursor}
		}
		status, body = e.do(ev)
		if status != 200 {
			t.Fatalf("list = %d %v", status, body)
		}
		for _, m := range body["members"].([]any) {
			listed = append(listed, m.(map[string]any)["userId"].(string))
		}
		next, _ := body["next"].(string)
		if cursor = next; cursor == "" {
			break
		}
	}
	if !slices.Equal(listed, []string{"ann", "bob", "carol", "dave"}) {
		t.Errorf("listed %v, want ann, bob, carol, dave", listed)
	}

	// bob is on two tabs in board; ann is there too.
	for _, c := range [][2]string{{"b1", "bob"}, {"b2", "bob"}, {"a1", "ann"}} {
		e.connect(c[0], c[1], "board")
	}
	status, body = do(member(contract.PublishRouteRemoveMember, "board", "bob", ""))
	if status != 200 || body["removed"] != true || body["connections"] != float64(2) {
		t.Fatalf("remove bob = %d %v, want removed, 2 connections", status, body)
	}
	for _, id := range []string{"b1", "b2"} {
		got := e.gw.received(id)
		if len(got) == 0 || got[len(got)-1]["type"] != "removed" || got[len(got)-1]["reason"] != wire.RemovedByBackend {
			t.Errorf("%s received %v, want a removed event last", id, got)
		}
		if _, err := e.store.Member(ctx, "board", id); !errors.Is(err, chat.ErrNotFound) {
			t.Errorf("%s is still a member: %v", id, err)
		}
	}
	lefts := 0
	for _, f := range e.gw.received("a1") {
		if f["type"] == "left" && f["userId"] == "bob" {
			lefts++
		}
	}
	if lefts != 2 {
		t.Errorf("ann saw %d lefts of bob, want 2 (one per connection)", lefts)
	}
	if _, err := e.store.AddMember(ctx, chat.Member{Channel: "board", ConnectionID: "b1", Identity: chat.Identity{UserID: "bob"}, JoinedAt: e.clock.Now()}, 20); !errors.Is(err, chat.ErrForbidden) {
		t.Errorf("bob joins after his removal: %v, want ErrForbidden", err)
	}
	if status, body = do(member(contract.PublishRouteRemoveMember, "board", "bob", "")); status != 200 || body["removed"] != false || body["connections"] != float64(0) {
		t.Errorf("remove bob again = %d %v, want 200, not removed, 0 connections", status, body)
	}

	// A public channel with members cannot turn private; member routes on
	// a public channel are 404; a direct message's pair is fixed (409).
	e.connect("z1", "zed", "lobby")
	dm := wire.DirectChannel("ann", "bob")
	if _, _, err := e.store.OpenDirect(ctx, chat.Identity{UserID: "ann", UserName: "Ann"}, "bob", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	refusals := []struct {
		name, route string
		params      map[string]string
		body        string
		status      int
		code        string
	}{
		{"public with members", contract.PublishRoutePrivateChannel, map[string]string{"channel": "lobby"}, `{"members":[{"userId":"ann"}]}`, 409, "conflict"},
		{"over a direct message", contract.PublishRoutePrivateChannel, map[string]string{"channel": dm}, `{"members":[{"userId":"eve"}]}`, 409, "conflict"},
		{"add to a public channel", contract.PublishRouteAddMember, map[string]string{"channel": "lobby", "userId": "ann"}, "", 404, "not_found"},
		{"add to a direct message", contract.PublishRouteAddMember, map[string]string{"channel": dm, "userId": "eve"}, "", 409, "conflict"},
		{"remove from a direct message", contract.PublishRouteRemoveMember, map[string]string{"channel": dm, "userId": "bob"}, "", 409, "conflict"},
		{"list a public channel", contract.PublishRouteListMembers, map[string]string{"channel": "lobby"}, "", 404, "not_found"},
		{"no members", contract.PublishRoutePrivateChannel, map[string]string{"channel": "x"}, `{"members":[]}`, 400, "invalid_field"},
		{"bad user id", contract.PublishRoutePrivateChannel, map[string]string{"channel": "x"}, `{"members":[{"userId":"a#b"}]}`, 400, "invalid_field"},
		{"unknown member field", contract.PublishRoutePrivateChannel, map[string]string{"channel": "x"}, `{"members":[{"userId":"a","colour":"red"}]}`, 400, "invalid_field"},
		{"unknown role", contract.PublishRoutePrivateChannel, map[string]string{"channel": "x"}, `{"members":[{"userId":"a","role":"admin"}]}`, 400, "invalid_field"},
		{"name with a control character", contract.PublishRoutePrivateChannel, map[string]string{"channel": "x"}, `{"members":[{"userId":"a","userName":"A\u0007"}]}`, 400, "invalid_field"},
		{"duplicate key", contract.PublishRoutePrivateChannel, map[string]string{"channel": "x"}, `{"members":[],"members":[]}`, 400, "invalid_json"},
		{"not JSON", contract.PublishRoutePrivateChannel, map[string]string{"channel": "x"}, `members`, 400, "invalid_json"},
		{"bad channel", contract.PublishRoutePrivateChannel, map[string]string{"channel": "Board"}, `{"members":[{"userId":"a"}]}`, 400, "invalid_field"},
		{"too many members", contract.PublishRoutePrivateChannel, map[string]string{"channel": "x"}, `{"members":[` + strings.Repeat(`{"userId":"a"},`, 100) + `{"userId":"a"}]}`, 400, "invalid_field"},
		{"removal with a body", contract.PublishRouteRemoveMember, map[string]string{"channel": "board", "userId": "ann"}, `{}`, 400, "invalid_field"},
		{"bad user in path", contract.PublishRouteAddMember, map[string]string{"channel": "board", "userId": "a/b"}, "", 400, "invalid_field"},
	}
	for _, r := range refusals {
		status, body := do(r.route, r.params, r.body)
		if status != r.status || body["code"] != r.code {
			t.Errorf("%s = %d %v, want %d %s", r.name, status, body, r.status, r.code)
		}
	}
	if info, _ := e.store.ChannelInfo(ctx, "x"); info.Private {
		t.Error("a refused create made channel x private")
	}
	ev := request(contract.PublishRouteListMembers, map[string]string{"channel": "board"}, "")
	ev.QueryStringParameters = map[string]string{"cursor": "%%%"}
	if status, body := e.do(ev); status != 400 || body["code"] != "invalid_field" {
		t.Errorf("list with a forged cursor = %d %v, want 400 invalid_field", status, body)
	}
}

// TestRevokeRoute: a revocation stores the time (rounded up to the second),
// closes the user's connections opened with tokens issued before it (a
// token_revoked frame first) and keeps those opened after it; its body is
// checked.
func TestRevokeRoute(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	now := e.clock.Now()
	for id, iat := range map[string]time.Time{"old": now.Add(-time.Hour), "new": now.Add(2 * time.Second)} {
		c := chat.Connection{ID: id, Identity: chat.Identity{UserID: "ann"}, ConnectedAt: now, ExpiresAt: now.Add(chat.ConnectionTTL), IssuedAt: iat.Truncate(time.Second)}
		if err := e.store.PutConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := e.store.PutUserConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	until := now.Add(1500 * time.Millisecond)
	status, body := e.do(request(contract.PublishRouteRevoke, map[string]string{"userId": "ann"}, `{"until":"`+until.Format(time.RFC3339Nano)+`"}`))
	want := until.Truncate(time.Second).Add(time.Second)
	if status != 200 || body["until"] != want.Format(time.RFC3339) || body["closed"] != float64(1) || body["gone"] != float64(0) {
		t.Fatalf("revoke = %d %v, want 200, until %s, 1 closed", status, body, want.Format(time.RFC3339))
	}
	e.gw.mu.Lock()
	closed := slices.Clone(e.gw.closed)
	e.gw.mu.Unlock()
	if !slices.Equal(closed, []string{"old"}) {
		t.Errorf("closed %v, want only the connection of the older token", closed)
	}
	if got := e.gw.received("old"); len(got) != 1 || got[0]["code"] != "token_revoked" {
		t.Errorf("old received %v, want token_revoked before its close", got)
	}
	if got, err := e.store.Revoked(ctx, "ann"); err != nil || !got.Equal(want) {
		t.Errorf("stored revocation %v, %v; want %v", got, err, want)
	}
	if status, body = e.do(request(contract.PublishRouteRevoke, map[string]string{"userId": "bob"}, "")); status != 200 || body["closed"] != float64(0) {
		t.Errorf("revoke without a body = %d %v, want 200 (until now)", status, body)
	}
	for name, b := range map[string]string{
		"too far ahead": `{"until":"` + now.Add(400*24*time.Hour).Format(time.RFC3339) + `"}`,
		"not a time":    `{"until":"tomorrow"}`,
		"unknown field": `{"when":"now"}`,
		"ancient":       `{"until":"1999-01-01T00:00:00Z"}`,
	} {
		if status, body = e.do(request(contract.PublishRouteRevoke, map[string]string{"userId": "ann"}, b)); status != 400 {
			t.Errorf("revoke with %s = %d %v, want 400", name, status, body)
		}
	}
}
