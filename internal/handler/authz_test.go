package handler_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/auth"
	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/handler"
	"github.com/wschat/wschat/wire"
)

// verifier is a hand-written TokenVerifier: each token string maps to what
// the real verifier would answer for it.
type verifier map[string]struct {
	id  auth.Identity
	err error
}

func (v verifier) Verify(_ context.Context, token string) (auth.Identity, error) {
	r, ok := v[token]
	if !ok {
		return auth.Identity{}, &auth.Error{Reason: auth.ReasonSignature, Detail: "signature does not verify"}
	}
	return r.id, r.err
}

// withToken is user(id, name) with a token expiring at exp, issued at iat,
// as the authorizer passes them (decimal strings).
func withToken(id string, iat, exp time.Time) map[string]any {
	a := user(id, id)
	a["exp"] = strconv.FormatInt(exp.Unix(), 10)
	a["iat"] = strconv.FormatInt(iat.Unix(), 10)
	return a
}

// lastOf returns the last frame of type typ in frames (nil if none).
func lastOf(frames []map[string]any, typ string) map[string]any {
	for i := len(frames) - 1; i >= 0; i-- {
		if frames[i]["type"] == typ {
			return frames[i]
		}
	}
	return nil
}

// outcome sends body on id and returns the answer's type, or the error's code.
func (e *env) outcome(id string, auth map[string]any, body string) string {
	e.t.Helper()
	e.gw.take(id)
	e.must(id, auth, body)
	frames := e.gw.take(id)
	if len(frames) == 0 {
		return "nothing"
	}
	if err := lastOf(frames, "error"); err != nil {
		return err["code"].(string)
	}
	return frames[len(frames)-1]["type"].(string)
}

// TestPrivateChannelDecidesByItsList: on a private channel the member list
// decides every action, whatever the token's patterns: a listed user whose
// token grants nothing joins, sends, reads history and lists members; an
// unlisted user whose token grants everything is refused (forbidden); a
// member a backend removes is taken out at once (removed to it, left to the
// others) and then refused.
func TestPrivateChannelDecidesByItsList(t *testing.T) {
	cfg := testConfig()
	cfg.DefaultChannels = "" // tokens without a claim grant nothing
	e := newEnv(t, cfg)
	ctx := t.Context()
	if _, err := e.store.CreatePrivate(ctx, "board", []chat.Listed{{UserID: "ann", AddedAt: e.clock.Now()}, {UserID: "bob", AddedAt: e.clock.Now()}}); err != nil {
		t.Fatal(err)
	}
	ann, bob, eve := user("ann", "Ann"), user("bob", "Bob"), withChannels("eve", "v1:*=rwpd")
	for id, a := range map[string]map[string]any{"c-ann": ann, "c-bob": bob, "c-eve": eve} {
		e.open(id, a)
	}
	cases := []struct {
		id   string
		auth map[string]any
		body string
		want string
	}{
		{"c-eve", eve, `{"action":"join","channel":"board"}`, "forbidden"},
		{"c-ann", ann, `{"action":"join","channel":"board"}`, "joined"},
		{"c-bob", bob, `{"action":"join","channel":"board"}`, "joined"},
		{"c-ann", ann, `{"action":"send","channel":"board","text":"hi","clientId":"p1"}`, "ack"},
		{"c-ann", ann, `{"action":"history","channel":"board"}`, "history"},
		{"c-ann", ann, `{"action":"members","channel":"board"}`, "members"},
		{"c-eve", eve, `{"action":"send","channel":"board","text":"x","clientId":"e1"}`, "not_member"},
		{"c-eve", eve, `{"action":"history","channel":"board"}`, "not_member"},
		{"c-ann", ann, `{"action":"join","channel":"lobby"}`, "forbidden"}, // a public channel: the token decides
	}
	for _, c := range cases {
		if got := e.outcome(c.id, c.auth, c.body); got != c.want {
			t.Errorf("%s %s = %s, want %s", c.id, c.body, got, c.want)
		}
	}

	// The backend removes bob: every connection of his is taken out.
	if _, err := e.store.RemoveListed(ctx, "board", "bob"); err != nil {
		t.Fatal(err)
	}
	ev := &handler.Evictor{Store: e.store, Poster: e.gw, Broadcaster: e.fan, Log: slog.New(slog.DiscardHandler)}
	conns, _ := e.store.ConnectionsOfUser(ctx, "bob")
	e.gw.take("c-bob")
	e.gw.take("c-ann")
	if n, err := ev.Evict(ctx, "board", conns, wire.RemovedByBackend, e.clock.Now(), chat.NewBudget(10)); err != nil || n != 1 {
		t.Fatalf("Evict = %d, %v; want bob's one connection", n, err)
	}
	if r := lastOf(e.gw.take("c-bob"), "removed"); r == nil || r["channel"] != "board" || r["reason"] != "removed" {
		t.Errorf("bob got no removed event for board")
	}
	if l := lastOf(e.gw.take("c-ann"), "left"); l == nil || l["userId"] != "bob" {
		t.Errorf("ann was not told bob left")
	}
	e.must("c-ann", ann, `{"action":"send","channel":"board","text":"after","clientId":"p2"}`)
	if got := e.gw.count("c-bob", "message"); got != 0 {
		t.Errorf("bob received %d messages after his removal, want 0", got)
	}
	for body, want := range map[string]string{
		`{"action":"send","channel":"board","text":"x","clientId":"b9"}`: "forbidden", // his token grants nothing and he is no member
		`{"action":"join","channel":"board"}`:                            "forbidden",
	} {
		if got := e.outcome("c-bob", bob, body); got != want {
			t.Errorf("bob after removal: %s = %s, want %s", body, got, want)
		}
	}
}

