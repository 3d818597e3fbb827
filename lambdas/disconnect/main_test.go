package main

import (
	"bytes"
	"errors"
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

// TestDisconnectRemovesTheConnection drives one $disconnect through the
// handler that main wires: the connection and its membership leave the
// table, and the channel's other member is told through the @connections
// endpoint.
func TestDisconnectRemovesTheConnection(t *testing.T) {
	d := composetest.New(t)
	var stdout bytes.Buffer
	h, err := newHandler(d.Getenv, &stdout)
	if err != nil {
		t.Fatalf("newHandler: %v", err)
	}
	ctx := composetest.Context(t, "lambda-req-2")
	now := time.Now()
	for _, id := range []string{"conn-1", "conn-2"} {
		ann := chat.Identity{UserID: "u-" + id, UserName: id}
		if err := d.Store.PutConnection(ctx, chat.Connection{ID: id, Identity: ann, ConnectedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Store.AddMember(ctx, chat.Member{Channel: "general", ConnectionID: id, Identity: ann, JoinedAt: now}, 10); err != nil {
			t.Fatal(err)
		}
	}
	ev := events.APIGatewayWebsocketProxyRequest{RequestContext: events.APIGatewayWebsocketProxyRequestContext{
		ConnectionID: "conn-1", RouteKey: "$disconnect", EventType: "DISCONNECT", RequestID: "api-req-2",
	}}
	resp, err := h.Handle(ctx, ev)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("Handle($disconnect) = %d, %v; want 200", resp.StatusCode, err)
	}
	if _, err := d.Store.Connection(ctx, "conn-1"); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("connection after $disconnect: err = %v, want chat.ErrNotFound", err)
	}
	if _, err := d.Store.Member(ctx, "general", "conn-1"); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("membership after $disconnect: err = %v, want chat.ErrNotFound", err)
	}
	posts := d.Posts()
	if len(posts) != 1 || posts[0].ConnectionID != "conn-2" || posts[0].Frame["type"] != "left" {
		t.Errorf("posts = %+v, want one left event to conn-2", posts)
	}
	composetest.CheckLogLines(t, stdout.Bytes(), "lambda-req-2", "connectionId", "routeKey", "apiRequestId")
}
