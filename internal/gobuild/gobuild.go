// Package gobuild prepares the go command to build wschat's handlers by
// import path from another module: a CDK app that embeds the wschatcdk
// construct (at synth time, for Lambda) or the app whose template the
// emulator runs (for the host). Both the construct and the emulator import
// it, so a handler builds the same way for either.
//
// The other module's go.mod decides which github.com/wschat/wschat the
// handlers come from (the module cache after `go get`, or a replace
// directory). Its go.sum, though, lists the checksums of what its own
// imports need, which does not cover what a handler imports
// (aws-lambda-go, the @connections client), and `go build` would stop at
// "missing go.sum entry". So the build reads a copy of the module's go.mod
// and a go.sum that is the module's plus wschat's own (-modfile, -mod=mod):
// the checksums wschat was tested with fill the gap, anything else is
// looked up as `go get` would, and the module's own files are never
// written.
package gobuild

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// Module is wschat's module path: the handlers are packages of it.
const Module = "github.com/wschat/wschat"

// Flags returns the flags of `go build` (or `go list`) run in the module
// at dir for main packages of wschat given by import path, and a function
// that removes the files they name. Flags are empty where none are needed:
// in wschat's own module, in a module that does not require wschat (it
// builds only its own packages), and in a go.work workspace, which
// resolves every module itself.
func Flags(dir string) (flags []string, cleanup func(), err error) {
	cleanup = func() {}
	mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return nil, cleanup, err
	}
	if path, err := modulePath(mod); err != nil || path == Module || !requiresWschat.Match(mod) {
		return nil, cleanup, err
	}
	if inWorkspace(dir) {
		return nil, cleanup, nil
	}
	tmp, err := os.MkdirTemp("", "wschat-gobuild-")
	if err != nil {
		return nil, cleanup, err
	}
	cleanup = func() { _ = os.RemoveAll(tmp) }
	modPath, err := writeModfile(dir, tmp)
	if err != nil {
		cleanup()
		return nil, func() {}, err
	}
	return []string{"-mod=mod", "-modfile=" + modPath}, cleanup, nil
}

// requiresWschat matches a go.mod that requires wschat's main module (in a
// require block or a one-line require).
var requiresWschat = regexp.MustCompile(`(?m)^\s*(require\s+)?` + regexp.QuoteMeta(Module) + `\s+v`)

// modulePath reads the module path from a go.mod.
func modulePath(mod []byte) (string, error) {
	sc := bufio.NewScanner(bytes.NewReader(mod))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", errors.New("go.mod: no module line")
}

func inWorkspace(dir string) bool {
	cmd := exec.Command("go", "env", "GOWORK")
	cmd.Dir = dir
	out, err := cmd.Output()
	w := strings.TrimSpace(string(out))
	return err == nil && w != "" && w != "off"
}

// writeModfile writes tmp/go.mod (the module's) and tmp/go.sum (the
// module's and wschat's) and returns the go.mod's path.
func writeModfile(dir, tmp string) (string, error) {
	mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return "", err
	}
	sum, err := os.ReadFile(filepath.Join(dir, "go.sum"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	if len(sum) > 0 && !bytes.HasSuffix(sum, []byte("\n")) {
		sum = append(sum, '\n')
	}
	modPath := filepath.Join(tmp, "go.mod")
	sumPath := filepath.Join(tmp, "go.sum")
	if err := os.WriteFile(modPath, mod, 0o644); err != nil {
		return "", err
	}
	// The module's go.sum alone must do to find wschat: it names a module
	// the module requires, whose go.mod checksum tidy put there.
	if err := os.WriteFile(sumPath, sum, 0o644); err != nil {
		return "", err
	}
	own, err := wschatSum(dir, modPath)
	if err != nil {
		return "", err
	}
	return modPath, os.WriteFile(sumPath, append(sum, own...), 0o644)
}

// sums caches wschat's go.sum by the directory it is in.
var sums sync.Map

// wschatSum returns the go.sum of the github.com/wschat/wschat that the
// module at dir resolves.
func wschatSum(dir, modPath string) ([]byte, error) {
	cmd := exec.Command("go", "list", "-mod=mod", "-modfile="+modPath, "-m", "-f", "{{.Dir}}", Module)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("find %s from %s (does its go.mod require it?): %v\n%s", Module, dir, err, strings.TrimSpace(stderr.String()))
	}
	wschatDir := strings.TrimSpace(string(out))
	if v, ok := sums.Load(wschatDir); ok {
		return v.([]byte), nil
	}
	own, err := os.ReadFile(filepath.Join(wschatDir, "go.sum"))
	if err != nil {
		return nil, fmt.Errorf("the go.sum of %s: %w", Module, err)
	}
	sums.Store(wschatDir, own)
	return own, nil
}
