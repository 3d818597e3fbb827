package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/wschat/wschat/internal/dynamo"
)

// The browser test drives headless Chromium through chromedriver's W3C
// WebDriver HTTP API: two windows sign in, join a channel and exchange a
// message through the chat page, the emulator and the real handlers.

// findBrowser returns chromedriver and the Chromium binary. Without them the
// test skips on a developer machine and fails in CI (CI=true), where
// .ci/run installs them.
func findBrowser(t *testing.T) (driver, browser string) {
	t.Helper()
	driver, derr := exec.LookPath("chromedriver")
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			browser = p
			break
		}
	}
	if derr != nil || browser == "" {
		msg := "headless browser test needs chromium and chromedriver (apt-get install -y chromium chromium-driver)"
		if os.Getenv("CI") == "" {
			t.Skip(msg)
		}
		t.Fatal(msg)
	}
	return driver, browser
}

type webDriver struct {
	t       *testing.T
	base    string
	session string
}

func startWebDriver(t *testing.T, driver, browser string) *webDriver {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	cmd := exec.Command(driver, "--port="+strconv.Itoa(port), "--allowed-ips=127.0.0.1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if testing.Verbose() {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// chromedriver and the browsers it started are one process group.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	wd := &webDriver{t: t, base: "http://127.0.0.1:" + strconv.Itoa(port)}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(wd.base + "/status")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("chromedriver not answering: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var created struct {
		SessionID string `json:"sessionId"`
	}
	wd.call("POST", "/session", map[string]any{"capabilities": map[string]any{"alwaysMatch": map[string]any{
		"browserName": "chrome",
		"goog:chromeOptions": map[string]any{
			"binary": browser,
			"args": []string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
				"--disable-background-networking", "--disable-component-update", "--disable-sync",
				"--disable-quic", "--disable-dev-shm-usage", "--user-data-dir=" + t.TempDir()},
		},
	}}}, &created)
	if created.SessionID == "" {
		t.Fatal("chromedriver created no session")
	}
	wd.session = "/session/" + created.SessionID
	t.Cleanup(func() { wd.call("DELETE", wd.session, nil, nil) })
	return wd
}

// call sends one WebDriver command and decodes its "value" into out.
func (wd *webDriver) call(method, path string, body, out any) {
	wd.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, wd.base+path, rd)
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Timeout: 60 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		wd.t.Fatalf("webdriver %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var env struct {
		Value json.RawMessage `json:"value"`
	}
	_ = json.Unmarshal(raw, &env)
	if resp.StatusCode != http.StatusOK {
		wd.t.Fatalf("webdriver %s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		if m, ok := out.(*struct {
			SessionID string `json:"sessionId"`
		}); ok {
			_ = json.Unmarshal(env.Value, m)
			return
		}
		if err := json.Unmarshal(env.Value, out); err != nil {
			wd.t.Fatalf("webdriver %s %s: decode %s: %v", method, path, raw, err)
		}
	}
}

func (wd *webDriver) script(js string, args ...any) any {
	wd.t.Helper()
	if args == nil {
		args = []any{}
	}
	var out any
	wd.call("POST", wd.session+"/execute/sync", map[string]any{"script": js, "args": args}, &out)
	return out
}

