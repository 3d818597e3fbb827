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

	"github.com/wschat/wschat/internal/emutest"
)

// ReloadRun is the edit loop of `make dev` (--watch) for one kind of change:
// the time from saving a file to the new code answering a frame.
type ReloadRun struct {
	// Scope is what the edit reaches: "one function" (issue 14's target) or
	// "shared" (a package every function depends on).
	Scope    string    `json:"scope"`
	Function string    `json:"function"` // whose answer is awaited
	Edit     string    `json:"edit"`
	Seconds  []float64 `json:"seconds"` // one per reload, save → first frame answered by the new code
	P50      float64   `json:"p50Seconds"`
	Max      float64   `json:"maxSeconds"`
	// Lines are the emulator's reload lines, one per edit: what it rebuilt
	// and how long the whole reload took.
	Lines []string `json:"emulatorLines,omitempty"`
	// Connected says the client dialled before the first edit was still the
	// one that got every answer: no reload closed it.
	Connected bool `json:"connectionKept"`
}

// reloadCase is one module copy to edit under --watch, with the rows
// measured on it in turn.
type reloadCase struct {
	Copy     map[string]string                                              // destination (relative to the copy) → source path
	Template string                                                         // relative to the copy
	Args     []string                                                       // extra emulator flags
	Frame    string                                                         // sent to get an answer
	Dial     func(ctx context.Context, e *emutest.Emulator) (string, error) // the URL to dial
	Rows     []reloadRow
}

// reloadRow is one kind of change, made Reloads times.
type reloadRow struct {
	Scope    string
	Function string
	Edit     string                                   // the file edited, relative to the copy
	Apply    func(orig string, i int) (string, error) // version i of the file, from its original text
	Answered func(frame map[string]any, i int) bool   // the answer comes from version i
	Reloads  int
}

// chatReloadCase runs the dev stack with two rows: edits of lambdas/chat
// (only the chat function depends on it: a one-function change), then of
// internal/protocol/request.go (every Go function but the authorizer
// depends on it). The frame is an unknown action, which the chat function
// answers with an error frame: a ping is answered by API Gateway itself (a
// MOCK integration) and would never show the new build.
func chatReloadCase(root, tpl string, reloads, sharedReloads int) reloadCase {
	return reloadCase{
		Copy: map[string]string{
			"go.mod": filepath.Join(root, "go.mod"), "go.sum": filepath.Join(root, "go.sum"),
			"internal": filepath.Join(root, "internal"), "lambdas": filepath.Join(root, "lambdas"),
			// The SDK modules go.mod replaces with ./wire, ./client and
			// ./publisher: without them no function builds (internal/contract
			// imports wire).
			"wire": filepath.Join(root, "wire"), "client": filepath.Join(root, "client"), "publisher": filepath.Join(root, "publisher"),
			"cdk.out/WsChat-dev.template.json": tpl,
		},
		Template: "cdk.out/WsChat-dev.template.json",
		Args:     []string{"--dynalite", filepath.Join(root, "node_modules", ".bin", "dynalite")},
		Frame:    `{"action":"dance"}`,
		Dial: func(ctx context.Context, e *emutest.Emulator) (string, error) {
			tok, err := e.Token(ctx, "reload-bench")
			return e.DialURL(tok), err
		},
		Rows: []reloadRow{
			{Scope: "one function", Function: "chat", Edit: "lambdas/chat/main.go", Apply: markChatBuild, Reloads: reloads,
				Answered: func(f map[string]any, i int) bool { return f["type"] == "error" && f["build"] == float64(i) }},
			sharedProtocolRow(sharedReloads),
		},
	}
}

// markChatBuild is version i of lambdas/chat/main.go: the chat function's
// replies go through a Poster that adds "build": i to its error frames.
func markChatBuild(src string, i int) (string, error) {
	const call = "handler.NewChat(p.Config, p.Store, p.Broadcaster, p.Fanout, p.Log, p.Meter)"
	if !strings.Contains(src, call) || !strings.Contains(src, "import (\n") {
		return "", fmt.Errorf("%q or an import block not found", call)
	}
	src = strings.Replace(src, call, "handler.NewChat(p.Config, p.Store, p.Broadcaster, benchBuild{p.Fanout}, p.Log, p.Meter)", 1)
	src = strings.Replace(src, "import (\n", "import (\n\t\"bytes\"\n\t\"context\"\n\t\"github.com/wschat/wschat/internal/chat\"\n", 1)
	return src + fmt.Sprintf(`
// benchBuild marks the error frames of this build (make bench's reload row).
type benchBuild struct{ chat.Poster }

func (b benchBuild) Post(ctx context.Context, id string, frame []byte) error {
	return b.Poster.Post(ctx, id, bytes.Replace(frame, []byte(%[1]s"type":"error"%[1]s), []byte(%[1]s"type":"error","build":%[2]d%[1]s), 1))
}
`, "`", i), nil
}

// sharedProtocolRow edits the unknown-action message in
// internal/protocol/request.go: version i says "(build i)".
func sharedProtocolRow(reloads int) reloadRow {
	const old = `"unknown action; want one of %s"`
	return reloadRow{
		Scope: "shared", Function: "chat", Edit: "internal/protocol/request.go", Reloads: reloads,
		Apply: func(src string, i int) (string, error) {
			if !strings.Contains(src, old) {
				return "", fmt.Errorf("%q not found", old)
			}
			return strings.Replace(src, old, fmt.Sprintf(`"unknown action (build %d); want one of %%s"`, i), 1), nil
		},
		Answered: func(f map[string]any, i int) bool {
			msg, _ := f["message"].(string)
			return f["type"] == "error" && strings.Contains(msg, fmt.Sprintf("(build %d)", i))
		},
	}
}

