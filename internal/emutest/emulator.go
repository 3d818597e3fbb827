// Package emutest starts the emulator on the dev template for tests and
// benchmarks, in the manner of net/http/httptest: it runs the local emulator
// (go run ./local) on the real synthesized stack as a separate process and
// drives it with real WebSocket clients. The reliability tests (reliability/)
// and the benchmarks (bench/) both use it.
//
// The emulator is built once with `go build -o` and started per scenario with
// --port 0 and --ready-file; the ready file gives the WebSocket, callback and
// DynamoDB endpoints once everything serves. Variables of one function are
// changed with --function-env (FunctionEnv), never by rewriting the template.
// Stage throttling and the per-channel delivery rate are off unless
// KeepStageThrottle says otherwise: the harnesses' parallel dials, joins
// and load runs exceed dev's 50 messages/s and its channels' rate by
// design, and what they measure is neither.
// Handler instances are the emulator's child processes, which emutest finds
// through /proc so a scenario can stop, resume or kill one: that is how the
// fault tests crash or hang a real handler without a hook in its code.
package emutest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/localissuer"
	"github.com/wschat/wschat/internal/modroot"
	"github.com/wschat/wschat/internal/template"
)

// DefaultTemplate is the dev stack's template, relative to the module root.
var DefaultTemplate = filepath.Join("cdk.out", "WsChat-dev.template.json")

// ErrNoTemplate is returned when the synthesized template is missing.
var ErrNoTemplate = errors.New("no synthesized template: run make synth")

// CheckTemplate returns the absolute path of the template (DefaultTemplate
// when path is empty), or an error wrapping ErrNoTemplate.
func CheckTemplate(root, path string) (string, error) {
	if path == "" {
		path = filepath.Join(root, DefaultTemplate)
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("%w (ENV=dev): %s: %v", ErrNoTemplate, path, err)
	}
	return path, nil
}

// RaiseFileLimit raises the soft RLIMIT_NOFILE to the hard limit and returns
// the new soft limit. Child processes (the emulator, and through it the
// handlers) inherit it.
func RaiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, err
		}
	}
	return lim.Cur, nil
}

// Build compiles the emulator (./local) into dir and returns the executable.
func Build(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "wschat-local")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./local")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build the emulator: %v\n%s", err, out)
	}
	return bin, nil
}

// Options starts an emulator.
type Options struct {
	// Binary is the emulator executable from Build.
	Binary string
	// Root is the module root; "" means the module holding the working directory.
	Root string
	// Template is the template to run; "" means DefaultTemplate.
	Template string
	// PostLatency is --post-latency.
	PostLatency time.Duration
	// DynamoDBEndpoint is --dynamodb-endpoint; "" lets the emulator start
	// its own dynalite.
	DynamoDBEndpoint string
	// Args are extra flags.
	Args []string
	// Output, when set, receives a copy of every output line.
	Output io.Writer
	// ReadyTimeout bounds the start (function builds included); 0 means 3 min.
	ReadyTimeout time.Duration
	// FunctionEnv are --function-env values, FN:KEY=VALUE: one function's
	// variable set without rewriting the template.
	FunctionEnv []string
	// KeepStageThrottle runs the template's throttling: the stage's route
	// throttling and the functions' per-channel delivery rate. By default
	// the harness passes --stage-throttle off and --channel-rate off: load
	// runs send into big channels faster than dev allows, by design.
	KeepStageThrottle bool
}

// readyDoc is the part of the emulator's --ready-file document the harness uses.
type readyDoc struct {
	WebSocketURL string `json:"webSocketUrl"`
	CallbackURL  string `json:"callbackUrl"`
	BaseURL      string `json:"baseUrl"`
	DynamoDB     string `json:"dynamoDbEndpoint"`
	Virtual      string `json:"virtualConnectionsUrl"`
	Secret       string `json:"issuerSecret"`
	Region       string `json:"region"`
	SQS          string `json:"sqsEndpoint"`
	Services     string `json:"servicesEndpoint"`
	Queues       []struct {
		LogicalID string `json:"logicalId"`
		URL       string `json:"url"`
	} `json:"queues"`
}

