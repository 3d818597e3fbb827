package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/dynalite"
	"github.com/wschat/wschat/internal/localissuer"
	"github.com/wschat/wschat/internal/loopback"
	"github.com/wschat/wschat/internal/template"
	"github.com/wschat/wschat/local/gateway"
	"github.com/wschat/wschat/local/lambda"
	"github.com/wschat/wschat/local/lambdaenv"
)

// run starts the emulator and serves until ctx ends, then stops every
// process it started.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	e := &session{cfg: cfg, out: newLockedWriter(stdout)}
	if err := e.checkTemplate(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.port)))
	if err != nil {
		return listenError("--port", cfg.port, err)
	}
	defer ln.Close()
	e.endpoint = ln.Addr().String()
	// Everything started from here on is stopped in reverse order.
	defer e.stopAll()
	if err := e.makeSecret(); err != nil {
		return err
	}
	// --watch compares with the sources as they were before the build, so an
	// edit made while the functions build (or before the watcher is up) is
	// not missed.
	var before snapshot
	if cfg.watch {
		if before, err = scanSources(cfg.root, cfg.template); err != nil {
			return fmt.Errorf("--watch: %w", err)
		}
	}
	if err := e.start(ctx); err != nil {
		return err
	}
	serveErr := e.serve(ln)
	if err := localissuer.WriteSecret(e.secretFile, e.secret); err != nil {
		return err
	}
	e.cleanups = append(e.cleanups, func() { _ = os.Remove(e.secretFile) })
	// The ready file comes before the banner, so whoever reads either finds both.
	if cfg.readyFile != "" {
		if err := writeReadyFile(cfg.readyFile, e.readyDocument()); err != nil {
			return err
		}
		e.cleanups = append(e.cleanups, func() { _ = os.Remove(cfg.readyFile) })
	}
	e.banner()
	if cfg.watch {
		watchCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go e.watch(watchCtx, before, done)
		// Cleanups run in reverse: the watcher stops before what it swaps.
		e.cleanups = append(e.cleanups, func() { cancel(); <-done })
	}
	select {
	case <-ctx.Done():
		e.out.printf("stopping")
		return nil
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	}
}

// session is one run: the parsed template and what was started for it.
type session struct {
	cfg      *config
	out      *lockedWriter
	endpoint string // host:port of the API, issuer and page
	stack    *template.Stack
	issuer   localIssuer
	// secret is this run's issuer secret (see localissuer.SecretFile),
	// written to secretFile once the port serves.
	secret, secretFile string
	refusals           *loopback.Limiter

	dynamoEndpoint string
	dynamoDesc     string     // for the banner
	sqs            *sqsServer // nil: the template has no queues
	services       *services  // Lambda Invoke, EventBridge, Secrets Manager
	streams        *streams   // nil: no table has a stream
	functions      map[*template.Function]*lambda.Function
	functionsMu    sync.RWMutex // guards functions against a reload while /@admin/usage reads them
	buildDir       string       // where the functions' host builds are
	bootstraps     map[*template.Function]string
	gateway        *gateway.Gateway
	httpURLs       []string // base URLs of the template's HTTP APIs
	schedules      *scheduler
	cleanups       []func()
}

// makeSecret makes this run's issuer secret and the refusal log.
func (e *session) makeSecret() error {
	secret, err := localissuer.NewSecret()
	if err != nil {
		return err
	}
	e.secret, e.secretFile = secret, e.cfg.issuerSecretFile
	if e.secretFile == "" {
		port, _ := strconv.Atoi(portOf(e.endpoint))
		e.secretFile = localissuer.SecretFile(e.cfg.root, port)
	}
	e.refusals = loopback.NewLimiter(func(line string) { e.out.printf("[guard] %s", line) })
	return nil
}

func (e *session) stopAll() {
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		e.cleanups[i]()
	}
}

// checkTemplate refuses a missing template, and a stale one unless
// --allow-stale says to run it anyway.
func (e *session) checkTemplate() error {
	err := template.CheckFresh(e.cfg.template, e.cfg.root)
	if err == nil {
		return nil
	}
	var stale *template.StaleError
	synth := fmt.Sprintf("make synth ENV=%s", e.cfg.env)
	if e.cfg.goModule != e.cfg.root {
		// Another app's template (examples/shop): its own cdk synth.
		synth = "cdk synth in " + relTo(e.cfg.root, e.cfg.goModule)
	}
	switch {
	case errors.Is(err, template.ErrMissing):
		return fmt.Errorf("%w: run %s (or pass --template)", err, synth)
	case errors.As(err, &stale) && !e.cfg.allowStale:
		return fmt.Errorf("%w: run %s, or pass --allow-stale", err, synth)
	case errors.As(err, &stale):
		e.out.printf("warning: %v (--allow-stale)", err)
		return nil
	default:
		return err
	}
}

// start loads the template and starts, in order, the issuer, SQS and
// DynamoDB with the template's queues and tables, the functions, the gateway
// in front of them and the event source mappings that feed them.
func (e *session) start(ctx context.Context) error {
	if err := e.loadStack(); err != nil {
		return err
	}
	if err := e.startDynamo(ctx); err != nil {
		return err
	}
	if err := e.startQueues(); err != nil {
		return err
	}
	if err := e.startServices(); err != nil {
		return err
	}
	e.cleanups = append(e.cleanups, func() { e.services.close() })
	if err := e.startFunctions(ctx, e.stack.Functions); err != nil {
		return err
	}
	if err := e.newGateway(); err != nil {
		return err
	}
	// Registered here, so they run before the functions stop; a reload may
	// have started SQS since, which is why they look at e.sqs only then.
	e.cleanups = append(e.cleanups, func() {
		e.stopStreamMappings()
		if e.sqs != nil {
			e.sqs.stopMappings()
		}
		if e.schedules != nil {
			e.schedules.halt()
		}
	})
	if err := e.syncIntegrations(e.stack, e.functions); err != nil {
		return err
	}
	if _, _, err := e.syncStreamMappings(e.stack); err != nil {
		return err
	}
	e.startSchedules(e.stack, e.functions)
	if e.sqs == nil {
		return nil
	}
	_, _, err := e.sqs.syncMappings(e.stack, e.functions, e.cfg.region)
	return err
}

// startQueues declares the template's queues, if it has any.
func (e *session) startQueues() error {
	if e.sqs == nil {
		return nil
	}
	_, err := e.sqs.syncQueues(e.stack)
	return err
}

// loadStack loads the template, starts the issuer and resolves every
// function's environment: the template's, the local issuer's, the overrides.
// SQS, if the template has queues, is stopped by the cleanup registered
// here, after everything started later.
func (e *session) loadStack() error {
	e.cleanups = append(e.cleanups, func() {
		if e.sqs != nil {
			e.sqs.close()
		}
	})
	var err error
	if e.issuer, err = startIssuer(e.cfg, e.endpoint); err != nil {
		return err
	}
	e.stack, err = e.resolveStack()
	return err
}

// resolveStack loads the template and resolves every function's environment
// for the running issuer. The first template with queues starts the SQS
// server, whose address their URLs need, and is read again.
func (e *session) resolveStack() (*template.Stack, error) {
	stack, err := e.loadTemplate()
	if err != nil {
		return nil, err
	}
	if len(stack.Queues) > 0 && e.sqs == nil {
		if err := e.startSQS(); err != nil {
			return nil, err
		}
		if stack, err = e.loadTemplate(); err != nil {
			return nil, err
		}
	}
	for _, w := range stack.Warnings {
		e.out.printf("warning: %s", w)
	}
	// Overrides go first, so one can stand in for a variable the template
	// cannot resolve locally, and again after the issuer's, so they win.
	if err := applyEnvOverrides(stack.Functions, e.cfg.envOverrides); err != nil {
		return nil, err
	}
	if err := applyIssuer(stack, e.issuer); err != nil {
		return nil, err
	}
	if e.cfg.channelRate == "off" {
		for _, f := range stack.Functions {
			if _, ok := f.Env[contract.EnvChannelRate]; ok {
				f.Env[contract.EnvChannelRate] = "0"
			}
		}
	}
	_ = applyEnvOverrides(stack.Functions, e.cfg.envOverrides) // the names were checked just above
	return stack, nil
}

func (e *session) loadTemplate() (*template.Stack, error) {
	opts := template.Options{Region: e.cfg.region, Endpoint: e.endpoint, GoPackageKey: contract.MetadataGoPackage}
	if e.sqs != nil {
		opts.SQSEndpoint = e.sqs.endpoint
	}
	return template.Load(e.cfg.template, opts)
}

