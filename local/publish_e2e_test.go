package main

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/wschat/wschat/publisher"
)

func publishClient(t *testing.T, e *emulator, secret string) *publisher.Client {
	t.Helper()
	stage := e.wsURL[strings.LastIndexByte(e.wsURL, '/')+1:]
	c, err := publisher.New(publisher.Options{
		Endpoint: e.baseURL + httpAPIPrefix + "/" + stage, Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("local", secret, ""), MaxAttempts: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// quiet sends a ping and fails if a frame of type typ arrives before the pong.
func (c *chatClient) quiet(t *testing.T, typ string) {
	t.Helper()
	c.send(t, map[string]any{"action": "ping"})
	deadline := time.After(15 * time.Second)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				t.Fatalf("%s: closed while waiting for pong", c.user)
			}
			if f["type"] == typ {
				t.Fatalf("%s received %v, want no %s", c.user, f, typ)
			}
			if f["type"] == "pong" {
				return
			}
		case <-deadline:
			t.Fatalf("%s: no pong", c.user)
		}
	}
}

func historyOf(t *testing.T, c *chatClient, channel string) []map[string]any {
	t.Helper()
	c.send(t, map[string]any{"action": "history", "channel": channel, "after": 0})
	page := c.expect(t, "history", map[string]any{"channel": channel})
	var out []map[string]any
	for _, m := range page["messages"].([]any) {
		out = append(out, m.(map[string]any))
	}
	return out
}

// TestPublishAPI drives the publish HTTP API of the real dev template end
// to end: signed requests through the emulator's SigV4 check, the publish
// function, dynalite and real WebSocket clients.
func TestPublishAPI(t *testing.T) {
	e := startEmulator(t, "--template", realTemplate(t))
	ctx := context.Background()
	pub := publishClient(t, e, "local")
	ann1, ann2, bob, carol := connectAs(t, e, "ann"), connectAs(t, e, "ann"), connectAs(t, e, "bob"), connectAs(t, e, "carol")
	ann1.join(t, "news")
	bob.join(t, "news")
	ann1.expect(t, "joined", map[string]any{"channel": "news", "userId": "bob"})

	t.Run("a signed publish reaches every member and is in history", func(t *testing.T) {
		got, err := pub.Publish(ctx, "news", "order-1", "order 1 shipped")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []*chatClient{ann1, bob} {
			c.expect(t, "message", map[string]any{"channel": "news", "seq": got.Seq, "text": "order 1 shipped", "from": "server", "userName": "wschat-local"})
		}
		carol.quiet(t, "message")
		h := historyOf(t, bob, "news")
		if len(h) != 1 || h[0]["from"] != "server" || h[0]["text"] != "order 1 shipped" {
			t.Fatalf("history = %v, want the published message", h)
		}
		t.Logf("published seq %d: delivered to 2 members, 0 non-members, 1 history item", got.Seq)
	})

	t.Run("a retry with the same id stores nothing new", func(t *testing.T) {
		first := historyOf(t, bob, "news")
		again, err := pub.Publish(ctx, "news", "order-1", "order 1 shipped")
		if err != nil || int(again.Seq) != int(first[0]["seq"].(float64)) {
			t.Fatalf("retry = %+v, %v; want the same seq %v", again, err, first[0]["seq"])
		}
		// In a channel of up to 100 members a retry is fanned out again
		// (issue #23: no delivered mark below that), with the same seq.
		bob.expect(t, "message", map[string]any{"seq": first[0]["seq"]})
		if h := historyOf(t, bob, "news"); len(h) != 1 {
			t.Errorf("history after the retry has %d messages, want 1", len(h))
		}
	})

	t.Run("refused requests get 403, 404 or 400 and store nothing", func(t *testing.T) {
		url := e.baseURL + httpAPIPrefix + "/dev/channels/news/messages"
		resp, err := http.Post(url, "application/json", strings.NewReader(`{"text":"unsigned","id":"u1"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("unsigned publish = %d, want 403", resp.StatusCode)
		}
		_, err = publishClient(t, e, "wrong-secret").Publish(ctx, "news", "u2", "badly signed")
		if !errors.Is(err, publisher.ErrForbidden) {
			t.Errorf("badly signed publish = %v, want 403", err)
		}
		if _, err := pub.Publish(ctx, "News!", "u3", "bad channel"); !errors.Is(err, publisher.ErrInvalid) {
			t.Errorf("bad channel = %v, want 400", err)
		}
		resp, err = signedPost(&http.Client{Timeout: 10 * time.Second}, e.baseURL+httpAPIPrefix+"/dev/channels/news/nope", []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("unknown route = %d, want 404", resp.StatusCode)
		}
		resp, err = http.Post(e.baseURL+"/dev/@connections/abc", "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("unsigned @connections POST = %d, want 403", resp.StatusCode)
		}
		bob.quiet(t, "message")
		if h := historyOf(t, bob, "news"); len(h) != 1 {
			t.Errorf("history has %d messages after 3 refused publishes, want 1", len(h))
		}
	})

	t.Run("a notice reaches both of a user's connections and no one else", func(t *testing.T) {
		n, err := pub.Notify(ctx, "ann", "n1", "your export is ready")
		if err != nil || n.Connections != 2 || n.Delivered != 2 {
			t.Fatalf("notify = %+v, %v; want 2 of 2 delivered", n, err)
		}
		for _, c := range []*chatClient{ann1, ann2} {
			c.expect(t, "notice", map[string]any{"text": "your export is ready", "from": "server", "id": "n1"})
		}
		bob.quiet(t, "notice")
		carol.quiet(t, "notice")
	})

	t.Run("a disconnect closes both and members see left", func(t *testing.T) {
		d, err := pub.Disconnect(ctx, "ann")
		if err != nil || d.Closed != 2 {
			t.Fatalf("disconnect = %+v, %v; want 2 closed", d, err)
		}
		bob.expect(t, "left", map[string]any{"channel": "news", "userId": "ann"})
		for i, c := range []*chatClient{ann1, ann2} {
			select {
			case err := <-c.closed:
				t.Logf("ann connection %d closed: %v", i+1, err)
			case <-time.After(15 * time.Second):
				t.Errorf("ann connection %d still open 15 s after the disconnect", i+1)
			}
		}
		n, err := pub.Notify(ctx, "ann", "", "anyone?")
		if err != nil || n.Connections != 0 {
			t.Errorf("notify after disconnect = %+v, %v; want no connections left in the index", n, err)
		}
	})
}