// TestDirectMessagesByAction: the direct action opens (once) the channel
// named after the two users, answers it with the peer, tells the peer's live
// connections on creation; only the two can join it; a third user who
// computes the name is refused; the switch and the capability are enforced.
func TestDirectMessagesByAction(t *testing.T) {
	cfg := testConfig()
	e := newEnv(t, cfg)
	ann, bob, eve := user("ann", "Ann"), user("bob", "Bob"), user("eve", "Eve")
	capped := withChannels("cap", "v1:general")
	for id, a := range map[string]map[string]any{"c-ann": ann, "c-bob": bob, "c-eve": eve, "c-cap": capped} {
		e.open(id, a)
	}
	dm := wire.DirectChannel("ann", "bob")
	e.gw.take("c-bob")
	e.must("c-ann", ann, `{"action":"direct","userId":"bob"}`)
	d := lastOf(e.gw.take("c-ann"), "direct")
	if d == nil || d["channel"] != dm || d["userId"] != "bob" || d["created"] != true {
		t.Fatalf("ann's answer %v, want the DM %s with bob, created", d, dm)
	}
	if n := lastOf(e.gw.take("c-bob"), "direct"); n == nil || n["channel"] != dm || n["userId"] != "ann" || n["userName"] != "Ann" {
		t.Errorf("bob was not told: %v", n)
	}
	e.must("c-bob", bob, `{"action":"direct","userId":"ann"}`)
	if d := lastOf(e.gw.take("c-bob"), "direct"); d == nil || d["channel"] != dm || d["userName"] != "Ann" || d["created"] != nil {
		t.Errorf("bob's answer %v, want the same DM with Ann, not created", d)
	}
	cases := []struct {
		id   string
		auth map[string]any
		body string
		want string
	}{
		{"c-ann", ann, `{"action":"join","channel":"` + dm + `"}`, "joined"},
		{"c-bob", bob, `{"action":"join","channel":"` + dm + `"}`, "joined"},
		{"c-eve", eve, `{"action":"join","channel":"` + dm + `"}`, "forbidden"},                               // guessed the name
		{"c-eve", eve, `{"action":"join","channel":"` + wire.DirectChannel("eve", "zed") + `"}`, "forbidden"}, // never opened
		{"c-cap", capped, `{"action":"direct","userId":"ann"}`, "forbidden"},                                  // no d on dm-*
		{"c-ann", ann, `{"action":"direct","userId":"ann"}`, "invalid_field"},                                 // oneself
		{"c-ann", ann, `{"action":"direct","userId":"a#b"}`, "invalid_field"},                                 // not a user id
		{"c-bob", bob, `{"action":"send","channel":"` + dm + `","text":"hi ann","clientId":"d1"}`, "ack"},
		{"c-eve", eve, `{"action":"history","channel":"` + dm + `"}`, "not_member"},
	}
	for _, c := range cases {
		if got := e.outcome(c.id, c.auth, c.body); got != c.want {
			t.Errorf("%s %s = %s, want %s", c.id, c.body, got, c.want)
		}
	}

	off := testConfig()
	off.DirectMessages = false
	e2 := newEnv(t, off)
	e2.open("c-ann", ann)
	for _, body := range []string{`{"action":"direct","userId":"bob"}`, `{"action":"join","channel":"` + dm + `"}`} {
		if got := e2.outcome("c-ann", ann, body); got != "forbidden" {
			t.Errorf("direct messages off: %s = %s, want forbidden", body, got)
		}
	}
}