// startDynamo starts dynalite unless --dynamodb-endpoint names a server or
// the template has no tables, then creates the tables. When a table has a
// stream, the stream capture sees every write: inside dynalite's guard, or
// behind a guard of its own in front of --dynamodb-endpoint.
func (e *session) startDynamo(ctx context.Context) error {
	e.dynamoEndpoint, e.dynamoDesc = e.cfg.dynamoEndpoint, e.cfg.dynamoEndpoint
	if e.dynamoEndpoint == "" && len(e.stack.Tables) == 0 {
		e.dynamoDesc = "not started: the template has no tables"
		return nil
	}
	if err := e.newStreamCapture(); err != nil {
		return err
	}
	if e.dynamoEndpoint == "" {
		opts := dynalite.Options{
			Bin:      e.cfg.dynaliteBin,
			DataDir:  e.cfg.data,
			Stdout:   lambda.NewPrefixWriter(e.out, "[dynalite] "),
			Stderr:   lambda.NewPrefixWriter(e.out, "[dynalite] "),
			OnRefuse: e.refusals.Log,
		}
		if e.streams != nil {
			opts.Wrap = e.streams.capture.Wrap
		}
		startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		db, err := dynalite.Start(startCtx, opts)
		cancel()
		if err != nil {
			return err
		}
		e.cleanups = append(e.cleanups, func() {
			if err := db.Close(); err != nil {
				e.out.printf("stop dynalite: %v", err)
			}
		})
		e.dynamoEndpoint = db.Endpoint()
		e.dynamoDesc = e.dynamoEndpoint + " (dynalite, in memory)"
		if e.cfg.data != "" {
			e.dynamoDesc = e.dynamoEndpoint + " (dynalite, data in " + e.cfg.data + ")"
		}
		e.dynamoDesc += "\n              signed requests only; dynalite itself listens on " + db.Socket() + " (a Unix socket only you can open)"
		if e.streams != nil {
			e.dynamoDesc += "\n              table streams captured behind the guard"
		}
	} else if e.streams != nil {
		front, err := e.startCaptureFront(e.dynamoEndpoint)
		if err != nil {
			return err
		}
		e.dynamoDesc += " through " + front + " (signed requests only; table streams captured there)"
		e.dynamoEndpoint = front
	}
	if len(e.stack.Tables) == 0 {
		return nil
	}
	return createTables(ctx, e.dynamoEndpoint, e.cfg.region, e.stack.Tables, e.out)
}

// startFunctions builds each of fns for this host and sets it up behind
// the Runtime API; instances start on the first invocation.
func (e *session) startFunctions(ctx context.Context, fns []*template.Function) error {
	buildDir, err := os.MkdirTemp("", "wschat-local-")
	if err != nil {
		return err
	}
	e.buildDir = buildDir
	e.cleanups = append(e.cleanups, func() { _ = os.RemoveAll(buildDir) })
	bootstraps, err := prepareFunctions(ctx, e.cfg, fns, buildDir, e.out)
	if err != nil {
		return err
	}
	e.bootstraps = bootstraps
	e.functions = map[*template.Function]*lambda.Function{}
	for _, f := range fns {
		e.functions[f] = lambda.New(e.functionConfig(f, bootstraps[f]))
	}
	e.cleanups = append(e.cleanups, func() {
		for _, fn := range e.functions {
			if err := fn.Close(); err != nil {
				e.out.printf("%v", err)
			}
		}
	})
	return nil
}

// functionConfig is how f runs from the executable bootstrap.
func (e *session) functionConfig(f *template.Function, bootstrap string) lambda.Config {
	max := e.cfg.maxInstances
	if f.ReservedConcurrency > 0 {
		max = f.ReservedConcurrency
	}
	return lambda.Config{
		Name:         f.Label,
		ARN:          f.ARN,
		Bootstrap:    bootstrap,
		Env:          lambdaenv.WithEndpoints(e.cfg.region, e.localEndpoints(), f.Env),
		Timeout:      f.Timeout,
		MemoryMB:     f.MemoryMB,
		MaxInstances: max,
		Reserved:     f.ReservedConcurrency > 0,
		Output:       e.out,
		OnRefuse:     e.refusals.Log,
	}
}

// localEndpoints are the local services the functions' SDK clients use.
func (e *session) localEndpoints() lambdaenv.Endpoints {
	ep := lambdaenv.Endpoints{DynamoDB: e.dynamoEndpoint}
	if e.sqs != nil {
		ep.SQS = e.sqs.url()
	}
	if e.services != nil {
		ep.Lambda, ep.Events, ep.SecretsManager = e.services.url(), e.services.url(), e.services.url()
	}
	return ep
}

