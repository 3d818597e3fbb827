package reliability

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/emutest"
)

// The abuse cases of issue #21's moderation: a muted user sending, a
// banned user rejoining, a member acting as a moderator, a moderator
// acting outside their channel. Like abuse_authz_test.go it uses only raw
// frames and raw signed HTTP, so tools/abuseprecheck-moderation.sh can run
// it against the code before moderation and show each case failing there.
func abuseModeration(ctx context.Context, t *testing.T, e *emutest.Emulator, tally *abuseTally) {
	api := newAccessAPI(e)
	tok := func(user string) string {
		s, err := e.Token(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	join := func(c *emutest.Client, channel string) {
		if err := c.Join(ctx, channel); err != nil {
			t.Fatalf("%s joins %s: %v", c.User, channel, err)
		}
	}
	moderate := func(channel string, body map[string]any) int {
		status, _, err := api.call(ctx, http.MethodPost, "/channels/"+channel+"/moderation", body)
		if err != nil {
			t.Fatal(err)
		}
		return status
	}
	modFrame := func(channel, op, user, id string) map[string]any {
		return map[string]any{"action": "moderate", "channel": channel, "op": op, "userId": user, "clientId": id}
	}

	mo, mutee, banned, member := dialAs(ctx, t, e, "mod-mo", tok("mod-mo")), dialAs(ctx, t, e, "mod-mutee", tok("mod-mutee")),
		dialAs(ctx, t, e, "mod-banned", tok("mod-banned")), dialAs(ctx, t, e, "mod-member", tok("mod-member"))
	for _, c := range []*emutest.Client{mo, mutee, banned, member} {
		join(c, "modroom")
	}

	// A muted user sending.
	muted := moderate("modroom", map[string]any{"op": "mute", "userId": "mod-mutee", "seconds": 600, "id": "abuse-mute"})
	_, err := mutee.Send(ctx, "modroom", "still talking", "muted-1")
	tally.check(t, "moderation: a muted user sending", codeOf(err) == "muted", fmt.Sprintf("mute %d, send %s", muted, codeOf(err)))

	// A banned user rejoining (and still receiving meanwhile).
	ban := moderate("modroom", map[string]any{"op": "ban", "userId": "mod-banned", "id": "abuse-ban"})
	answered := time.Now()
	if _, err := mo.Send(ctx, "modroom", "after the ban", "ban-1"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	received := messagesIn(banned, "modroom", answered)
	got := answerOf(ctx, banned, map[string]any{"action": "join", "channel": "modroom"}, "joined")
	tally.check(t, "moderation: a banned user rejoining", got == "banned" && received == 0,
		fmt.Sprintf("ban %d, %d later messages received, rejoin %s", ban, received, got))

	// A member acting as a moderator.
	got = answerOf(ctx, member, modFrame("modroom", "ban", "mod-mo", "abuse-member"), "ack")
	tally.check(t, "moderation: a member acting as moderator", got == "forbidden", got)

	// A moderator acting outside their channel: mod-mo moderates modroom
	// only, and is a plain member of elsewhere.
	role := moderate("modroom", map[string]any{"op": "role", "userId": "mod-mo", "role": "moderator", "id": "abuse-role"})
	join(mo, "elsewhere")
	join(member, "elsewhere")
	got = answerOf(ctx, mo, map[string]any{"action": "moderate", "channel": "elsewhere", "op": "mute", "userId": "mod-member",
		"seconds": 60, "clientId": "abuse-outside"}, "ack")
	tally.check(t, "moderation: a moderator acting outside their channel", got == "forbidden", fmt.Sprintf("role %d, mute elsewhere %s", role, got))
}
