package wschatcdk

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"

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

// GoCode is Lambda code built from the Go main package pkg (an import path
// that the app's go.mod resolves, e.g. "example.com/shop/orders") for the
// provided.al2023 runtime on arm64, at synth time, with the go command of
// the machine that synthesizes: no Docker. moduleDir is the directory of
// the app's go.mod ("": the module of the working directory). It builds
// the way the layer's own functions are built (see NewChat), so an app's
// Go functions need no bundler of their own; pair it with
// awslambda.Runtime_PROVIDED_AL2023, awslambda.Architecture_ARM_64 and the
// handler "bootstrap". The local emulator runs such a function by
// rebuilding pkg for the host.
func GoCode(pkg, moduleDir string) awslambda.Code {
	b, err := newGoBuild(moduleDir)
	if err != nil {
		panic(fmt.Errorf("wschatcdk: GoCode %s: %w", pkg, err))
	}
	return b.code(pkg)
}
