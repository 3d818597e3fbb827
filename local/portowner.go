package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// listenError explains a failed listen on the emulator's port in one line;
// for a port in use it names the process holding it when /proc tells.
func listenError(flag string, port int, err error) error {
	if !errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("listen on 127.0.0.1:%d: %w (pass %s)", port, err, flag)
	}
	by := ""
	if owner := portOwner(port); owner != "" {
		by = " by " + owner
	}
	advice := flag + " N (0 picks a free port)"
	if flag == "--port" {
		advice = "--port N (PORT=N with make; 0 picks a free port)"
	}
	return fmt.Errorf("port %d is in use%s: stop it, or pass %s", port, by, advice)
}

// portOwner names the process listening on TCP port, as "pid N (command
// line)", from /proc/net/tcp{,6} (the socket's inode) and /proc/*/fd (which
// process holds it). "" when it cannot tell: another OS, another user's
// process, or a race with its exit.
func portOwner(port int) string {
	inodes := map[string]bool{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		for _, inode := range listeningInodes(table, port) {
			inodes[inode] = true
		}
	}
	if len(inodes) == 0 {
		return ""
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, proc := range procs {
		fds, err := os.ReadDir(filepath.Join(proc, "fd"))
		if err != nil {
			continue // not ours to look at
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(proc, "fd", fd.Name()))
			if err != nil || !strings.HasPrefix(link, "socket:[") {
				continue
			}
			if inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] {
				pid := filepath.Base(proc)
				return "pid " + pid + " (" + commandLine(proc) + ")"
			}
		}
	}
	return "another user's process (its pid is not visible)"
}

// listeningInodes returns the inodes of the sockets listening on port in a
// /proc/net/tcp-format table.
func listeningInodes(table string, port int) []string {
	f, err := os.Open(table)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[3] != "0A" { // 0A: LISTEN
			continue
		}
		_, hexPort, ok := strings.Cut(fields[1], ":")
		if !ok {
			continue
		}
		if p, err := strconv.ParseUint(hexPort, 16, 16); err == nil && int(p) == port {
			out = append(out, fields[9])
		}
	}
	return out
}

// commandLine is the process's command line, bounded, or "?".
func commandLine(proc string) string {
	data, err := os.ReadFile(filepath.Join(proc, "cmdline"))
	if err != nil || len(data) == 0 {
		return "?"
	}
	s := strings.TrimSpace(strings.ReplaceAll(string(data), "\x00", " "))
	if len(s) > 120 {
		s = s[:117] + "..."
	}
	return s
}
