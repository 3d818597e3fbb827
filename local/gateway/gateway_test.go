package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// fn is a fake integration that records its events.
type fn struct {
	mu     sync.Mutex
	events [][]byte
	got    chan []byte
	reply  func(payload []byte) ([]byte, error)
}

func newFn(reply func([]byte) ([]byte, error)) *fn {
	return &fn{got: make(chan []byte, 100), reply: reply}
}

func (f *fn) Invoke(_ context.Context, payload []byte) ([]byte, error) {
	f.mu.Lock()
	f.events = append(f.events, payload)
	f.mu.Unlock()
	f.got <- payload
	if f.reply == nil {
		return []byte(`{"statusCode":200}`), nil
	}
	return f.reply(payload)
}

// next waits for the next recorded event.
func (f *fn) next(t *testing.T) map[string]any {
	t.Helper()
	select {
	case p := <-f.got:
		var m map[string]any
		if err := json.Unmarshal(p, &m); err != nil {
			t.Fatalf("event %s: %v", p, err)
		}
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
		return nil
	}
}

// funcErr is a function error as local/lambda reports it.
type funcErr struct{ msg string }

func (e funcErr) Error() string        { return "errorString: " + e.msg }
func (e funcErr) ErrorMessage() string { return e.msg }

type testAPI struct {
	gw      *Gateway
	srv     *httptest.Server
	wsURL   string
	connect *fn
	message *fn
	discon  *fn
}

type apiOptions struct {
	authorizer *Authorizer
	connect    func([]byte) ([]byte, error)
	message    func([]byte) ([]byte, error)
	noDefault  bool
	idle       time.Duration
	latency    time.Duration
	vanish     time.Duration
	throttle   *Throttle
	account    *Limit
	extra      []*Route // more routes, e.g. a MOCK one
}

func newTestAPI(t *testing.T, o apiOptions) *testAPI {
	t.Helper()
	a := &testAPI{connect: newFn(o.connect), message: newFn(o.message), discon: newFn(nil)}
	expr, err := ParseExpression("$request.body.action")
	if err != nil {
		t.Fatal(err)
	}
	routes := map[string]*Route{
		RouteConnect:    {Key: RouteConnect, Integration: a.connect, Authorizer: o.authorizer},
		RouteDisconnect: {Key: RouteDisconnect, Integration: a.discon},
		"send":          {Key: "send", Integration: a.message},
	}
	if !o.noDefault {
		routes[RouteDefault] = &Route{Key: RouteDefault, Integration: a.message}
	}
	for _, r := range o.extra {
		routes[r.Key] = r
	}
	a.gw = New(Config{
		APIID: "abcde12345", Stage: "dev", Expression: expr, Routes: routes,
		IdleTimeout: o.idle, PostLatency: o.latency, VanishGrace: o.vanish, Throttle: o.throttle, AccountLimit: o.account,
	})
	a.srv = httptest.NewServer(a.gw.Handler())
	a.wsURL = "ws" + strings.TrimPrefix(a.srv.URL, "http") + "/dev"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.gw.Close(ctx); err != nil {
			t.Error(err)
		}
		a.srv.Close()
	})
	return a
}

func (a *testAPI) dial(t *testing.T, query string, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	c, resp, err := a.tryDial(query, opts)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial: %v (status %d)", err, status)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

func (a *testAPI) tryDial(query string, opts *websocket.DialOptions) (*websocket.Conn, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return websocket.Dial(ctx, a.wsURL+query, opts)
}

func read(t *testing.T, c *websocket.Conn) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, data, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(data)
}

func write(t *testing.T, c *websocket.Conn, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// closeStatus reads until the connection ends and returns its close code.
func closeStatus(t *testing.T, c *websocket.Conn, within time.Duration) websocket.StatusCode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		if _, _, err := c.Read(ctx); err != nil {
			if ctx.Err() != nil {
				t.Fatalf("connection still open after %v", within)
			}
			return websocket.CloseStatus(err)
		}
	}
}

func rc(ev map[string]any) map[string]any {
	m, _ := ev["requestContext"].(map[string]any)
	return m
}

