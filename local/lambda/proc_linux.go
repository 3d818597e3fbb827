//go:build linux

package lambda

import "syscall"

// sysProcAttr puts each instance in its own process group, so a kill reaches
// anything it spawned, and has the kernel kill it if the emulator dies without
// cleaning up (a test binary's timeout panic, say).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
