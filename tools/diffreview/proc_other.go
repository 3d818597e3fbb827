//go:build !unix

package main

import "os/exec"

// ownProcessGroup leaves cmd as it is where process groups do not exist:
// cancelling kills only the direct child.
func ownProcessGroup(*exec.Cmd) {}
