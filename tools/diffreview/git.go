package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// git runs git in dir and returns its trimmed standard output. The error
// carries git's standard error.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("git %s: %s", strings.Join(args, " "), msg)
	}
	return strings.TrimSpace(stdout.String()), nil
}

// repoRoot returns the top of the working tree that holds dir.
func repoRoot(ctx context.Context, dir string) (string, error) {
	root, err := git(ctx, dir, "rev-parse", "--show-toplevel")
	if err != nil {
		return "", fmt.Errorf("find the repository: %w (run inside the wschat repository or pass -C)", err)
	}
	return root, nil
}

// resolveCommit turns a ref into a full commit SHA, or explains why not.
func resolveCommit(ctx context.Context, root, ref string) (string, error) {
	if ref == "" {
		return "", errors.New("-base is empty: give a git ref such as HEAD~1, origin/main, a tag or a SHA")
	}
	if strings.HasPrefix(ref, "-") {
		return "", fmt.Errorf("-base %q is not a git ref", ref)
	}
	sha, err := git(ctx, root, "rev-parse", "--verify", "--quiet", "--end-of-options", ref+"^{commit}")
	if err != nil || sha == "" {
		return "", fmt.Errorf("-base %q is not a commit in %s (try HEAD~1, origin/main, a tag or a SHA; a CI checkout needs fetch-depth: 0 to see other branches)", ref, root)
	}
	return sha, nil
}

// headLabel names the working tree for reports: its commit, marked when
// tracked files have uncommitted changes.
func headLabel(ctx context.Context, root string) string {
	short, err := git(ctx, root, "rev-parse", "--short", "HEAD")
	if err != nil {
		return "working tree"
	}
	if st, err := git(ctx, root, "status", "--porcelain", "--untracked-files=no"); err == nil && st != "" {
		return "working tree (" + short + " + uncommitted changes)"
	}
	return "working tree (" + short + ")"
}

// addWorktree checks sha out, detached, at dir. The returned function removes
// the worktree and must be called whatever happens next; it does not use ctx,
// so it still works after an interrupt cancelled it.
func addWorktree(ctx context.Context, root, dir, sha string) (remove func() error, err error) {
	remove = func() error {
		// --force: the worktree holds an untracked node_modules link.
		_, rmErr := git(context.Background(), root, "worktree", "remove", "--force", dir)
		if rmErr != nil {
			// Half-created (interrupted add) or already gone: delete the
			// files and let git forget the entry.
			os.RemoveAll(dir)
		}
		_, pruneErr := git(context.Background(), root, "worktree", "prune")
		if _, statErr := os.Stat(dir); statErr == nil {
			return errors.Join(rmErr, pruneErr, fmt.Errorf("worktree %s is still there", dir))
		}
		return pruneErr
	}
	if _, err := git(ctx, root, "worktree", "add", "--detach", dir, sha); err != nil {
		return remove, err
	}
	return remove, nil
}
