package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/fanout"
	"github.com/wschat/wschat/local/gateway"
	"github.com/wschat/wschat/local/sqs"
	"github.com/wschat/wschat/wire"
)

var updateEvents = flag.Bool("update-events", false, "rewrite local/testdata/events from the gateway's event builder")

// sampleBodies are the frames of the sample message events: one per route,
// each a valid request of docs/protocol.md ($default: an unknown action).
var sampleBodies = map[string]string{
	contract.ActionJoin:    `{"action":"join","channel":"general"}`,
	contract.ActionLeave:   `{"action":"leave","channel":"general"}`,
	contract.ActionSend:    `{"action":"send","channel":"general","text":"hi","clientId":"c1"}`,
	contract.ActionHistory: `{"action":"history","channel":"general","after":0,"limit":50}`,
	contract.ActionMembers: `{"action":"members","channel":"general"}`,
	contract.ActionPing:    `{"action":"ping"}`,
	contract.RouteDefault:  `{"action":"dance"}`,
	wire.ActionEdit:        `{"action":"edit","channel":"general","seq":1,"text":"hello","clientId":"e1"}`,
	wire.ActionDelete:      `{"action":"delete","channel":"general","seq":1,"clientId":"d1"}`,
	wire.ActionReact:       `{"action":"react","channel":"general","seq":1,"emoji":"👍"}`,
	wire.ActionUnreact:     `{"action":"unreact","channel":"general","seq":1,"emoji":"👍"}`,
	wire.ActionTyping:      `{"action":"typing","channel":"general"}`,
	wire.ActionRead:        `{"action":"read","channel":"general","seq":1}`,
	wire.ActionChannels:    `{"action":"channels"}`,
	// A renewal's token is a JWT; this one is not, so the sample answers
	// unauthorized (make invoke shows the refusal path).
	wire.ActionReauth: `{"action":"reauth","token":"not.a.token"}`,
	wire.ActionDirect: `{"action":"direct","userId":"bob"}`,
	// Needs an owner or moderator of general (a member gets forbidden).
	wire.ActionModerate: `{"action":"moderate","channel":"general","op":"mute","userId":"bob","seconds":600,"clientId":"m1"}`,
}

// sampleEvents builds every sample event with the gateway's own builder.
func sampleEvents(t *testing.T) map[string][]byte {
	t.Helper()
	g := gateway.New(gateway.Config{APIID: "sampleapi1", Stage: "dev"})
	base := gateway.Sample{
		ConnectionID: "c2FtcGxlQ29ubj0=",
		RequestID:    "c2FtcGxlUmVxSWQ=",
		MessageID:    "c2FtcGxlTXNnSWQ=",
		At:           time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Host:         "127.0.0.1:3001",
		SourceIP:     "127.0.0.1",
		UserAgent:    "sample-client/1.0",
		TraceID:      "Root=1-6957353d-000000000000000000000000",
		Query:        url.Values{"token": {"REPLACE-WITH-A-TOKEN-FROM-make-token"}},
		Header: http.Header{
			"Sec-Websocket-Key":     {"c2FtcGxlLWtleS0xMjM0NQ=="},
			"Sec-Websocket-Version": {"13"},
			"User-Agent":            {"sample-client/1.0"},
		},
		AuthContext: map[string]any{
			contract.AuthContextUserID:   "sample-user",
			contract.AuthContextUserName: "Sample User",
			"principalId":                "sample-user",
			"integrationLatency":         12,
		},
		DisconnectCode:   1000,
		DisconnectReason: "Client closed the connection",
	}
	out := map[string][]byte{}
	add := func(file string, s gateway.Sample) {
		data, err := g.SampleEvent(s)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		out[file] = append(data, '\n')
	}
	auth := base
	auth.RouteKey, auth.Authorizer = contract.RouteConnect, true
	add("authorizer.json", auth)
	connect := base
	connect.RouteKey = contract.RouteConnect
	add("connect.json", connect)
	disconnect := base
	disconnect.RouteKey = contract.RouteDisconnect
	add("disconnect.json", disconnect)
	for key, body := range sampleBodies {
		s := base
		s.RouteKey, s.Body = key, body
		name := key
		if key == contract.RouteDefault {
			name = "default"
		}
		add(name+".json", s)
	}
	out["fanout-task.json"] = fanoutSample(t)
	return out
}

// fanoutSample is the SQS event of one fan-out task, built by the event
// source mapping's own code: shard 0 of 1 of channel general, a message
// frame (base64 in the task's JSON, as Go encodes []byte).
func fanoutSample(t *testing.T) []byte {
	t.Helper()
	frame := `{"type":"message","channel":"general","seq":1,"userId":"sample-user","userName":"Sample User","text":"hi","clientId":"c1","sentAt":"2026-01-02T03:04:05.000Z"}`
	body, err := json.Marshal(fanout.Task{Channel: "general", Shard: 0, Shards: 1, Seq: 1, Frame: []byte(frame)})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const id = "73616d706c655461736b4d7367496431"
	msg := sqs.Message{ID: id, Body: string(body), ReceiptHandle: "73616d706c655265636569707448616e." + id,
		ReceiveCount: 1, SentAt: at, FirstReceive: at.Add(20 * time.Millisecond)}
	data, err := sqs.SampleEvent([]sqs.Message{msg}, "arn:aws:sqs:us-east-1:000000000000:FanoutTasks", "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	return append(data, '\n')
}

// TestSampleEventsMatchTheBuilder keeps local/testdata/events exactly what
// the gateway sends: regenerate with go test ./local -run SampleEvents -update-events.
func TestSampleEventsMatchTheBuilder(t *testing.T) {
	want := sampleEvents(t)
	dir := filepath.Join("testdata", "events")
	if *updateEvents {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range want {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, data := range want {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v (go test ./local -run SampleEvents -update-events)", name, err)
			continue
		}
		if !bytes.Equal(got, data) {
			t.Errorf("%s differs from the gateway's event builder (go test ./local -run SampleEvents -update-events):\ngot  %s\nwant %s", name, got, data)
		}
	}
	// Every route has a sample, and no file is left over from a removed route.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		files = append(files, e.Name())
	}
	for _, action := range contract.Actions {
		if !slices.Contains(files, action+".json") {
			t.Errorf("no sample event for route %s", action)
		}
	}
	if len(files) != len(want) {
		t.Errorf("%d files in %s, want the %d generated ones: %v", len(files), dir, len(want), files)
	}
}
