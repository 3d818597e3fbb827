package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/coder/websocket"

	"wschat/internal/emutest"
)

// ReloadRun is the edit loop of `make dev` (--watch): the time from saving a
// one-function change to the new code answering a frame.
type ReloadRun struct {
	Function string    `json:"function"`
	Edit     string    `json:"edit"`
	Seconds  []float64 `json:"seconds"` // one per reload, save → first frame answered by the new code
	P50      float64   `json:"p50Seconds"`
	Max      float64   `json:"maxSeconds"`
	// Connected says the client dialled before the first edit was still the
	// one that got every answer: no reload closed it.
	Connected bool `json:"connectionKept"`
}

// reloadCase is one module copy to edit under --watch.
type reloadCase struct {
	Function string
	Root     string            // the module to copy from
	Copy     map[string]string // destination (relative to the copy) → source path
	Template string            // relative to the copy
	Args     []string          // extra emulator flags
	Edit     string            // the file edited, relative to the copy
	Old      string            // text in Edit that version 1 replaces
	Version  func(i int) string
	Frame    string                                                         // sent to get an answer
	Answered func(frame map[string]any, i int) bool                         // the answer comes from version i
	Dial     func(ctx context.Context, e *emutest.Emulator) (string, error) // the URL to dial
	Reloads  int
}

// chatReloadCase edits the chat function's ping answer (internal/handler/ping.go):
// version i answers pong with "at" i×10 years ahead.
func chatReloadCase(root, tpl string, reloads int) reloadCase {
	year := time.Now().UTC().Year()
	return reloadCase{
		Function: "chat",
		Root:     root,
		Copy: map[string]string{
			"go.mod": filepath.Join(root, "go.mod"), "go.sum": filepath.Join(root, "go.sum"),
			"internal": filepath.Join(root, "internal"), "lambdas": filepath.Join(root, "lambdas"),
			"cdk.out/WsChat-dev.template.json": tpl,
		},
		Template: "cdk.out/WsChat-dev.template.json",
		Args:     []string{"--dynalite", filepath.Join(root, "node_modules", ".bin", "dynalite")},
		Edit:     "internal/handler/ping.go",
		Old:      "protocol.Pong{At: rq.Now}",
		Version:  func(i int) string { return fmt.Sprintf("protocol.Pong{At: rq.Now.AddDate(%d, 0, 0)}", 10*i) },
		Frame:    `{"action":"ping"}`,
		Answered: func(f map[string]any, i int) bool {
			at, _ := f["at"].(string)
			t, err := time.Parse(time.RFC3339Nano, at)
			return f["type"] == "pong" && err == nil && t.Year() >= year+10*i && t.Year() <= year+10*i+1
		},
		Dial: func(ctx context.Context, e *emutest.Emulator) (string, error) {
			tok, err := e.Token(ctx, "reload-bench")
			return e.DialURL(tok), err
		},
		Reloads: reloads,
	}
}

