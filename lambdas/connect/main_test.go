package main

import (
	"bytes"
	"os"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wschat/wschat/internal/compose/composetest"
	"github.com/wschat/wschat/internal/dynamo/dynamotest"
)

func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m)) }

// TestNewHandler checks the wiring builds a handler; internal/compose tests
// every setting.
func TestNewHandler(t *testing.T) { composetest.CheckBuildsAndNeedsTable(t, newHandler) }

// TestConnectStoresTheConnection drives one $connect through the handler
// that main wires, against a real table: a handler wired to the wrong table,
// endpoint or logger fails it.
func TestConnectStoresTheConnection(t *testing.T) {
	d := composetest.New(t)
	var stdout bytes.Buffer
	h, err := newHandler(d.Getenv, &stdout)
	if err != nil {
		t.Fatalf("newHandler: %v", err)
	}
	ev := events.APIGatewayWebsocketProxyRequest{RequestContext: events.APIGatewayWebsocketProxyRequestContext{
		ConnectionID: "conn-1", RouteKey: "$connect", EventType: "CONNECT", RequestID: "api-req-1",
		Authorizer: map[string]any{"principalId": "u-ann", "userId": "u-ann", "userName": "Ann"},
	}}
	ctx := composetest.Context(t, "lambda-req-1")
	resp, err := h.Handle(ctx, ev)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("Handle($connect) = %d, %v; want 200", resp.StatusCode, err)
	}
	c, err := d.Store.Connection(ctx, "conn-1")
	if err != nil {
		t.Fatalf("stored connection: %v", err)
	}
	if c.UserID != "u-ann" || c.UserName != "Ann" {
		t.Errorf("stored connection = %+v, want user u-ann named Ann", c)
	}
	composetest.CheckLogLines(t, stdout.Bytes(), "lambda-req-1", "connectionId", "routeKey", "apiRequestId")
}
