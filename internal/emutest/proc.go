package emutest

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// proc is one process as /proc shows it.
type proc struct {
	pid, ppid int
	state     byte
	exe       string
}

// children lists the live child processes of ppid (Linux /proc).
func children(ppid int) []proc {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []proc
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		p, ok := readProc(pid)
		if ok && p.ppid == ppid {
			out = append(out, p)
		}
	}
	return out
}

func readProc(pid int) (proc, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return proc{}, false
	}
	// "pid (comm) state ppid ...": comm may hold spaces and parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return proc{}, false
	}
	fields := strings.Fields(s[i+2:])
	if len(fields) < 2 {
		return proc{}, false
	}
	ppid, _ := strconv.Atoi(fields[1])
	exe, _ := os.Readlink(filepath.Join("/proc", strconv.Itoa(pid), "exe"))
	return proc{pid: pid, ppid: ppid, state: fields[0][0], exe: exe}, true
}

// RSS returns the resident set size of pid in bytes (VmRSS).
func RSS(pid int) (int64, error) {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse VmRSS %q: %w", rest, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// TreeRSS returns the RSS of pid and of each descendant, keyed by pid.
func TreeRSS(pid int) map[int]int64 {
	out := map[int]int64{}
	var walk func(int, int)
	walk = func(p, depth int) {
		if depth > 4 {
			return
		}
		if rss, err := RSS(p); err == nil {
			out[p] = rss
		}
		for _, c := range children(p) {
			walk(c.pid, depth+1)
		}
	}
	walk(pid, 0)
	return out
}

// Stop suspends a process (SIGSTOP); Continue resumes it; KillPID kills it.
func Stop(pid int) error     { return syscall.Kill(pid, syscall.SIGSTOP) }
func Continue(pid int) error { return syscall.Kill(pid, syscall.SIGCONT) }
func KillPID(pid int) error  { return syscall.Kill(pid, syscall.SIGKILL) }

// HasUnreadInput reports whether any TCP socket of pid holds received bytes
// the process has not read. A stopped handler instance that the emulator has
// handed an invocation has exactly that: the answer to its pending
// GET /runtime/invocation/next waits in its socket.
func HasUnreadInput(pid int) (bool, error) {
	if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); err != nil {
		return false, err
	}
	inodes := socketInodes(pid)
	for _, table := range []string{"tcp", "tcp6"} {
		f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "net", table))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || !inodes[fields[9]] {
				continue
			}
			_, rx, ok := strings.Cut(fields[4], ":")
			if !ok {
				continue
			}
			if n, err := strconv.ParseUint(rx, 16, 64); err == nil && n > 0 {
				f.Close()
				return true, nil
			}
		}
		f.Close()
	}
	return false, nil
}

// OwnerOfPort returns which of pids has a TCP socket bound to local port
// port on 127.0.0.1, for example the client end of a request a proxy
// received from that port.
func OwnerOfPort(pids []int, port int) (int, error) {
	want := fmt.Sprintf(":%04X", port)
	for _, pid := range pids {
		inodes := socketInodes(pid)
		for _, table := range []string{"tcp", "tcp6"} {
			b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "net", table))
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(b), "\n")[1:] {
				fields := strings.Fields(line)
				if len(fields) >= 10 && strings.HasSuffix(fields[1], want) && inodes[fields[9]] {
					return pid, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("no process among %v has local port %d", pids, port)
}

// socketInodes returns the inodes of pid's sockets.
func socketInodes(pid int) map[string]bool {
	inodes := map[string]bool{}
	fdDir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	entries, err := os.ReadDir(fdDir)
	if err != nil {
		return inodes
	}
	for _, e := range entries {
		link, err := os.Readlink(filepath.Join(fdDir, e.Name()))
		if err != nil {
			continue
		}
		if inode, ok := strings.CutPrefix(link, "socket:["); ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	return inodes
}
