package lambda

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/testkit"
)

// testBootstrap is the test function (../testdata/fn) built once for the host.
var testBootstrap string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "lambda-test-")
	if err != nil {
		panic(err)
	}
	testBootstrap = filepath.Join(dir, "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", testBootstrap, "../testdata/fn")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		panic("build test function: " + err.Error())
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func newTestFunction(t *testing.T, cfg Config) (*Function, *testkit.Buffer) {
	t.Helper()
	out := &testkit.Buffer{}
	cfg.Bootstrap = testBootstrap
	if cfg.Name == "" {
		cfg.Name = "fn"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.MaxInstances == 0 {
		cfg.MaxInstances = 2
	}
	cfg.Output = out
	f := New(cfg)
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	})
	return f, out
}

type fnResponse struct {
	RequestID  string            `json:"requestId"`
	ARN        string            `json:"arn"`
	DeadlineMs int64             `json:"deadlineMs"`
	PID        int               `json:"pid"`
	Env        map[string]string `json:"env"`
}

func invoke(t *testing.T, f *Function, payload string) (fnResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	body, err := f.Invoke(ctx, []byte(payload))
	var r fnResponse
	if err == nil {
		if jerr := json.Unmarshal(body, &r); jerr != nil {
			t.Fatalf("response %q: %v", body, jerr)
		}
	}
	return r, err
}

func TestInvokeRuntimeAPI(t *testing.T) {
	f, out := newTestFunction(t, Config{
		Name:     "echo",
		ARN:      "arn:aws:lambda:us-east-1:000000000000:function:echo",
		MemoryMB: 256,
		Env:      map[string]string{"WSCHAT_TABLE_NAME": "Table", "AWS_LAMBDA_FUNCTION_NAME": "not-this"},
	})
	start := time.Now()
	r, err := invoke(t, f, `{"print":"hello from the function","env":"WSCHAT_TABLE_NAME,AWS_LAMBDA_FUNCTION_NAME,AWS_LAMBDA_FUNCTION_MEMORY_SIZE,_HANDLER,HOME"}`)
	if err != nil {
		t.Fatal(err)
	}
	if r.ARN != "arn:aws:lambda:us-east-1:000000000000:function:echo" {
		t.Errorf("invoked function ARN = %q", r.ARN)
	}
	if len(r.RequestID) != 36 {
		t.Errorf("request id = %q, want a UUID", r.RequestID)
	}
	if d := time.UnixMilli(r.DeadlineMs).Sub(start); d < 4*time.Second || d > 6*time.Second {
		t.Errorf("deadline %v after the start, want about the 5s timeout", d)
	}
	want := map[string]string{
		"WSCHAT_TABLE_NAME":               "Table",
		"AWS_LAMBDA_FUNCTION_NAME":        "echo", // reserved: the platform's value wins
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
		"_HANDLER":                        "bootstrap",
		"HOME":                            "", // nothing inherited from the emulator
	}
	for k, v := range want {
		if r.Env[k] != v {
			t.Errorf("env %s = %q, want %q", k, r.Env[k], v)
		}
	}
	// The instance is reused.
	r2, err := invoke(t, f, `{}`)
	if err != nil {
		t.Fatal(err)
	}
	if r2.PID != r.PID {
		t.Errorf("second invocation ran in pid %d, want the idle instance %d", r2.PID, r.PID)
	}
	if got := out.String(); !strings.Contains(got, "[echo#1] hello from the function\n") {
		t.Errorf("output = %q, want the prefixed line", got)
	}
}

func TestInvokeFunctionError(t *testing.T) {
	f, _ := newTestFunction(t, Config{})
	_, err := invoke(t, f, `{"error":"Unauthorized"}`)
	var e *Error
	if !errors.As(err, &e) || e.Message != "Unauthorized" {
		t.Fatalf("err = %v, want an *Error with message Unauthorized", err)
	}
	// A function error leaves the instance healthy.
	if _, err := invoke(t, f, `{}`); err != nil {
		t.Fatal(err)
	}
	if n := f.Instances(); n != 1 {
		t.Errorf("instances = %d, want 1", n)
	}
}

func TestInvokeTimeoutKillsInstance(t *testing.T) {
	f, out := newTestFunction(t, Config{Timeout: 500 * time.Millisecond})
	first, err := invoke(t, f, `{}`)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = invoke(t, f, `{"sleep":"20s"}`)
	var e *Error
	if !errors.As(err, &e) || e.Type != ErrorTypeTimeout {
		t.Fatalf("err = %v, want a %s error", err, ErrorTypeTimeout)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("timeout took %v", d)
	}
	if !strings.Contains(out.String(), "Task timed out after 0.50 seconds") {
		t.Errorf("output = %q, want the timeout line", out.String())
	}
	// A new instance replaces the killed one.
	next, err := invoke(t, f, `{}`)
	if err != nil {
		t.Fatal(err)
	}
	if next.PID == first.PID {
		t.Errorf("invocation after a timeout ran in the killed instance %d", first.PID)
	}
}

