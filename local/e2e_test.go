package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/coder/websocket"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/dynamo"
	"github.com/wschat/wschat/internal/localissuer"
	"github.com/wschat/wschat/internal/modroot"
)

// realTemplate is the dev stack as `make synth` writes it; `make test`
// synthesizes it before running these tests.
func realTemplate(t *testing.T) string {
	t.Helper()
	root, err := modroot.FromWorkingDir()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "cdk.out", "WsChat-dev.template.json")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is missing: run make synth ENV=dev first (make test and make test-e2e do)", path)
	}
	return path
}

// chatClient is a WebSocket client of the real handlers; a goroutine reads
// every frame into frames.
type chatClient struct {
	user   string
	conn   *websocket.Conn
	frames chan map[string]any
	closed chan error
}

func mintToken(t *testing.T, e *emulator, user string) string {
	t.Helper()
	return mintTokenNamed(t, e, user, strings.ToUpper(user[:1])+user[1:])
}

// mintTokenNamed mints a token for user with the display name name, as a
// tool does (with the run's secret).
func mintTokenNamed(t *testing.T, e *emulator, user, name string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"user": user, "name": name})
	req, _ := http.NewRequest(http.MethodPost, e.baseURL+issuerPath+"/token", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	localissuer.Authorize(req, e.secret(t))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Token == "" {
		t.Fatalf("token for %s: status %d, %v", user, resp.StatusCode, err)
	}
	return out.Token
}

// connectAs connects like a browser: the token in the subprotocol list.
func connectAs(t *testing.T, e *emulator, user string) *chatClient {
	t.Helper()
	return connectWith(t, e, user, mintToken(t, e, user))
}

// connectWith connects as user with token, like a browser.
func connectWith(t *testing.T, e *emulator, user, token string) *chatClient {
	t.Helper()
	conn := dial(t, e.wsURL, &websocket.DialOptions{Subprotocols: []string{contract.SubprotocolName, token}})
	if conn.Subprotocol() != contract.SubprotocolName {
		t.Errorf("subprotocol %q, want %s echoed by $connect", conn.Subprotocol(), contract.SubprotocolName)
	}
	c := &chatClient{user: user, conn: conn, frames: make(chan map[string]any, 256), closed: make(chan error, 1)}
	go func() {
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				c.closed <- err
				close(c.frames)
				return
			}
			var m map[string]any
			if json.Unmarshal(data, &m) == nil {
				c.frames <- m
			}
		}
	}()
	return c
}

func (c *chatClient) send(t *testing.T, v map[string]any) {
	t.Helper()
	send(t, c.conn, v)
}

// expect reads frames until one of the given type matches every key/value in
// want, and returns it.
func (c *chatClient) expect(t *testing.T, typ string, want map[string]any) map[string]any {
	t.Helper()
	deadline := time.After(15 * time.Second)
	var seen []string
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				t.Fatalf("%s: connection closed (%v) while waiting for %s %v; saw %v", c.user, <-c.closed, typ, want, seen)
			}
			b, _ := json.Marshal(f)
			seen = append(seen, string(b))
			if f["type"] != typ {
				continue
			}
			match := true
			for k, v := range want {
				if !sameValue(f[k], v) {
					match = false
				}
			}
			if match {
				return f
			}
		case <-deadline:
			t.Fatalf("%s: no %s %v within 15s; saw %v", c.user, typ, want, seen)
		}
	}
}

// sameValue compares a decoded JSON value with a Go one; numbers by value
// (a seq above 2^24 prints differently as float64 and int64).
func sameValue(got, want any) bool {
	if f, ok := got.(float64); ok {
		switch w := want.(type) {
		case int64:
			return f == float64(w)
		case int:
			return f == float64(w)
		}
	}
	return fmt.Sprint(got) == fmt.Sprint(want)
}

func (c *chatClient) join(t *testing.T, channel string) {
	t.Helper()
	c.send(t, map[string]any{"action": "join", "channel": channel})
	c.expect(t, "joined", map[string]any{"channel": channel, "userId": c.user})
}

var (
	dynamoLine = regexp.MustCompile(`DynamoDB\s+(http://127\.0\.0\.1:\d+)`)
	tableLine  = regexp.MustCompile(`table (\S+) created`)
)

