package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/wschat/wschat/internal/modroot"
	"github.com/wschat/wschat/internal/testkit"
)

func TestSnapshotChanged(t *testing.T) {
	t0 := time.Unix(100, 0)
	prev := snapshot{"a.go": {t0, 1}, "b.go": {t0, 2}, "c.go": {t0, 3}}
	cur := snapshot{"a.go": {t0, 1}, "b.go": {t0.Add(time.Second), 2}, "d.go": {t0, 4}}
	got := cur.changed(prev)
	want := []string{"b.go", "c.go", "d.go"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("changed = %v, want %v", got, want)
	}
	if got := prev.changed(prev); len(got) != 0 {
		t.Errorf("no change: %v", got)
	}
}

// watchModule is a copy of the module's essentials in a temporary
// directory: go.mod, go.sum, two functions (lambdas/fn and lambdas/other,
// both the test function) and a template that runs them, so a test can
// edit a handler's source without touching the worktree.
func watchModule(t *testing.T) (dir, tpl string) {
	t.Helper()
	root, err := modroot.FromWorkingDir()
	if err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	src, err := os.ReadFile(filepath.Join("testdata", "fn", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"lambdas/fn/main.go": src, "lambdas/other/main.go": src}
	for _, name := range []string{"go.mod", "go.sum"} {
		if files[name], err = os.ReadFile(filepath.Join(root, name)); err != nil {
			t.Fatal(err)
		}
	}
	var doc map[string]any
	data, err := os.ReadFile(filepath.Join("testdata", "fn.template.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	res := doc["Resources"].(map[string]any)
	fn := res["Fn"].(map[string]any)
	fn["Metadata"] = map[string]any{"wschat:goPackage": "./lambdas/fn"}
	other, _ := json.Marshal(fn)
	var otherRes map[string]any
	_ = json.Unmarshal(other, &otherRes)
	otherRes["Metadata"] = map[string]any{"wschat:goPackage": "./lambdas/other"}
	res["Other"] = otherRes
	files["template.json"], _ = json.MarshalIndent(doc, "", " ")
	for name, data := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, filepath.Join(dir, "template.json")
}

// editFile replaces old with new in path and fails if old is not there.
func editFile(t *testing.T, path, old, new string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("%s has no %q", path, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitLine waits for an output line containing want that was not there
// before (after the first skip lines).
func waitLine(t *testing.T, out *testkit.Buffer, skip int, want string, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		lines := strings.Split(out.String(), "\n")
		for _, l := range lines[min(skip, len(lines)):] {
			if strings.Contains(l, want) {
				return l
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no line with %q within %s; output:\n%s", want, within, out.String())
	return ""
}

func lineCount(out *testkit.Buffer) int { return strings.Count(out.String(), "\n") }

// echo sends an echo frame and returns the answer's body fields.
func echo(t *testing.T, c *websocket.Conn, env string) map[string]any {
	t.Helper()
	send(t, c, `{"action":"echo","env":"`+env+`"}`)
	return readFrame(t, c, 20*time.Second)
}

// TestWatchSwapsCodeWithoutDroppingConnections is issue 14's definition of
// done for --watch: with two clients connected, an edit of a handler's
// source is rebuilt and swapped in, both clients stay connected, and a frame
// is answered by the new code. Then a build error keeps the previous build
// serving, and a template change reloads the function's environment.
func TestWatchSwapsCodeWithoutDroppingConnections(t *testing.T) {
	dir, tpl := watchModule(t)
	bin := filepath.Join(t.TempDir(), "wschat-local")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build the emulator: %v\n%s", err, out)
	}
	ready := filepath.Join(t.TempDir(), "ready.json")
	out := &testkit.Buffer{}
	cmd := exec.Command(bin, "--port", "0", "--template", tpl, "--allow-stale", "--watch", "--watch-interval", "100ms",
		"--ready-file", ready, "--issuer-key", filepath.Join(t.TempDir(), "k.pem"))
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("emulator output:\n%s", out.String())
		}
	})
	var doc readyDoc
	deadline := time.Now().Add(3 * time.Minute)
	for {
		data, err := os.ReadFile(ready)
		if err == nil && json.Unmarshal(data, &doc) == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ready file within 3m:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitLine(t, out, 0, "watching lambdas/", time.Minute)

	a, b := dial(t, doc.WebSocketURL, nil), dial(t, doc.WebSocketURL, nil)
	for _, c := range []*websocket.Conn{a, b} {
		if got := echo(t, c, "AWS_REGION"); got["version"] != nil || got["requestId"] == nil {
			t.Fatalf("before the edit: %v", got)
		}
	}

	// 1. A code change: only the function whose package changed is rebuilt.
	skip := lineCount(out)
	saved := time.Now()
	main := filepath.Join(dir, "lambdas", "fn", "main.go")
	editFile(t, main, `"requestId": out["requestId"]}`, `"requestId": out["requestId"], "version": "v2"}`)
	line := waitLine(t, out, skip, "reload:", 2*time.Minute)
	t.Logf("%s (save to reload line: %.1fs)", line, time.Since(saved).Seconds())
	if !strings.Contains(line, "lambdas/fn/main.go changed") || !strings.Contains(line, "rebuilt fn (") || strings.Contains(line, "other") {
		t.Errorf("reload line %q: want lambdas/fn/main.go changed, fn rebuilt and other not", line)
	}
	for name, c := range map[string]*websocket.Conn{"a": a, "b": b} {
		if got := echo(t, c, "AWS_REGION"); got["version"] != "v2" {
			t.Errorf("client %s after the reload: %v, want the new code's version v2", name, got)
		}
	}

	// 2. A build error prints the compiler's message; the previous build serves.
	skip = lineCount(out)
	editFile(t, main, `"version": "v2"}`, `"version": "v3"}`+"\nthis does not compile\n")
	line = waitLine(t, out, skip, "reload:", 2*time.Minute)
	if !strings.Contains(line, "build FAILED for fn") {
		t.Errorf("reload line %q: want build FAILED for fn", line)
	}
	if tail := out.String(); !strings.Contains(tail[min(len(tail), strings.Index(tail, "build fn (")):], "main.go:") {
		t.Errorf("the compiler's message (file:line) is not in the output")
	}
	if got := echo(t, a, "AWS_REGION"); got["version"] != "v2" {
		t.Errorf("after a failed build: %v, want the previous build (v2) still serving", got)
	}

	// 3. A template change reloads the environment, connections kept.
	skip = lineCount(out)
	editFile(t, main, "\nthis does not compile\n", "")
	editFile(t, tpl, `"Variables": {`, `"Variables": {"GREETING": "from the new template",`)
	line = waitLine(t, out, skip, "reload:", 2*time.Minute)
	if !strings.Contains(line, "template reloaded") || !strings.Contains(line, "rebuilt fn") {
		t.Errorf("reload line %q: want the template reloaded and fn rebuilt", line)
	}
	for name, c := range map[string]*websocket.Conn{"a": a, "b": b} {
		got := echo(t, c, "GREETING")
		env, _ := got["env"].(map[string]any)
		if got["version"] != "v3" || env["GREETING"] != "from the new template" {
			t.Errorf("client %s after the template reload: %v, want v3 and the new GREETING", name, got)
		}
	}
	// Both answered above; and the gateway never logged a disconnect.
	if strings.Contains(out.String(), "msg=disconnected") {
		t.Errorf("a connection was closed during the reloads")
	}
}
