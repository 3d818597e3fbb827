// Package dynalite runs a dynalite (local DynamoDB) process for tests and the emulator.
//
// dynalite is an npm package (installed by `npm ci` at the repository root). It
// implements the DynamoDB HTTP API on top of LevelDB, in memory by default. It
// never expires items by TTL and has no transactions or PartiQL, which is why
// the store does not rely on either.
package dynalite

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// Options configures Start.
type Options struct {
	Bin            string    // path to the dynalite executable; "" = find node_modules/.bin/dynalite by walking up from the working directory
	Port           int       // 0 = pick a free loopback port
	DataDir        string    // "" = in memory; otherwise dynalite --path DataDir
	Stdout, Stderr io.Writer // optional
}

// Server is a running dynalite process.
type Server struct {
	cmd      *exec.Cmd
	endpoint string
	done     chan struct{} // closed when the process has exited
	waitErr  error

	closeOnce sync.Once
	closeErr  error
}

// startTimeout bounds how long Start waits for dynalite to answer HTTP. It
// normally takes ~0.2 s; node's cold start on a loaded 2-core machine can take
// a few seconds.
const startTimeout = 20 * time.Second

// binRelPath is where `npm ci` installs the executable, relative to the
// repository root.
var binRelPath = filepath.Join("node_modules", ".bin", "dynalite")

// Start launches dynalite on 127.0.0.1 and waits until it answers HTTP. It
// runs with --createTableMs/--deleteTableMs/--updateTableMs 0, so a new table
// turns ACTIVE within milliseconds instead of 500 ms, but not synchronously:
// poll DescribeTable before using it (dynamo.CreateTable does). Close the
// server when done.
func Start(ctx context.Context, opts Options) (*Server, error) {
	bin := opts.Bin
	if bin == "" {
		found, err := findBin()
		if err != nil {
			return nil, err
		}
		bin = found
	} else if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("start dynalite: %w (run npm ci at the repository root)", err)
	}

	// A port picked by listening on :0 can be taken by someone else before
	// dynalite binds it; when we picked it, try again with another one.
	attempts := 1
	if opts.Port == 0 {
		attempts = 3
	}
	var lastErr error
	for i := 0; i < attempts; i++ {
		port := opts.Port
		if port == 0 {
			p, err := freePort()
			if err != nil {
				return nil, fmt.Errorf("start dynalite: pick a port: %w", err)
			}
			port = p
		}
		s, err := start(ctx, bin, port, opts)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func start(ctx context.Context, bin string, port int, opts Options) (*Server, error) {
	args := []string{
		"--host", "127.0.0.1",
		"--port", strconv.Itoa(port),
		"--createTableMs", "0",
		"--deleteTableMs", "0",
		"--updateTableMs", "0",
	}
	if opts.DataDir != "" {
		if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("start dynalite: create data dir: %w", err)
		}
		args = append(args, "--path", opts.DataDir)
	}
	// Not exec.CommandContext: the process must outlive the start-up context
	// (callers pass a short one); Close ends it.
	cmd := exec.Command(bin, args...)
	cmd.Stdout = opts.Stdout
	cmd.Stderr = opts.Stderr
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start dynalite %s: %w (run npm ci at the repository root)", bin, err)
	}
	s := &Server{
		cmd:      cmd,
		endpoint: "http://127.0.0.1:" + strconv.Itoa(port),
		done:     make(chan struct{}),
	}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.done)
	}()
	if err := s.waitReady(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// waitReady polls the endpoint until any HTTP answer arrives, the process
// exits, ctx ends or startTimeout passes.
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.endpoint, nil)
		if err != nil {
			return fmt.Errorf("start dynalite: %w", err)
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("start dynalite on %s: process exited before answering: %v", s.endpoint, s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("start dynalite on %s: not answering: %w", s.endpoint, ctx.Err())
		case <-tick.C:
		}
	}
}

// Endpoint is the base URL of the server, "http://127.0.0.1:PORT"; give it to
// the SDK as the DynamoDB base endpoint (or AWS_ENDPOINT_URL_DYNAMODB).
func (s *Server) Endpoint() string { return s.endpoint }

// Close kills the process group (node and anything it spawned) and waits for
// the process to exit. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		select {
		case <-s.done:
			return
		default:
		}
		if err := kill(s.cmd); err != nil && !errors.Is(err, os.ErrProcessDone) {
			s.closeErr = fmt.Errorf("stop dynalite: %w", err)
		}
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			s.closeErr = errors.New("stop dynalite: process did not exit within 10s")
		}
	})
	return s.closeErr
}

// findBin walks up from the working directory to the first
// node_modules/.bin/dynalite.
func findBin() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find dynalite: %w", err)
	}
	for dir := wd; ; {
		p := filepath.Join(dir, binRelPath)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("find dynalite: no %s in %s or any parent (run npm ci at the repository root)", binRelPath, wd)
		}
		dir = parent
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
