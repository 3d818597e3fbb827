package handler_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/dynamo"
	"github.com/wschat/wschat/internal/handler"
)

// brokenStore fails every history write with an error, as DynamoDB would.
type brokenStore struct{ *dynamo.Store }

func (brokenStore) PutMessage(context.Context, chat.Message) error {
	return fmt.Errorf("put message: %w", chat.ErrUnavailable)
}

const (
	secretText  = "SECRET-MESSAGE-TEXT"
	secretToken = "eyJzdWIiOiJUT0tFTlNFQ1JFVCJ9" // the JWT payload in testdata/connect.json
)

// TestLogsNeverContainMessageTextOrTokens drives every handler, including
// their error paths, with a recognisable text and token, at debug level, and
// checks that neither reaches the logs or the metrics.
func TestLogsNeverContainMessageTextOrTokens(t *testing.T) {
	cfg := handler.DefaultConfig()
	cfg.DefaultChannels = "*" // open, as in dev
	cfg.RatePerSecond, cfg.RateBurst = 0.001, 9
	e := newEnv(t, cfg)
	broken := newEnv(t, testConfig(), func(s *dynamo.Store) fullStore { return brokenStore{s} })

	ann := user("user-ann", "Ann")
	send := func(channel, clientID string) string {
		return fmt.Sprintf(`{"action":"send","channel":%q,"text":"%s","clientId":%q}`, channel, secretText, clientID)
	}
	for _, env := range []*env{e, broken} {
		resp, err := env.connect.Handle(t.Context(), fixture(t, "connect")) // token in header and query
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("connect = %d, %v", resp.StatusCode, err)
		}
	}
	id := "X1connAAAAAAA="
	e.open("bob", user("u-bob", "Bob"))
	e.must("bob", user("u-bob", "Bob"), `{"action":"join","channel":"general"}`)
	e.gw.setGone("bob") // a gone member: the fan-out logs its removal path

	bodies := []string{
		`{"action":"join","channel":"general"}`,
		send("general", "k1"),
		send("general", "k1"), // retry
		fmt.Sprintf(`{"action":"send","channel":"general","text":"other %s","clientId":"k1"}`, secretText), // reused clientId
		send("random", "k2"), // not a member
		fmt.Sprintf(`{"action":"send","channel":"general","text":"%s%s","clientId":"k3"}`, secretText, strings.Repeat("x", 4000)),
		fmt.Sprintf(`{"action":"send","channel":"general","text":"%s"`, secretText),                               // invalid JSON
		fmt.Sprintf(`{"action":"send","channel":"General","text":"%s","clientId":"k4"}`, secretText),              // bad channel
		fmt.Sprintf(`{"action":"send","channel":"general","text":"%s","clientId":"k5","extra":true}`, secretText), // unknown field
		fmt.Sprintf(`{"action":"%s"}`, secretText),                                                                // unknown action
		fmt.Sprintf(`{"%s":1}`, secretText),                                                                       // missing action
		`{"action":"history","channel":"general"}`,
		`{"action":"members","channel":"general"}`,
		`{"action":"ping"}`,
		send("general", "k6"),
		send("general", "k7"),
		send("general", "k8"),
		send("general", "k9"), // rate limited by now
		`{"action":"leave","channel":"general"}`,
	}
	for _, b := range bodies {
		if _, err := e.do(id, ann, b); err != nil {
			t.Fatalf("%.40s: %v", b, err)
		}
	}
	if e.metricCount(`"RateLimited":1`) == 0 {
		t.Errorf("the rate-limited path was not exercised:\n%s", e.logs)
	}
	binary := fixture(t, "binary")
	binary.Body = secretText
	if _, err := e.chat.Handle(t.Context(), binary); err != nil {
		t.Fatal(err)
	}

	broken.must(id, ann, `{"action":"join","channel":"general"}`)
	if _, err := broken.do(id, ann, send("general", "k1")); !errors.Is(err, chat.ErrUnavailable) {
		t.Fatalf("send on a broken store = %v, want the failure returned", err)
	}
	for _, env := range []*env{e, broken} {
		if _, err := env.disconnect.Handle(t.Context(), fixture(t, "disconnect")); err != nil {
			t.Fatal(err)
		}
	}

	for name, out := range map[string]string{
		"logs": e.logs.String() + broken.logs.String(), "metrics": e.metrics.String() + broken.metrics.String(),
	} {
		for _, secret := range []string{secretText, secretToken} {
			if strings.Contains(out, secret) {
				t.Errorf("%s contain %q:\n%s", name, secret, out)
			}
		}
	}
	// The failure above was logged once, with the request's attributes.
	lines := 0
	for _, line := range strings.Split(broken.logs.String(), "\n") {
		if !strings.Contains(line, `"request failed"`) {
			continue
		}
		lines++
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"connectionId", "routeKey", "apiRequestId", "error"} {
			if rec[k] == nil || rec[k] == "" {
				t.Errorf("failure log line has no %s: %s", k, line)
			}
		}
	}
	if lines != 1 {
		t.Errorf("failure logged %d times, want once:\n%s", lines, broken.logs)
	}
}
