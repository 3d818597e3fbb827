// Package lambda runs functions as local processes behind an implementation of
// the Lambda Runtime API, the way the provided.al2023 runtime runs a
// `bootstrap`: each instance is a real process whose AWS_LAMBDA_RUNTIME_API
// points at a loopback HTTP server that hands it one invocation at a time.
//
// A Function starts instances on demand up to its concurrency cap, reuses idle
// ones, kills an instance whose invocation outlives the function's timeout, and
// replaces one that exits mid-invocation. Those failures come back from Invoke
// as an *Error, like the errors a synchronous Lambda invoke reports.
package lambda

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/wschat/wschat/internal/loopback"
)

// Config describes one function.
type Config struct {
	// Name is the function's name: AWS_LAMBDA_FUNCTION_NAME and the log prefix.
	Name string
	// ARN is sent as Lambda-Runtime-Invoked-Function-Arn.
	ARN string
	// Bootstrap is the executable to run.
	Bootstrap string
	// Env is the function's own environment (the template's variables plus
	// region, credentials and endpoints). The Lambda platform variables
	// (AWS_LAMBDA_RUNTIME_API, AWS_LAMBDA_FUNCTION_NAME, ...) are added and win,
	// as on AWS where they are reserved. Nothing is inherited from the emulator's
	// own environment, so no real credentials leak into a function.
	Env map[string]string
	// Timeout bounds one invocation; the instance is killed when it passes.
	Timeout time.Duration
	// MemoryMB is reported as AWS_LAMBDA_FUNCTION_MEMORY_SIZE; it is not enforced.
	MemoryMB int
	// MaxInstances caps concurrent instances; at the cap an invocation waits
	// for an instance to become free, unless Reserved.
	MaxInstances int
	// Reserved says MaxInstances is the function's ReservedConcurrentExecutions:
	// at the cap an invocation is throttled at once, as Lambda does, with a
	// TooManyRequestsException (Invoke's 429) instead of waiting.
	Reserved bool
	// InitTimeout bounds how long a new instance may take to ask for its first
	// invocation (Lambda's init phase is limited to 10 s). 0 means 10 s.
	InitTimeout time.Duration
	// Output receives the instances' stdout and stderr, line by line, each line
	// prefixed with "[name#n] ". It must be safe for concurrent use.
	Output io.Writer
	// OnRefuse, when set, hears of every request a Runtime API refused
	// (one from a web page, or with a foreign Host).
	OnRefuse func(loopback.Refusal)
}

// Error is a failed invocation: the error the function reported, or a
// platform failure (timeout, crash, init error) in the shape Lambda reports it.
type Error struct {
	Type    string `json:"errorType"`
	Message string `json:"errorMessage"`
}

// ErrorMessage is the message alone: API Gateway refuses a connection with 401
// when an authorizer fails with exactly "Unauthorized".
func (e *Error) ErrorMessage() string { return e.Message }

func (e *Error) Error() string {
	if e.Type == "" {
		return e.Message
	}
	return e.Type + ": " + e.Message
}

// Error types of platform failures, as Lambda names them.
const (
	ErrorTypeTimeout  = "Sandbox.Timedout"
	ErrorTypeExit     = "Runtime.ExitError"
	ErrorTypeInit     = "Runtime.InitError"
	ErrorTypeTooLarge = "Function.ResponseSizeTooLarge"
	// ErrorTypeThrottled is Invoke's 429 when reserved concurrency is exhausted.
	ErrorTypeThrottled = "TooManyRequestsException"
)

// Throttled reports whether the invocation was refused for lack of
// concurrency rather than run and failed.
func (e *Error) Throttled() bool { return e.Type == ErrorTypeThrottled }

// errExited stands for a failed invocation in the usage counters.
var errExited = errors.New("instance failed")

// maxPayload is Lambda's 6 MB limit on a synchronous response.
const maxPayload = 6 * 1024 * 1024

