package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"wschat/local/template"
)

// --watch polls modification times rather than using fsnotify (which the
// module proxy serves): one stat per .go file under lambdas/, internal/ and
// infra/ (a few hundred files, well under a millisecond of CPU per scan) is
// cheap at 300 ms, needs no new dependency in the shared go.mod, no
// per-directory watch bookkeeping for new packages, works the same for
// editors that save by rename, and cannot run out of inotify watches on a
// machine shared by several engineers.

// watchedDirs are the source trees --watch looks at.
var watchedDirs = []string{"lambdas", "internal", "infra"}

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

// packageDirs returns the directories, relative to root, of the project
// packages pkg's build depends on (go list -deps for this host).
func packageDirs(ctx context.Context, root, pkg string) (map[string]bool, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-tags", "lambda.norpc", "-deps", "-f", "{{if not .Standard}}{{.Dir}}{{end}}", pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH, "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("go list -deps %s: %v\n%s", pkg, err, strings.TrimSpace(string(ee.Stderr)))
		}
		return nil, fmt.Errorf("go list -deps %s: %w", pkg, err)
	}
	dirs := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			if rel := relTo(root, line); rel != line {
				dirs[rel] = true
			}
		}
	}
	return dirs, nil
}

// watcher is the state of --watch: what each function's build depends on.
type watcher struct {
	e      *session
	deps   map[string]map[string]bool // by logical id: package dirs of its build
	builds int                        // numbers the executables, which are never overwritten
}

// watch polls the sources every interval until ctx ends and reloads on a
// change from prev, once the files have stopped changing (an editor saving
// several).
func (e *session) watch(ctx context.Context, prev snapshot, done chan<- struct{}) {
	defer close(done)
	w := &watcher{e: e, deps: map[string]map[string]bool{}}
	for _, f := range e.stack.Functions {
		w.refreshDeps(ctx, f)
	}
	e.out.printf("watching lambdas/, internal/, infra/ and the template every %s", e.cfg.watchInterval)
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

func (w *watcher) refreshDeps(ctx context.Context, f *template.Function) {
	if f.GoPackage == "" {
		return
	}
	dirs, err := packageDirs(ctx, w.e.cfg.root, f.GoPackage)
	if err != nil {
		w.e.out.printf("watch: %s: %v", f.Label, err)
		return
	}
	w.deps[f.LogicalID] = dirs
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
		infraChanged = infraChanged || strings.HasPrefix(p, "infra/")
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
	rebuilt, failed := w.rebuild(ctx, w.affected(changed))
	if tplChanged {
		note, err := w.reloadTemplate(ctx)
		if err != nil {
			notes = append(notes, "template not reloaded: "+err.Error())
		} else {
			notes = append(notes, note)
		}
		for _, f := range e.stack.Functions {
			if w.deps[f.LogicalID] == nil {
				w.refreshDeps(ctx, f)
			}
		}
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

// rebuild builds each function into a new executable and swaps it in; a
// failed build prints the compiler's message and leaves the function as is.
func (w *watcher) rebuild(ctx context.Context, fns []*template.Function) (rebuilt, failed []string) {
	for _, f := range fns {
		w.builds++
		bin := filepath.Join(w.e.buildDir, f.LogicalID, fmt.Sprintf("bootstrap.%d", w.builds))
		t0 := time.Now()
		if err := goBuild(ctx, w.e.cfg.root, f.GoPackage, bin); err != nil {
			if ctx.Err() != nil {
				w.e.out.printf("reload: interrupted while building %s; stopping", f.Label)
				return rebuilt, append(failed, f.Label)
			}
			w.e.out.printf("build %s (%s) failed:\n%v", f.Label, f.GoPackage, err)
			failed = append(failed, f.Label)
			continue
		}
		w.e.bootstraps[f] = bin
		w.e.functions[f].Swap(w.e.functionConfig(f, bin))
		rebuilt = append(rebuilt, fmt.Sprintf("%s (%.1fs)", f.Label, time.Since(t0).Seconds()))
		w.refreshDeps(ctx, f) // its imports may have changed
	}
	return rebuilt, failed
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
