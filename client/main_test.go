package client

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the package if any goroutine of this package outlives the
// tests: Close must stop everything the client started. (goleak would do the
// same; this keeps go.mod, which others are editing, untouched.)
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := leakedGoroutines(3 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines leaked by wschat/client:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// leakedGoroutines waits up to d for client goroutines (readers, pingers,
// pumps, workers, the supervisor and the outbox) to end, and returns the
// stacks of those still running.
func leakedGoroutines(d time.Duration) string {
	deadline := time.Now().Add(d)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "github.com/wschat/wschat/client.(*") && !strings.Contains(g, "leakedGoroutines") &&
				!strings.Contains(g, "_test.go") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLeakCheckSeesOpenClient is the leak check's positive control: an open
// client's goroutines are found, and none are left after Close.
func TestLeakCheckSeesOpenClient(t *testing.T) {
	srv := newFakeServer(t, faults{})
	c := dialT(t, srv.url(), fastOptions("ann"))
	if leakedGoroutines(0) == "" {
		t.Errorf("got no client goroutines while a client is open, want its reader, pinger and supervisor")
	}
	c.Close()
	if got := leakedGoroutines(2 * time.Second); got != "" {
		t.Errorf("got goroutines after Close:\n%s", got)
	}
}
