//go:build linux

package dynalite

import "syscall"

// setParentDeathSignal makes the kernel kill dynalite if the test binary dies
// without calling Close (a test timeout panic, say), so no orphan keeps a port.
func setParentDeathSignal(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGKILL }
