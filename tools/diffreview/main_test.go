package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// moduleFiles are what synth needs of the repository: the module, the CDK
// app's config and pinned CLI, and every package the app builds.
var moduleFiles = []string{
	"go.mod", "go.sum", "cdk.json", "cdk.context.json", "package.json", "package-lock.json",
	"infra", "wschatcdk", "internal", "lambdas", "wire", "client", "publisher",
}

// TestReviewOfARealTwoCommitHistory runs the tool on a real git history of
// this repository's own infrastructure: a copy of the module, a commit that
// changes a function's memory, then one that grants an extra DynamoDB action.
// It synthesizes four times (two base/head pairs of dev), so it takes about
// a minute on two cores.
func TestReviewOfARealTwoCommitHistory(t *testing.T) {
	src := strings.TrimSpace(gitT(t, ".", "rev-parse", "--show-toplevel"))
	nodeModules := filepath.Join(src, "node_modules")
	if _, err := os.Stat(filepath.Join(nodeModules, ".bin", "cdk")); err != nil {
		t.Fatalf("the CDK CLI is not installed in %s: run `make deps` (npm ci) first", nodeModules)
	}

	work := t.TempDir()
	// The tool's temporary directories land here, so the test can see that
	// it removed them.
	tmp := filepath.Join(work, "tmp")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", tmp)

	repo := filepath.Join(work, "repo")
	copyTracked(t, src, repo, moduleFiles)
	if err := os.Symlink(nodeModules, filepath.Join(repo, "node_modules")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(repo, ".gitignore"), "/node_modules\n/cdk.out/\n")
	gitT(t, repo, "init", "-q")
	commitAll(t, repo, "base")

	// 1. Memory only: every function is modified, nothing security-relevant.
	editFile(t, filepath.Join(repo, "infra", "chatstack", "environments.go"),
		regexp.MustCompile(`(?m)^(\s*)dev\.Name = "dev"\n`), "${0}${1}dev.MemoryMB = 1536\n")
	commitAll(t, repo, "dev: more memory")

	md := filepath.Join(work, "diff.md")
	start := time.Now()
	code, stdout, stderr := runTool(t, "-C", repo, "-base", "HEAD~1", "-env", "dev", "-fail-on-security", "-markdown", md)
	t.Logf("memory change reviewed in %v", time.Since(start).Round(time.Second))
	if code != exitOK {
		t.Fatalf("memory-only change: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitOK, stdout, stderr)
	}
	for _, want := range []string{
		"━━━ WsChat-dev: base ",
		"[~] AWS::Lambda::Function Default/ChatFunction/Function ChatFunction",
		"MemorySize",
		"[+] 1536",
		"IAM/security changes: no",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("memory-only change: stdout lacks %q:\n%s", want, stdout)
		}
	}
	if m := regexp.MustCompile(`WsChat-dev: (\d+) resources changed \(0 added, 0 removed, (\d+) modified\)`).FindStringSubmatch(stdout); m == nil || m[1] == "0" {
		t.Errorf("memory-only change: no summary line with modified resources:\n%s", stdout)
	}
	for _, want := range []string{"synthesizing base ", "synthesizing working tree dev"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("progress lacks %q:\n%s", want, stderr)
		}
	}
	report, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{commentMarker, "| `WsChat-dev` |", "```diff\n", "+     └─ [+] 1536"} {
		if !strings.Contains(string(report), want) {
			t.Errorf("markdown report lacks %q:\n%s", want, report)
		}
	}
	assertCleanedUp(t, repo, tmp)

	// 2. A wider grant: -fail-on-security exits 3 and names the policy.
	grantScan(t, repo)
	commitAll(t, repo, "chat: also Scan")
	start = time.Now()
	code, stdout, stderr = runTool(t, "-C", repo, "-base", "HEAD~1", "-env", "dev", "-fail-on-security")
	t.Logf("IAM change reviewed in %v", time.Since(start).Round(time.Second))
	if code != exitSecurity {
		t.Fatalf("IAM change: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitSecurity, stdout, stderr)
	}
	for _, want := range []string{
		"IAM Statement Changes",
		"dynamodb:Scan",
		"IAM/security changes: yes",
		"(AWS::IAM::Policy) modified: PolicyDocument",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("IAM change: stdout lacks %q:\n%s", want, stdout)
		}
	}
	assertCleanedUp(t, repo, tmp)
}

// TestBaseThatIsNotACommit fails before any synth, naming the ref.
func TestBaseThatIsNotACommit(t *testing.T) {
	code, _, stderr := runTool(t, "-base", "no-such-branch-7f3a", "-env", "dev")
	if code != exitError || !strings.Contains(stderr, `-base "no-such-branch-7f3a" is not a commit`) {
		t.Errorf("exit %d, stderr:\n%s\nwant exit %d and a message naming the ref", code, stderr, exitError)
	}
}

func runTool(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(t.Context(), args, func(string) string { return "" }, &out, &errOut)
	return code, out.String(), errOut.String()
}

// assertCleanedUp checks that the base worktree is gone from git and disk
// and no temporary directory was left behind.
func assertCleanedUp(t *testing.T, repo, tmp string) {
	t.Helper()
	list := gitT(t, repo, "worktree", "list", "--porcelain")
	if n := strings.Count(list, "worktree "); n != 1 {
		t.Errorf("%d worktrees registered after the run, want only the main one:\n%s", n, list)
	}
	left, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		// Other temporary files (go build's, jsii's) are not the tool's.
		if strings.HasPrefix(e.Name(), "diffreview-") {
			t.Errorf("left behind in the temporary directory: %s", e.Name())
		}
	}
}

// grantScan adds dynamodb:Scan next to the first Query grant of the construct.
func grantScan(t *testing.T, repo string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repo, "wschatcdk", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.Index(b, []byte(`"dynamodb:Query"`)); i >= 0 {
			edited := string(b[:i]) + `"dynamodb:Query", "dynamodb:Scan"` + string(b[i+len(`"dynamodb:Query"`):])
			writeFile(t, f, edited)
			return
		}
	}
	t.Fatal(`no "dynamodb:Query" grant in wschatcdk to widen: update grantScan to the stack's code`)
}

func editFile(t *testing.T, path string, re *regexp.Regexp, repl string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !re.Match(b) {
		t.Fatalf("%s has no match for %s: update the test's edit to the code", path, re)
	}
	writeFile(t, path, re.ReplaceAllString(string(b), repl))
}

// copyTracked copies the files git tracks under paths from src to dst, as
// they are in src's working tree (what the rest of `go test ./...` tests).
func copyTracked(t *testing.T, src, dst string, paths []string) {
	t.Helper()
	list := gitT(t, src, append([]string{"ls-files", "-z", "--"}, paths...)...)
	n := 0
	for _, rel := range strings.Split(list, "\x00") {
		if rel == "" {
			continue
		}
		from := filepath.Join(src, rel)
		fi, err := os.Lstat(from)
		if os.IsNotExist(err) {
			continue // deleted in the working tree
		}
		if err != nil {
			t.Fatal(err)
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		to := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n == 0 {
		t.Fatalf("git ls-files found nothing to copy under %v in %s", paths, src)
	}
}

func commitAll(t *testing.T, repo, msg string) {
	t.Helper()
	gitT(t, repo, "add", "-A")
	gitT(t, repo, "-c", "user.name=diffreview test", "-c", "user.email=test@example.invalid",
		"-c", "commit.gpgsign=false", "commit", "-q", "-m", msg)
}

func gitT(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s in %s: %v\n%s", strings.Join(args, " "), dir, err, stderr.String())
	}
	return string(out)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
