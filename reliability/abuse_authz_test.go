package reliability

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/wschat/wschat/internal/emutest"
)

// The abuse cases of issue #21: private channels, direct messages, expiry,
// renewal and revocation. This file uses only what the code before that
// issue also had (raw signed HTTP for the publish API's access routes, the
// issuer's token endpoint, raw protocol frames), so that
// tools/abuseprecheck-authz.sh can run it against that code and show each
// case failing there.

// authzGrace is the token grace the abuse emulator's handlers run with
// (WSCHAT_TOKEN_GRACE), so the expiry case waits seconds, not a minute.
const authzGrace = time.Second

// authzFunctionEnv sets that grace where it applies.
var authzFunctionEnv = []string{"chat:WSCHAT_TOKEN_GRACE=1s", "connect:WSCHAT_TOKEN_GRACE=1s"}

// accessAPI calls the publish API of the emulator as a backend does: SigV4
// with the emulator's local credentials.
type accessAPI struct {
	base string // http://127.0.0.1:PORT/@http/dev
}

func newAccessAPI(e *emutest.Emulator) accessAPI {
	stage := e.WebSocketURL[strings.LastIndexByte(e.WebSocketURL, '/')+1:]
	return accessAPI{base: e.BaseURL + "/@http/" + stage}
}

// call sends one signed request and returns the status and JSON answer.
func (a accessAPI) call(ctx context.Context, method, path string, body any) (int, map[string]any, error) {
	var data []byte
	if body != nil {
		data, _ = json.Marshal(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, bytes.NewReader(data))
	if err != nil {
		return 0, nil, err
	}
	creds, _ := credentials.NewStaticCredentialsProvider("local", "local", "").Retrieve(ctx)
	sum := sha256.Sum256(data)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "execute-api", "us-east-1", time.Now()); err != nil {
		return 0, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, nil
}

// guessDirect computes a direct message's name from the documented rule
// (docs/protocol.md), as anyone who knows two user ids can.
func guessDirect(a, b string) string {
	if b < a {
		a, b = b, a
	}
	sum := sha256.Sum256([]byte("wschat.dm.v1|" + strconv.Itoa(len(a)) + ":" + a + "|" + strconv.Itoa(len(b)) + ":" + b))
	return "dm-" + base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding).EncodeToString(sum[:20])
}

// answerOf sends v on c and returns the code of the error it got, or
// "ok" when the answer of type ok came.
func answerOf(ctx context.Context, c *emutest.Client, v map[string]any, ok string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := c.Request(ctx, v, v["action"].(string), func(f emutest.Frame) bool { return f.Type == ok })
	return codeOf(err)
}

// messagesIn counts the message frames of channel c received after t.
func messagesIn(c *emutest.Client, channel string, after time.Time) int {
	n := 0
	for _, f := range c.Frames() {
		if f.Type == "message" && f.Channel == channel && f.Received.After(after) {
			n++
		}
	}
	return n
}