// Function runs the instances of one function. Its methods are safe for
// concurrent use.
//
// Swap replaces the configuration (a new build, environment or timeout):
// new invocations start instances of the new one, idle instances of the old
// one are stopped, and busy ones finish their invocation on the old one and
// are stopped then, as Lambda does when a function's code is updated.
type Function struct {
	mu     sync.Mutex
	cfg    Config
	gen    int           // configuration generation, raised by Swap
	slots  chan struct{} // one token per running invocation
	idle   []*instance
	all    map[*instance]struct{}
	seq    int
	closed bool
	usage  usage
}

// New returns a Function that starts no process until the first Invoke.
func New(cfg Config) *Function {
	cfg = withDefaults(cfg)
	return &Function{
		cfg:   cfg,
		slots: make(chan struct{}, cfg.MaxInstances),
		all:   map[*instance]struct{}{},
	}
}

// Swap makes cfg the function's configuration for every later invocation.
// In-flight invocations finish on the instances that run them, which are
// then stopped; idle instances of the old configuration are stopped now.
func (f *Function) Swap(cfg Config) {
	cfg = withDefaults(cfg)
	f.mu.Lock()
	if cfg.MaxInstances != f.cfg.MaxInstances {
		// In-flight invocations give their token back to the channel they
		// took it from, so a new cap starts with a new channel.
		f.slots = make(chan struct{}, cfg.MaxInstances)
	}
	f.cfg = cfg
	f.gen++
	idle := f.idle
	f.idle = nil
	for _, inst := range idle {
		delete(f.all, inst)
	}
	f.mu.Unlock()
	for _, inst := range idle {
		inst.kill()
	}
}

// current returns the configuration and slot channel for a new invocation.
func (f *Function) current() (Config, chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cfg, f.slots
}

func withDefaults(cfg Config) Config {
	if cfg.MaxInstances < 1 {
		cfg.MaxInstances = 1
	}
	if cfg.InitTimeout <= 0 {
		cfg.InitTimeout = 10 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 3 * time.Second
	}
	if cfg.Output == nil {
		cfg.Output = io.Discard
	}
	return cfg
}

// Name is the function's name.
func (f *Function) Name() string {
	cfg, _ := f.current()
	return cfg.Name
}

// Invoke runs one invocation with the JSON payload and returns the function's
// JSON response. A function error, timeout or crash returns an *Error. ctx only
// bounds the wait for a free instance: once handed to an instance, the
// invocation runs to completion or to the function's timeout, as on Lambda.
func (f *Function) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	cfg, slots := f.current()
	if cfg.Reserved {
		select {
		case slots <- struct{}{}:
		default:
			// Lambda's message and reason for exactly this case.
			return nil, &Error{Type: ErrorTypeThrottled, Message: "Rate Exceeded. (ReservedFunctionConcurrentInvocationLimitExceeded)"}
		}
		return f.run(ctx, slots, payload)
	}
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("invoke %s: wait for a free instance: %w", cfg.Name, ctx.Err())
	}
	return f.run(ctx, slots, payload)
}

// run runs one invocation in a free or new instance; the caller holds a slot
// of slots, which run gives back.
func (f *Function) run(ctx context.Context, slots chan struct{}, payload []byte) ([]byte, error) {
	defer func() { <-slots }()

	inst, fresh, err := f.acquire()
	if err != nil {
		return nil, err
	}
	body, healthy, err := inst.invoke(ctx, payload, fresh)
	if healthy {
		f.release(inst)
	} else {
		f.discard(inst)
	}
	return body, err
}

// Close kills every instance and waits for them to exit. Later invocations fail.
func (f *Function) Close() error {
	f.mu.Lock()
	f.closed = true
	insts := make([]*instance, 0, len(f.all))
	for inst := range f.all {
		insts = append(insts, inst)
	}
	f.idle = nil
	f.mu.Unlock()

	var errs []error
	for _, inst := range insts {
		inst.kill()
	}
	for _, inst := range insts {
		select {
		case <-inst.exited:
		case <-time.After(5 * time.Second):
			errs = append(errs, fmt.Errorf("stop %s: process %d did not exit", inst.label, inst.cmd.Process.Pid))
		}
	}
	return errors.Join(errs...)
}

