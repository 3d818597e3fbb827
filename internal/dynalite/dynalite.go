// Package dynalite runs a dynalite (local DynamoDB) process for tests and the emulator.
//
// dynalite is an npm package (installed by `npm ci` at the repository root). It
// implements the DynamoDB HTTP API on top of LevelDB, in memory by default. It
// never expires items by TTL and has no transactions or PartiQL, which is why
// the store does not rely on either.
//
// dynalite itself must never be reachable from a web page: it answers any
// Origin with Access-Control-Allow-Origin: *, echoes whatever a preflight
// asks for, and checks only that a signature is shaped like SigV4, so a page
// the developer visits could read and forge the whole table. So dynalite
// listens on a Unix socket in a directory only this user can enter, and the
// endpoint callers get is a proxy in this process (Guard) on 127.0.0.1 that
// refuses any request from a browser (Origin, Referer, Sec-Fetch-*, CORS
// preflights, a Host other than the proxy's loopback address) and any
// request whose SigV4 signature does not verify with the local credentials
// (access key "local", secret "local", service dynamodb, any region).
package dynalite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/wschat/wschat/internal/loopback"
	"github.com/wschat/wschat/internal/sigv4"
)

// Credentials are the only credentials the endpoint accepts: the local
// pair every function, test client and tool of this repository signs with.
var Credentials = sigv4.Local

// Options configures Start.
type Options struct {
	Bin            string    // path to the dynalite executable; "" = find node_modules/.bin/dynalite by walking up from the working directory
	Port           int       // 0 = pick a free loopback port
	DataDir        string    // "" = in memory; otherwise dynalite --path DataDir
	Stdout, Stderr io.Writer // optional
	// OnRefuse, when set, is told of each request the endpoint refused
	// (a web page's, or a bad signature); by default one line per second
	// at most goes to Stderr.
	OnRefuse func(loopback.Refusal)
	// Wrap, when set, wraps the handler that forwards to dynalite: it sees
	// every request the guard let through (verified, from a tool), as the
	// emulator's stream capture must. Requests it makes itself reach
	// dynalite without a signature check.
	Wrap func(http.Handler) http.Handler
}

// Server is a running dynalite process behind its guard.
type Server struct {
	cmd      *exec.Cmd
	endpoint string
	dir      string // the private directory of dynalite's socket
	socket   string
	proxy    *http.Server
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

// Start launches dynalite on a private Unix socket, serves its guard on
// 127.0.0.1 (Options.Port, or a free port) and waits until dynalite answers.
// It runs with --createTableMs/--deleteTableMs/--updateTableMs 0, so a new table
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

	return start(ctx, bin, opts.Port, opts)
}

func start(ctx context.Context, bin string, port int, opts Options) (*Server, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("start dynalite: %w", err)
	}
	// MkdirTemp makes the directory 0700: no other user of the machine
	// reaches the socket either.
	dir, err := os.MkdirTemp("", "dynalite-")
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("start dynalite: %w", err)
	}
	socket := filepath.Join(dir, "s")
	args := []string{
		// A path as --port: node's listen takes it as a Unix socket.
		"--port", socket,
		"--createTableMs", "0",
		"--deleteTableMs", "0",
		"--updateTableMs", "0",
	}
	if opts.DataDir != "" {
		if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
			_ = ln.Close()
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("start dynalite: create data dir: %w", err)
		}
		args = append(args, "--path", opts.DataDir)
	}
	// Not exec.CommandContext: the process must outlive the start-up context
	// (callers pass a short one); Close ends it.
	cmd := exec.Command(bin, args...)
	if opts.Stdout != nil {
		// Its banner names no usable address ("localhost:undefined" for a
		// socket); the endpoint is the guard's.
		cmd.Stdout = &dropBanner{w: opts.Stdout}
	}
	cmd.Stderr = opts.Stderr
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		_ = ln.Close()
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start dynalite %s: %w (run npm ci at the repository root)", bin, err)
	}
	s := &Server{
		cmd:      cmd,
		endpoint: "http://" + ln.Addr().String(),
		dir:      dir,
		socket:   socket,
		done:     make(chan struct{}),
	}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.done)
	}()
	onRefuse := opts.OnRefuse
	if onRefuse == nil && opts.Stderr != nil {
		onRefuse = loopback.NewLimiter(func(line string) { fmt.Fprintln(opts.Stderr, line) }).Log
	}
	forward := newSocketProxy(socket)
	if opts.Wrap != nil {
		forward = opts.Wrap(forward)
	}
	s.proxy = &http.Server{
		Handler:           Guard(ln.Addr().String(), forward, onRefuse),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { _ = s.proxy.Serve(ln) }()
	if err := s.waitReady(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// socketClient talks HTTP to the server on a Unix socket.
func socketClient(socket string, timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: socketTransport(socket)}
}

func socketTransport(socket string) *http.Transport {
	var d net.Dialer
	return &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", socket)
		},
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     time.Minute,
	}
}