func TestRealTemplate(t *testing.T) {
	e := startEmulator(t, "--template", realTemplate(t))

	t.Run("two clients chat with presence", func(t *testing.T) {
		ann, bob := connectAs(t, e, "ann"), connectAs(t, e, "bob")
		ann.join(t, "general")
		bob.join(t, "general")
		ann.expect(t, "joined", map[string]any{"channel": "general", "userId": "bob", "userName": "Bob"})

		bob.send(t, map[string]any{"action": "members", "channel": "general"})
		members := bob.expect(t, "members", map[string]any{"channel": "general"})
		if list, _ := members["members"].([]any); len(list) != 2 {
			t.Errorf("members = %v, want ann and bob", members)
		}

		ann.send(t, map[string]any{"action": "send", "channel": "general", "text": "hi bob", "clientId": "c1"})
		ack := ann.expect(t, "ack", map[string]any{"channel": "general", "clientId": "c1"})
		msg := bob.expect(t, "message", map[string]any{"channel": "general", "text": "hi bob", "userId": "ann"})
		if msg["seq"] != ack["seq"] {
			t.Errorf("bob got seq %v, ann's ack says %v", msg["seq"], ack["seq"])
		}

		bob.send(t, map[string]any{"action": "leave", "channel": "general"})
		ann.expect(t, "left", map[string]any{"channel": "general", "userId": "bob"})

		// Not a protocol action: $default answers with an error frame.
		ann.send(t, map[string]any{"action": "dance"})
		ann.expect(t, "error", map[string]any{"code": "unknown_action"})
	})

	t.Run("usage counts what a send would be billed for", func(t *testing.T) {
		ann, bob := connectAs(t, e, "ann"), connectAs(t, e, "bob")
		start := readUsage(t, e).Functions[contract.FunctionChat].Invocations
		ann.join(t, "billed")
		bob.join(t, "billed")
		ann.expect(t, "joined", map[string]any{"channel": "billed", "userId": "bob"})
		// A join's frames are posted before its invocation returns and is
		// counted: wait for both joins to be counted, or the second one
		// would land in the send's figures.
		before := readUsage(t, e)
		for deadline := time.Now().Add(5 * time.Second); before.Functions[contract.FunctionChat].Invocations < start+2 && time.Now().Before(deadline); before = readUsage(t, e) {
			time.Sleep(20 * time.Millisecond)
		}
		ann.send(t, map[string]any{"action": "send", "channel": "billed", "text": "count me", "clientId": "u1"})
		ann.expect(t, "ack", map[string]any{"clientId": "u1"})
		bob.expect(t, "message", map[string]any{"text": "count me"})
		// The ack is posted before the invocation answers, and the
		// function's output pipe is read apart from both: wait for the
		// invocation and its line to be counted.
		b, after := before.Functions[contract.FunctionChat], readUsage(t, e)
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); after = readUsage(t, e) {
			if a := after.Functions[contract.FunctionChat]; a.Invocations > b.Invocations && a.LogEvents > b.LogEvents {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		in := after.Gateway.MessagesIn - before.Gateway.MessagesIn
		out := after.Gateway.MessagesOut - before.Gateway.MessagesOut
		chat := after.Functions[contract.FunctionChat]
		calls := chat.Invocations - before.Functions[contract.FunctionChat].Invocations
		if in != 1 || out != 3 || calls != 1 {
			t.Errorf("one send to a 2-member channel: %d messages in, %d out, %d chat invocations; want 1, 3 (message to both, ack) and 1", in, out, calls)
		}
		if chat.BilledMs <= before.Functions[contract.FunctionChat].BilledMs || chat.MemoryMB < 128 ||
			chat.LogEvents <= before.Functions[contract.FunctionChat].LogEvents {
			t.Errorf("chat usage %+v after %+v: want billed duration, the template's memory and the send's log line", chat, before.Functions[contract.FunctionChat])
		}
	})

	t.Run("history replay after a reconnect", func(t *testing.T) {
		ann, bob := connectAs(t, e, "ann"), connectAs(t, e, "bob")
		ann.join(t, "replay")
		bob.join(t, "replay")
		ann.send(t, map[string]any{"action": "send", "channel": "replay", "text": "before", "clientId": "r0"})
		last := bob.expect(t, "message", map[string]any{"text": "before"})["seq"].(float64)

		// Bob drops; ann sends while he is away.
		_ = bob.conn.CloseNow()
		ann.expect(t, "left", map[string]any{"channel": "replay", "userId": "bob"})
		for i := 1; i <= 3; i++ {
			ann.send(t, map[string]any{"action": "send", "channel": "replay", "text": fmt.Sprintf("missed %d", i), "clientId": fmt.Sprintf("r%d", i)})
			ann.expect(t, "ack", map[string]any{"clientId": fmt.Sprintf("r%d", i)})
		}

		bob = connectAs(t, e, "bob")
		bob.join(t, "replay")
		bob.send(t, map[string]any{"action": "history", "channel": "replay", "after": last})
		page := bob.expect(t, "history", map[string]any{"channel": "replay"})
		var texts []string
		for _, m := range page["messages"].([]any) {
			texts = append(texts, m.(map[string]any)["text"].(string))
		}
		if got := strings.Join(texts, ","); got != "missed 1,missed 2,missed 3" {
			t.Errorf("history after %v = %q, want the three missed messages", last, got)
		}
	})

	t.Run("connect refused without a valid token", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for name, opts := range map[string]*websocket.DialOptions{
			"no token":  nil,
			"bad token": {Subprotocols: []string{contract.SubprotocolName, "not.a.jwt"}},
		} {
			_, resp, err := websocket.Dial(ctx, e.wsURL, opts)
			if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
				status := 0
				if resp != nil {
					status = resp.StatusCode
				}
				t.Errorf("%s: status %d, err %v; want 401", name, status, err)
			}
		}
		// The query parameter works too (scripts, wscat).
		c := dial(t, e.wsURL+"?token="+mintToken(t, e, "carol"), nil)
		_ = c.Close(websocket.StatusNormalClosure, "")
	})

	t.Run("oversized message closes with 1009", func(t *testing.T) {
		c := connectAs(t, e, "dave")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		w, err := c.conn.Writer(ctx, websocket.MessageText)
		if err != nil {
			t.Fatal(err)
		}
		chunk := bytes.Repeat([]byte("x"), 16*1024)
		for range 9 { // 144 KB in 16 KB frames: over the message limit only
			if _, err := w.Write(chunk); err != nil {
				break
			}
		}
		_ = w.Close()
		select {
		case err := <-c.closed:
			if code := websocket.CloseStatus(err); code != websocket.StatusMessageTooBig {
				t.Errorf("closed with %v (%v), want 1009", code, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("connection still open after a 144 KB message")
		}
	})

	t.Run("a vanished client is cleaned up on the next send", func(t *testing.T) {
		// A connection whose $disconnect never ran (API Gateway does not retry
		// it): its rows are in the table, but API Gateway no longer knows it.
		m := dynamoLine.FindStringSubmatch(e.log.String())
		tm := tableLine.FindStringSubmatch(e.log.String())
		if m == nil || tm == nil {
			t.Fatalf("no DynamoDB endpoint or table in the emulator's output")
		}
		db := dynamodb.New(dynamodb.Options{Region: "us-east-1", BaseEndpoint: aws.String(m[1]),
			Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
		store := dynamo.New(db, tm[1], dynamo.Options{})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		ghost := "R2hvc3RHaG9zdA0="
		now := time.Now()
		who := chat.Identity{UserID: "ghost", UserName: "Ghost"}
		if err := store.PutConnection(ctx, chat.Connection{ID: ghost, Identity: who, ConnectedAt: now, ExpiresAt: now.Add(3 * time.Hour), Channels: []string{"vanish"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := store.AddMember(ctx, chat.Member{Channel: "vanish", ConnectionID: ghost, Identity: who, JoinedAt: now, ExpiresAt: now.Add(3 * time.Hour)}, 20); err != nil {
			t.Fatal(err)
		}

		if _, err := store.Member(ctx, "vanish", ghost); err != nil {
			t.Fatalf("ghost membership not stored: %v", err)
		}

		ann := connectAs(t, e, "ann")
		ann.join(t, "vanish")
		ann.send(t, map[string]any{"action": "send", "channel": "vanish", "text": "anyone?", "clientId": "v1"})
		ann.expect(t, "ack", map[string]any{"clientId": "v1"})
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, err := store.Member(ctx, "vanish", ghost)
			if err != nil && errors.Is(err, chat.ErrNotFound) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("ghost membership still there after a send to its channel (err %v)", err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("wscat types the README's lines", func(t *testing.T) { testWscatREADME(t, e) })

	t.Run("browser", func(t *testing.T) { testBrowser(t, e) })
}

// readUsage reads the emulator's /@admin/usage.
func readUsage(t *testing.T, e *emulator) usageDocument {
	t.Helper()
	resp, err := http.Get(e.baseURL + UsagePath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc usageDocument
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, %v", UsagePath, resp.Status, err)
	}
	return doc
}