func TestMessageRoutingAndEvents(t *testing.T) {
	a := newTestAPI(t, apiOptions{})
	c := a.dial(t, "?x=1", &websocket.DialOptions{HTTPHeader: http.Header{"User-Agent": {"test-agent"}}})
	conn := a.connect.next(t)
	ctx := rc(conn)
	if ctx["eventType"] != "CONNECT" || ctx["routeKey"] != "$connect" || ctx["stage"] != "dev" || ctx["apiId"] != "abcde12345" {
		t.Errorf("connect requestContext = %v", ctx)
	}
	id, _ := ctx["connectionId"].(string)
	if len(id) != 16 {
		t.Errorf("connectionId %q, want 16 characters", id)
	}
	if q, _ := conn["queryStringParameters"].(map[string]any); q["x"] != "1" {
		t.Errorf("queryStringParameters = %v", conn["queryStringParameters"])
	}
	if h, _ := conn["headers"].(map[string]any); h["Sec-WebSocket-Key"] == nil || h["User-Agent"] != "test-agent" {
		t.Errorf("headers = %v, want Sec-WebSocket-Key spelled as clients send it", conn["headers"])
	}

	write(t, c, `{"action":"send","text":"hi"}`)
	msg := a.message.next(t)
	mctx := rc(msg)
	if mctx["routeKey"] != "send" || mctx["eventType"] != "MESSAGE" || mctx["connectionId"] != id || msg["body"] != `{"action":"send","text":"hi"}` {
		t.Errorf("message event = %v", msg)
	}
	if mctx["connectedAt"] != ctx["connectedAt"] {
		t.Errorf("connectedAt %v, want the $connect's %v", mctx["connectedAt"], ctx["connectedAt"])
	}
	if _, err := time.Parse(requestTimeLayout, mctx["requestTime"].(string)); err != nil {
		t.Errorf("requestTime: %v", err)
	}

	write(t, c, `{"action":"other"}`)
	if got := rc(a.message.next(t))["routeKey"]; got != "$default" {
		t.Errorf("unknown action routed to %v, want $default", got)
	}

	// Binary frames arrive base64-encoded.
	wctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Write(wctx, websocket.MessageBinary, []byte{0, 1, 2}); err != nil {
		t.Fatal(err)
	}
	bin := a.message.next(t)
	if bin["body"] != "AAEC" || bin["isBase64Encoded"] != true || rc(bin)["routeKey"] != "$default" {
		t.Errorf("binary message event = %v", bin)
	}

	if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatal(err)
	}
	dis := a.discon.next(t)
	dctx := rc(dis)
	if dctx["eventType"] != "DISCONNECT" || dctx["disconnectStatusCode"] != float64(1000) || dctx["disconnectReason"] != "bye" {
		t.Errorf("disconnect requestContext = %v", dctx)
	}

	// Field for field like API Gateway's events in aws-lambda-go's fixtures.
	compareKeys(t, "apigw-websocket-request-send-message.json", msg)
	compareKeys(t, "apigw-websocket-request-disconnect.json", dis)
}

// compareKeys checks that an event has exactly the keys of an aws-lambda-go
// fixture (values and header names aside).
func compareKeys(t *testing.T, fixture string, ev map[string]any) {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/aws/aws-lambda-go").Output()
	if err != nil {
		t.Fatalf("locate aws-lambda-go: %v", err)
	}
	raw, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "events", "testdata", fixture))
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if got, want := keyPaths(ev, ""), keyPaths(want, ""); !slices.Equal(got, want) {
		t.Errorf("%s keys:\n got %v\nwant %v", fixture, got, want)
	}
}

func keyPaths(v any, prefix string) []string {
	m, ok := v.(map[string]any)
	if !ok || prefix == "headers." || prefix == "multiValueHeaders." {
		return nil
	}
	var paths []string
	for k, sub := range m {
		paths = append(paths, prefix+k)
		paths = append(paths, keyPaths(sub, prefix+k+".")...)
	}
	sort.Strings(paths)
	return paths
}

func TestNoDefaultRouteAnswersForbidden(t *testing.T) {
	a := newTestAPI(t, apiOptions{noDefault: true})
	c := a.dial(t, "", nil)
	id := rc(a.connect.next(t))["connectionId"].(string)
	write(t, c, `not json`)
	var frame map[string]string
	got := read(t, c)
	if err := json.Unmarshal([]byte(got), &frame); err != nil {
		t.Fatal(err)
	}
	if frame["message"] != "Forbidden" || frame["connectionId"] != id || len(frame["requestId"]) != 16 {
		t.Errorf("frame = %s", got)
	}
	if !strings.HasPrefix(got, `{"message": "Forbidden", "connectionId":"`) {
		t.Errorf("frame %s not formatted as API Gateway's", got)
	}
}

func TestIntegrationFailureAnswersInternalServerError(t *testing.T) {
	a := newTestAPI(t, apiOptions{message: func([]byte) ([]byte, error) {
		return nil, errors.New("Runtime.ExitError: boom")
	}})
	c := a.dial(t, "", nil)
	write(t, c, `{"action":"send"}`)
	if got := read(t, c); !strings.HasPrefix(got, `{"message": "Internal server error", "connectionId":`) {
		t.Errorf("frame = %s", got)
	}
}