// TestChannelsListPrivateAndDirect: the channel list shows the private
// channels and direct messages whose member list names the user, joined or
// not (a direct message with the other user's id and name, as that user
// last opened it), and never a private channel the user was taken off, even
// with a token that grants every channel: its preview would leak the
// channel's messages.
func TestChannelsListPrivateAndDirect(t *testing.T) {
	e := newEnv(t, testConfig())
	ctx := t.Context()
	if _, err := e.store.CreatePrivate(ctx, "board", []chat.Listed{{UserID: "ann", AddedAt: e.clock.Now()}, {UserID: "bob", AddedAt: e.clock.Now()}}); err != nil {
		t.Fatal(err)
	}
	ann, bob := user("ann", "Ann"), withChannels("bob", "v1:*=rwpd")
	e.open("c-ann", ann)
	e.open("c-bob", bob)
	e.must("c-bob", bob, `{"action":"join","channel":"board"}`)
	e.must("c-bob", bob, `{"action":"send","channel":"board","text":"for members only","clientId":"b1"}`)
	e.must("c-bob", bob, `{"action":"join","channel":"general"}`)
	e.must("c-bob", bob, `{"action":"direct","userId":"ann"}`)
	dm := wire.DirectChannel("ann", "bob")

	list := func(id string, auth map[string]any) map[string]map[string]any {
		t.Helper()
		out := map[string]map[string]any{}
		for _, c := range one(t, e.answer(id, auth, `{"action":"channels"}`), "channels")["channels"].([]any) {
			m := c.(map[string]any)
			out[m["channel"].(string)] = m
		}
		return out
	}
	// ann joined nothing: the list still shows what she is listed on.
	got := list("c-ann", ann)
	if b := got["board"]; len(got) != 2 || b == nil || b["private"] != true || b["unread"] != 1.0 || b["peerId"] != nil {
		t.Errorf("ann's list %v, want board (private, 1 unread) and the DM", got)
	}
	if d := got[dm]; d == nil || d["private"] != true || d["peerId"] != "bob" || d["peerName"] != "bob" {
		t.Errorf("ann's DM entry %v, want peer bob named by his id (he opened it with a token without a name)", d)
	}
	e.must("c-ann", ann, `{"action":"direct","userId":"bob"}`)
	if d := list("c-bob", bob)[dm]; d == nil || d["peerId"] != "ann" || d["peerName"] != "Ann" {
		t.Errorf("bob's DM entry %v, want peer ann named Ann", d)
	}
	if g := list("c-bob", bob)["general"]; g == nil || g["private"] != nil {
		t.Errorf("bob's general %v, want a public entry", g)
	}

	// bob is taken off board: his token grants *, he joined it, and it
	// is still on his joined list, but the channel list leaves it out.
	if _, err := e.store.RemoveListed(ctx, "board", "bob"); err != nil {
		t.Fatal(err)
	}
	got = list("c-bob", bob)
	if _, ok := got["board"]; ok || len(got) != 2 {
		t.Errorf("bob's list after his removal %v, want general and the DM only", got)
	}
}

