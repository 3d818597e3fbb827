package wschatcdk

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/wschat/wschat/internal/gobuild"
	"github.com/wschat/wschat/internal/modroot"
)

// bundleLog is where bundling reports progress and failures, as CDK's own bundling does.
var bundleLog = os.Stderr

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

// lambda builds pkg into outDir/bootstrap, from the app's module as its
// go.mod resolves pkg (see internal/gobuild).
func (b goBuild) lambda(pkg, outDir string) error {
	flags, cleanup, err := gobuild.Flags(b.moduleDir)
	if err != nil {
		return err
	}
	defer cleanup()
	args := goBuildArgs(filepath.Join(outDir, "bootstrap"), pkg)
	args = append(append([]string{args[0]}, flags...), args[1:]...)
	cmd := exec.Command("go", args...)
	cmd.Dir = b.moduleDir
	cmd.Env = append(os.Environ(), goBuildEnv()...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return nil
}
