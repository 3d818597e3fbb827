package main

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/compose/composetest"
	"github.com/wschat/wschat/internal/dynamo/dynamotest"
)

func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m)) }

// TestNewHandler checks the wiring builds a handler; internal/compose tests
// every setting.
func TestNewHandler(t *testing.T) { composetest.CheckBuildsAndNeedsTable(t, newHandler) }

// TestChatAnswersThroughTheCallback drives frames through the handler that
// main wires: ping is answered with a pong POSTed to the callback URL, and
// join (which reads and writes the table, then fans out) reaches the
// joiner. A handler wired to the wrong table, endpoint or logger fails it.
func TestChatAnswersThroughTheCallback(t *testing.T) {
	d := composetest.New(t)
	var stdout bytes.Buffer
	h, err := newHandler(d.Getenv, &stdout)
	if err != nil {
		t.Fatalf("newHandler: %v", err)
	}
	ctx := composetest.Context(t, "lambda-req-3")
	now := time.Now()
	ann := chat.Identity{UserID: "u-ann", UserName: "Ann"}
	// As $connect stores it: the token's grant is kept on the connection,
	// where a reauth would replace it.
	if err := d.Store.PutConnection(ctx, chat.Connection{ID: "conn-1", Identity: ann, ConnectedAt: now, ExpiresAt: now.Add(time.Hour),
		Capabilities: "v1:general=rwpd"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		route, body, wantType string
	}{
		{"ping", `{"action":"ping"}`, "pong"},
		{"join", `{"action":"join","channel":"general"}`, "joined"},
		{"$default", `{"action":"shout"}`, "error"}, // a client mistake: a frame, and a 200
	}
	for i, tt := range tests {
		ev := events.APIGatewayWebsocketProxyRequest{Body: tt.body, RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			ConnectionID: "conn-1", RouteKey: tt.route, EventType: "MESSAGE", RequestID: "api-req-3",
			// The token's grant (the environment's default, unset here, grants nothing).
			Authorizer: map[string]any{"principalId": ann.UserID, "userId": ann.UserID, "userName": ann.UserName, "channels": "v1:general=rwpd"},
		}}
		resp, err := h.Handle(ctx, ev)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("Handle(%s) = %d, %v; want 200", tt.body, resp.StatusCode, err)
		}
		posts := d.Posts()
		if len(posts) != i+1 || posts[i].ConnectionID != "conn-1" || posts[i].Frame["type"] != tt.wantType {
			t.Fatalf("after %s, posts = %+v; want a %s to conn-1 last", tt.body, posts, tt.wantType)
		}
	}
	if _, err := d.Store.Member(ctx, "general", "conn-1"); err != nil {
		t.Errorf("membership after join: %v", err)
	}
	// ping and join log nothing at info; the rejected request does.
	composetest.CheckLogLines(t, stdout.Bytes(), "lambda-req-3", "connectionId", "routeKey", "apiRequestId")
}