// newGateway puts the template's routes in front of the functions.
func (e *session) newGateway() error {
	expr, err := gateway.ParseExpression(e.stack.API.RouteSelectionExpression)
	if err != nil {
		return fmt.Errorf("%s (AWS::ApiGatewayV2::Api) property RouteSelectionExpression: %w", e.stack.API.LogicalID, err)
	}
	routes, err := e.routes(e.stack, e.functions)
	if err != nil {
		return err
	}
	e.gateway = gateway.New(gateway.Config{
		APIID:       e.stack.API.ID,
		Stage:       e.stack.Stage,
		Region:      e.cfg.region,
		Expression:  expr,
		Routes:      routes,
		IdleTimeout: e.cfg.idleTimeout,
		MaxDuration: e.cfg.maxConnection,
		PostLatency: e.cfg.postLatency,
		VanishGrace: e.cfg.vanishGrace,
		Throttle:    stageThrottle(e.cfg.stageThrottle, e.stack.Throttle),
		// The account's @connections rate, shared by every function.
		AccountLimit:       accountLimit(e.cfg.accountRate, e.cfg.accountBurst),
		VirtualConnections: e.cfg.virtualConns,
		Log:                slog.New(slog.NewTextHandler(lambda.NewPrefixWriter(e.out, "[gateway] "), &slog.HandlerOptions{ReplaceAttr: dropTime})),
	})
	return nil
}

// routes are stack's routes in front of fns; MOCK integrations are
// answered by the gateway from their templates.
func (e *session) routes(stack *template.Stack, fns map[*template.Function]*lambda.Function) (map[string]*gateway.Route, error) {
	routes := map[string]*gateway.Route{}
	for _, r := range stack.Routes {
		route := &gateway.Route{Key: r.Key, TwoWay: r.TwoWay}
		if r.Function != nil {
			route.Integration = fns[r.Function]
		}
		if m := r.Mock; m != nil {
			var specs []gateway.MockResponseSpec
			for _, resp := range m.Responses {
				specs = append(specs, gateway.MockResponseSpec{Key: resp.Key, TemplateKey: resp.TemplateKey, Templates: resp.Templates})
			}
			mock, err := gateway.NewMock(m.RequestKey, m.RequestTemplates, specs)
			if err != nil {
				return nil, fmt.Errorf("route %s: %w", r.Key, err)
			}
			route.Mock = mock
		}
		if a := r.Authorizer; a != nil {
			route.Authorizer = &gateway.Authorizer{Name: a.Name, Function: fns[a.Function], IdentitySources: a.IdentitySources}
		}
		routes[r.Key] = route
	}
	return routes, nil
}