// TestExpiredGrantIsRefusedClosedAndSkipped: past its token's exp plus the
// grace a connection's next request (ping included) is refused with
// token_expired and the connection closed, and broadcasts skip it even if
// it makes none; within the grace it works.
func TestExpiredGrantIsRefusedClosedAndSkipped(t *testing.T) {
	cfg := testConfig()
	cfg.TokenGrace = 10 * time.Second
	e := newEnv(t, cfg)
	cl := &closer{}
	e.chat.CloseWith(cl)
	now := e.clock.Now()
	short := withToken("ann", now, now.Add(time.Minute))
	idle := withToken("ida", now, now.Add(time.Minute))
	long := withToken("bob", now, now.Add(time.Hour))
	for id, a := range map[string]map[string]any{"c-ann": short, "c-ida": idle, "c-bob": long} {
		e.open(id, a)
		e.must(id, a, `{"action":"join","channel":"general"}`)
	}
	e.clock.Advance(time.Minute + 5*time.Second) // past exp, within the grace
	if got := e.outcome("c-ann", short, `{"action":"send","channel":"general","text":"in grace","clientId":"g1"}`); got != "ack" {
		t.Fatalf("a send within the grace = %s, want ack", got)
	}
	e.clock.Advance(6 * time.Second) // past exp + grace
	e.gw.take("c-ida")
	e.must("c-bob", long, `{"action":"send","channel":"general","text":"after","clientId":"b1"}`)
	if got := e.gw.count("c-ida", "message"); got != 0 {
		t.Errorf("the idle expired connection received %d messages, want 0 (broadcasts skip it)", got)
	}
	for _, body := range []string{`{"action":"send","channel":"general","text":"late","clientId":"g2"}`, `{"action":"ping"}`} {
		if got := e.outcome("c-ann", short, body); got != "token_expired" {
			t.Errorf("%s past the grace = %s, want token_expired", body, got)
		}
	}
	if got := cl.ids(); !slices.Equal(got, []string{"c-ann", "c-ann"}) {
		t.Errorf("closed %v, want c-ann closed by each refused request", got)
	}
	if got := e.outcome("c-bob", long, `{"action":"ping"}`); got != "pong" {
		t.Errorf("a current connection's ping = %s, want pong", got)
	}
}

// TestReauth: a fresh token of the same user extends the grant (the
// connection keeps its memberships and broadcasts reach it again) and
// replaces its capabilities at once, leaving a public channel it no longer
// grants; every other token is refused with a reason and changes nothing.
func TestReauth(t *testing.T) {
	cfg := testConfig()
	cfg.TokenGrace = 5 * time.Second
	cfg.DefaultChannels = ""
	now := time.Date(2026, 11, 26, 20, 30, 0, 0, time.UTC)
	exp := now.Add(time.Minute)
	ann := withToken("ann", now, exp)
	ann["channels"] = "v1:general team"
	v := verifier{
		"fresh":     {id: auth.Identity{UserID: "ann", Channels: "v1:general", ExpiresAt: now.Add(2 * time.Hour), IssuedAt: now.Add(30 * time.Second)}},
		"old":       {id: auth.Identity{UserID: "ann", Channels: "v1:*", ExpiresAt: now.Add(time.Hour), IssuedAt: now.Add(-time.Hour)}},
		"other":     {id: auth.Identity{UserID: "mallory", ExpiresAt: now.Add(time.Hour), IssuedAt: now}},
		"expired":   {err: &auth.Error{Reason: auth.ReasonExpired, Detail: "exp has passed"}},
		"keys-down": {err: &auth.Error{Reason: auth.ReasonKeysUnavailable}},
	}
	e := newEnv(t, cfg)
	e.chat.WithVerifier(v)
	ctx := t.Context()
	if err := e.store.PutRevocation(ctx, "ann", now); err != nil {
		t.Fatal(err)
	}
	e.open("c-ann", ann) // a token issued at the revocation time itself counts as after it
	bob := withToken("bob", now, now.Add(time.Hour))
	bob["channels"] = "v1:general"
	e.open("c-bob", bob)
	for _, ch := range []string{"general", "team"} {
		e.must("c-ann", ann, `{"action":"join","channel":"`+ch+`"}`)
	}
	e.clock.Advance(30 * time.Second)
	refusals := map[string]string{
		"other":   "forbidden",
		"old":     "token_revoked",
		"expired": "unauthorized",
		"forged":  "unauthorized",
	}
	for tok, want := range refusals {
		if got := e.outcome("c-ann", ann, `{"action":"reauth","token":"`+tok+`"}`); got != want {
			t.Errorf("reauth with %s = %s, want %s", tok, got, want)
		}
	}
	// The issuer's keys out of reach is our failure: internal, retry.
	if resp, err := e.do("c-ann", ann, `{"action":"reauth","token":"keys-down"}`); resp.StatusCode != 500 || err == nil ||
		lastOf(e.gw.take("c-ann"), "error")["code"] != "internal" {
		t.Errorf("reauth while the keys are unavailable = %d, %v; want 500 and an internal frame", resp.StatusCode, err)
	}
	if got := e.outcome("c-ann", ann, `{"action":"reauth","token":"fresh"}`); got != "reauthed" {
		t.Fatalf("reauth with a fresh token = %s, want reauthed", got)
	}
	e.clock.Advance(time.Minute) // past the first token's exp + grace
	e.gw.take("c-ann")
	e.must("c-bob", bob, `{"action":"join","channel":"general"}`)
	e.must("c-bob", bob, `{"action":"send","channel":"general","text":"to ann","clientId":"r1"}`)
	frames := e.gw.take("c-ann")
	if lastOf(frames, "message") == nil {
		t.Errorf("the renewed connection got no broadcast after its first token's exp: %v", frames)
	}
	// The new grant has no "team": that membership went at the reauth.
	if got := e.outcome("c-ann", ann, `{"action":"send","channel":"team","text":"x","clientId":"t1"}`); got != "forbidden" {
		t.Errorf("send to team after a grant without it = %s, want forbidden", got)
	}
	if _, err := e.store.Member(ctx, "team", "c-ann"); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("ann's team membership after the narrower grant: %v, want gone", err)
	}
	if got := e.outcome("c-ann", ann, `{"action":"send","channel":"general","text":"still","clientId":"g1"}`); got != "ack" {
		t.Errorf("send to general after the renewal = %s, want ack", got)
	}

	noVerifier := newEnv(t, cfg)
	noVerifier.open("c-ann", ann)
	if got := noVerifier.outcome("c-ann", ann, `{"action":"reauth","token":"fresh"}`); got != "unauthorized" {
		t.Errorf("reauth without a verifier = %s, want unauthorized", got)
	}
}

