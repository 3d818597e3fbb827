// Command local runs one environment's synthesized CloudFormation template on
// this machine: API Gateway's WebSocket side and @connections API, each Lambda
// function as a real process behind the Lambda Runtime API, DynamoDB as
// dynalite, a local token issuer for the authorizer, and a browser chat page.
//
//	go run ./local --env dev          # after `make synth ENV=dev`; or `make dev`
//	go run ./local --help
//
// See docs/emulator.md for what is emulated and how faithfully.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/wschat/wschat/internal/modroot"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if len(os.Args) > 1 && os.Args[1] == "invoke" {
		err = runInvoke(ctx, os.Args[2:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	} else {
		err = run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "local:", err)
		var fnErr *functionError
		if errors.As(err, &fnErr) {
			os.Exit(exitFunctionError)
		}
		os.Exit(1)
	}
}

// config holds the parsed flags.
type config struct {
	env              string
	template         string
	port             int
	region           string
	data             string
	dynamoEndpoint   string
	postLatency      time.Duration
	idleTimeout      time.Duration
	maxConnection    time.Duration
	maxInstances     int
	allowStale       bool
	issuerKey        string
	buildConcurrency int
	dynaliteBin      string
	root             string
	goModule         string
	stageThrottle    string
	vanishGrace      time.Duration
	readyFile        string
	envOverrides     []envOverride
	watch            bool
	watchInterval    time.Duration
	accountRate      float64
	accountBurst     int
	sqsPort          int
	servicesPort     int
	virtualConns     bool
	allowHosts       []string
	allowOrigins     []string
	issuerSecretFile string
	channelRate      string
	scheduleInterval time.Duration
}

const usageHead = `Usage: go run ./local [flags]

Runs the synthesized CloudFormation template of one environment on this
machine (127.0.0.1 only): the WebSocket API with its routes, authorizer and
@connections API; every Lambda function as a local process (Go functions are
rebuilt for this host from their source package); DynamoDB (dynalite) with
the template's tables; a local token issuer; and a chat page.

Synthesize first: make synth ENV=dev (or run everything with: make dev).
Mint a token for scripts: make token TOKEN_USER=ann (PORT=... for another port).

Flags:
`

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	c, rest, err := parseFlagsFor("local", usageHead, args, getenv, stderr, nil)
	if err != nil {
		return nil, err
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("unexpected argument %q (go run ./local --help)", rest[0])
	}
	return c, nil
}

