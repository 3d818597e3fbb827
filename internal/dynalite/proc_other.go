//go:build !unix

package dynalite

import (
	"os/exec"
	"syscall"
)

func sysProcAttr() *syscall.SysProcAttr { return nil }

func kill(cmd *exec.Cmd) error { return cmd.Process.Kill() }