// Instances reports how many instances are alive (busy or idle).
func (f *Function) Instances() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for inst := range f.all {
		if !inst.dead() {
			n++
		}
	}
	return n
}

func (f *Function) acquire() (*instance, bool, error) {
	f.mu.Lock()
	for len(f.idle) > 0 {
		inst := f.idle[len(f.idle)-1]
		f.idle = f.idle[:len(f.idle)-1]
		if !inst.dead() {
			f.mu.Unlock()
			return inst, false, nil
		}
		delete(f.all, inst)
	}
	if f.closed {
		f.mu.Unlock()
		return nil, false, fmt.Errorf("invoke %s: emulator is shutting down", f.cfg.Name)
	}
	f.seq++
	num, cfg, gen := f.seq, f.cfg, f.gen
	f.mu.Unlock()

	inst, err := f.start(num, cfg, gen)
	if err != nil {
		return nil, false, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		inst.kill()
		return nil, false, fmt.Errorf("invoke %s: emulator is shutting down", cfg.Name)
	}
	f.all[inst] = struct{}{}
	return inst, true, nil
}

func (f *Function) release(inst *instance) {
	f.mu.Lock()
	if inst.gen != f.gen && !f.closed {
		// Swapped while it ran: its invocation is done, so it goes.
		delete(f.all, inst)
		f.mu.Unlock()
		inst.kill()
		return
	}
	defer f.mu.Unlock()
	if f.closed || inst.dead() {
		return
	}
	f.idle = append(f.idle, inst)
}

func (f *Function) discard(inst *instance) {
	inst.kill()
	f.mu.Lock()
	delete(f.all, inst)
	f.mu.Unlock()
}

// instance is one process and the Runtime API server it talks to.
type instance struct {
	f       *Function
	cfg     Config // the configuration it was started with
	gen     int
	label   string
	started time.Time // process start, for the init duration
	cmd     *exec.Cmd
	srv     *http.Server
	out     *PrefixWriter
	tail    *tailWriter      // the last lines it printed, for the error of a failed init or crash
	queue   chan *invocation // unbuffered: a send completes when /next takes it
	exited  chan struct{}    // closed when the process has exited

	mu      sync.Mutex
	current *invocation
	initErr *Error
	waitErr error
}

type invocation struct {
	id      string
	payload []byte
	done    chan result // buffered 1: the first answer wins
}

type result struct {
	body []byte
	err  error
}

func (f *Function) start(num int, cfg Config, gen int) (*instance, error) {
	inst := &instance{
		f:      f,
		cfg:    cfg,
		gen:    gen,
		label:  cfg.Name + "#" + strconv.Itoa(num),
		queue:  make(chan *invocation),
		exited: make(chan struct{}),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start %s: runtime API listener: %w", inst.label, err)
	}
	// The Runtime API hands out events (tokens in the authorizer's) and
	// takes results: only the instance's own process may use it, never a
	// web page (see internal/loopback).
	handler := loopback.ToolsOnly("the Runtime API of "+inst.label, loopback.LocalHosts(ln.Addr().String()), inst.routes(), cfg.OnRefuse)
	inst.srv = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = inst.srv.Serve(ln) }()

	inst.out = NewPrefixWriter(cfg.Output, "["+inst.label+"] ")
	cmd := exec.Command(cfg.Bootstrap)
	cmd.Dir = filepath.Dir(cfg.Bootstrap)
	cmd.Env = environ(cfg, ln.Addr().String())
	inst.tail = &tailWriter{}
	cmd.Stdout = io.MultiWriter(inst.out, inst.tail, &f.usage)
	cmd.Stderr = cmd.Stdout
	cmd.SysProcAttr = sysProcAttr()
	// A grandchild holding the output pipe must not keep Wait from returning.
	cmd.WaitDelay = time.Second
	inst.started = time.Now()
	if err := cmd.Start(); err != nil {
		_ = inst.srv.Close()
		return nil, fmt.Errorf("start %s: %w", inst.label, err)
	}
	inst.cmd = cmd
	go func() {
		err := cmd.Wait()
		killGroup(cmd) // anything it left behind
		inst.mu.Lock()
		inst.waitErr = err
		inst.mu.Unlock()
		inst.out.Flush()
		close(inst.exited)
		_ = inst.srv.Close()
	}()
	return inst, nil
}

