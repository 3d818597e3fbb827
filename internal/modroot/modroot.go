// Package modroot finds the wschat module on disk: the directory holding
// go.mod, from which lambdas/ is built, cdk.out is read and node_modules is
// found. The CDK app, the emulator, the benchmark and the tests share it.
package modroot

import (
	"fmt"
	"os"
	"path/filepath"
)

// Find returns the nearest directory at or above dir that holds go.mod.
func Find(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod in %s or above: run from the wschat repository", dir)
		}
	}
}

// FromWorkingDir is Find from the working directory.
func FromWorkingDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return Find(wd)
}