// newSocketProxy forwards requests to dynalite's socket.
func newSocketProxy(socket string) http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.Out.URL.Scheme, r.Out.URL.Host = "http", "dynalite"
		},
		Transport: socketTransport(socket),
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			writeError(w, http.StatusServiceUnavailable, "ServiceUnavailable", "dynalite is not answering: "+err.Error())
		},
	}
}

// maxRequestBytes is dynalite's own limit on a request body.
const maxRequestBytes = 16 << 20

// Guard serves next (a DynamoDB endpoint) on the listener at addr only to
// signed requests of tools on this machine: loopback.ToolsOnly refuses
// browsers and foreign Host headers with 403, then a request whose SigV4
// signature does not verify with Credentials (service dynamodb, any
// region) gets DynamoDB's 400 answer. log, when not nil, hears of every
// refusal.
func Guard(addr string, next http.Handler, log func(loopback.Refusal)) http.Handler {
	v := &sigv4.Verifier{Creds: Credentials, Service: "dynamodb"}
	signed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes+1))
		if err != nil || len(body) > maxRequestBytes {
			writeError(w, http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "request body too large or unreadable")
			return
		}
		if err := v.Verify(r, body); err != nil {
			if log != nil {
				log(loopback.Refusal{Listener: "DynamoDB", Reason: "signature: " + err.Error(), Method: r.Method, Path: r.URL.Path})
			}
			typ := "InvalidSignatureException"
			var ae *sigv4.AuthError
			if errors.As(err, &ae) {
				typ = ae.Type
			}
			writeError(w, http.StatusBadRequest, typ, err.Error())
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
	return loopback.ToolsOnly("DynamoDB", loopback.LocalHosts(addr), signed, log)
}

// writeError answers as DynamoDB does (awsJson1_0): the SDK reads __type.
func writeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-ErrorType", typ)
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"__type":"com.amazon.coral.service#%s","message":%q}`, typ, msg)
}

// waitReady polls dynalite's socket until any HTTP answer arrives, the
// process exits, ctx ends or startTimeout passes.
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	client := socketClient(s.socket, time.Second)
	defer client.CloseIdleConnections()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://dynalite/", nil)
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

// Endpoint is the base URL of the guard, "http://127.0.0.1:PORT"; give it
// to the SDK as the DynamoDB base endpoint (or AWS_ENDPOINT_URL_DYNAMODB),
// with Credentials.
func (s *Server) Endpoint() string { return s.endpoint }

// Socket is the path of dynalite's own Unix socket, behind the guard.
func (s *Server) Socket() string { return s.socket }

// Close stops the guard, kills the process group (node and anything it
// spawned), waits for the process to exit and removes the socket's
// directory. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		_ = s.proxy.Close()
		defer os.RemoveAll(s.dir)
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

// dropBanner passes dynalite's output on without its start-up line.
type dropBanner struct {
	w    io.Writer
	done bool
}

func (d *dropBanner) Write(p []byte) (int, error) {
	if !d.done {
		d.done = true
		if bytes.HasPrefix(p, []byte("Dynalite listening at")) {
			if i := bytes.IndexByte(p, '\n'); i >= 0 && i+1 < len(p) {
				_, err := d.w.Write(p[i+1:])
				return len(p), err
			}
			return len(p), nil
		}
	}
	return d.w.Write(p)
}
