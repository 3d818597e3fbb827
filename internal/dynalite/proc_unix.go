//go:build unix

package dynalite

import (
	"os/exec"
	"syscall"
)

// sysProcAttr puts dynalite in its own process group so Close can kill it and
// any children together.
func sysProcAttr() *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true}
	setParentDeathSignal(attr)
	return attr
}

func kill(cmd *exec.Cmd) error {
	// A negative pid signals the whole group.
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil && err != syscall.ESRCH {
		return err
	}
	return nil
}
