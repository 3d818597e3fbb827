package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"wschat/internal/emutest"
	"wschat/internal/modroot"
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
	rc := reloadCase{
		Function: "fn",
		Copy: map[string]string{
			"go.mod": filepath.Join(root, "go.mod"), "go.sum": filepath.Join(root, "go.sum"),
			"lambdas/fn": filepath.Join(root, "local", "testdata", "fn"), "t.json": tpl,
		},
		Template: "t.json",
		Edit:     "lambdas/fn/main.go",
		Old:      `"requestId": out["requestId"]}`,
		Version:  func(i int) string { return `"requestId": out["requestId"], "version": ` + string(rune('0'+i)) + `}` },
		Frame:    `{"action":"echo"}`,
		Answered: func(f map[string]any, i int) bool { return f["version"] == float64(i) },
		Dial:     func(_ context.Context, e *emutest.Emulator) (string, error) { return e.WebSocketURL, nil },
		Reloads:  2,
	}
	var lines []string
	run, err := measureReload(ctx, bin, rc, func(format string, args ...any) { lines = append(lines, format) })
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Seconds) != 2 || !run.Connected || run.P50 <= 0 || run.Max < run.P50 {
		t.Errorf("run = %+v, want 2 timed reloads over a kept connection", run)
	}
	t.Logf("save → new code answering: %v s (this test's function; make bench measures chat)", run.Seconds)
	if len(lines) != 2 || !strings.Contains(lines[0], "new code answered") {
		t.Errorf("progress lines = %v", lines)
	}
}