// Emulator is a running emulator process.
type Emulator struct {
	// WebSocketURL is ws://127.0.0.1:PORT/<stage>.
	WebSocketURL string
	// BaseURL is http://127.0.0.1:PORT.
	BaseURL string
	// CallbackURL is the @connections endpoint, http://127.0.0.1:PORT/<stage>.
	CallbackURL string
	// DynamoDB is the DynamoDB endpoint the functions use.
	DynamoDB string
	// Stack is the template as the emulator resolves it.
	Stack *template.Stack
	// VirtualURL is the --virtual-connections admin endpoint; "" without it.
	VirtualURL string
	// IssuerSecret is the run's secret that Token sends to the local
	// issuer; Region is what signed calls (the admin endpoint) are scoped to.
	IssuerSecret, Region string
	// SQS is the SQS endpoint ("" without queues), QueueURLs the queues'
	// URLs by logical id; Services the Lambda Invoke, EventBridge and
	// Secrets Manager endpoint.
	SQS       string
	QueueURLs map[string]string
	Services  string

	cmd    *exec.Cmd
	tmp    string
	done   chan struct{}
	output *lineLog

	stopOnce sync.Once
	stopErr  error
}

// Start runs the emulator and waits until it has written its ready file.
func Start(ctx context.Context, opts Options) (*Emulator, error) {
	if opts.Binary == "" {
		return nil, errors.New("start emulator: no binary (call Build)")
	}
	root := opts.Root
	if root == "" {
		r, err := modroot.FromWorkingDir()
		if err != nil {
			return nil, err
		}
		root = r
	}
	tpl, err := CheckTemplate(root, opts.Template)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "wschat-emutest-")
	if err != nil {
		return nil, err
	}
	readyFile := filepath.Join(tmp, "ready.json")
	e, pr, err := startProcess(opts, root, tmp, emulatorArgs(opts, tpl, tmp, readyFile))
	if err != nil {
		_ = os.RemoveAll(tmp)
		return nil, err
	}
	go e.readOutput(pr)
	if err := e.waitReady(ctx, opts.ReadyTimeout, readyFile); err != nil {
		return nil, err
	}
	host := strings.TrimPrefix(e.BaseURL, "http://")
	stack, err := template.Load(tpl, template.Options{Endpoint: host, GoPackageKey: contract.MetadataGoPackage})
	if err != nil {
		_ = e.Stop()
		return nil, err
	}
	e.Stack = stack
	return e, nil
}

// emulatorArgs are the emulator's flags for one scenario: a free port, a
// ready file and an issuer key of its own under tmp.
func emulatorArgs(opts Options, tpl, tmp, readyFile string) []string {
	args := []string{
		"--port", "0",
		"--ready-file", readyFile,
		"--template", tpl,
		"--issuer-key", filepath.Join(tmp, "issuer-key.pem"),
		"--issuer-secret-file", filepath.Join(tmp, "issuer-secret"),
		// Start checks that the template exists; a source file newer
		// than it (a checkout, an edit) changes no route or variable the
		// scenarios rely on, and the functions are rebuilt from source.
		"--allow-stale",
		"--post-latency", opts.PostLatency.String(),
	}
	if opts.DynamoDBEndpoint != "" {
		args = append(args, "--dynamodb-endpoint", opts.DynamoDBEndpoint)
	}
	if !opts.KeepStageThrottle {
		args = append(args, "--stage-throttle", "off", "--channel-rate", "off")
	}
	for _, fe := range opts.FunctionEnv {
		args = append(args, "--function-env", fe)
	}
	return append(args, opts.Args...)
}

// startProcess starts the emulator in its own process group with its
// output on the returned pipe.
func startProcess(opts Options, root, tmp string, args []string) (*Emulator, *os.File, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(opts.Binary, args...)
	cmd.Dir = root
	// TMPDIR: the emulator builds the functions under it, so removing tmp
	// cleans up even after a kill.
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = pr.Close()
		_ = pw.Close()
		return nil, nil, fmt.Errorf("start emulator: %w", err)
	}
	_ = pw.Close()
	e := &Emulator{cmd: cmd, tmp: tmp, done: make(chan struct{}), output: newLineLog(opts.Output)}
	go func() {
		_ = cmd.Wait()
		close(e.done)
	}()
	return e, pr, nil
}