func TestConnectAuthorization(t *testing.T) {
	authorizer := newFn(func(p []byte) ([]byte, error) {
		var ev struct {
			MethodArn string            `json:"methodArn"`
			Query     map[string]string `json:"queryStringParameters"`
		}
		_ = json.Unmarshal(p, &ev)
		switch ev.Query["token"] {
		case "good":
			return fmt.Appendf(nil, `{"principalId":"ann","policyDocument":{"Version":"2012-10-17","Statement":[{"Action":"execute-api:Invoke","Effect":"Allow","Resource":%q}]},"context":{"userId":"u-1","userName":"Ann"}}`, ev.MethodArn), nil
		case "denied":
			return []byte(`{"principalId":"x","policyDocument":{"Statement":[{"Action":["execute-api:Invoke"],"Effect":"Deny","Resource":["*"]}]}}`), nil
		case "broken":
			return nil, errors.New("crash")
		}
		return nil, funcErr{"Unauthorized"}
	})
	a := newTestAPI(t, apiOptions{
		authorizer: &Authorizer{Name: "auth", Function: authorizer, IdentitySources: []string{"route.request.querystring.token"}},
		connect: func(p []byte) ([]byte, error) {
			if strings.Contains(string(p), `"refuse"`) {
				return []byte(`{"statusCode":429,"body":"slow down"}`), nil
			}
			return []byte(`{"statusCode":200,"headers":{"Sec-WebSocket-Protocol":"wschat.v1"}}`), nil
		},
	})
	for _, tc := range []struct {
		query  string
		status int
	}{
		{"", http.StatusUnauthorized},
		{"?token=", http.StatusUnauthorized},
		{"?token=bad", http.StatusUnauthorized},
		{"?token=denied", http.StatusForbidden},
		{"?token=broken", http.StatusInternalServerError},
		{"?token=good&x=refuse", http.StatusTooManyRequests},
	} {
		_, resp, err := a.tryDial(tc.query, nil)
		if err == nil || resp == nil || resp.StatusCode != tc.status {
			got := 0
			if resp != nil {
				got = resp.StatusCode
			}
			t.Errorf("dial %q: status %d, err %v; want %d", tc.query, got, err, tc.status)
		}
	}
	// The authorizer was not invoked without a token.
	authorizer.mu.Lock()
	invoked := len(authorizer.events)
	authorizer.mu.Unlock()
	if invoked != 4 {
		t.Errorf("authorizer invoked %d times, want 4 (never for a missing token)", invoked)
	}
	for range invoked {
		<-authorizer.got
	}
	for len(a.connect.got) > 0 {
		<-a.connect.got
	}

	c := a.dial(t, "?token=good", &websocket.DialOptions{Subprotocols: []string{"wschat.v1", "jwt"}})
	if c.Subprotocol() != "wschat.v1" {
		t.Errorf("subprotocol %q, want the $connect handler's wschat.v1", c.Subprotocol())
	}
	ev := authorizer.next(t)
	if ev["type"] != "REQUEST" || !strings.HasSuffix(ev["methodArn"].(string), ":000000000000:abcde12345/dev/$connect") {
		t.Errorf("authorizer event = %v", ev)
	}
	auth := rc(a.connect.next(t))["authorizer"].(map[string]any)
	if auth["principalId"] != "ann" || auth["userId"] != "u-1" || auth["userName"] != "Ann" {
		t.Errorf("connect authorizer = %v", auth)
	}
	write(t, c, `{"action":"send"}`)
	if auth := rc(a.message.next(t))["authorizer"].(map[string]any); auth["userId"] != "u-1" {
		t.Errorf("message authorizer = %v", auth)
	}
}

func TestMessageLimits(t *testing.T) {
	a := newTestAPI(t, apiOptions{})

	// 100 KB in 32 KB frames is fine.
	c := a.dial(t, "", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	w, err := c.Writer(ctx, websocket.MessageText)
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("a"), MaxFrameBytes)
	for range 3 {
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := a.message.next(t); len(got["body"].(string)) != 3*MaxFrameBytes {
		t.Errorf("body of %d bytes", len(got["body"].(string)))
	}

	// One frame over 32 KB closes with 1009.
	write(t, c, strings.Repeat("b", MaxFrameBytes+1))
	if code := closeStatus(t, c, 5*time.Second); code != websocket.StatusMessageTooBig {
		t.Errorf("close code %v after a 32 KB+1 frame, want 1009", code)
	}

	// A message over 128 KB closes with 1009, even in small frames.
	c2 := a.dial(t, "", nil)
	w, err = c2.Writer(ctx, websocket.MessageText)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := w.Write(chunk); err != nil {
			break
		}
	}
	_ = w.Close()
	if code := closeStatus(t, c2, 5*time.Second); code != websocket.StatusMessageTooBig {
		t.Errorf("close code %v after a 160 KB message, want 1009", code)
	}
	for range 2 {
		if got := rc(a.discon.next(t))["disconnectStatusCode"]; got != float64(1009) {
			t.Errorf("disconnectStatusCode = %v, want 1009", got)
		}
	}
}

func TestIdleTimeoutClosesWith1001(t *testing.T) {
	a := newTestAPI(t, apiOptions{idle: 300 * time.Millisecond})
	c := a.dial(t, "", nil)
	start := time.Now()
	if code := closeStatus(t, c, 5*time.Second); code != websocket.StatusGoingAway {
		t.Errorf("close code %v, want 1001", code)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("closed after %v, before the idle timeout", d)
	}
	if got := rc(a.discon.next(t))["disconnectStatusCode"]; got != float64(1001) {
		t.Errorf("disconnectStatusCode = %v", got)
	}
}