// serve serves the stage, the issuer and the chat page on ln; the returned
// channel gets the server's error.
func (e *session) serve(ln net.Listener) <-chan error {
	stage := e.stack.Stage
	mux := http.NewServeMux()
	gwHandler := e.signedConnections(e.gateway.Handler())
	mux.Handle("/"+stage, gwHandler)
	mux.Handle("/"+stage+"/", gwHandler)
	mux.Handle(issuerPath+"/", http.StripPrefix(issuerPath, e.issuer.Handler()))
	// Signed like @connections; 404 without --virtual-connections.
	mux.Handle("/@admin/", e.signedAdmin(e.gateway.AdminHandler()))
	// Read-only counters for harnesses: tools only, never a web page.
	mux.Handle(UsagePath, loopback.ToolsOnly("usage", loopback.LocalHosts(e.endpoint, e.cfg.allowHosts...), http.HandlerFunc(e.handleUsage), e.refusals.Log))
	// Every event put on a bus, live, for make events: tools only, like
	// the counters (events carry message text where the stack allows it).
	mux.Handle("GET "+eventsTailPath, loopback.ToolsOnly("events", loopback.LocalHosts(e.endpoint, e.cfg.allowHosts...), e.services.router.TailHandler(), e.refusals.Log))
	e.httpURLs = e.mountHTTPAPIs(mux)
	mountPage(mux, pageConfig{
		WebSocketURL: "ws://" + e.endpoint + "/" + stage,
		TokenURL:     issuerPath + "/token",
		Stage:        stage,
		Environment:  e.cfg.env,
	})
	door := newFrontDoor(e.endpoint, e.cfg.allowHosts, e.cfg.allowOrigins, e.secret, e.refusals.Log, mux)
	srv := &http.Server{Handler: door, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	e.cleanups = append(e.cleanups, func() {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
		if err := e.gateway.Close(shutdownCtx); err != nil {
			e.out.printf("%v", err)
		}
	})
	return serveErr
}

// banner says where everything is, for people; scripts read --ready-file.
func (e *session) banner() {
	s, ep := e.stack, e.endpoint
	e.out.printf(`
wschat local emulator: %s (stage %s, %d routes, %d functions)
  WebSocket   ws://%s/%s
  chat page   http://%s/
  callback    http://%s/%s/@connections/{connectionId}
  issuer      http://%s%s  (tokens: make token PORT=%s TOKEN_USER=ann)
%s  DynamoDB    %s
%s%sCtrl-C stops everything.
`, s.Path, s.Stage, len(s.Routes), len(s.Functions),
		ep, s.Stage, ep, ep, s.Stage, ep, issuerPath, portOf(ep), e.httpBanner(), e.dynamoDesc, e.sqsBanner(),
		e.integrationsBanner()+scheduleBanner(s, e.cfg.scheduleInterval)+e.securityBanner())
}

// securityBanner says what listens where and what each listener refuses
// (docs/emulator.md, "Security of the local stack").
func (e *session) securityBanner() string {
	door := newFrontDoor(e.endpoint, e.cfg.allowHosts, e.cfg.allowOrigins, "", nil, nil)
	var b strings.Builder
	b.WriteString("  bound       every listener on 127.0.0.1 only: this port, the DynamoDB guard")
	if e.sqs != nil {
		b.WriteString(", SQS")
	}
	if e.services != nil {
		b.WriteString(", the services (Lambda, EventBridge, Secrets Manager)")
	}
	b.WriteString(", one Runtime API per function instance\n")
	fmt.Fprintf(&b, "  refused     a Host other than %s (DNS rebinding; --allow-host adds one)\n", strings.Join(door.hosts.List(), ", "))
	fmt.Fprintf(&b, "              an Origin other than this page's, WebSocket upgrades included (--allow-origin adds one)%s\n", listSuffix(door.foreign))
	fmt.Fprintf(&b, "              tokens for anyone but this page and tools with the run's secret (%s; make token sends it)\n", e.secretFile)
	b.WriteString("              unsigned @connections, HTTP API and /@admin calls (SigV4, the local credentials)\n")
	b.WriteString("              any request from a web page to DynamoDB, SQS, the services, the event tail or a Runtime API,\n" +
		"              and unsigned DynamoDB, SQS and services calls\n")
	return b.String()
}

func listSuffix(l []string) string {
	if len(l) == 0 {
		return ""
	}
	return ": " + strings.Join(l, ", ")
}

// sqsBanner adds the SQS server and virtual connections, when there are.
func (e *session) sqsBanner() string {
	var b strings.Builder
	if e.sqs != nil {
		b.WriteString(e.sqs.bannerLines(e.stack))
	}
	if e.cfg.virtualConns {
		fmt.Fprintf(&b, "  virtual     http://%s%s  (SigV4-signed; POST ?count=N registers connection ids; GET counts posts)\n", e.endpoint, gateway.VirtualPath)
	}
	return b.String()
}

func portOf(hostPort string) string {
	_, port, _ := net.SplitHostPort(hostPort)
	return port
}

func dropTime(_ []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

// applyIssuer points every function that verifies tokens at the local
// issuer. The template's issuer (a Cognito pool, say) cannot be reached from
// here and its references have no local value.
func applyIssuer(stack *template.Stack, iss localIssuer) error {
	authorizers := map[*template.Function]bool{}
	for _, r := range stack.Routes {
		if r.Authorizer != nil {
			authorizers[r.Authorizer.Function] = true
		}
	}
	for _, f := range stack.Functions {
		_, hasEnv := f.Env[contract.EnvAuthIssuer]
		_, hasErr := f.EnvErrors[contract.EnvAuthIssuer]
		if !authorizers[f] && !hasEnv && !hasErr {
			continue
		}
		overrides := map[string]string{
			contract.EnvAuthIssuer:    iss.URL(),
			contract.EnvAuthAudiences: iss.Audience(),
			contract.EnvAuthJWKSURL:   iss.JWKSURL(),
		}
		_, useEnv := f.Env[contract.EnvAuthTokenUse]
		_, useErr := f.EnvErrors[contract.EnvAuthTokenUse]
		if useEnv || useErr {
			overrides[contract.EnvAuthTokenUse] = iss.TokenUse()
		}
		for k, v := range overrides {
			f.Env[k] = v
			delete(f.EnvErrors, k)
		}
	}
	var errs []error
	for _, f := range stack.Functions {
		for _, k := range slices.Sorted(maps.Keys(f.EnvErrors)) {
			errs = append(errs, f.EnvErrors[k])
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("cannot resolve function environment locally:\n  %w", joinLines(errs))
	}
	return nil
}

type lineErrors []error

func (l lineErrors) Error() string {
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n  ")
}

func joinLines(errs []error) error { return lineErrors(errs) }
