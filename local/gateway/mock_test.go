package gateway

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func mustMock(t *testing.T, reqTemplate string, responses ...MockResponseSpec) *Mock {
	t.Helper()
	m, err := NewMock("$default", map[string]string{"$default": reqTemplate}, responses)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// pongSpec is the shape the stack deploys (internal/contract).
var pongSpec = MockResponseSpec{Key: "$default", TemplateKey: "$default",
	Templates: map[string]string{"$default": `{"type":"pong","connectionId":"$context.connectionId"}`}}

// TestMockRouteAnswersWithoutInvoking: a two-way MOCK route answers from its
// templates, with the connection's id filled in, and runs no function; the
// usage counters count one message each way and no invocation.
func TestMockRouteAnswersWithoutInvoking(t *testing.T) {
	a := newTestAPI(t, apiOptions{extra: []*Route{{Key: "ping", TwoWay: true, Mock: mustMock(t, `{"statusCode": 200}`, pongSpec)}}})
	c := a.dial(t, "", nil)
	id, _ := rc(a.connect.next(t))["connectionId"].(string)
	before := a.gw.Usage()
	write(t, c, `{"action":"ping"}`)
	var pong struct{ Type, ConnectionID string }
	if err := json.Unmarshal([]byte(read(t, c)), &pong); err != nil || pong.Type != "pong" || pong.ConnectionID != id {
		t.Fatalf("pong = %+v (%v), want type pong and connectionId %s", pong, err, id)
	}
	after := a.gw.Usage()
	if n := after.MessagesByRoute["ping"] - before.MessagesByRoute["ping"]; n != 1 {
		t.Errorf("ping messages in = %d, want 1", n)
	}
	if after.MessagesOut-before.MessagesOut != 1 || after.MockAnswers-before.MockAnswers != 1 || after.Invocations["ping"] != 0 {
		t.Errorf("usage %+v -> %+v: want one message out, one mock answer, no invocation", before, after)
	}
	select {
	case ev := <-a.message.got:
		t.Errorf("the ping invoked a function: %s", ev)
	case <-time.After(100 * time.Millisecond):
	}
}

// TestMockResponseSelection: a pattern key that matches the status wins
// over $default; a one-way route sends nothing; a request template without
// an integer statusCode is API Gateway's configuration error frame.
func TestMockResponseSelection(t *testing.T) {
	created := MockResponseSpec{Key: `/2\d\d/`, TemplateKey: "$default", Templates: map[string]string{"$default": `{"got":"2xx"}`}}
	fallback := MockResponseSpec{Key: "$default", TemplateKey: "$default", Templates: map[string]string{"$default": `{"got":"default"}`}}
	a := newTestAPI(t, apiOptions{extra: []*Route{
		{Key: "two", TwoWay: true, Mock: mustMock(t, `{"statusCode": 201}`, fallback, created)},
		{Key: "four", TwoWay: true, Mock: mustMock(t, `{"statusCode": 404}`, fallback, created)},
		{Key: "oneway", Mock: mustMock(t, `{"statusCode": 200}`, fallback)},
		{Key: "broken", TwoWay: true, Mock: mustMock(t, `{"status": "ok"}`, fallback)},
	}})
	c := a.dial(t, "", nil)
	write(t, c, `{"action":"two"}`)
	if got := read(t, c); got != `{"got":"2xx"}` {
		t.Errorf("status 201: %s, want the /2\\d\\d/ response", got)
	}
	write(t, c, `{"action":"four"}`)
	if got := read(t, c); got != `{"got":"default"}` {
		t.Errorf("status 404: %s, want the $default response", got)
	}
	write(t, c, `{"action":"oneway"}`)
	write(t, c, `{"action":"broken"}`)
	// The one-way route sends nothing, so the next frame is the broken one's.
	if got := read(t, c); !strings.Contains(got, `"message": "Internal server error"`) {
		t.Errorf("a request template without statusCode: %s, want the internal server error frame", got)
	}
}
