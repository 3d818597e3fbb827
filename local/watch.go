package main

import (
	"context"
	"errors"
	"fmt"
	"go/build"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/wschat/wschat/internal/gobuild"
	"github.com/wschat/wschat/internal/template"
	"github.com/wschat/wschat/local/gateway"
)

// --watch polls modification times rather than using fsnotify (which the
// module proxy serves): one stat per .go file under lambdas/, internal/, wire/ and
// infra/ (a few hundred files, well under a millisecond of CPU per scan) is
// cheap at 300 ms, needs no new dependency in the shared go.mod, no
// per-directory watch bookkeeping for new packages, works the same for
// editors that save by rename, and cannot run out of inotify watches on a
// machine shared by several engineers.

// watchedDirs are the source trees --watch looks at.
var watchedDirs = []string{"lambdas", "internal", "infra", "wschatcdk", "wire"}

// fileStamp identifies one version of a file.
type fileStamp struct {
	mod  time.Time
	size int64
}

// snapshot maps a path relative to the module root to its stamp.
type snapshot map[string]fileStamp

// scanSources stamps the non-test .go files under the watched trees, go.mod,
// go.sum, and the template.
func scanSources(root, tpl string) (snapshot, error) {
	snap := snapshot{}
	stamp := func(path, rel string) {
		if info, err := os.Stat(path); err == nil {
			snap[rel] = fileStamp{info.ModTime(), info.Size()}
		}
	}
	stamp(filepath.Join(root, "go.mod"), "go.mod")
	stamp(filepath.Join(root, "go.sum"), "go.sum")
	stamp(tpl, relTo(root, tpl))
	for _, dir := range watchedDirs {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			name := d.Name()
			if d.IsDir() {
				if name == "testdata" || name == "node_modules" || (len(name) > 1 && name[0] == '.') {
					return filepath.SkipDir
				}
				return nil
			}
			if filepath.Ext(name) != ".go" || strings.HasSuffix(name, "_test.go") {
				return nil
			}
			if info, err := d.Info(); err == nil {
				snap[relTo(root, path)] = fileStamp{info.ModTime(), info.Size()}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return snap, nil
}

// changed lists the paths added, removed or modified since prev, sorted.
func (s snapshot) changed(prev snapshot) []string {
	var out []string
	for p, st := range s {
		if old, ok := prev[p]; !ok || old != st {
			out = append(out, p)
		}
	}
	for p := range prev {
		if _, ok := s[p]; !ok {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

func relTo(root, path string) string {
	if rel, err := filepath.Rel(root, path); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(rel)
	}
	return path
}

// packageDirs returns, for each package of pkgs (import paths, or paths
// relative to module: ./lambdas/...), the directories relative to root of
// the project packages its build depends on, itself included (go list
// -deps for this host, run in module, one run for them all).
func packageDirs(ctx context.Context, module, root string, pkgs []string) (map[string]map[string]bool, error) {
	flags, cleanup, err := gobuild.Flags(module)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	args := append(append([]string{"list"}, flags...), "-tags", "lambda.norpc", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}\t{{.Dir}}\t{{join .Deps \" \"}}{{end}}")
	cmd := exec.CommandContext(ctx, "go", append(args, pkgs...)...)
	cmd.Dir = module
	cmd.Env = append(os.Environ(), "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH, "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("go list -deps %s: %v\n%s", strings.Join(pkgs, " "), err, strings.TrimSpace(string(ee.Stderr)))
		}
		return nil, fmt.Errorf("go list -deps %s: %w", strings.Join(pkgs, " "), err)
	}
	dirOf, depsOf := map[string]string{}, map[string][]string{} // by import path
	byDir := map[string]string{}                                // import path by absolute directory
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Split(line, "\t")
		if len(fields) != 3 {
			continue
		}
		if rel := relTo(root, fields[1]); rel != fields[1] {
			dirOf[fields[0]] = rel
		}
		byDir[filepath.Clean(fields[1])], depsOf[fields[0]] = fields[0], strings.Fields(fields[2])
	}
	result := map[string]map[string]bool{}
	for _, pkg := range pkgs {
		ip, ok := pkg, depsOf[pkg] != nil || dirOf[pkg] != ""
		if strings.HasPrefix(pkg, "./") {
			ip, ok = byDir[filepath.Join(module, pkg)]
		}
		if !ok {
			return nil, fmt.Errorf("go list -deps: no package in %s", pkg)
		}
		dirs := map[string]bool{dirOf[ip]: true}
		for _, dep := range depsOf[ip] {
			if d, ok := dirOf[dep]; ok {
				dirs[d] = true
			}
		}
		result[pkg] = dirs
	}
	return result, nil
}

// watcher is the state of --watch: what each function's build depends on.
type watcher struct {
	e      *session
	deps   map[string]map[string]bool // by logical id: package dirs of its build
	builds int                        // numbers the executables, which are never overwritten
	// imports holds, by package dir, the imports it had when deps was last
	// read: while a change leaves them as they are, deps still holds.
	imports map[string][]string
}

// watch polls the sources every interval until ctx ends and reloads on a
// change from prev, once the files have stopped changing (an editor saving
// several).
func (e *session) watch(ctx context.Context, prev snapshot, done chan<- struct{}) {
	defer close(done)
	w := &watcher{e: e, deps: map[string]map[string]bool{}, imports: map[string][]string{}}
	w.refreshDeps(ctx, e.stack.Functions)
	e.out.printf("watching lambdas/, internal/, wire/, infra/, wschatcdk/ and the template every %s", e.cfg.watchInterval)
	tick := time.NewTicker(e.cfg.watchInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		cur, err := scanSources(e.cfg.root, e.cfg.template)
		if err != nil {
			e.out.printf("watch: %v", err)
			continue
		}
		if len(cur.changed(prev)) == 0 {
			continue
		}
		var ok bool
		if cur, ok = e.settle(ctx, cur); !ok {
			return
		}
		changed := cur.changed(prev)
		prev = cur
		if w.reload(ctx, changed) {
			// The synth rewrote the template, which this reload took in.
			// Only its stamp is refreshed: an edit saved during the reload
			// must still count as a change.
			if info, err := os.Stat(e.cfg.template); err == nil {
				prev[relTo(e.cfg.root, e.cfg.template)] = fileStamp{info.ModTime(), info.Size()}
			}
		}
	}
}

// settleFor is how long the sources must stay as they are before a reload
// starts: an editor saving several files, or formatting after a save,
// writes them milliseconds apart. Something slower (a checkout) makes the
// next scan find more, and the wait starts again, at most 20 times.
const settleFor = 100 * time.Millisecond

// settle scans again every settleFor (or the watch interval, if shorter)
// until a scan finds nothing newer than cur, and returns the last scan; ok
// is false when ctx ended.
func (e *session) settle(ctx context.Context, cur snapshot) (_ snapshot, ok bool) {
	for range 20 {
		select {
		case <-ctx.Done():
			return cur, false
		case <-time.After(min(settleFor, e.cfg.watchInterval)):
		}
		again, err := scanSources(e.cfg.root, e.cfg.template)
		if err != nil || len(again.changed(cur)) == 0 {
			return cur, true
		}
		cur = again
	}
	return cur, true
}

// refreshDeps sets what the builds of fns depend on; on an error (printed)
// each keeps what it had.
func (w *watcher) refreshDeps(ctx context.Context, fns []*template.Function) {
	var pkgs []string
	for _, f := range fns {
		if f.GoPackage != "" && !slices.Contains(pkgs, f.GoPackage) {
			pkgs = append(pkgs, f.GoPackage)
		}
	}
	if len(pkgs) == 0 {
		return
	}
	dirs, err := packageDirs(ctx, w.e.cfg.goModule, w.e.cfg.root, pkgs)
	if err != nil {
		w.e.out.printf("watch: %v", err)
		return
	}
	for _, f := range fns {
		if d, ok := dirs[f.GoPackage]; ok {
			w.deps[f.LogicalID] = d
			for dir := range d {
				if imports, err := dirImports(w.e.cfg.root, dir); err == nil {
					w.imports[dir] = imports
				}
			}
		}
	}
}

// importsChanged reports whether the changes may have changed what a
// function's build depends on: go.mod or go.sum, or a package whose imports
// are not the ones recorded with deps (a new package has none recorded).
// Most edits change no import, and then no go list is needed.
func (w *watcher) importsChanged(changed []string) bool {
	for _, p := range changed {
		if p == "go.mod" || p == "go.sum" {
			return true
		}
		if filepath.Ext(p) != ".go" {
			continue
		}
		dir := filepath.ToSlash(filepath.Dir(p))
		imports, err := dirImports(w.e.cfg.root, dir)
		if old, ok := w.imports[dir]; err != nil || !ok || !slices.Equal(imports, old) {
			return true
		}
	}
	return false
}

// dirImports returns the imports of the package in dir (relative to root)
// as the host build sees it: the build tags and files of go build for this
// host without cgo, test files left out. It reads only the import blocks.
func dirImports(root, dir string) ([]string, error) {
	bc := build.Default
	bc.GOOS, bc.GOARCH, bc.CgoEnabled = runtime.GOOS, runtime.GOARCH, false
	bc.BuildTags = []string{"lambda.norpc"}
	pkg, err := bc.ImportDir(filepath.Join(root, dir), 0)
	if err != nil {
		return nil, err
	}
	return pkg.Imports, nil
}

// affected returns the functions whose builds depend on a changed file;
// go.mod and go.sum affect every Go function.
func (w *watcher) affected(changed []string) []*template.Function {
	var out []*template.Function
	for _, f := range w.e.stack.Functions {
		if f.GoPackage == "" || w.e.bootstraps[f] == "" {
			continue
		}
		for _, p := range changed {
			if p == "go.mod" || p == "go.sum" || w.deps[f.LogicalID][filepath.ToSlash(filepath.Dir(p))] {
				out = append(out, f)
				break
			}
		}
	}
	return out
}

// reload handles one settled set of changes and prints one line for it; it
// reports whether it re-synthesized the template.
func (w *watcher) reload(ctx context.Context, changed []string) (synthesized bool) {
	start := time.Now()
	e := w.e
	tplRel := relTo(e.cfg.root, e.cfg.template)
	var infraChanged, tplChanged bool
	for _, p := range changed {
		infraChanged = infraChanged || strings.HasPrefix(p, "infra/") || strings.HasPrefix(p, "wschatcdk/")
		tplChanged = tplChanged || p == tplRel
	}
	var notes []string
	if infraChanged {
		note, err := w.resynth(ctx)
		if err != nil {
			e.out.printf("reload: %s changed; %v; still serving the previous template (%.1fs)", describe(changed), err, time.Since(start).Seconds())
			return false
		}
		notes = append(notes, note)
		tplChanged, synthesized = true, true
	}
	rebuilt, failed := w.rebuild(ctx, w.affected(changed), w.importsChanged(changed))
	if tplChanged {
		note, err := w.reloadTemplate(ctx)
		if err != nil {
			notes = append(notes, "template not reloaded: "+err.Error())
		} else {
			notes = append(notes, note)
		}
		var unknown []*template.Function
		for _, f := range e.stack.Functions {
			if w.deps[f.LogicalID] == nil {
				unknown = append(unknown, f)
			}
		}
		w.refreshDeps(ctx, unknown)
	}
	switch {
	case len(rebuilt) > 0:
		notes = append(notes, "rebuilt "+strings.Join(rebuilt, ", "))
	case len(failed) == 0 && !tplChanged:
		notes = append(notes, "no function depends on it")
	}
	if len(failed) > 0 {
		notes = append(notes, "build FAILED for "+strings.Join(failed, ", ")+" (the previous build keeps serving; compiler output above)")
	}
	e.out.printf("reload: %s changed; %s; %.1fs", describe(changed), strings.Join(notes, "; "), time.Since(start).Seconds())
	return synthesized
}

// describe names up to three changed files.
func describe(changed []string) string {
	if len(changed) <= 3 {
		return strings.Join(changed, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(changed[:3], ", "), len(changed)-3)
}

// rebuild builds the functions into new executables and swaps each build in
// as soon as it is done (buildOrder: the function answering frames first).
// A failed build prints the compiler's message and leaves its functions as
// they are. Each entry of rebuilt names the functions of one build step and
// how long it took.
func (w *watcher) rebuild(ctx context.Context, fns []*template.Function, readDeps bool) (rebuilt, failed []string) {
	var swapped []*template.Function
	for _, step := range buildOrder(w.e.stack, fns) {
		t0 := time.Now()
		bins, err := w.buildStep(ctx, step)
		var done, bad, badPkgs []string
		for _, f := range step {
			bin := bins[f]
			if bin == "" {
				bad = append(bad, f.Label)
				badPkgs = append(badPkgs, fmt.Sprintf("%s (%s)", f.Label, f.GoPackage))
				continue
			}
			w.e.bootstraps[f] = bin
			w.e.functions[f].Swap(w.e.functionConfig(f, bin))
			done = append(done, f.Label)
			swapped = append(swapped, f)
		}
		if len(done) > 0 {
			rebuilt = append(rebuilt, fmt.Sprintf("%s (%.1fs)", strings.Join(done, ", "), time.Since(t0).Seconds()))
		}
		if ctx.Err() != nil {
			w.e.out.printf("reload: interrupted while building %s; stopping", strings.Join(bad, ", "))
			return rebuilt, append(failed, bad...)
		}
		if len(bad) > 0 {
			w.e.out.printf("build %s failed:\n%v", strings.Join(badPkgs, ", "), err)
			failed = append(failed, bad...)
		}
	}
	if readDeps {
		w.refreshDeps(ctx, swapped)
	}
	return rebuilt, failed
}

// buildOrder splits a rebuild into steps: first the function serving the
// most routes other than $connect and $disconnect (the chat function, which
// answers frames), with any other built from its package, so a change to a
// package every function shares is answered after one build; then all the
// others, built together.
func buildOrder(stack *template.Stack, fns []*template.Function) [][]*template.Function {
	if len(fns) == 0 {
		return nil
	}
	frames := map[*template.Function]int{}
	for _, r := range stack.Routes {
		if r.Function != nil && r.Key != gateway.RouteConnect && r.Key != gateway.RouteDisconnect {
			frames[r.Function]++
		}
	}
	first := fns[0]
	for _, f := range fns {
		if frames[f] > frames[first] {
			first = f
		}
	}
	var now, later []*template.Function
	for _, f := range fns {
		if f.GoPackage == first.GoPackage {
			now = append(now, f)
		} else {
			later = append(later, f)
		}
	}
	if len(later) == 0 {
		return [][]*template.Function{now}
	}
	return [][]*template.Function{now, later}
}

// buildStep builds the packages of fns with one go build (more only when
// two packages share a base name, which go build -o DIR/ cannot hold) and
// returns each function's executable, at <LogicalID>/bootstrap.N in the
// build directory; executables are never overwritten.
func (w *watcher) buildStep(ctx context.Context, fns []*template.Function) (map[*template.Function]string, error) {
	var groups [][]string // packages with distinct base names
	seen := map[string]bool{}
	for _, f := range fns {
		if seen[f.GoPackage] {
			continue
		}
		seen[f.GoPackage] = true
		i := slices.IndexFunc(groups, func(g []string) bool {
			return !slices.ContainsFunc(g, func(p string) bool { return path.Base(p) == path.Base(f.GoPackage) })
		})
		if i < 0 {
			groups, i = append(groups, nil), len(groups)
		}
		groups[i] = append(groups[i], f.GoPackage)
	}
	bins := map[string]string{}
	var errs []error
	for _, g := range groups {
		w.builds++
		got, err := goBuildMany(ctx, w.e.cfg.goModule, g, filepath.Join(w.e.buildDir, fmt.Sprintf("build.%d", w.builds)))
		maps.Copy(bins, got)
		if err != nil {
			errs = append(errs, err)
		}
	}
	out := map[*template.Function]string{}
	for _, f := range fns {
		if bin := bins[f.GoPackage]; bin != "" {
			out[f] = w.place(f, bin)
		}
	}
	return out, errors.Join(errs...)
}

// place links bin to <LogicalID>/bootstrap.N in the build directory, the
// function's own task root; if it cannot, the function runs bin.
func (w *watcher) place(f *template.Function, bin string) string {
	dst := filepath.Join(w.e.buildDir, f.LogicalID, fmt.Sprintf("bootstrap.%d", w.builds))
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return bin
	}
	if err := os.Link(bin, dst); err != nil {
		return bin
	}
	return dst
}

// resynth runs what `make synth` runs for the environment. Only the default
// template (cdk.out/WsChat-<env>.template.json) is re-synthesized: a
// --template elsewhere is the user's to regenerate.
func (w *watcher) resynth(ctx context.Context) (string, error) {
	e := w.e
	want := filepath.Join(e.cfg.root, "cdk.out", "WsChat-"+e.cfg.env+".template.json")
	if filepath.Clean(e.cfg.template) != want {
		return "", fmt.Errorf("--template %s is not the synthesized one (%s): not re-synthesized", e.cfg.template, relTo(e.cfg.root, want))
	}
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npx", "--no-install", "cdk", "synth", "WsChat-"+e.cfg.env, "-c", "env="+e.cfg.env, "--output", "cdk.out", "--quiet")
	cmd.Dir = e.cfg.root
	cmd.Env = append(os.Environ(), "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20", "CDK_DISABLE_CLI_TELEMETRY=true")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("cdk synth failed: %v\n%s", err, strings.TrimSpace(string(out)))
	}
	return fmt.Sprintf("re-synthesized in %.1fs", time.Since(t0).Seconds()), nil
}