func TestInvokeCrashReplacesInstance(t *testing.T) {
	f, out := newTestFunction(t, Config{})
	_, err := invoke(t, f, `{"crash":true}`)
	var e *Error
	if !errors.As(err, &e) || e.Type != ErrorTypeExit {
		t.Fatalf("err = %v, want a %s error", err, ErrorTypeExit)
	}
	if !strings.Contains(e.Message, "exit status 3") {
		t.Errorf("message = %q, want the exit status", e.Message)
	}
	if _, err := invoke(t, f, `{}`); err != nil {
		t.Fatalf("invocation after a crash: %v", err)
	}
	if !strings.Contains(out.String(), "[fn#1] crashing on purpose") {
		t.Errorf("output = %q, want the crash from instance #1", out.String())
	}
}

func TestInvokeConcurrencyCap(t *testing.T) {
	f, _ := newTestFunction(t, Config{MaxInstances: 2})
	var wg sync.WaitGroup
	pids := make(chan int, 4)
	for range 4 {
		wg.Go(func() {
			r, err := invoke(t, f, `{"sleep":"300ms"}`)
			if err != nil {
				t.Error(err)
				return
			}
			pids <- r.PID
		})
	}
	wg.Wait()
	close(pids)
	distinct := map[int]bool{}
	for p := range pids {
		distinct[p] = true
	}
	if len(distinct) != 2 {
		t.Errorf("4 concurrent invocations ran in %d processes, want the cap of 2", len(distinct))
	}
}

func TestInvokeWaitHonoursContext(t *testing.T) {
	f, _ := newTestFunction(t, Config{MaxInstances: 1})
	go func() { _, _ = f.Invoke(context.Background(), []byte(`{"sleep":"1s"}`)) }()
	time.Sleep(100 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := f.Invoke(ctx, []byte(`{}`)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the context's deadline while the only instance is busy", err)
	}
}

func TestPrefixWriter(t *testing.T) {
	var buf bytes.Buffer
	w := NewPrefixWriter(&buf, "[x#1] ")
	_, _ = w.Write([]byte("a\nb"))
	_, _ = w.Write([]byte("c\n\nd"))
	w.Flush()
	if got, want := buf.String(), "[x#1] a\n[x#1] bc\n[x#1] \n[x#1] d\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestReservedConcurrencyThrottles: at the reserved cap an invocation is
// refused at once with Lambda's TooManyRequestsException instead of waiting.
func TestReservedConcurrencyThrottles(t *testing.T) {
	f, _ := newTestFunction(t, Config{MaxInstances: 1, Reserved: true})
	busy := make(chan error, 1)
	go func() {
		_, err := f.Invoke(context.Background(), []byte(`{"sleep":"700ms"}`))
		busy <- err
	}()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	_, err := f.Invoke(context.Background(), []byte(`{}`))
	var lerr *Error
	if !errors.As(err, &lerr) || !lerr.Throttled() || lerr.Type != "TooManyRequestsException" {
		t.Fatalf("err = %v, want a TooManyRequestsException", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("throttled after %v, want at once", d)
	}
	if err := <-busy; err != nil {
		t.Fatalf("the running invocation: %v", err)
	}
	if _, err := invoke(t, f, `{}`); err != nil {
		t.Errorf("after the cap freed: %v, want success", err)
	}
}

// TestInitFailureQuotesStderr: an instance that exits before taking an
// invocation (a bad configuration) fails the invocation with one error line
// that quotes what it printed.
func TestInitFailureQuotesStderr(t *testing.T) {
	f, _ := newTestFunction(t, Config{Env: map[string]string{"FN_INIT_FAIL": "WSCHAT_TABLE_NAME is not set"}})
	_, err := invoke(t, f, `{}`)
	var e *Error
	if !errors.As(err, &e) || e.Type != ErrorTypeExit {
		t.Fatalf("err = %v, want a %s error", err, ErrorTypeExit)
	}
	for _, want := range []string{"exit status 1", "its last output: config error: WSCHAT_TABLE_NAME is not set"} {
		if !strings.Contains(e.Message, want) {
			t.Errorf("message = %q, want %q", e.Message, want)
		}
	}
	if strings.Contains(e.Message, "\n") {
		t.Errorf("message spans lines: %q", e.Message)
	}
}

func TestTailWriterKeepsTheLastLines(t *testing.T) {
	tw := &tailWriter{}
	for i := range 8 {
		_, _ = tw.Write([]byte(strings.Repeat("x", i) + "line\n\n"))
	}
	_, _ = tw.Write([]byte("partial"))
	want := "xxxline | xxxxline | xxxxxline | xxxxxxline | xxxxxxxline | partial"
	if got := tw.String(); got != want {
		t.Errorf("tail = %q, want %q", got, want)
	}
	long := &tailWriter{}
	_, _ = long.Write([]byte(strings.Repeat("y", 1000) + "\n"))
	if got := len(long.String()); got != tailLineMax {
		t.Errorf("a long line is kept at %d bytes, want %d", got, tailLineMax)
	}
}
