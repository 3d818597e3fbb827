package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// options are the parsed command-line flags.
type options struct {
	dir            string   // -C: where to find the repository
	base           string   // -base: the git ref to compare against
	envs           []string // -env
	failOnSecurity bool
	markdown       string // -markdown: file, "-" for stdout, "" for none
	color          bool
	keep           bool
	verbose        bool
}

// Review is the outcome of comparing the base commit with the working tree.
type Review struct {
	BaseRef   string // as given, e.g. origin/main
	BaseSHA   string
	BaseShort string
	HeadLabel string // e.g. "working tree (1a2b3c4)"
	Stacks    []StackResult
}

// StackResult is one environment's stack compared.
type StackResult struct {
	Env   string
	Stack string
	// New means the base does not define this stack: every resource is added.
	New  bool
	Diff TemplateDiff
	// CLIDiff is what `cdk diff` printed for the stack.
	CLIDiff string
}

// Security reports whether any stack has security-relevant changes.
func (r Review) Security() bool {
	for _, s := range r.Stacks {
		if len(s.Diff.SecurityChanges()) > 0 {
			return true
		}
	}
	return false
}

// synthError is a synth that failed on one side of the comparison.
type synthError struct {
	side   string // "base 1a2b3c4" or "working tree"
	env    string
	output []byte
	err    error
}

func (e *synthError) Error() string {
	return fmt.Sprintf("synth of %s failed for %s (%v); the CLI's last lines:\n%s",
		e.side, stackName(e.env), e.err, lastLines(e.output, 40))
}

func (e *synthError) Unwrap() error { return e.err }

// review synthesizes every environment in a temporary worktree of the base
// and in the working tree, compares the templates and renders the CLI diff.
// Progress goes to progress. The worktree and temporary files are removed
// before it returns, whatever happened (unless -keep, which keeps the
// synthesized outputs but never the worktree).
func review(ctx context.Context, opts options, progress io.Writer) (r Review, err error) {
	root, err := repoRoot(ctx, opts.dir)
	if err != nil {
		return r, err
	}
	sha, err := resolveCommit(ctx, root, opts.base)
	if err != nil {
		return r, err
	}
	r = Review{BaseRef: opts.base, BaseSHA: sha, BaseShort: sha[:7], HeadLabel: headLabel(ctx, root)}

	nodeModules := filepath.Join(root, "node_modules")
	if _, err := os.Stat(filepath.Join(nodeModules, ".bin", "cdk")); err != nil {
		return r, fmt.Errorf("the CDK CLI is not installed in %s: run `make deps` (npm ci) first", nodeModules)
	}

	tmp, err := os.MkdirTemp("", "diffreview-")
	if err != nil {
		return r, err
	}
	defer func() {
		if opts.keep {
			fmt.Fprintf(progress, "kept the synthesized outputs in %s\n", tmp)
			return
		}
		if rmErr := os.RemoveAll(tmp); rmErr != nil {
			fmt.Fprintf(progress, "diffreview: warning: %v\n", rmErr)
		}
	}()

	worktree := filepath.Join(tmp, "base")
	fmt.Fprintf(progress, "checking out base %s (%s) in a temporary worktree…\n", r.BaseShort, opts.base)
	remove, err := addWorktree(ctx, root, worktree, sha)
	defer func() {
		if rmErr := remove(); rmErr != nil {
			fmt.Fprintf(progress, "diffreview: warning: removing the base worktree: %v\n", rmErr)
		}
	}()
	if err != nil {
		return r, err
	}
	// The base uses the working tree's CDK CLI: `npm ci` per run would cost a
	// minute, and the CLI only reads what the base's app writes.
	if err := os.Symlink(nodeModules, filepath.Join(worktree, "node_modules")); err != nil {
		return r, err
	}
	if lockChanged(root, worktree) {
		fmt.Fprintf(progress, "note: package-lock.json differs from base %s; both sides use the working tree's node_modules\n", r.BaseShort)
	}
	empty := filepath.Join(tmp, "empty.template.json")
	if err := os.WriteFile(empty, []byte("{\"Resources\":{}}\n"), 0o644); err != nil {
		return r, err
	}

	c := cdk{verbose: opts.verbose, log: progress}
	sides := reviewSides{root: root, worktree: worktree, tmp: tmp, empty: empty, baseShort: r.BaseShort, color: opts.color}
	for _, env := range opts.envs {
		s, err := c.reviewStack(ctx, sides, env, progress)
		if err != nil {
			return r, err
		}
		r.Stacks = append(r.Stacks, s)
	}
	return r, nil
}

// reviewSides is where the two sides of a review live on disk.
type reviewSides struct {
	root, worktree, tmp, empty string
	baseShort                  string
	color                      bool
}

// reviewStack synthesizes one environment on both sides, compares the
// templates and renders the CLI diff.
func (c cdk) reviewStack(ctx context.Context, sides reviewSides, env string, progress io.Writer) (StackResult, error) {
	s := StackResult{Env: env, Stack: stackName(env)}

	fmt.Fprintf(progress, "synthesizing base %s %s…\n", sides.baseShort, env)
	baseTemplate, out, err := c.synth(ctx, sides.worktree, env, filepath.Join(sides.tmp, "base-"+env))
	switch {
	case errors.Is(err, errStackMissing):
		fmt.Fprintf(progress, "base %s does not define %s: reporting it as a new stack\n", sides.baseShort, s.Stack)
		s.New, baseTemplate = true, sides.empty
	case err != nil:
		return s, sideErr(ctx, "base "+sides.baseShort, env, out, err)
	}

	fmt.Fprintf(progress, "synthesizing working tree %s…\n", env)
	headAssembly := filepath.Join(sides.tmp, "head-"+env)
	headTemplate, out, err := c.synth(ctx, sides.root, env, headAssembly)
	if err != nil {
		if errors.Is(err, errStackMissing) {
			err = fmt.Errorf("the working tree does not define %s (an environment removed?)", s.Stack)
		}
		return s, sideErr(ctx, "working tree", env, out, err)
	}

	bt, err := readTemplate(baseTemplate)
	if err != nil {
		return s, err
	}
	ht, err := readTemplate(headTemplate)
	if err != nil {
		return s, err
	}
	s.Diff = CompareTemplates(bt, ht)

	fmt.Fprintf(progress, "diffing %s…\n", s.Stack)
	out, err = c.diff(ctx, sides.root, env, baseTemplate, headAssembly, sides.color)
	if err != nil {
		if ctx.Err() != nil {
			return s, ctx.Err()
		}
		return s, fmt.Errorf("cdk diff of %s failed: %w\n%s", s.Stack, err, lastLines(out, 40))
	}
	s.CLIDiff = strings.TrimSpace(string(out))
	return s, nil
}

func sideErr(ctx context.Context, side, env string, out []byte, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return &synthError{side: side, env: env, output: out, err: err}
}

// lockChanged reports whether the base pins other npm packages than the
// working tree.
func lockChanged(root, worktree string) bool {
	a, errA := os.ReadFile(filepath.Join(root, "package-lock.json"))
	b, errB := os.ReadFile(filepath.Join(worktree, "package-lock.json"))
	return errA != nil || errB != nil || string(a) != string(b)
}
