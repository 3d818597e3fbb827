// Package reliability holds end-to-end reliability tests of the synthesized
// dev stack on the local emulator: load (exactly-once, in-order delivery) and
// faults (clients dying mid-broadcast, DynamoDB restarting, a handler
// crashing or hanging). Each test starts its own emulator process.
//
// Sizes fit `make test` on two cores (each test well under a minute);
// WSCHAT_SOAK=1 runs them larger (`make soak`).
package reliability

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/emutest"
	"github.com/wschat/wschat/internal/modroot"
)

var (
	root     string // module root
	emulator string // the emulator binary built for this test run
	soak     = os.Getenv("WSCHAT_SOAK") == "1"
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	if _, err := emutest.RaiseFileLimit(); err != nil {
		fmt.Fprintln(os.Stderr, "reliability: raise the file limit:", err)
		return 1
	}
	r, err := modroot.FromWorkingDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, "reliability:", err)
		return 1
	}
	root = r
	// Fail, never skip: CI must not pass without these tests.
	if _, err := emutest.CheckTemplate(root, ""); err != nil {
		fmt.Fprintln(os.Stderr, "reliability:", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "wschat-reliability-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "reliability:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	emulator, err = emutest.Build(ctx, root, dir)
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "reliability:", err)
		return 1
	}
	return m.Run()
}

// startEmulator runs the emulator for the test's duration. On failure the
// test log gets the emulator's last output lines; the full output is kept in
// the test's temporary directory.
func startEmulator(t *testing.T, opts emutest.Options) *emutest.Emulator {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "emulator.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	opts.Binary = emulator
	opts.Root = root
	opts.Output = logFile
	e, err := emutest.Start(t.Context(), opts)
	if err != nil {
		_ = logFile.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Kill, not a graceful stop: that would run a $disconnect, and its
		// "left" broadcast to the channel, for each of hundreds of clients.
		if err := e.Kill(); err != nil {
			t.Errorf("stop emulator: %v", err)
		}
		if t.Failed() {
			t.Logf("emulator output (last lines):\n%s", e.Tail(150))
		}
		_ = logFile.Close()
	})
	return e
}