// environ is the process environment: the function's variables, then the
// platform's reserved ones.
func environ(cfg Config, runtimeAPI string) []string {
	env := map[string]string{}
	for k, v := range cfg.Env {
		env[k] = v
	}
	dir := filepath.Dir(cfg.Bootstrap)
	for k, v := range map[string]string{
		"AWS_LAMBDA_RUNTIME_API":          runtimeAPI,
		"AWS_LAMBDA_FUNCTION_NAME":        cfg.Name,
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(cfg.MemoryMB),
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + cfg.Name,
		"AWS_LAMBDA_LOG_STREAM_NAME":      "local/[$LATEST]" + newID(),
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"AWS_EXECUTION_ENV":               "AWS_Lambda_provided.al2023",
		"_HANDLER":                        "bootstrap",
		"LAMBDA_TASK_ROOT":                dir,
		"LAMBDA_RUNTIME_DIR":              dir,
		"PATH":                            "/usr/local/bin:/usr/bin:/bin",
		"LANG":                            "en_US.UTF-8",
		"TZ":                              ":UTC",
	} {
		env[k] = v
	}
	list := make([]string, 0, len(env))
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	sort.Strings(list)
	return list
}

func (inst *instance) dead() bool {
	select {
	case <-inst.exited:
		return true
	default:
		return false
	}
}

func (inst *instance) kill() {
	if inst.cmd != nil {
		killGroup(inst.cmd)
	}
}

// invoke hands the payload to the instance and waits for its answer. healthy
// reports whether the instance can take another invocation.
func (inst *instance) invoke(ctx context.Context, payload []byte, fresh bool) (body []byte, healthy bool, err error) {
	inv := &invocation{id: newRequestID(), payload: payload, done: make(chan result, 1)}
	wait := inst.cfg.InitTimeout
	if !fresh {
		wait = inst.cfg.Timeout
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case inst.queue <- inv:
	case <-inst.exited:
		return nil, false, inst.exitError(inv.id)
	case <-timer.C:
		return nil, false, &Error{Type: ErrorTypeInit, Message: fmt.Sprintf("RequestId: %s Error: instance %s did not ask for an invocation within %s", inv.id, inst.label, wait)}
	case <-ctx.Done():
		return nil, true, fmt.Errorf("invoke %s: %w", inst.cfg.Name, ctx.Err())
	}
	timer.Reset(inst.cfg.Timeout)
	began := time.Now()
	if fresh {
		inst.f.usage.initialized(began.Sub(inst.started))
	}
	select {
	case r := <-inv.done:
		inst.setCurrent(nil)
		inst.f.usage.invoked(time.Since(began), r.err)
		return r.body, true, r.err
	case <-inst.exited:
		inst.f.usage.invoked(time.Since(began), errExited)
		return nil, false, inst.exitError(inv.id)
	case <-timer.C:
		inst.f.usage.invoked(time.Since(began), errExited)
		inst.kill()
		fmt.Fprintf(inst.out, "RequestId: %s Task timed out after %.2f seconds\n", inv.id, inst.cfg.Timeout.Seconds())
		inst.out.Flush()
		return nil, false, &Error{Type: ErrorTypeTimeout, Message: fmt.Sprintf("RequestId: %s Error: Task timed out after %.2f seconds", inv.id, inst.cfg.Timeout.Seconds())}
	}
}

func (inst *instance) exitError(requestID string) error {
	inst.mu.Lock()
	defer inst.mu.Unlock()
	// What the process printed last is most often why it failed (a missing
	// variable, a panic in init): it goes into the one error line.
	printed := ""
	if t := inst.tail.String(); t != "" {
		printed = "; its last output: " + t
	}
	if inst.initErr != nil {
		return &Error{Type: ErrorTypeInit, Message: fmt.Sprintf("RequestId: %s Error: %s%s", requestID, inst.initErr.Error(), printed)}
	}
	return &Error{Type: ErrorTypeExit, Message: fmt.Sprintf("RequestId: %s Error: Runtime exited with error: %v%s", requestID, inst.waitErr, printed)}
}