// parseFlagsFor parses the emulator's flags, plus those extra adds, and
// returns the arguments after them.
func parseFlagsFor(name, usage string, args []string, getenv func(string) string, stderr io.Writer, extra func(*flag.FlagSet)) (*config, []string, error) {
	c := &config{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.env, "env", "dev", "environment whose template to run: cdk.out/WsChat-<env>.template.json")
	fs.StringVar(&c.template, "template", "", "template file to run (default: cdk.out/WsChat-<env>.template.json under the module root)")
	fs.StringVar(&c.goModule, "go-module", "", "directory of the go.mod that the Go functions are built from, as its go.mod resolves their packages (default: the module holding the template, else the working directory's)")
	fs.IntVar(&c.port, "port", 3001, "port on 127.0.0.1 for the WebSocket API, @connections API, issuer and chat page (0 picks a free one)")
	fs.StringVar(&c.region, "region", "us-east-1", "AWS::Region the template resolves to, and AWS_REGION of the functions")
	fs.StringVar(&c.data, "data", "", "directory where DynamoDB (dynalite) keeps its data (default: in memory, lost on exit)")
	fs.StringVar(&c.dynamoEndpoint, "dynamodb-endpoint", "", "use this DynamoDB endpoint instead of starting dynalite (tables are created if missing)")
	fs.DurationVar(&c.postLatency, "post-latency", 0, "added latency of each @connections call, to model AWS (about 20ms)")
	fs.DurationVar(&c.idleTimeout, "idle-timeout", 10*time.Minute, "close a connection with 1001 after this long without a client message (API Gateway: 10m)")
	fs.DurationVar(&c.maxConnection, "max-connection-duration", 2*time.Hour, "close any connection with 1001 after this long (API Gateway: 2h)")
	fs.IntVar(&c.maxInstances, "max-instances", 10, "concurrent instances per function without ReservedConcurrentExecutions")
	fs.BoolVar(&c.allowStale, "allow-stale", false, "run a template older than the Go sources under infra/, wschatcdk/, internal/, lambdas/")
	fs.StringVar(&c.issuerKey, "issuer-key", "", "key file of the local token issuer, kept across restarts (default: <module root>/"+issuerKeyFile+")")
	fs.IntVar(&c.buildConcurrency, "build-jobs", 2, "Go functions built in parallel at start")
	fs.StringVar(&c.dynaliteBin, "dynalite", getenv("WSCHAT_DYNALITE_BIN"), "dynalite executable (default: node_modules/.bin/dynalite; env WSCHAT_DYNALITE_BIN)")
	fs.StringVar(&c.stageThrottle, "stage-throttle", "template", "route throttling of the stage: template (its DefaultRouteSettings and RouteSettings, as API Gateway) or off")
	fs.DurationVar(&c.vanishGrace, "vanish-grace", 0, "keep a connection whose client vanished without a close frame registered this long before $disconnect (posts answer 200 and are discarded), as on AWS; 0: $disconnect at once")
	fs.StringVar(&c.readyFile, "ready-file", "", "once everything serves, write the endpoints (WebSocket, callback, issuer, DynamoDB, page) as JSON to this file, atomically")
	fs.Func("function-env", "`FN:KEY=VALUE`: set one variable of one function (FN: its label or logical id), after the template's; repeatable", func(s string) error {
		o, err := parseEnvOverride(s)
		if err != nil {
			return err
		}
		c.envOverrides = append(c.envOverrides, o)
		return nil
	})
	fs.BoolVar(&c.watch, "watch", false, "rebuild and swap the functions whose Go packages depend on a changed file under lambdas/ or internal/; re-synthesize on a change under infra/ or wschatcdk/ (connections stay open)")
	fs.DurationVar(&c.watchInterval, "watch-interval", 200*time.Millisecond, "how often --watch looks at the sources' modification times")
	fs.Float64Var(&c.accountRate, "account-rate", 10000, "account-wide @connections calls per second, beyond which they answer 429 TooManyRequestsException (API Gateway: about 10,000); 0: unlimited")
	fs.IntVar(&c.accountBurst, "account-burst", 5000, "burst of --account-rate (API Gateway: 5,000)")
	fs.IntVar(&c.sqsPort, "sqs-port", 0, "port on 127.0.0.1 of the SQS server started when the template has queues (0 picks a free one); functions get it as AWS_ENDPOINT_URL_SQS")
	fs.IntVar(&c.servicesPort, "services-port", 0, "port on 127.0.0.1 of the Lambda Invoke, EventBridge and Secrets Manager APIs (0 picks a free one); functions get it as AWS_ENDPOINT_URL_LAMBDA, AWS_ENDPOINT_URL_EVENTS and AWS_ENDPOINT_URL_SECRETS_MANAGER")
	fs.DurationVar(&c.scheduleInterval, "schedule-interval", 0, "run every EventBridge schedule of the template at this interval instead of its rate (e.g. 1s for tests); 0: the template's rate")
	fs.BoolVar(&c.virtualConns, "virtual-connections", false, "serve POST/GET /@admin/virtual-connections: connection ids with no socket that @connections accepts and counts, for benchmarks past one machine's sockets")
	fs.Func("allow-host", "`HOST:PORT` the emulator's port also answers as, besides 127.0.0.1, localhost and [::1] with its port (for a proxy in front of it); comma-separated, repeatable. Any other Host is refused (DNS rebinding)", func(s string) error {
		c.allowHosts = append(c.allowHosts, splitList(s)...)
		return nil
	})
	fs.Func("allow-origin", "`ORIGIN` (e.g. http://localhost:5173) whose pages may use the emulator besides its own chat page: WebSocket upgrades, and tokens from the issuer (with CORS); comma-separated, repeatable. Any other Origin is refused", func(s string) error {
		for _, o := range splitList(s) {
			if !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
				return fmt.Errorf("%q: want an origin such as http://localhost:5173", o)
			}
			c.allowOrigins = append(c.allowOrigins, o)
		}
		return nil
	})
	fs.StringVar(&c.channelRate, "channel-rate", "template", "per-channel delivery rate of the functions (WSCHAT_CHANNEL_RATE): template (its value) or off (load harnesses: only the 1,000 sends/s per channel cap)")
	fs.StringVar(&c.issuerSecretFile, "issuer-secret-file", "", "where to write this run's issuer secret, which tools send to mint tokens (default: <module root>/.dev/issuer-secret-<port>; removed at exit)")
	if extra != nil {
		extra(fs)
	}
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	if err := c.check(); err != nil {
		return nil, nil, err
	}
	root, err := modroot.FromWorkingDir()
	if err != nil {
		return nil, nil, err
	}
	c.root = root
	if c.template == "" {
		c.template = filepath.Join(root, "cdk.out", "WsChat-"+c.env+".template.json")
	}
	if c.goModule == "" {
		c.goModule = root
		if m, err := modroot.Find(filepath.Dir(c.template)); err == nil {
			c.goModule = m
		}
	} else if c.goModule, err = filepath.Abs(c.goModule); err != nil {
		return nil, nil, err
	}
	if c.issuerKey == "" {
		c.issuerKey = filepath.Join(root, issuerKeyFile)
	}
	return c, fs.Args(), nil
}

