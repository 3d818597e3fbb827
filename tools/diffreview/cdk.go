package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// cdkCommand is the pinned CDK CLI from the repository's node_modules.
var cdkCommand = []string{"npx", "--no-install", "cdk"}

// cdkEnv is added to the CLI's environment: quiet jsii on Node 20, no
// telemetry, and no probing for EC2 instance credentials, which this tool
// never needs (everything it runs is offline).
var cdkEnv = []string{
	"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20",
	"CDK_DISABLE_CLI_TELEMETRY=true",
	"AWS_EC2_METADATA_DISABLED=true",
}

// cdk runs the CDK CLI.
type cdk struct {
	// verbose also copies the CLI's output to log as it runs.
	verbose bool
	log     io.Writer
}

// run runs the CLI in dir and returns what it printed (stdout and stderr
// interleaved, as a person would see them).
func (c cdk) run(ctx context.Context, dir string, args ...string) ([]byte, error) {
	argv := append(append([]string{}, cdkCommand[1:]...), args...)
	cmd := exec.CommandContext(ctx, cdkCommand[0], argv...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), cdkEnv...)
	var out bytes.Buffer
	var w io.Writer = &out
	if c.verbose {
		w = io.MultiWriter(&out, c.log)
	}
	cmd.Stdout, cmd.Stderr = w, w
	ownProcessGroup(cmd)
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		return out.Bytes(), ctx.Err()
	}
	if err != nil {
		return out.Bytes(), fmt.Errorf("cdk %s: %w", strings.Join(args, " "), err)
	}
	return out.Bytes(), nil
}

// errStackMissing means the app ran but has no such stack (or environment):
// in the base, that makes the stack new.
var errStackMissing = errors.New("stack not defined")

// synth synthesizes one environment's stack of the app in dir into outDir
// and returns the template's path.
func (c cdk) synth(ctx context.Context, dir, env, outDir string) (string, []byte, error) {
	stack := stackName(env)
	out, err := c.run(ctx, dir, "synth", stack, "-c", "env="+env, "--output", outDir, "--quiet")
	if err != nil {
		if ctx.Err() == nil && stackMissing(string(out), env) {
			return "", out, errStackMissing
		}
		return "", out, err
	}
	tmpl := filepath.Join(outDir, stack+".template.json")
	if _, statErr := os.Stat(tmpl); statErr != nil {
		return "", out, errStackMissing
	}
	return tmpl, out, nil
}

// stackMissing recognizes the two ways synth says a stack does not exist:
// the app refusing an unknown environment name, or the CLI finding no
// stack of that name.
func stackMissing(output, env string) bool {
	return strings.Contains(output, fmt.Sprintf("unknown environment %q", env)) ||
		strings.Contains(output, "No stacks match the name(s) "+stackName(env))
}

// diff renders the CLI's diff of the stack in the head cloud assembly
// against the base template. It runs offline: --template implies
// --method=template (no change set, no lookup role), and --app pointing at
// a synthesized cloud assembly directory skips a second synth.
func (c cdk) diff(ctx context.Context, dir, env, baseTemplate, headAssembly string, color bool) ([]byte, error) {
	args := diffArgs(env, baseTemplate, headAssembly, color)
	return c.run(ctx, dir, args...)
}

// diffArgs are the CLI arguments of diff (after "cdk").
func diffArgs(env, baseTemplate, headAssembly string, color bool) []string {
	args := []string{"diff", stackName(env), "-c", "env=" + env, "--template", baseTemplate, "--app", headAssembly}
	if color {
		return append(args, "--color")
	}
	return append(args, "--no-color")
}

func stackName(env string) string { return "WsChat-" + env }

// lastLines returns at most n trailing lines of b, for error messages.
func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("… (%d lines before)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
