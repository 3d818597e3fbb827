package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/wschat/wschat/internal/loopback"
	"github.com/wschat/wschat/internal/template"
	"github.com/wschat/wschat/local/lambda"
)

const invokeUsage = `Usage: go run ./local invoke FUNCTION --event FILE|- [flags]

Runs one function of the template once, as the emulator runs it: the same
host build, environment (the template's, the local issuer's, --function-env),
DynamoDB (dynalite with the template's tables, or --dynamodb-endpoint to use
a running emulator's) and timeout. FUNCTION is its label (chat, connect, ...)
or logical id. The response goes to stdout; the function's logs, the
@connections posts it makes and the duration go to stderr. A function error
(or timeout, or crash) prints Lambda's error document on stdout and exits 2.

Sample events for every route: local/testdata/events/ (make invoke FN=chat EVENT=local/testdata/events/ping.json).

Flags:
`

// exitFunctionError is the exit status of an invoke whose function failed,
// apart from 1 (the invoke itself could not run).
const exitFunctionError = 2

// functionError is an invocation that ran and failed.
type functionError struct{ err error }

func (f *functionError) Error() string { return "function error: " + f.err.Error() }
func (f *functionError) Unwrap() error { return f.err }

// runInvoke is `local invoke`: one invocation of one function.
func runInvoke(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	var name, eventPath string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	cfg, rest, err := parseFlagsFor("local invoke", invokeUsage, args, getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&eventPath, "event", "", "the event: a JSON file, or - for stdin (required)")
	})
	if err != nil {
		return err
	}
	if name == "" && len(rest) > 0 {
		name, rest = rest[0], rest[1:]
	}
	switch {
	case len(rest) > 0:
		return fmt.Errorf("invoke: unexpected argument %q", rest[0])
	case name == "":
		return errors.New("invoke: name the function: go run ./local invoke FUNCTION --event FILE")
	case eventPath == "":
		return errors.New("invoke: --event FILE (or - for stdin) is required; samples are in local/testdata/events/")
	}
	event, err := readEvent(eventPath, stdin)
	if err != nil {
		return err
	}
	e := &session{cfg: cfg, out: newLockedWriter(stderr)}
	e.refusals = loopback.NewLimiter(func(line string) { e.out.printf("[guard] %s", line) })
	if err := e.checkTemplate(); err != nil {
		return err
	}
	// Its own free port: the callback URL and issuer the function sees point
	// here, so it can run beside `make dev` on 3001.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	e.endpoint = ln.Addr().String()
	defer e.stopAll()
	return e.invokeOnce(ctx, ln, name, event, stdout)
}

// invokeOnce prepares the one function and what it calls (DynamoDB, the
// issuer, a recording @connections endpoint), then invokes it.
func (e *session) invokeOnce(ctx context.Context, ln net.Listener, name string, event []byte, stdout io.Writer) error {
	if err := e.loadStack(); err != nil {
		return err
	}
	f, err := findFunction(e.stack.Functions, name)
	if err != nil {
		return fmt.Errorf("invoke: %w", err)
	}
	if err := e.startDynamo(ctx); err != nil {
		return err
	}
	// The queues are served (a send succeeds), but no mapping runs: this
	// invoke is the one invocation.
	if err := e.startQueues(); err != nil {
		return err
	}
	// EventBridge and Secrets Manager are served too (the events and
	// webhooks functions call them); rules deliver to queues only, since
	// no other function runs.
	if err := e.startServices(); err != nil {
		return err
	}
	e.cleanups = append(e.cleanups, func() { e.services.close() })
	if err := e.startFunctions(ctx, []*template.Function{f}); err != nil {
		return err
	}
	if err := e.syncIntegrations(e.stack, e.functions); err != nil {
		return err
	}
	// The same guard as the emulator's port; no secret: nothing mints here.
	door := newFrontDoor(e.endpoint, e.cfg.allowHosts, e.cfg.allowOrigins, "", e.refusals.Log, e.invokeMux())
	srv := &http.Server{Handler: door, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	start := time.Now()
	out, err := e.functions[f].Invoke(ctx, event)
	took := time.Since(start)
	var lerr *lambda.Error
	if errors.As(err, &lerr) {
		doc, _ := json.Marshal(lerr)
		fmt.Fprintf(stdout, "%s\n", doc)
		e.out.printf("REPORT %s Duration: %.2f ms (timeout %s) FAILED %s", f.Label, float64(took.Microseconds())/1000, f.Timeout, lerr.Type)
		return &functionError{err: lerr}
	}
	if err != nil {
		return fmt.Errorf("invoke %s: %w", f.Label, err)
	}
	fmt.Fprintf(stdout, "%s\n", out)
	e.out.printf("REPORT %s Duration: %.2f ms (timeout %s)", f.Label, float64(took.Microseconds())/1000, f.Timeout)
	return nil
}

// invokeMux serves the issuer (the authorizer fetches its keys) and an
// @connections API that records each call on stderr and accepts it: the
// sample event's connection stands for a client that is there.
func (e *session) invokeMux() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(issuerPath+"/", http.StripPrefix(issuerPath, e.issuer.Handler()))
	prefix := "/" + e.stack.Stage + "/@connections/{id}"
	mux.HandleFunc("POST "+prefix, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 128*1024))
		e.out.printf("[@connections] POST %s %s", r.PathValue("id"), body)
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("DELETE "+prefix, func(w http.ResponseWriter, r *http.Request) {
		e.out.printf("[@connections] DELETE %s", r.PathValue("id"))
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET "+prefix, func(w http.ResponseWriter, r *http.Request) {
		e.out.printf("[@connections] GET %s", r.PathValue("id"))
		w.Header().Set("Content-Type", "application/json")
		now := time.Now().UTC().Format(time.RFC3339)
		fmt.Fprintf(w, `{"connectedAt":%q,"lastActiveAt":%q,"identity":{"sourceIp":"127.0.0.1"}}`, now, now)
	})
	return mux
}

// readEvent reads the event from path ("-": stdin) and insists on JSON.
func readEvent(path string, stdin io.Reader) ([]byte, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(io.LimitReader(stdin, 6*1024*1024+1))
		path = "stdin"
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("invoke: read the event: %w", err)
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil, fmt.Errorf("invoke: the event in %s is empty", path)
	}
	if !json.Valid(data) {
		var v any
		err := json.Unmarshal(data, &v)
		return nil, fmt.Errorf("invoke: the event in %s is not JSON: %v", path, err)
	}
	return data, nil
}