// measureReload copies the module, runs the emulator on the copy with
// --watch, and times each edit of each row until a frame is answered by the
// new code, over one connection kept throughout.
func measureReload(ctx context.Context, bin string, rc reloadCase, progress func(string, ...any)) ([]ReloadRun, error) {
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
		Args: append([]string{"--watch"}, rc.Args...),
	})
	if err != nil {
		return nil, err
	}
	defer func() { _ = e.Kill() }()
	if err := awaitWatching(ctx, e); err != nil {
		return nil, err
	}
	lines := make(chan string, 64)
	defer e.Watch(func(l string) {
		if strings.HasPrefix(l, "reload: ") {
			select {
			case lines <- l:
			default:
			}
		}
	})()
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
	l := &reloadLoop{dir: dir, c: c, e: e, frame: rc.Frame, answers: make(chan answer), errc: make(chan error, 1), lines: lines, progress: progress}
	go readAnswers(readCtx, c, l.answers, l.errc)
	var runs []ReloadRun
	for _, row := range rc.Rows {
		run, err := l.measure(ctx, row)
		if err != nil {
			return nil, err
		}
		runs = append(runs, *run)
	}
	return runs, nil
}

// awaitWatching waits for the emulator's "watching" line: it reads the
// dependencies of every function first (go list), which the first edit
// would otherwise race with (nobody saves a file within a second of make dev).
func awaitWatching(ctx context.Context, e *emutest.Emulator) error {
	deadline := time.Now().Add(time.Minute)
	for !strings.Contains(e.Tail(200), "watching lambdas/") {
		if time.Now().After(deadline) {
			return fmt.Errorf("--watch did not start within a minute\n%s", e.Tail(30))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// reloadLoop is the emulator and the connection the rows are measured on.
type reloadLoop struct {
	dir      string
	c        *websocket.Conn
	e        *emutest.Emulator
	frame    string
	answers  chan answer
	errc     chan error
	lines    chan string // the emulator's reload lines
	progress func(string, ...any)
}

// measure makes row's edits one after the other: each is timed from the
// write to the first answer of the new code, and the next waits for the
// emulator's reload line (the other functions of a shared change are still
// building after the chat function answers).
func (l *reloadLoop) measure(ctx context.Context, row reloadRow) (*ReloadRun, error) {
	path := filepath.Join(l.dir, row.Edit)
	orig, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	run := &ReloadRun{Scope: row.Scope, Function: row.Function, Edit: row.Edit, Connected: true}
	l.progress("reload (%s): editing %s %d times", row.Scope, row.Edit, row.Reloads)
	for i := 1; i <= row.Reloads; i++ {
		next, err := row.Apply(string(orig), i)
		if err != nil {
			return nil, fmt.Errorf("edit %s: %w", row.Edit, err)
		}
		saved := time.Now()
		if err := os.WriteFile(path, []byte(next), 0o644); err != nil {
			return nil, err
		}
		answered, err := awaitVersion(ctx, l.c, l.answers, l.errc, l.frame, row.Answered, i)
		if err != nil {
			run.Connected = false
			return nil, fmt.Errorf("%s reload %d: %w\n%s", row.Scope, i, err, l.e.Tail(30))
		}
		took := answered.Sub(saved).Seconds()
		run.Seconds = append(run.Seconds, took)
		line, err := l.reloadLine(ctx, row.Edit)
		if err != nil {
			return nil, fmt.Errorf("%s reload %d: %w\n%s", row.Scope, i, err, l.e.Tail(30))
		}
		run.Lines = append(run.Lines, line)
		l.progress("  %d: new code answered %.2fs after the save; %s", i, took, line)
	}
	sorted := append([]float64(nil), run.Seconds...)
	sort.Float64s(sorted)
	run.P50, run.Max = sorted[(len(sorted)-1)/2], sorted[len(sorted)-1]
	return run, nil
}

// reloadLine waits for the emulator's line about a reload of edit.
func (l *reloadLoop) reloadLine(ctx context.Context, edit string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, reloadWait)
	defer cancel()
	for {
		select {
		case line := <-l.lines:
			if strings.Contains(line, edit) {
				return line, nil
			}
		case <-ctx.Done():
			return "", fmt.Errorf("no reload line for %s: %w", edit, ctx.Err())
		}
	}
}

// frameEvery paces the frames sent while waiting for the new code. It stays
// under the chat function's per-connection frame limit (10/s, burst 20):
// beyond it frames are refused, and after the first notice in a second a
// refused frame gets no answer at all. Sent every 20 ms, one read per write,
// the bench ran the burst dry within half a second of a rebuild and then
// waited on a read no answer would ever come to ("failed to get reader:
// context deadline exceeded"). A figure is up to one period late.
const frameEvery = 125 * time.Millisecond

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

// awaitVersion sends the frame every frameEvery until an answer comes from
// version i, and returns when it was read. Answers are read on their own
// (readAnswers), so a frame the old code is still busy with costs no
// deadline; only the whole wait is bounded (reloadWait).
func awaitVersion(ctx context.Context, c *websocket.Conn, answers <-chan answer, errc <-chan error, frame string, answered func(map[string]any, int) bool, i int) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, reloadWait)
	defer cancel()
	tick := time.NewTicker(frameEvery)
	defer tick.Stop()
	for {
		if err := c.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
			return time.Time{}, fmt.Errorf("write: %w", err)
		}
	wait:
		for {
			select {
			case a := <-answers:
				if answered(a.frame, i) {
					return a.at, nil
				}
				if a.frame["code"] == "rate_limited" {
					return time.Time{}, fmt.Errorf("the function refused a frame (%v): the bench sends too fast", a.frame["message"])
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
