//go:build unix

package lambda

import (
	"os/exec"
	"syscall"
)

// killGroup kills the instance's whole process group.
func killGroup(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	// A negative pid signals the group; ESRCH means it is already gone.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