// TestReauthDropsUngrantedChannelWithRemovedEvent: the narrower grant's
// lost channel is left with a removed event (reason grant) to the
// connection and left to the channel's others.
func TestReauthDropsUngrantedChannelWithRemovedEvent(t *testing.T) {
	cfg := testConfig()
	cfg.DefaultChannels = ""
	now := time.Date(2026, 11, 26, 20, 30, 0, 0, time.UTC)
	ann := withToken("ann", now, now.Add(time.Hour))
	ann["channels"] = "v1:team"
	bob := withChannels("bob", "v1:team")
	e := newEnv(t, cfg)
	e.chat.WithVerifier(verifier{"narrow": {id: auth.Identity{UserID: "ann", Channels: "v1:", ExpiresAt: now.Add(2 * time.Hour), IssuedAt: now}}})
	e.open("c-ann", ann)
	e.open("c-bob", bob)
	e.must("c-ann", ann, `{"action":"join","channel":"team"}`)
	e.must("c-bob", bob, `{"action":"join","channel":"team"}`)
	e.gw.take("c-ann")
	e.gw.take("c-bob")
	e.must("c-ann", ann, `{"action":"reauth","token":"narrow"}`)
	frames := e.gw.take("c-ann")
	if r := lastOf(frames, "removed"); r == nil || r["channel"] != "team" || r["reason"] != "grant" {
		t.Errorf("ann's frames %v, want removed from team (grant)", frames)
	}
	if lastOf(frames, "reauthed") == nil {
		t.Errorf("ann's frames %v, want reauthed", frames)
	}
	if l := lastOf(e.gw.take("c-bob"), "left"); l == nil || l["userId"] != "ann" {
		t.Error("bob was not told ann left team")
	}
}

