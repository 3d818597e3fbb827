package main

import (
	"context"
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/modfile"

	"github.com/wschat/wschat/internal/emutest"
	"github.com/wschat/wschat/internal/modroot"
)

// TestMeasureReload runs the bench's reload measurement end to end on the
// emulator's test function (no DynamoDB needed): two edits, each answered
// by the new code over one connection kept throughout. make bench runs the
// same code on the chat function.
func TestMeasureReload(t *testing.T) {
	root, err := modroot.FromWorkingDir()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	bin, err := emutest.Build(ctx, root, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// The function goes where --watch looks (lambdas/), and the template says so.
	data, err := os.ReadFile(filepath.Join(root, "local", "testdata", "fn.template.json"))
	if err != nil {
		t.Fatal(err)
	}
	moved := strings.Replace(string(data), `"./local/testdata/fn"`, `"./lambdas/fn"`, 1)
	if moved == string(data) {
		t.Fatal("the test template names no ./local/testdata/fn")
	}
	tpl := filepath.Join(t.TempDir(), "fn.template.json")
	if err := os.WriteFile(tpl, []byte(moved), 0o644); err != nil {
		t.Fatal(err)
	}
	const old = `"requestId": out["requestId"]}`
	rc := reloadCase{
		Copy: map[string]string{
			"go.mod": filepath.Join(root, "go.mod"), "go.sum": filepath.Join(root, "go.sum"),
			"lambdas/fn": filepath.Join(root, "local", "testdata", "fn"), "t.json": tpl,
		},
		Template: "t.json",
		Frame:    `{"action":"echo"}`,
		Dial:     func(_ context.Context, e *emutest.Emulator) (string, error) { return e.WebSocketURL, nil },
		Rows: []reloadRow{{
			Scope: "one function", Function: "fn", Edit: "lambdas/fn/main.go", Reloads: 2,
			Apply: func(src string, i int) (string, error) {
				return strings.Replace(src, old, `"requestId": out["requestId"], "version": `+string(rune('0'+i))+`}`, 1), nil
			},
			Answered: func(f map[string]any, i int) bool { return f["version"] == float64(i) },
		}},
	}
	var lines []string
	runs, err := measureReload(ctx, bin, rc, func(format string, args ...any) { lines = append(lines, fmt.Sprintf(format, args...)) })
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 {
		t.Fatalf("runs = %+v, want one row", runs)
	}
	run := runs[0]
	if len(run.Seconds) != 2 || !run.Connected || run.P50 <= 0 || run.Max < run.P50 {
		t.Errorf("run = %+v, want 2 timed reloads over a kept connection", run)
	}
	if len(run.Lines) != 2 || !strings.Contains(run.Lines[1], "lambdas/fn/main.go changed; rebuilt fn") {
		t.Errorf("emulator lines = %q, want one reload line per edit", run.Lines)
	}
	t.Logf("save → new code answering: %v s (this test's function; make bench measures chat)", run.Seconds)
	if len(lines) != 3 || !strings.Contains(lines[1], "new code answered") {
		t.Errorf("progress lines = %q", lines)
	}
}

// TestReloadEditsApplyToTheSources checks make bench's edits still find what
// they replace in today's sources and leave valid Go (their build is only
// exercised by make bench).
func TestReloadEditsApplyToTheSources(t *testing.T) {
	root, err := modroot.FromWorkingDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range chatReloadCase(root, "t.json", 1, 1).Rows {
		src, err := os.ReadFile(filepath.Join(root, row.Edit))
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 2; i++ {
			got, err := row.Apply(string(src), i)
			if err != nil {
				t.Fatalf("%s version %d: %v", row.Edit, i, err)
			}
			if _, err := parser.ParseFile(token.NewFileSet(), row.Edit, got, parser.AllErrors); err != nil {
				t.Errorf("%s version %d is not valid Go: %v\n%s", row.Edit, i, err, got)
			}
		}
	}
}

// TestChatReloadCopiesEveryReplacedModule: the module copy the reload rows
// run on must hold every directory go.mod replaces a module with (since
// the SDK modules were split out, internal/contract imports ./wire, and a
// copy without it builds no function).
func TestChatReloadCopiesEveryReplacedModule(t *testing.T) {
	root, err := modroot.FromWorkingDir()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	mf, err := modfile.Parse("go.mod", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := chatReloadCase(root, "template.json", 1, 1)
	n := 0
	for _, r := range mf.Replace {
		if !strings.HasPrefix(r.New.Path, "./") {
			continue
		}
		n++
		dir := strings.TrimPrefix(r.New.Path, "./")
		if c.Copy[dir] != filepath.Join(root, dir) {
			t.Errorf("go.mod replaces %s with %s, which the reload copy lacks", r.Old.Path, r.New.Path)
		}
	}
	if n == 0 {
		t.Error("go.mod replaces nothing with a local directory: the check checked nothing")
	}
}
