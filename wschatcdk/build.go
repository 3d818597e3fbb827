package wschatcdk

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/wschat/wschat/internal/modroot"
)

// module is this module's path: the handlers are packages of it.
const module = "github.com/wschat/wschat"

// awsStderr is where bundling reports, as CDK's own bundling does.
var awsStderr = os.Stderr

// goBuild builds Lambda binaries from the CDK app's module, by import path.
// The app's go.mod decides which github.com/wschat/wschat the handlers come
// from (the module cache after `go get`, or a replace directory), so the
// layer deploys the handlers of the version the app depends on, whatever
// the working tree looks like.
type goBuild struct {
	// moduleDir holds the app's go.mod.
	moduleDir string
}

// newGoBuild returns the build for the module at dir ("": the module of
// the working directory).
func newGoBuild(dir string) (goBuild, error) {
	if dir == "" {
		root, err := modroot.FromWorkingDir()
		if err != nil {
			return goBuild{}, err
		}
		return goBuild{moduleDir: root}, nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return goBuild{}, err
	}
	if _, err := os.Stat(filepath.Join(abs, "go.mod")); err != nil {
		return goBuild{}, fmt.Errorf("%s holds no go.mod: want the directory of the CDK app's module", dir)
	}
	return goBuild{moduleDir: abs}, nil
}

// goBuildArgs are the go command's arguments for a Lambda binary: static,
// reproducible (no paths, no VCS stamp) and without the RPC shim that
// provided.al2023 does not use.
func goBuildArgs(out, pkg string) []string {
	return []string{"build", "-trimpath", "-buildvcs=false", "-tags", "lambda.norpc", "-ldflags", "-s -w", "-o", out, pkg}
}

// goBuildEnv targets Lambda's arm64 Linux.
func goBuildEnv() []string {
	return []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64"}
}

// lambda builds pkg into outDir/bootstrap.
//
// The app's go.sum lists the checksums of what the app's own imports need,
// which does not include what a handler imports (aws-lambda-go, the
// @connections client): `go build` would stop at "missing go.sum entry".
// So the build reads a copy of the app's go.mod and a go.sum that is the
// app's plus wschat's own (-modfile, -mod=mod): the checksums wschat was
// tested with fill the gap, anything else is looked up as `go get` would,
// and the app's own files are never written. In a go.work workspace the
// workspace already resolves every module, and the build runs as is.
func (b goBuild) lambda(pkg, outDir string) error {
	args := goBuildArgs(filepath.Join(outDir, "bootstrap"), pkg)
	if !b.inWorkspace() {
		modfile, cleanup, err := b.modfile()
		if err != nil {
			return err
		}
		defer cleanup()
		args = append([]string{args[0], "-mod=mod", "-modfile=" + modfile}, args[1:]...)
	}
	return b.run(append(os.Environ(), goBuildEnv()...), args...)
}

// run runs the go command in the module, returning its output on failure.
func (b goBuild) run(env []string, args ...string) error {
	cmd := exec.Command("go", args...)
	cmd.Dir = b.moduleDir
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return nil
}

func (b goBuild) inWorkspace() bool {
	cmd := exec.Command("go", "env", "GOWORK")
	cmd.Dir = b.moduleDir
	out, err := cmd.Output()
	w := strings.TrimSpace(string(out))
	return err == nil && w != "" && w != "off"
}

// modfile writes the build's go.mod and go.sum into a temporary directory
// and returns the go.mod's path and a function that removes them.
func (b goBuild) modfile() (string, func(), error) {
	dir, err := os.MkdirTemp("", "wschat-build-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	mod, err := os.ReadFile(filepath.Join(b.moduleDir, "go.mod"))
	if err != nil {
		cleanup()
		return "", nil, err
	}
	sum, err := os.ReadFile(filepath.Join(b.moduleDir, "go.sum"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		cleanup()
		return "", nil, err
	}
	modPath := filepath.Join(dir, "go.mod")
	if err := os.WriteFile(modPath, mod, 0o644); err != nil {
		cleanup()
		return "", nil, err
	}
	own, err := b.wschatSum(modPath, sum)
	if err != nil {
		cleanup()
		return "", nil, err
	}
	if len(sum) > 0 && !bytes.HasSuffix(sum, []byte("\n")) {
		sum = append(sum, '\n')
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), append(sum, own...), 0o644); err != nil {
		cleanup()
		return "", nil, err
	}
	return modPath, cleanup, nil
}

// wschatSums caches wschat's go.sum by the directory it is in.
var wschatSums sync.Map

// wschatSum returns the go.sum of the github.com/wschat/wschat module the
// app resolves (empty when the app is that module).
func (b goBuild) wschatSum(modPath string, sum []byte) ([]byte, error) {
	// The app's go.sum alone must do for this lookup: it names a module the
	// app requires, whose go.mod checksum tidy put there.
	if err := os.WriteFile(strings.TrimSuffix(modPath, ".mod")+".sum", sum, 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command("go", "list", "-mod=mod", "-modfile="+modPath, "-m", "-f", "{{.Dir}}", module)
	cmd.Dir = b.moduleDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("find %s from %s: %v\n%s", module, b.moduleDir, err, stderr.String())
	}
	dir := strings.TrimSpace(string(out))
	if dir == b.moduleDir {
		return nil, nil
	}
	if v, ok := wschatSums.Load(dir); ok {
		return v.([]byte), nil
	}
	own, err := os.ReadFile(filepath.Join(dir, "go.sum"))
	if err != nil {
		return nil, fmt.Errorf("the go.sum of %s: %w", module, err)
	}
	wschatSums.Store(dir, own)
	return own, nil
}