func (inst *instance) setCurrent(inv *invocation) {
	inst.mu.Lock()
	inst.current = inv
	inst.mu.Unlock()
}

// complete delivers the answer to invocation id; false if it is not the
// instance's current invocation.
func (inst *instance) complete(id string, r result) bool {
	inst.mu.Lock()
	inv := inst.current
	inst.mu.Unlock()
	if inv == nil || inv.id != id {
		return false
	}
	select {
	case inv.done <- r:
	default:
	}
	return true
}

const runtimePrefix = "/2018-06-01/runtime"

func (inst *instance) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+runtimePrefix+"/invocation/next", inst.next)
	mux.HandleFunc("POST "+runtimePrefix+"/invocation/{id}/response", inst.response)
	mux.HandleFunc("POST "+runtimePrefix+"/invocation/{id}/error", inst.invocationError)
	mux.HandleFunc("POST "+runtimePrefix+"/init/error", inst.initError)
	return mux
}

// next blocks until the instance is handed an invocation.
func (inst *instance) next(w http.ResponseWriter, r *http.Request) {
	select {
	case inv := <-inst.queue:
		inst.setCurrent(inv)
		deadline := time.Now().Add(inst.cfg.Timeout)
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
		h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(deadline.UnixMilli(), 10))
		h.Set("Lambda-Runtime-Invoked-Function-Arn", inst.cfg.ARN)
		h.Set("Lambda-Runtime-Trace-Id", traceID())
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(inv.payload)
	case <-r.Context().Done():
	case <-inst.exited:
	}
}

func (inst *instance) response(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPayload+1))
	if err != nil {
		runtimeError(w, http.StatusBadRequest, "InvalidRequest", "read response: "+err.Error())
		return
	}
	res := result{body: body}
	switch {
	case len(body) > maxPayload:
		res = result{err: &Error{Type: ErrorTypeTooLarge, Message: fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", maxPayload)}}
	case r.Trailer.Get("Lambda-Runtime-Function-Error-Type") != "":
		// A streamed response that failed midway reports its error in trailers.
		res = result{err: &Error{Type: r.Trailer.Get("Lambda-Runtime-Function-Error-Type"), Message: r.Trailer.Get("Lambda-Runtime-Function-Error-Body")}}
	}
	if !inst.complete(r.PathValue("id"), res) {
		runtimeError(w, http.StatusBadRequest, "InvalidRequestID", "Invalid request ID")
		return
	}
	accepted(w)
}

func (inst *instance) invocationError(w http.ResponseWriter, r *http.Request) {
	e := readError(r)
	if !inst.complete(r.PathValue("id"), result{err: e}) {
		runtimeError(w, http.StatusBadRequest, "InvalidRequestID", "Invalid request ID")
		return
	}
	accepted(w)
}

func (inst *instance) initError(w http.ResponseWriter, r *http.Request) {
	e := readError(r)
	inst.mu.Lock()
	inst.initErr = e
	inst.mu.Unlock()
	accepted(w)
}

func readError(r *http.Request) *Error {
	var e Error
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxPayload))
	if json.Unmarshal(body, &e) != nil || (e.Type == "" && e.Message == "") {
		e = Error{Message: string(body)}
	}
	if e.Type == "" {
		e.Type = r.Header.Get("Lambda-Runtime-Function-Error-Type")
	}
	return &e
}

func accepted(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, `{"status":"OK"}`)
}

func runtimeError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Error{Type: typ, Message: msg})
}

// newRequestID returns a random UUID (version 4), the shape of Lambda's request ids.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// traceID is an X-Ray trace header with sampling off.
func traceID() string {
	id := newID()
	return fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=0", time.Now().Unix(), id[:24], id[:16])
}
