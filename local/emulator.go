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
	"time"

	"wschat/internal/contract"
	"wschat/internal/dynalite"
	"wschat/local/gateway"
	"wschat/local/lambda"
	"wschat/local/template"
)

// run starts the emulator and serves until ctx ends, then stops every
// process it started.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	cfg, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	out := newLockedWriter(stdout)

	if err := template.CheckFresh(cfg.template, cfg.root); err != nil {
		var stale *template.StaleError
		switch {
		case errors.Is(err, template.ErrMissing):
			return fmt.Errorf("%w: run make synth ENV=%s (or pass --template)", err, cfg.env)
		case errors.As(err, &stale) && !cfg.allowStale:
			return fmt.Errorf("%w: run make synth ENV=%s, or pass --allow-stale", err, cfg.env)
		case errors.As(err, &stale):
			out.printf("warning: %v (--allow-stale)", err)
		default:
			return err
		}
	}

	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.port)))
	if err != nil {
		return fmt.Errorf("listen on 127.0.0.1:%d: %w (pass --port)", cfg.port, err)
	}
	defer ln.Close()
	endpoint := ln.Addr().String()

	stack, err := template.Load(cfg.template, template.Options{Region: cfg.region, Endpoint: endpoint, GoPackageKey: contract.MetadataGoPackage})
	if err != nil {
		return err
	}
	for _, w := range stack.Warnings {
		out.printf("warning: %s", w)
	}

	// Everything started from here on is stopped in reverse order.
	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()

	issuer, err := startIssuer(cfg, endpoint)
	if err != nil {
		return err
	}
	if err := applyIssuer(stack, issuer); err != nil {
		return err
	}

	dynamoEndpoint := cfg.dynamoEndpoint
	dynamoDesc := dynamoEndpoint
	if dynamoEndpoint == "" && len(stack.Tables) == 0 {
		dynamoDesc = "not started: the template has no tables"
	} else if dynamoEndpoint == "" {
		startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		db, err := dynalite.Start(startCtx, dynalite.Options{
			Bin:     cfg.dynaliteBin,
			DataDir: cfg.data,
			Stdout:  lambda.NewPrefixWriter(out, "[dynalite] "),
			Stderr:  lambda.NewPrefixWriter(out, "[dynalite] "),
		})
		cancel()
		if err != nil {
			return err
		}
		cleanups = append(cleanups, func() {
			if err := db.Close(); err != nil {
				out.printf("stop dynalite: %v", err)
			}
		})
		dynamoEndpoint = db.Endpoint()
		dynamoDesc = dynamoEndpoint + " (dynalite, in memory)"
		if cfg.data != "" {
			dynamoDesc = dynamoEndpoint + " (dynalite, data in " + cfg.data + ")"
		}
	}
	if len(stack.Tables) > 0 {
		if err := createTables(ctx, dynamoEndpoint, cfg.region, stack.Tables, out); err != nil {
			return err
		}
	}

	buildDir, err := os.MkdirTemp("", "wschat-local-")
	if err != nil {
		return err
	}
	cleanups = append(cleanups, func() { _ = os.RemoveAll(buildDir) })
	bootstraps, err := prepareFunctions(ctx, cfg, stack.Functions, buildDir, out)
	if err != nil {
		return err
	}

	functions := map[*template.Function]*lambda.Function{}
	for _, f := range stack.Functions {
		max := cfg.maxInstances
		if f.ReservedConcurrency > 0 {
			max = f.ReservedConcurrency
		}
		env := map[string]string{
			"AWS_REGION":                cfg.region,
			"AWS_DEFAULT_REGION":        cfg.region,
			"AWS_ACCESS_KEY_ID":         "local",
			"AWS_SECRET_ACCESS_KEY":     "local",
			"AWS_EC2_METADATA_DISABLED": "true",
		}
		if dynamoEndpoint != "" {
			env["AWS_ENDPOINT_URL_DYNAMODB"] = dynamoEndpoint
		}
		for k, v := range f.Env {
			env[k] = v
		}
		functions[f] = lambda.New(lambda.Config{
			Name:         f.Label,
			ARN:          f.ARN,
			Bootstrap:    bootstraps[f],
			Env:          env,
			Timeout:      f.Timeout,
			MemoryMB:     f.MemoryMB,
			MaxInstances: max,
			Output:       out,
		})
	}
	cleanups = append(cleanups, func() {
		for _, fn := range functions {
			if err := fn.Close(); err != nil {
				out.printf("%v", err)
			}
		}
	})

	expr, err := gateway.ParseExpression(stack.API.RouteSelectionExpression)
	if err != nil {
		return fmt.Errorf("%s (AWS::ApiGatewayV2::Api) property RouteSelectionExpression: %w", stack.API.LogicalID, err)
	}
	routes := map[string]*gateway.Route{}
	for _, r := range stack.Routes {
		route := &gateway.Route{Key: r.Key, TwoWay: r.TwoWay}
		if r.Function != nil {
			route.Integration = functions[r.Function]
		}
		if a := r.Authorizer; a != nil {
			route.Authorizer = &gateway.Authorizer{Name: a.Name, Function: functions[a.Function], IdentitySources: a.IdentitySources}
		}
		routes[r.Key] = route
	}
	gw := gateway.New(gateway.Config{
		APIID:       stack.API.ID,
		Stage:       stack.Stage,
		Region:      cfg.region,
		Expression:  expr,
		Routes:      routes,
		IdleTimeout: cfg.idleTimeout,
		MaxDuration: cfg.maxConnection,
		PostLatency: cfg.postLatency,
		Log:         slog.New(slog.NewTextHandler(lambda.NewPrefixWriter(out, "[gateway] "), &slog.HandlerOptions{ReplaceAttr: dropTime})),
	})

	mux := http.NewServeMux()
	gwHandler := gw.Handler()
	mux.Handle("/"+stack.Stage, gwHandler)
	mux.Handle("/"+stack.Stage+"/", gwHandler)
	mux.Handle(issuerPath+"/", http.StripPrefix(issuerPath, issuer.Handler()))
	mountPage(mux, pageConfig{
		WebSocketURL: "ws://" + endpoint + "/" + stack.Stage,
		TokenURL:     issuerPath + "/token",
		Stage:        stack.Stage,
		Environment:  cfg.env,
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	cleanups = append(cleanups, func() {
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
		if err := gw.Close(shutdownCtx); err != nil {
			out.printf("%v", err)
		}
	})

	out.printf(`
wschat local emulator: %s (stage %s, %d routes, %d functions)
  WebSocket   ws://%s/%s
  chat page   http://%s/
  callback    http://%s/%s/@connections/{connectionId}
  issuer      http://%s%s  (tokens: make token USER=ann)
  DynamoDB    %s
Ctrl-C stops everything.
`, stack.Path, stack.Stage, len(stack.Routes), len(stack.Functions),
		endpoint, stack.Stage, endpoint, endpoint, stack.Stage, endpoint, issuerPath, dynamoDesc)

	select {
	case <-ctx.Done():
		out.printf("stopping")
		return nil
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	}
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
