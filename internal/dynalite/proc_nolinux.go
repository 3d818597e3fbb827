//go:build unix && !linux

package dynalite

import "syscall"

func setParentDeathSignal(*syscall.SysProcAttr) {}