func dialAs(ctx context.Context, t *testing.T, e *emutest.Emulator, user, token string) *emutest.Client {
	t.Helper()
	c, status := dialStatus(ctx, e, user, token)
	if c == nil {
		t.Fatalf("dial as %s: %s", user, status)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

func abuseAuthz(ctx context.Context, t *testing.T, e *emutest.Emulator, tally *abuseTally) {
	api := newAccessAPI(e)
	tok := func(user string) string {
		s, err := e.Token(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	// A private channel not on the caller's list: the token (dev: every
	// channel) would allow it; the list does not.
	status, _, err := api.call(ctx, http.MethodPut, "/channels/vault", map[string]any{"members": []map[string]string{{"userId": "keeper"}}})
	if err != nil {
		t.Fatal(err)
	}
	intruder := dialAs(ctx, t, e, "intruder", tok("intruder"))
	got := answerOf(ctx, intruder, map[string]any{"action": "join", "channel": "vault"}, "joined")
	tally.check(t, "authz: join a private channel not on its list", got == "forbidden", fmt.Sprintf("create %d, join %s", status, got))

	// A direct message's name is public knowledge; joining it is not.
	ann := dialAs(ctx, t, e, "dm-ann", tok("dm-ann"))
	opened := answerOf(ctx, ann, map[string]any{"action": "direct", "userId": "dm-bob"}, "direct")
	dm := guessDirect("dm-ann", "dm-bob")
	got = answerOf(ctx, intruder, map[string]any{"action": "join", "channel": dm}, "joined")
	tally.check(t, "authz: join a guessed direct message", got == "forbidden", fmt.Sprintf("opened %s, join %s", opened, got))

	abuseRemovedMember(ctx, t, e, api, tally, tok)
	abuseExpiredToken(ctx, t, e, tally, tok)

	// A renewal with another user's (genuine, current) token.
	erin := dialAs(ctx, t, e, "erin", tok("erin"))
	got = answerOf(ctx, erin, map[string]any{"action": "reauth", "token": tok("mallory")}, "reauthed")
	tally.check(t, "authz: renew with another user's token", got == "forbidden", got)

	abuseRevoked(ctx, t, e, api, tally, tok)
}

// abuseRemovedMember: a backend removes a member; what the others send
// afterwards must not reach it.
func abuseRemovedMember(ctx context.Context, t *testing.T, e *emutest.Emulator, api accessAPI, tally *abuseTally, tok func(string) string) {
	status, _, err := api.call(ctx, http.MethodPut, "/channels/crew", map[string]any{"members": []map[string]string{{"userId": "crew-a"}, {"userId": "crew-b"}}})
	if err != nil {
		t.Fatal(err)
	}
	a, b := dialAs(ctx, t, e, "crew-a", tok("crew-a")), dialAs(ctx, t, e, "crew-b", tok("crew-b"))
	for _, c := range []*emutest.Client{a, b} {
		if err := c.Join(ctx, "crew"); err != nil {
			t.Fatalf("%s joins crew (create answered %d): %v", c.User, status, err)
		}
	}
	removed, _, err := api.call(ctx, http.MethodDelete, "/channels/crew/members/crew-b", nil)
	if err != nil {
		t.Fatal(err)
	}
	answered := time.Now()
	for i := range 5 {
		if _, err := a.Send(ctx, "crew", "after the removal", fmt.Sprintf("rm-%d", i)); err != nil {
			t.Fatalf("crew-a sends: %v", err)
		}
	}
	time.Sleep(300 * time.Millisecond) // what was fanned out has arrived
	n := messagesIn(b, "crew", answered)
	tally.check(t, "authz: a removed member still receiving", removed == 200 && n == 0,
		fmt.Sprintf("removal %d, %d of 5 later messages received", removed, n))
}

// abuseExpiredToken: a connection whose token expired, and that renews
// nothing, must receive nothing after the grace.
func abuseExpiredToken(ctx context.Context, t *testing.T, e *emutest.Emulator, tally *abuseTally, tok func(string) string) {
	short, err := e.TokenTTL(ctx, "fleeting", nil, 2*time.Second) // sends this run's issuer secret
	if err != nil {
		t.Fatal(err)
	}
	minted := time.Now()
	f := dialAs(ctx, t, e, "fleeting", short)
	if err := f.Join(ctx, "open"); err != nil {
		t.Fatal(err)
	}
	sender := dialAs(ctx, t, e, "steady", tok("steady"))
	if err := sender.Join(ctx, "open"); err != nil {
		t.Fatal(err)
	}
	// exp is whole seconds after the mint; past it and the grace:
	past := minted.Truncate(time.Second).Add(3*time.Second + authzGrace + 300*time.Millisecond)
	time.Sleep(time.Until(past))
	for i := range 3 {
		if _, err := sender.Send(ctx, "open", "too late for fleeting", fmt.Sprintf("late-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	n := messagesIn(f, "open", past)
	tally.check(t, "authz: an expired token still receiving", n == 0, fmt.Sprintf("%d of 3 messages after the grace received", n))
}

// abuseRevoked: a revoked user is closed, cannot come back with the old
// token, and cannot renew a new connection with it.
func abuseRevoked(ctx context.Context, t *testing.T, e *emutest.Emulator, api accessAPI, tally *abuseTally, tok func(string) string) {
	old := tok("fay")
	fay := dialAs(ctx, t, e, "fay", old)
	time.Sleep(1100 * time.Millisecond) // the revocation is at whole seconds, after old's iat
	status, _, err := api.call(ctx, http.MethodPut, "/users/fay/revocation", nil)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	select {
	case <-fay.Done():
		closed = true
	case <-time.After(5 * time.Second):
	}
	c, dialed := dialStatus(ctx, e, "fay", old)
	if c != nil {
		defer c.CloseNow()
	}
	tally.check(t, "authz: a revoked user's connection, and coming back with the old token", status == 200 && closed && dialed == "401",
		fmt.Sprintf("revocation %d, connection closed %v, reconnect with the old token %s", status, closed, dialed))
	time.Sleep(1100 * time.Millisecond) // a token issued after the revocation's second
	again := dialAs(ctx, t, e, "fay", tok("fay"))
	got := answerOf(ctx, again, map[string]any{"action": "reauth", "token": old}, "reauthed")
	tally.check(t, "authz: renew with a revoked token", got == "token_revoked", got)
}