// splitList splits a comma-separated flag value.
func splitList(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// check refuses flag values out of range.
func (c *config) check() error {
	switch {
	case c.port < 0 || c.port > 65535:
		return fmt.Errorf("--port %d out of range", c.port)
	case c.sqsPort < 0 || c.sqsPort > 65535:
		return fmt.Errorf("--sqs-port %d out of range", c.sqsPort)
	case c.servicesPort < 0 || c.servicesPort > 65535:
		return fmt.Errorf("--services-port %d out of range", c.servicesPort)
	case c.maxInstances < 1:
		return errors.New("--max-instances must be at least 1")
	case c.idleTimeout <= 0 || c.maxConnection <= 0:
		return errors.New("--idle-timeout and --max-connection-duration must be positive")
	case c.postLatency < 0:
		return errors.New("--post-latency must not be negative")
	case c.scheduleInterval < 0:
		return errors.New("--schedule-interval must not be negative")
	case c.buildConcurrency < 1:
		return errors.New("--build-jobs must be at least 1")
	case c.stageThrottle != "template" && c.stageThrottle != "off":
		return fmt.Errorf("--stage-throttle %q: want template or off", c.stageThrottle)
	case c.channelRate != "template" && c.channelRate != "off":
		return fmt.Errorf("--channel-rate %q: want template or off", c.channelRate)
	case c.vanishGrace < 0:
		return errors.New("--vanish-grace must not be negative")
	case c.watchInterval < 10*time.Millisecond:
		return errors.New("--watch-interval must be at least 10ms")
	case c.accountRate < 0 || c.accountRate > 0 && c.accountBurst < 1:
		return errors.New("--account-rate must not be negative, and --account-burst must be at least 1")
	}
	return nil
}

// lockedWriter serializes writes from function instances, the gateway log
// and progress messages onto one stream; each Write is one whole line.
type lockedWriter struct {
	mu chan struct{}
	w  io.Writer
}

func newLockedWriter(w io.Writer) *lockedWriter {
	return &lockedWriter{mu: make(chan struct{}, 1), w: w}
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu <- struct{}{}
	defer func() { <-l.mu }()
	return l.w.Write(p)
}

func (l *lockedWriter) printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	_, _ = l.Write([]byte(msg))
}