// waitReady polls for the ready file (3 minutes when timeout is 0), which
// the emulator writes atomically once it serves, and reads the endpoints
// from it; on failure the emulator is stopped and its temporary directory
// removed.
func (e *Emulator) waitReady(ctx context.Context, timeout time.Duration, readyFile string) error {
	if timeout <= 0 {
		timeout = 3 * time.Minute
	}
	deadline := time.After(timeout)
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-e.done:
			_ = os.RemoveAll(e.tmp)
			return fmt.Errorf("emulator exited before it was ready:\n%s", e.output.Tail(40))
		case <-deadline:
			_ = e.Stop()
			return fmt.Errorf("emulator not ready within %s:\n%s", timeout, e.output.Tail(40))
		case <-ctx.Done():
			_ = e.Stop()
			return ctx.Err()
		case <-tick.C:
		}
		data, err := os.ReadFile(readyFile)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		var doc readyDoc
		if err == nil {
			err = json.Unmarshal(data, &doc)
		}
		if err == nil && (doc.WebSocketURL == "" || doc.CallbackURL == "" || doc.BaseURL == "") {
			err = errors.New("an endpoint is missing")
		}
		if err != nil {
			_ = e.Stop()
			return fmt.Errorf("emulator ready file %s: %v: %s", readyFile, err, data)
		}
		e.WebSocketURL, e.CallbackURL, e.BaseURL, e.DynamoDB = doc.WebSocketURL, doc.CallbackURL, doc.BaseURL, doc.DynamoDB
		e.VirtualURL, e.IssuerSecret, e.Region = doc.Virtual, doc.Secret, doc.Region
		e.SQS, e.Services = doc.SQS, doc.Services
		e.QueueURLs = map[string]string{}
		for _, q := range doc.Queues {
			e.QueueURLs[q.LogicalID] = q.URL
		}
		return nil
	}
}

// readOutput keeps the output lines for Tail and Watch.
func (e *Emulator) readOutput(r io.ReadCloser) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		e.output.add(sc.Text())
	}
	_, _ = io.Copy(io.Discard, r)
}

// Pid is the emulator's process id.
func (e *Emulator) Pid() int { return e.cmd.Process.Pid }

// Exited is closed when the emulator process has exited.
func (e *Emulator) Exited() <-chan struct{} { return e.done }

// Tail returns the last n output lines.
func (e *Emulator) Tail(n int) string { return e.output.Tail(n) }

// Watch calls fn with every later output line, from the reading goroutine
// (fn must be quick), until the returned function is called.
func (e *Emulator) Watch(fn func(line string)) (stop func()) { return e.output.watch(fn) }

// Stop ends the emulator: SIGTERM (it closes every connection and runs their
// $disconnect), SIGKILL after 20 s. Its handlers and dynalite die with it.
func (e *Emulator) Stop() error {
	return e.stop(syscall.SIGTERM, 20*time.Second)
}

// Kill ends the emulator at once, without $disconnect invocations: for runs
// that leave thousands of connections behind.
func (e *Emulator) Kill() error {
	return e.stop(syscall.SIGKILL, 0)
}

func (e *Emulator) stop(sig syscall.Signal, grace time.Duration) error {
	e.stopOnce.Do(func() {
		_ = e.cmd.Process.Signal(sig)
		select {
		case <-e.done:
		case <-time.After(grace):
			_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
			select {
			case <-e.done:
			case <-time.After(10 * time.Second):
				e.stopErr = errors.New("stop emulator: still running 10s after SIGKILL")
			}
		}
		// Handlers die with the emulator (parent-death signal); wait a moment
		// for them before removing their executables.
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) && len(children(e.cmd.Process.Pid)) > 0 {
			time.Sleep(20 * time.Millisecond)
		}
		if err := os.RemoveAll(e.tmp); err != nil && e.stopErr == nil {
			e.stopErr = err
		}
	})
	return e.stopErr
}

// Token mints a token for user from the emulator's local issuer.
func (e *Emulator) Token(ctx context.Context, user string) (string, error) {
	return e.mint(ctx, map[string]string{"user": user, "name": user})
}

