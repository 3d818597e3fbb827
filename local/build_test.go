package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/modroot"
	"github.com/wschat/wschat/internal/template"
)

// TestBuildOrderPutsTheFrameFunctionFirst: the function serving the most
// routes other than $connect and $disconnect is built alone, with any other
// function of its package, before the rest.
func TestBuildOrderPutsTheFrameFunctionFirst(t *testing.T) {
	connect := &template.Function{Label: "connect", GoPackage: "./lambdas/connect"}
	chat := &template.Function{Label: "chat", GoPackage: "./lambdas/chat"}
	chat2 := &template.Function{Label: "chat2", GoPackage: "./lambdas/chat"}
	publish := &template.Function{Label: "publish", GoPackage: "./lambdas/publish"}
	stack := &template.Stack{Routes: []*template.Route{
		{Key: "$connect", Function: connect}, {Key: "$disconnect", Function: connect}, {Key: "$default", Function: publish},
		{Key: "ping", Function: chat}, {Key: "send", Function: chat},
	}}
	names := func(steps [][]*template.Function) string {
		var s []string
		for _, step := range steps {
			var l []string
			for _, f := range step {
				l = append(l, f.Label)
			}
			s = append(s, strings.Join(l, ","))
		}
		return strings.Join(s, " | ")
	}
	tests := []struct {
		fns  []*template.Function
		want string
	}{
		{nil, ""},
		{[]*template.Function{connect}, "connect"},
		{[]*template.Function{connect, publish, chat, chat2}, "chat,chat2 | connect,publish"},
		{[]*template.Function{connect, publish}, "publish | connect"},
	}
	for _, tt := range tests {
		if got := names(buildOrder(stack, tt.fns)); got != tt.want {
			t.Errorf("buildOrder(%s) = %q, want %q", names([][]*template.Function{tt.fns}), got, tt.want)
		}
	}
}

// TestPackageDirsOfEachFunction: one go list gives each package its own
// project dependencies.
func TestPackageDirsOfEachFunction(t *testing.T) {
	root, err := modroot.FromWorkingDir()
	if err != nil {
		t.Fatal(err)
	}
	// Templates name the packages by import path; a path relative to the
	// module works too.
	const chatPkg = "github.com/wschat/wschat/lambdas/chat"
	got, err := packageDirs(t.Context(), root, root, []string{chatPkg, "./lambdas/authorizer"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		pkg, dir string
		want     bool
	}{
		{chatPkg, "lambdas/chat", true},
		{chatPkg, "internal/handler", true},
		{chatPkg, "wire", true},
		{chatPkg, "lambdas/authorizer", false},
		{"./lambdas/authorizer", "internal/auth", true},
		{"./lambdas/authorizer", "internal/handler", false},
	} {
		if got[c.pkg][c.dir] != c.want {
			t.Errorf("%s depends on %s: %v, want %v (all: %v)", c.pkg, c.dir, got[c.pkg][c.dir], c.want, got[c.pkg])
		}
	}
}

// TestGoBuildManyBuildsThePackagesThatCompile: one go build, and a package
// that fails to compile costs only its own executable.
func TestGoBuildManyBuildsThePackagesThatCompile(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":       "module m\n\ngo 1.22\n",
		"good/main.go": "package main\n\nfunc main() {}\n",
		"bad/main.go":  "package main\n\nfunc main() { undefined() }\n",
	}
	for name, src := range files {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	bins, err := goBuildMany(ctx, dir, []string{"./good", "./bad"}, filepath.Join(dir, "out"))
	if err == nil || !strings.Contains(err.Error(), "bad/main.go:3") {
		t.Errorf("error = %v, want the compiler's message for bad/main.go:3", err)
	}
	if len(bins) != 1 || !runsHere(bins["./good"]) {
		t.Errorf("executables = %v, want ./good's only", bins)
	}
	if _, err := goBuildMany(ctx, dir, []string{"./good", "./x/good"}, filepath.Join(dir, "out2")); err == nil {
		t.Error("two packages named good: want an error")
	}
}

// TestImportsChangedOnlyWhenAnImportDoes: an edit that keeps a package's
// imports needs no new go list; a new import, a new package or go.mod does.
func TestImportsChangedOnlyWhenAnImportDoes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("lambdas/fn/main.go", "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println() }\n")
	write("lambdas/fn/other_linux.go", "//go:build !lambda.norpc\n\npackage main\n\nimport \"os\"\n\nvar _ = os.Args\n")
	w := &watcher{e: &session{cfg: &config{root: dir}}, imports: map[string][]string{}}
	var err error
	if w.imports["lambdas/fn"], err = dirImports(dir, "lambdas/fn"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(w.imports["lambdas/fn"], ","); got != "fmt" {
		t.Errorf("imports = %s, want fmt (other_linux.go is excluded by lambda.norpc)", got)
	}
	write("lambdas/fn/main.go", "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(1) }\n")
	if w.importsChanged([]string{"lambdas/fn/main.go"}) {
		t.Error("a body edit: want no change of imports")
	}
	for _, changed := range []string{"go.mod", "internal/new/new.go"} {
		if !w.importsChanged([]string{changed}) {
			t.Errorf("%s changed: want a new go list", changed)
		}
	}
	write("lambdas/fn/main.go", "package main\n\nimport (\n\t\"fmt\"\n\t\"strings\"\n)\n\nfunc main() { fmt.Println(strings.ToUpper(\"\")) }\n")
	if !w.importsChanged([]string{"lambdas/fn/main.go"}) {
		t.Error("a new import: want a new go list")
	}
}