// measureReload copies the module, runs the emulator on the copy with
// --watch, and times each edit until a frame is answered by the new code.
func measureReload(ctx context.Context, bin string, rc reloadCase, progress func(string, ...any)) (*ReloadRun, error) {
	dir, err := os.MkdirTemp("", "wschat-reload-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	for dst, src := range rc.Copy {
		if err := copyTree(src, filepath.Join(dir, dst)); err != nil {
			return nil, err
		}
	}
	e, err := emutest.Start(ctx, emutest.Options{
		Binary: bin, Root: dir, Template: filepath.Join(dir, rc.Template),
		Args: append([]string{"--watch", "--watch-interval", "100ms"}, rc.Args...),
	})
	if err != nil {
		return nil, err
	}
	defer func() { _ = e.Kill() }()
	url, err := rc.Dial(ctx, e)
	if err != nil {
		return nil, err
	}
	dialCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	c, _, err := websocket.Dial(dialCtx, url, nil)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	defer c.CloseNow()
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	answers, errc := make(chan answer), make(chan error, 1)
	go readAnswers(readCtx, c, answers, errc)
	run := &ReloadRun{Function: rc.Function, Edit: rc.Edit, Connected: true}
	current := rc.Old
	for i := 1; i <= rc.Reloads; i++ {
		next := rc.Version(i)
		path := filepath.Join(dir, rc.Edit)
		data, err := os.ReadFile(path)
		if err != nil || !strings.Contains(string(data), current) {
			return nil, fmt.Errorf("edit %s: %q not found (%v)", rc.Edit, current, err)
		}
		saved := time.Now()
		if err := os.WriteFile(path, []byte(strings.Replace(string(data), current, next, 1)), 0o644); err != nil {
			return nil, err
		}
		current = next
		answered, err := awaitVersion(ctx, c, answers, errc, rc, i)
		if err != nil {
			run.Connected = false
			return nil, fmt.Errorf("reload %d: %w\n%s", i, err, e.Tail(30))
		}
		took := answered.Sub(saved).Seconds()
		run.Seconds = append(run.Seconds, took)
		progress("  reload %d: new code answered %.2fs after the save", i, took)
	}
	sorted := append([]float64(nil), run.Seconds...)
	sort.Float64s(sorted)
	run.P50, run.Max = sorted[len(sorted)/2], sorted[len(sorted)-1]
	return run, nil
}

// pingEvery paces the frames sent while waiting for the new code. It stays
// under the chat function's per-connection frame limit (10/s, burst 20):
// beyond it frames are refused, and after the first notice in a second a
// refused frame gets no answer at all. Sent every 20 ms, one read per write,
// the bench ran the burst dry within half a second of a rebuild and then
// waited on a read no answer would ever come to ("failed to get reader:
// context deadline exceeded"). A figure is up to one period late.
const pingEvery = 125 * time.Millisecond

// reloadWait bounds one reload: a build on a loaded machine is slow, not wrong.
const reloadWait = 3 * time.Minute

// answer is one frame received, stamped when it was read.
type answer struct {
	at    time.Time
	frame map[string]any
}

// readAnswers reads c until it fails, sending each JSON frame to out; the
// read error is the last value sent on errc.
func readAnswers(ctx context.Context, c *websocket.Conn, out chan<- answer, errc chan<- error) {
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			errc <- err
			return
		}
		var f map[string]any
		if json.Unmarshal(data, &f) == nil {
			select {
			case out <- answer{time.Now(), f}:
			case <-ctx.Done():
				errc <- ctx.Err()
				return
			}
		}
	}
}

// awaitVersion sends the frame every pingEvery until an answer comes from
// version i, and returns when it was read. Answers are read on their own
// (readAnswers), so a frame the old code is still busy with costs no
// deadline; only the whole wait is bounded (reloadWait).
func awaitVersion(ctx context.Context, c *websocket.Conn, answers <-chan answer, errc <-chan error, rc reloadCase, i int) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, reloadWait)
	defer cancel()
	tick := time.NewTicker(pingEvery)
	defer tick.Stop()
	for {
		if err := c.Write(ctx, websocket.MessageText, []byte(rc.Frame)); err != nil {
			return time.Time{}, fmt.Errorf("write: %w", err)
		}
	wait:
		for {
			select {
			case a := <-answers:
				if rc.Answered(a.frame, i) {
					return a.at, nil
				}
				if a.frame["code"] == "rate_limited" {
					return time.Time{}, fmt.Errorf("the function refused a frame (%v): the bench pings too fast", a.frame["message"])
				}
			case err := <-errc:
				return time.Time{}, fmt.Errorf("read: %w", err)
			case <-tick.C:
				break wait
			case <-ctx.Done():
				if errors.Is(ctx.Err(), context.DeadlineExceeded) {
					return time.Time{}, fmt.Errorf("the new code did not answer within %s", reloadWait)
				}
				return time.Time{}, ctx.Err()
			}
		}
	}
}

// copyTree copies a file or a directory tree (regular files only).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}