// TokenTTL mints a token for user that lives ttl (at least 1s), with a
// channels claim unless channels is nil.
func (e *Emulator) TokenTTL(ctx context.Context, user string, channels *string, ttl time.Duration) (string, error) {
	f := map[string]string{"user": user, "name": user, "ttl": ttl.String()}
	if channels != nil {
		f["channels"] = *channels
	}
	return e.mint(ctx, f)
}

// TokenNamed mints a token for user with the display name name.
func (e *Emulator) TokenNamed(ctx context.Context, user, name string) (string, error) {
	return e.mint(ctx, map[string]string{"user": user, "name": name})
}

// mint asks the local issuer for a token with the given request fields.
func (e *Emulator) mint(ctx context.Context, fields map[string]string) (string, error) {
	body, _ := json.Marshal(fields)
	return e.mintBody(ctx, body)
}

func (e *Emulator) mintBody(ctx context.Context, body []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.BaseURL+"/local-issuer/token", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	// A tool, not the page: it proves it read the run's secret.
	localissuer.Authorize(req, e.IssuerSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("mint token: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		Token string `json:"token"`
		Error string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Token == "" {
		return "", fmt.Errorf("mint token: status %d %s: %v", resp.StatusCode, out.Error, err)
	}
	return out.Token, nil
}

// DialURL is the WebSocket URL with token as the token query parameter.
func (e *Emulator) DialURL(token string) string {
	return e.WebSocketURL + "?token=" + url.QueryEscape(token)
}

// TableName is the local name of the stack's table.
func (e *Emulator) TableName() (string, error) {
	if len(e.Stack.Tables) != 1 {
		return "", fmt.Errorf("want one table in the template, found %d", len(e.Stack.Tables))
	}
	return e.Stack.Tables[0].Name, nil
}

// Function returns the template function whose label (Go package base name,
// e.g. "chat") is label.
func (e *Emulator) Function(label string) (*template.Function, error) {
	for _, f := range e.Stack.Functions {
		if f.Label == label {
			return f, nil
		}
	}
	return nil, fmt.Errorf("no function %q in the template", label)
}

// FunctionPIDs returns the live instances (processes) of the function
// labelled label: the emulator's children running <LogicalID>/bootstrap.
func (e *Emulator) FunctionPIDs(label string) ([]int, error) {
	f, err := e.Function(label)
	if err != nil {
		return nil, err
	}
	suffix := string(filepath.Separator) + filepath.Join(f.LogicalID, "bootstrap")
	var pids []int
	for _, p := range children(e.Pid()) {
		exe := strings.TrimSuffix(p.exe, " (deleted)")
		if strings.HasSuffix(exe, suffix) && p.state != 'Z' {
			pids = append(pids, p.pid)
		}
	}
	return pids, nil
}

// lineLog keeps the last lines of output and feeds watchers.
type lineLog struct {
	mu       sync.Mutex
	lines    []string
	next     int
	full     bool
	copyTo   io.Writer
	watchers map[int]func(string)
	seq      int
}

const keepLines = 4000

func newLineLog(copyTo io.Writer) *lineLog {
	return &lineLog{lines: make([]string, keepLines), copyTo: copyTo, watchers: map[int]func(string){}}
}

func (l *lineLog) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines[l.next] = line
	l.next = (l.next + 1) % keepLines
	if l.next == 0 {
		l.full = true
	}
	if l.copyTo != nil {
		_, _ = io.WriteString(l.copyTo, line+"\n")
	}
	for _, fn := range l.watchers {
		fn(line)
	}
}

func (l *lineLog) watch(fn func(string)) func() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	id := l.seq
	l.watchers[id] = fn
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		delete(l.watchers, id)
	}
}

// Tail returns up to the last n lines.
func (l *lineLog) Tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var all []string
	if l.full {
		all = append(all, l.lines[l.next:]...)
	}
	all = append(all, l.lines[:l.next]...)
	if len(all) > n {
		all = all[len(all)-n:]
	}
	return strings.Join(all, "\n")
}

// TokenWithSub mints a token whose sub is exactly sub, even one the user
// id rule refuses (the issuer's rawSub): what another issuer may mint, to
// see $connect refuse it.
func (e *Emulator) TokenWithSub(ctx context.Context, sub, name string) (string, error) {
	body, _ := json.Marshal(map[string]any{"user": sub, "name": name, "rawSub": true})
	return e.mintBody(ctx, body)
}
