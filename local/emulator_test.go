package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wschat/wschat/internal/localissuer"
)

// emulator is a run() started in-process by a test.
type emulator struct {
	wsURL      string // ws://127.0.0.1:PORT/<stage>
	baseURL    string // http://127.0.0.1:PORT
	log        *testLog
	secretFile string // the run's issuer secret, which mintToken sends
}

// secret is the run's issuer secret.
func (e *emulator) secret(t *testing.T) string {
	t.Helper()
	s, err := localissuer.ReadSecret(e.secretFile)
	if err != nil {
		t.Fatalf("issuer secret: %v", err)
	}
	return s
}

// testLog keeps the emulator's output for failure reports and assertions.
type testLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *testLog) add(line string) {
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
}

func (l *testLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

var wsLine = regexp.MustCompile(`WebSocket\s+(ws://127\.0\.0\.1:\d+)/(\S+)`)

// startEmulator runs the emulator with args (plus --port 0 and a temporary
// issuer key) until the test ends.
func startEmulator(t *testing.T, args ...string) *emulator {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	e := &emulator{log: &testLog{}}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1024*1024), 1024*1024)
		for sc.Scan() {
			line := sc.Text()
			e.log.add(line)
			if m := wsLine.FindStringSubmatch(line); m != nil {
				select {
				case ready <- m[1] + "/" + m[2]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	tmp := t.TempDir()
	e.secretFile = filepath.Join(tmp, "issuer-secret")
	args = append([]string{"--port", "0", "--issuer-key", filepath.Join(tmp, "issuer-key.pem"), "--issuer-secret-file", e.secretFile}, args...)
	done := make(chan struct{})
	var runErr error
	go func() {
		runErr = run(ctx, args, func(string) string { return "" }, pw, pw)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
			if runErr != nil && !t.Failed() {
				t.Errorf("emulator: %v", runErr)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("emulator did not stop within 30s")
		}
		_ = pw.Close()
		if t.Failed() {
			t.Logf("emulator output:\n%s", e.log)
		}
	})
	select {
	case u := <-ready:
		e.wsURL = u
		e.baseURL = "http" + strings.TrimPrefix(u[:strings.LastIndexByte(u, '/')], "ws")
	case <-done:
		t.Fatalf("emulator stopped: %v\n%s", runErr, e.log)
	case <-time.After(3 * time.Minute):
		t.Fatalf("emulator not ready within 3m\n%s", e.log)
	}
	return e
}

func dial(t *testing.T, url string, opts *websocket.DialOptions) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", url, err, status)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

func send(t *testing.T, c *websocket.Conn, v any) {
	t.Helper()
	data, ok := v.(string)
	if !ok {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		data = string(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(data)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func readFrame(t *testing.T, c *websocket.Conn, within time.Duration) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	_, data, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("frame %s: %v", data, err)
	}
	return m
}

// testFnTemplate runs local/testdata/fn: a 1 s timeout, reserved concurrency 2.
var testFnTemplate = []string{"--template", "testdata/fn.template.json", "--allow-stale"}

func TestEmulatorTimeoutAndCrash(t *testing.T) {
	e := startEmulator(t, testFnTemplate...)
	c := dial(t, e.wsURL, nil)

	// A two-way route answers with the function's body; the callback URL is local.
	send(t, c, `{"action":"echo","env":"CALLBACK,AWS_REGION"}`)
	got := readFrame(t, c, 10*time.Second)
	env, _ := got["env"].(map[string]any)
	if env["CALLBACK"] != e.baseURL+"/test" || env["AWS_REGION"] != "us-east-1" {
		t.Errorf("echo = %v, want CALLBACK %s/test", got, e.baseURL)
	}

	// A handler that outlives its 1 s timeout fails like on AWS.
	start := time.Now()
	send(t, c, `{"action":"slow","sleep":"30s"}`)
	got = readFrame(t, c, 10*time.Second)
	if got["message"] != "Internal server error" || got["requestId"] == "" || got["connectionId"] == "" {
		t.Errorf("after a timeout the client got %v", got)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("timeout reported after %v, want about 1s", d)
	}
	if !strings.Contains(e.log.String(), "Task timed out after 1.00 seconds") {
		t.Errorf("log has no timeout line")
	}

	// A crash fails the invocation; the next message runs in a new instance.
	send(t, c, `{"action":"x","crash":true}`)
	if got := readFrame(t, c, 10*time.Second); got["message"] != "Internal server error" {
		t.Errorf("after a crash the client got %v", got)
	}
	send(t, c, `{"action":"echo"}`)
	if got := readFrame(t, c, 10*time.Second); got["requestId"] == nil {
		t.Errorf("after a crash, echo got %v", got)
	}
	if !strings.Contains(e.log.String(), "] crashing on purpose") {
		t.Errorf("log lacks the crashed instance's prefixed stderr")
	}
}

func TestRunRefusesMissingOrStaleTemplate(t *testing.T) {
	ctx := context.Background()
	getenv := func(string) string { return "" }
	err := run(ctx, []string{"--template", filepath.Join(t.TempDir(), "nope.json")}, getenv, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "make synth") {
		t.Errorf("missing template: err = %v, want advice to run make synth", err)
	}
	// testdata templates are older than the sources.
	tpl := filepath.Join(t.TempDir(), "old.json")
	if err := os.WriteFile(tpl, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Unix(1, 0)
	if err := os.Chtimes(tpl, old, old); err != nil {
		t.Fatal(err)
	}
	err = run(ctx, []string{"--template", tpl}, getenv, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "--allow-stale") {
		t.Errorf("stale template: err = %v, want advice about --allow-stale", err)
	}
	if err := run(ctx, []string{"--help"}, getenv, io.Discard, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help: err = %v", err)
	}
}
