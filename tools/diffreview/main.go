// Command diffreview shows what a change does to the infrastructure without
// an AWS account: it synthesizes each environment's stack at a base commit
// (in a temporary git worktree) and in the working tree, prints the CDK
// CLI's offline diff of the two, and flags security-relevant changes.
//
//	make diff-review BASE=origin/main
//	go run ./tools/diffreview -base v1.4.0 -env prod -fail-on-security -markdown diff.md
//
// Security-relevant changes are found by comparing the two templates in Go,
// not by reading the CLI's text (see securityType and securityProperties):
// the CLI's "IAM Statement Changes" table is a rendering meant for people,
// covers only IAM statements, Lambda permissions and security groups, and
// itself warns that it may miss changes.
//
// Exit codes: 0 done; 1 error (a synth failed on a named side, a bad ref,
// cdk diff failed, interrupted); 2 bad flags; 3 security-relevant changes
// with -fail-on-security. `go run` turns every non-zero exit into 1, so
// callers that need to tell 3 apart build the binary first.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
)

// Exit codes.
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitSecurity = 3
)

// defaultEnvs are the environments reviewed when -env is not given.
const defaultEnvs = "dev,staging,prod"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

var envPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,30}$`)

// usage is the help text printed before the flag list.
const usage = `Usage: diffreview [flags]   (make diff-review BASE=<ref> DIFF_REVIEW_FLAGS="...")

Reviews an infrastructure change offline, with no AWS credentials. For each
environment it synthesizes WsChat-<env> at the base commit (in a temporary git
worktree that is always removed) and in the working tree, then prints
  cdk diff WsChat-<env> -c env=<env> --template <base template> --app <working-tree cloud assembly>
under a header per stack, and a summary line per stack, e.g.
  WsChat-prod: 3 resources changed (0 added, 0 removed, 3 modified), IAM/security changes: yes
A stack that the base does not define is reported as new. Progress goes to
stderr; the report to stdout.

Security-relevant changes are found by comparing the two templates (not by
parsing the CLI's text): any change to AWS::IAM::*, *Policy resources (bucket,
queue, topic, log resource policies), Lambda permissions and function URLs,
security groups, API Gateway authorizers and KMS keys; and on any resource, a
change to properties such as Role, PolicyDocument, ManagedPolicyArns,
SecurityGroupIds, AuthorizationType, AuthorizerId, or a function's
*AUTH*/*ISSUER*/*AUDIENCE*/*JWKS* environment variables.

Exit codes:
  0  the review ran (changes or not; security changes without -fail-on-security)
  1  error: bad -base ref, synth failed (the message names base or working tree),
     cdk diff failed, or interrupted
  2  bad flags
  3  -fail-on-security and at least one stack has security-relevant changes
(go run reports every non-zero exit as 1: build the binary where 3 matters.)

Flags:
`

// run is the whole command; it returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	opts, code, ok := parseFlags(args, getenv, stdout, stderr)
	if !ok {
		return code
	}
	r, err := review(ctx, opts, stderr)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "diffreview: interrupted; the base worktree and temporary files were removed")
			return exitError
		}
		fmt.Fprintln(stderr, "diffreview:", err)
		return exitError
	}
	return report(opts, r, stdout, stderr)
}

// parseFlags reads the flags into options; when ok is false the command
// ends with code (help, or a usage error already printed).
func parseFlags(args []string, getenv func(string) string, stdout, stderr io.Writer) (opts options, code int, ok bool) {
	fs := flag.NewFlagSet("diffreview", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		base     = fs.String("base", "HEAD~1", "git `ref` to compare the working tree against: a branch (origin/main), tag, SHA or HEAD~N")
		envList  = fs.String("env", defaultEnvs, "comma-separated `environments` to review; each is the stack WsChat-<env>")
		failSec  = fs.Bool("fail-on-security", false, "exit 3 when any stack has security-relevant changes (IAM, resource policies,\nLambda permissions, security groups, authorizers, auth settings)")
		markdown = fs.String("markdown", "", "also write a Markdown report (summary table + diff blocks) for a PR comment\nto `file`; \"-\" writes it to stdout and moves the plain report to stderr")
		color    = fs.String("color", "auto", "color the CLI diff: `auto` (when stdout is a terminal and CI is unset), always, never;\nnever with -markdown")
		dir      = fs.String("C", ".", "run as if started in `dir` (any directory inside the repository)")
		keep     = fs.Bool("keep", false, "keep the synthesized cloud assemblies and print where (the base worktree is always removed)")
		verbose  = fs.Bool("v", false, "stream the CDK CLI's output (synth and bundling logs) to stderr")
	)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return opts, exitOK, false
		}
		return opts, exitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "diffreview: unexpected argument %q (the base is given with -base)\n", fs.Arg(0))
		return opts, exitUsage, false
	}
	envs, err := parseEnvs(*envList)
	if err != nil {
		fmt.Fprintln(stderr, "diffreview:", err)
		return opts, exitUsage, false
	}
	opts = options{dir: *dir, base: *base, envs: envs, failOnSecurity: *failSec, markdown: *markdown, keep: *keep, verbose: *verbose}
	switch *color {
	case "always":
		opts.color = true
	case "never":
	case "auto":
		opts.color = isTerminal(stdout) && getenv("CI") == "" && getenv("NO_COLOR") == ""
	default:
		fmt.Fprintf(stderr, "diffreview: -color %q must be auto, always or never\n", *color)
		return opts, exitUsage, false
	}
	if opts.markdown != "" {
		opts.color = false
	}
	return opts, exitOK, true
}

// report writes the plain and Markdown reports and returns the exit code.
func report(opts options, r Review, stdout, stderr io.Writer) int {
	text := stdout
	if opts.markdown == "-" {
		text = stderr
	}
	writeText(text, r)
	if opts.markdown != "" {
		if err := emitMarkdown(opts.markdown, stdout, r, opts.failOnSecurity); err != nil {
			fmt.Fprintln(stderr, "diffreview: write the Markdown report:", err)
			return exitError
		}
		if opts.markdown != "-" {
			fmt.Fprintf(stderr, "wrote the Markdown report to %s\n", opts.markdown)
		}
	}
	if opts.failOnSecurity && r.Security() {
		fmt.Fprintln(text, "security-relevant changes found: exit 3 (-fail-on-security)")
		return exitSecurity
	}
	return exitOK
}

// parseEnvs splits -env into unique environment names.
func parseEnvs(list string) ([]string, error) {
	var envs []string
	seen := map[string]bool{}
	for _, e := range strings.Split(list, ",") {
		e = strings.TrimSpace(e)
		if e == "" || seen[e] {
			continue
		}
		if !envPattern.MatchString(e) {
			return nil, fmt.Errorf("-env: %q is not an environment name (lower-case letters, digits, '-'), e.g. -env dev,prod", e)
		}
		seen[e] = true
		envs = append(envs, e)
	}
	if len(envs) == 0 {
		return nil, fmt.Errorf("-env is empty: name at least one environment, e.g. -env %s", defaultEnvs)
	}
	return envs, nil
}

func emitMarkdown(path string, stdout io.Writer, r Review, failOnSecurity bool) error {
	if path == "-" {
		return writeMarkdown(stdout, r, failOnSecurity)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := writeMarkdown(f, r, failOnSecurity); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// isTerminal reports whether w is a character device such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
