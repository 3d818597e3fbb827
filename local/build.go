package main

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/gobuild"
	"github.com/wschat/wschat/internal/template"
)

// prepareFunctions returns the executable of each function: the asset's
// bootstrap when it already runs on this host, else a host build of the
// function's Go package (the deployed asset is linux/arm64). Builds run in
// parallel, at most cfg.buildConcurrency at a time.
func prepareFunctions(ctx context.Context, cfg *config, fns []*template.Function, dir string, out *lockedWriter) (map[*template.Function]string, error) {
	result := map[*template.Function]string{}
	var toBuild []*template.Function
	for _, f := range fns {
		if f.AssetDir != "" {
			asset := filepath.Join(f.AssetDir, "bootstrap")
			if runsHere(asset) {
				out.printf("function %s: running the asset %s as is", f.Label, asset)
				result[f] = asset
				continue
			}
		}
		if f.GoPackage == "" {
			return nil, fmt.Errorf("%s (AWS::Lambda::Function): its asset does not run on %s/%s and Metadata %q names no Go package to rebuild",
				f.LogicalID, runtime.GOOS, runtime.GOARCH, contract.MetadataGoPackage)
		}
		toBuild = append(toBuild, f)
	}
	if len(toBuild) == 0 {
		return result, nil
	}
	out.printf("building %d functions for %s/%s ...", len(toBuild), runtime.GOOS, runtime.GOARCH)
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		sem  = make(chan struct{}, cfg.buildConcurrency)
	)
	for _, f := range toBuild {
		bin := filepath.Join(dir, f.LogicalID, "bootstrap")
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			start := time.Now()
			err := goBuild(ctx, cfg.goModule, f.GoPackage, bin)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("build %s (%s): %w", f.LogicalID, f.GoPackage, err))
				out.printf("  %-12s %s FAILED", f.Label, f.GoPackage)
				return
			}
			result[f] = bin
			out.printf("  %-12s %s built in %.1fs", f.Label, f.GoPackage, time.Since(start).Seconds())
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("interrupted while building %d functions (%v); nothing was started", len(toBuild), ctx.Err())
	}
	if len(errs) > 0 {
		return nil, joinLines(errs)
	}
	return result, nil
}

func goBuild(ctx context.Context, root, pkg, bin string) error {
	if err := checkPackage(pkg); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return err
	}
	output, err := runGoBuild(ctx, root, bin, pkg)
	if err != nil {
		return fmt.Errorf("%w\n%s", err, output)
	}
	return nil
}

// goBuildMany builds the main packages pkgs (relative to root, each with
// its own base name) into dir with one go build, which compiles what they
// share once and links them in parallel (-p, the number of CPUs). It returns
// the executable of each package built; go build carries on past a package
// that fails, so the error (with go build's output) may come with some.
func goBuildMany(ctx context.Context, root string, pkgs []string, dir string) (map[string]string, error) {
	bins, bases := map[string]string{}, map[string]bool{}
	for _, pkg := range pkgs {
		if err := checkPackage(pkg); err != nil {
			return nil, err
		}
		if bases[path.Base(pkg)] {
			return nil, fmt.Errorf("build %s: two packages named %s", strings.Join(pkgs, " "), path.Base(pkg))
		}
		bases[path.Base(pkg)] = true
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	output, err := runGoBuild(ctx, root, dir+string(filepath.Separator), pkgs...)
	for _, pkg := range pkgs {
		if bin := filepath.Join(dir, path.Base(pkg)); fileExists(bin) {
			bins[pkg] = bin
		}
	}
	if err == nil && len(bins) < len(pkgs) {
		err = errors.New("go build wrote no executable")
	}
	if err != nil {
		return bins, fmt.Errorf("%w\n%s", err, output)
	}
	return bins, nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// runGoBuild runs go build for the host with the flags of every host build,
// at start and on reload alike, so that each build reuses what the previous
// ones compiled (the build cache keys on the flags). -ldflags "-s -w" as the
// deployed build: no symbol table or DWARF, which nothing local reads and
// whose writing is about a quarter of a rebuild's CPU (panics still print
// file:line); -buildvcs=false spares a git status per build.
//
// A package is an import path, built as the module at root resolves it
// (wschat's handlers from another app's module: see internal/gobuild), or
// a path relative to root ("./lambdas/chat").
func runGoBuild(ctx context.Context, root, out string, pkgs ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	flags, cleanup, err := gobuild.Flags(root)
	if err != nil {
		return "", err
	}
	defer cleanup()
	args := append(append([]string{"build"}, flags...), "-tags", "lambda.norpc", "-buildvcs=false", "-ldflags=-s -w", "-o", out)
	args = append(args, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	// The build runs for the host, whatever the caller's cross-compiling settings.
	cmd.Env = append(os.Environ(), "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH, "CGO_ENABLED=0")
	output, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(output)), err
}

// checkPackage refuses what go build would take for a flag or a file.
func checkPackage(pkg string) error {
	if pkg == "" || strings.HasPrefix(pkg, "-") || strings.HasSuffix(pkg, ".go") || strings.ContainsAny(pkg, " \t\n") {
		return fmt.Errorf("package %q: want an import path or a directory relative to the module (./lambdas/...)", pkg)
	}
	return nil
}

// runsHere reports whether path is an ELF executable for this host.
func runsHere(path string) bool {
	if runtime.GOOS != "linux" {
		return false
	}
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "386": elf.EM_386, "riscv64": elf.EM_RISCV}[runtime.GOARCH]
	return want != 0 && f.Machine == want
}