// TestConnectRefusesExpiredAndRevokedTokens: $connect refuses a token past
// its exp plus the grace (the authorizer's leeway may still admit it) and
// one issued before the user's revocation, each with 401 and the error
// frame as body; it indexes an accepted connection's expiry.
func TestConnectRefusesExpiredAndRevokedTokens(t *testing.T) {
	cfg := testConfig()
	cfg.TokenGrace = 10 * time.Second
	e := newEnv(t, cfg)
	ctx := t.Context()
	now := e.clock.Now()
	if err := e.store.PutRevocation(ctx, "rex", now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		id     string
		auth   map[string]any
		status int
		code   string
	}{
		{"c1", withToken("ann", now.Add(-time.Hour), now.Add(-20*time.Second)), 401, "token_expired"},
		{"c2", withToken("rex", now.Add(-2*time.Minute), now.Add(time.Hour)), 401, "token_revoked"},
		{"c3", withToken("rex", now.Add(-30*time.Second), now.Add(time.Hour)), 200, ""},
		{"c4", withToken("ann", now.Add(-time.Hour), now.Add(-5*time.Second)), 200, ""}, // within the grace
	}
	for _, c := range cases {
		req := fixture(t, "connect")
		req.RequestContext.ConnectionID, req.RequestContext.Authorizer = c.id, c.auth
		resp, err := e.connect.Handle(ctx, req)
		if err != nil || resp.StatusCode != c.status {
			t.Errorf("%s: connect = %d, %v; want %d", c.id, resp.StatusCode, err, c.status)
			continue
		}
		_, gerr := e.store.Connection(ctx, c.id)
		if c.status != 200 {
			if !errors.Is(gerr, chat.ErrNotFound) || !strings.Contains(resp.Body, `"code":"`+c.code+`"`) {
				t.Errorf("%s: body %s, connection %v; want %s and nothing stored", c.id, resp.Body, gerr, c.code)
			}
			continue
		}
		if gerr != nil {
			t.Errorf("%s: accepted but not stored: %v", c.id, gerr)
		}
	}
	due, err := e.store.DueExpiries(ctx, (now.Add(5*time.Second).Unix())/60, now.Add(6*time.Second))
	if err != nil || len(due) != 1 || due[0].ConnectionID != "c4" {
		t.Errorf("due expiries %+v, %v; want c4's (exp - 5s + 10s grace)", due, err)
	}
}

// TestExpiryFunction: a run closes each connection whose grant ended (a
// token_expired frame first), leaves renewed ones, cleans up gone ones, and
// records how far it got; a later run starts after that.
func TestExpiryFunction(t *testing.T) {
	cfg := testConfig()
	cfg.TokenGrace = 0
	e := newEnv(t, cfg)
	ctx := t.Context()
	now := e.clock.Now()
	for i, id := range []string{"old", "renewed", "gone"} {
		e.open(id, withToken("u"+strconv.Itoa(i), now, now.Add(time.Minute)))
	}
	if _, err := e.store.RenewGrant(ctx, "renewed", "u1", chat.Grant{Until: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	e.gw.setGone("gone")
	cl := &goneAwareCloser{closer: &closer{}, gone: map[string]bool{"gone": true}}
	x := handler.NewExpiry(e.store, e.gw, cl, slog.New(slog.DiscardHandler), nil)
	x.SetClock(e.clock.Now)
	e.clock.Advance(2 * time.Minute)
	st, err := x.Handle(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.Closed != 1 || st.Renewed != 1 || st.Gone != 1 || !slices.Equal(cl.ids(), []string{"old"}) {
		t.Fatalf("run %+v closed %v; want old closed, renewed kept, gone cleaned", st, cl.ids())
	}
	if f := lastOf(e.gw.take("old"), "error"); f == nil || f["code"] != "token_expired" {
		t.Errorf("old got %v before its close, want token_expired", f)
	}
	if _, err := e.store.Connection(ctx, "gone"); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("the gone connection's item: %v, want removed", err)
	}
	again, err := x.Handle(ctx, nil)
	if err != nil || again.Due != 0 || again.Minutes > 2 {
		t.Errorf("second run %+v, %v; want nothing due, from where the first stopped", again, err)
	}
}

// goneAwareCloser answers ErrGone for the ids in gone.
type goneAwareCloser struct {
	*closer
	gone map[string]bool
}

func (g *goneAwareCloser) Delete(ctx context.Context, id string) error {
	if g.gone[id] {
		return fmt.Errorf("delete: %w", chat.ErrGone)
	}
	return g.closer.Delete(ctx, id)
}
