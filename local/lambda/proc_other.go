//go:build unix && !linux

package lambda

import "syscall"

// sysProcAttr puts each instance in its own process group, so a kill reaches
// anything it spawned.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