// waitFor polls a script until it returns true.
func (wd *webDriver) waitFor(what, js string, args ...any) {
	wd.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if v, _ := wd.script(js, args...).(bool); v {
			return
		}
		if time.Now().After(deadline) {
			status := wd.script(`return document.getElementById("status").textContent + " / " + document.getElementById("error").textContent`)
			wd.t.Fatalf("browser: %s not within 30s (status: %v)", what, status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (wd *webDriver) element(css string) string {
	wd.t.Helper()
	var el map[string]string
	wd.call("POST", wd.session+"/element", map[string]any{"using": "css selector", "value": css}, &el)
	for _, id := range el {
		return id
	}
	wd.t.Fatalf("no element %s", css)
	return ""
}

func (wd *webDriver) typeInto(css, text string) {
	wd.t.Helper()
	id := wd.element(css)
	wd.call("POST", wd.session+"/element/"+id+"/clear", map[string]any{}, nil)
	wd.call("POST", wd.session+"/element/"+id+"/value", map[string]any{"text": text}, nil)
}

func (wd *webDriver) click(css string) {
	wd.t.Helper()
	wd.call("POST", wd.session+"/element/"+wd.element(css)+"/click", map[string]any{}, nil)
}

func (wd *webDriver) window() string {
	wd.t.Helper()
	var h string
	wd.call("GET", wd.session+"/window", nil, &h)
	return h
}

func (wd *webDriver) newWindow() string {
	wd.t.Helper()
	var w struct{ Handle string }
	wd.call("POST", wd.session+"/window/new", map[string]any{"type": "window"}, &w)
	return w.Handle
}

func (wd *webDriver) switchTo(handle string) {
	wd.t.Helper()
	wd.call("POST", wd.session+"/window", map[string]any{"handle": handle}, nil)
}

// signIn opens the chat page in the current window, signs in and joins channel.
func (wd *webDriver) signIn(page, user, channel string) {
	wd.t.Helper()
	wd.call("POST", wd.session+"/url", map[string]any{"url": page}, nil)
	wd.waitFor("config loaded", `return document.getElementById("env").textContent !== ""`)
	wd.typeInto("#user", user)
	wd.click("#signin")
	wd.waitConnected(user)
	wd.typeInto("#channel", channel)
	wd.click("#join")
	wd.waitFor(user+" in the member list", `return !!document.querySelector('#members li[data-user="'+arguments[0]+'"]')`, user)
}

// waitConnected waits until the page's client is connected and handed to the page.
func (wd *webDriver) waitConnected(user string) {
	wd.t.Helper()
	wd.waitFor(user+" connected", `return document.getElementById("status").dataset.state === "connected" && !!window.wschatPage.client`)
}

// Scripts the tests run in a page. arguments[0] is a message text.
const (
	hasMessage   = `return [...document.querySelectorAll("#messages li.msg[data-seq] .text")].some(e => e.textContent === arguments[0])`
	countMessage = `return [...document.querySelectorAll("#messages li.msg .text")].filter(e => e.textContent === arguments[0]).length`
	shownSeqs    = `return [...document.querySelectorAll("#messages li.msg[data-seq]")].map(e => Number(e.dataset.seq))`
)

func testBrowser(t *testing.T, e *emulator) {
	driver, browser := findBrowser(t)
	wd := startWebDriver(t, driver, browser)
	page := e.baseURL + "/"

	erin := wd.window()
	wd.signIn(page, "erin", "browser")
	frank := wd.newWindow()
	wd.switchTo(frank)
	wd.signIn(page, "frank", "browser")

	wd.switchTo(erin)
	wd.waitFor("frank's arrival seen by erin", `return !!document.querySelector('#members li[data-user="frank"]')`)
	text := fmt.Sprintf("hello from erin at %d", time.Now().UnixNano())
	wd.typeInto("#text", text)
	wd.click("#send")
	wd.waitFor("erin's message stored (acked, with a seq)", hasMessage, text)

	wd.switchTo(frank)
	wd.waitFor("erin's message in frank's window", hasMessage, text)
	reply := fmt.Sprintf("hello from frank at %d", time.Now().UnixNano())
	wd.typeInto("#text", reply)
	wd.click("#send")
	wd.switchTo(erin)
	wd.waitFor("frank's reply in erin's window", hasMessage, reply)

	t.Run("a backend's message is marked; users who share a name are told apart", func(t *testing.T) {
		testWhoIsWho(t, wd, e, erin)
	})
	t.Run("edit, react, reply, typing, delete and unread across two pages", func(t *testing.T) {
		testLifecycle(t, wd, erin, frank)
	})
	// The rest runs in the first channel again.
	for _, w := range []string{erin, frank} {
		wd.switchTo(w)
		wd.jsClick(`#channels li[data-channel="browser"]`)
	}

	t.Run("a killed connection shows reconnecting, then connected", func(t *testing.T) {
		testKilledConnection(t, wd, e, erin, frank)
	})

	// Each case loses one message's round trip at a different point, then
	// reloads erin's page with the message only in its stored outbox.
	for _, tc := range []reloadCase{
		{name: "ack lost after the server stored the message", hook: "dropAcks", stored: true},
		{name: "send lost before the server saw it", hook: "dropSends", stored: false},
	} {
		t.Run("reload resends once: "+tc.name, func(t *testing.T) {
			testReloadResends(t, wd, e, erin, frank, tc)
		})
	}
}

// testWhoIsWho: a backend publishes to the channel and a user named like
// it ("server", marked by the authorizer) and a user named like erin post
// too. Erin's page marks only the backend's message as a backend's and
// shows the user id beside each of the two "erin"s (issue #25, finding 3).
func testWhoIsWho(t *testing.T, wd *webDriver, e *emulator, erin string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := publishClient(t, e, "local").Publish(ctx, "browser", "deploy-1", "deploy finished"); err != nil {
		t.Fatalf("publish: %v", err)
	}
	twin := connectWith(t, e, "erin-2", mintTokenNamed(t, e, "erin-2", "erin"))
	impostor := connectWith(t, e, "mallory", mintTokenNamed(t, e, "mallory", "server"))
	for c, text := range map[*chatClient]string{twin: "i am erin too", impostor: "deploy rolled back"} {
		defer c.conn.CloseNow()
		c.join(t, "browser")
		c.send(t, map[string]any{"action": "send", "channel": "browser", "text": text, "clientId": "who-" + strings.ReplaceAll(text, " ", "-")})
		c.expect(t, "ack", map[string]any{"channel": "browser"})
	}
	wd.switchTo(erin)
	for _, text := range []string{"deploy finished", "i am erin too", "deploy rolled back"} {
		wd.waitFor(text+" in erin's window", hasMessage, text)
	}
	who := func(text string) string {
		got, _ := wd.script(`const li = [...document.querySelectorAll("#messages li.msg")].find(e => e.querySelector(".text").textContent === arguments[0]);
			return (li.classList.contains("backend") ? "[backend] " : "") + li.querySelector(".who").textContent`, text).(string)
		return got
	}
	for text, want := range map[string]string{
		"deploy finished":    "[backend] wschat-local", // the local credentials' IAM user name
		"deploy rolled back": "server (user)",
		"i am erin too":      "erin (erin-2)",
	} {
		if got := who(text); got != want {
			t.Errorf("%q shown as %q, want %q", text, got, want)
		}
	}
}

type reloadCase struct {
	name string
	hook string // the page's test hook: dropAcks or dropSends (local/web/app.js)
	// stored: the server stored and delivered the message before the
	// reload, so it has its seq already.
	stored bool
}

// testReloadResends makes erin's page lose one message's round trip,
// reloads the page, and checks that the page's client restores the message
// from localStorage, resends it with its original clientId and gets it
// acknowledged once, and that both pages and the server's history have it
// exactly once, at one seq, in seq order.
func testReloadResends(t *testing.T, wd *webDriver, e *emulator, erin, frank string, tc reloadCase) {
	outer := wd.t
	wd.t = t
	defer func() { wd.t = outer }()
	wd.switchTo(erin)
	wd.script(`window.wschatPage.hooks[arguments[0]] = true`, tc.hook)
	text := fmt.Sprintf("unacked from erin at %d", time.Now().UnixNano())
	wd.typeInto("#text", text)
	wd.click("#send")
	seqOf := `const e = [...document.querySelectorAll("#messages li.msg[data-seq]")].find(e => e.querySelector(".text").textContent === arguments[0]);
		return e ? Number(e.dataset.seq) : 0`
	var seqBefore any
	if tc.stored {
		// The client sends without echo (issue #23): its own message
		// comes with the ack, which is dropped, so the stored message is
		// seen on frank's page.
		wd.switchTo(frank)
		wd.waitFor("erin's message delivered to frank while erin's ack is dropped", hasMessage, text)
		seqBefore = wd.script(seqOf, text)
		wd.switchTo(erin)
	} else {
		wd.waitFor("erin's send dropped", `return window.wschatPage.hooks.dropped > 0`)
	}
	dropped := wd.script(`return window.wschatPage.hooks.dropped`)
	clientID, _ := wd.script(`const p = window.wschatPage.client.pending();
		return p.length === 1 && p[0].text === arguments[0] ? p[0].clientId : ""`, text).(string)
	if clientID == "" {
		t.Fatalf("erin's outbox = %v, want only %q", wd.script(`return window.wschatPage.client.pending()`), text)
	}
	stored, _ := wd.script(`return localStorage.getItem("wschat:erin:outbox")`).(string)
	if !strings.Contains(stored, clientID) {
		t.Fatalf("stored outbox %q lacks clientId %s", stored, clientID)
	}
	wd.call("POST", wd.session+"/refresh", map[string]any{}, nil)
	wd.waitConnected("erin after the reload")
	wd.waitFor("the restored message acknowledged", `return window.wschatPage.acks[arguments[0]] === 1 && window.wschatPage.client.pending().length === 0`, clientID)
	// The page renders the channel from the client's model, which the
	// stream fills (the catch-up after the reload may finish after the ack).
	wd.waitFor("the restored message shown with its seq", hasMessage, text)
	seq := wd.script(seqOf, text)
	if tc.stored && fmt.Sprint(seq) != fmt.Sprint(seqBefore) {
		t.Errorf("erin's page shows the resent message at seq %v, want %v (its first and only seq)", seq, seqBefore)
	}

	// Frank writes after the reload: erin's page is live again, and the
	// checks below see both pages after the resend has had time to land.
	wd.switchTo(frank)
	after := fmt.Sprintf("after the reload at %d", time.Now().UnixNano())
	wd.typeInto("#text", after)
	wd.click("#send")
	shown := map[string]any{}
	for _, w := range []struct{ name, handle string }{{"erin", erin}, {"frank", frank}} {
		wd.switchTo(w.handle)
		wd.waitFor("frank's message after the reload in "+w.name+"'s window", hasMessage, after)
		shown[w.name] = wd.script(countMessage, text)
		if fmt.Sprint(shown[w.name]) != "1" {
			t.Errorf("%s's page shows the resent message %v times, want 1", w.name, shown[w.name])
		}
		if got := wd.script(seqOf, text); fmt.Sprint(got) != fmt.Sprint(seq) || fmt.Sprint(seq) == "0" {
			t.Errorf("%s's page shows the resent message at seq %v, erin's at %v: want one seq", w.name, got, seq)
		}
		assertIncreasing(t, w.name, wd.script(shownSeqs))
	}
	wd.switchTo(erin)
	acks := wd.script(`return [window.wschatPage.acks[arguments[0]], localStorage.getItem("wschat:erin:outbox")]`, clientID)
	if fmt.Sprint(acks) != "[1 []]" {
		t.Errorf("erin after the reload: [acks, stored outbox] = %v, want [1 []]", acks)
	}
	n := historyCount(t, e, "browser", clientID)
	if n != 1 {
		t.Errorf("server history holds clientId %s %d times, want 1", clientID, n)
	}
	t.Logf("%s: %v frame(s) dropped before the reload; message %s at seq %v (before the reload: %v); after it [acks, stored outbox] %v, shown on erin's page %v time(s), on frank's %v, in history %d",
		tc.hook, dropped, clientID, seq, seqBefore, acks, shown["erin"], shown["frank"], n)
}

// testKilledConnection closes erin's connection from the server side, as
// API Gateway's DELETE @connections/{id} does, and checks that the page
// shows the states the client goes through and works again afterwards.
func testKilledConnection(t *testing.T, wd *webDriver, e *emulator, erin, frank string) {
	outer := wd.t
	wd.t = t
	defer func() { wd.t = outer }()
	wd.switchTo(erin)
	wd.script(`window.wschatPage.states = []`)
	killed := 0
	for _, id := range connectionsOf(t, e, "browser", "erin") {
		// Signed as the handlers sign: the emulator checks SigV4 on @connections.
		resp, err := signedDo(http.DefaultClient, http.MethodDelete, "http://"+strings.TrimPrefix(e.wsURL, "ws://")+"/@connections/"+url.PathEscape(id), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusNoContent {
			killed++
		}
	}
	if killed != 1 {
		t.Fatalf("DELETE @connections killed %d of erin's connections, want 1", killed)
	}
	wd.waitFor("erin's page reconnecting, then connected",
		`const s = window.wschatPage.states; const i = s.findIndex(x => x.startsWith("reconnecting:"));
		return i >= 0 && s.slice(i).some(x => x.startsWith("connected:")) && document.getElementById("status").dataset.state === "connected"`)
	states := wd.script(`return window.wschatPage.states`)

	wd.switchTo(frank)
	text := fmt.Sprintf("to erin after her reconnect at %d", time.Now().UnixNano())
	wd.typeInto("#text", text)
	wd.click("#send")
	wd.switchTo(erin)
	wd.waitFor("frank's message in erin's window after her reconnect", hasMessage, text)
	if got := wd.script(countMessage, text); fmt.Sprint(got) != "1" {
		t.Errorf("erin's page shows frank's message %v times, want 1", got)
	}
	assertIncreasing(t, "erin", wd.script(shownSeqs))
	stats := wd.script(`return window.wschatPage.client.stats()`)
	t.Logf("killed %d connection; erin's page states %v; client stats %v", killed, states, stats)
}

// connectionsOf lists the connections of user in channel, from the
// emulator's DynamoDB (the page cannot know its own connection id).
func connectionsOf(t *testing.T, e *emulator, channel, user string) []string {
	t.Helper()
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
	var ids []string
	for cur := ""; ; {
		members, next, err := store.Members(ctx, channel, cur, 100)
		if err != nil {
			t.Fatalf("members of %s: %v", channel, err)
		}
		for _, mb := range members {
			if mb.UserID == user {
				ids = append(ids, mb.ConnectionID)
			}
		}
		if next == "" {
			return ids
		}
		cur = next
	}
}

func assertIncreasing(t *testing.T, who string, v any) {
	t.Helper()
	seqs, _ := v.([]any)
	for i := 1; i < len(seqs); i++ {
		if a, b := seqs[i-1].(float64), seqs[i].(float64); b <= a {
			t.Errorf("%s's page shows seq %v after %v: want strictly increasing seqs, got %v", who, b, a, seqs)
			return
		}
	}
}

// historyCount asks the server's history of channel, as another user, how
// many messages carry clientID.
func historyCount(t *testing.T, e *emulator, channel, clientID string) int {
	t.Helper()
	gina := connectAs(t, e, "gina")
	defer gina.conn.CloseNow()
	gina.join(t, channel)
	n := 0
	for after := 0.0; ; {
		gina.send(t, map[string]any{"action": "history", "channel": channel, "after": after, "limit": 100})
		page := gina.expect(t, "history", map[string]any{"channel": channel})
		msgs, _ := page["messages"].([]any)
		for _, m := range msgs {
			if m.(map[string]any)["clientId"] == clientID {
				n++
			}
		}
		if more, _ := page["more"].(bool); !more {
			return n
		}
		after = page["next"].(float64)
	}
}
