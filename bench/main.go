// Command bench measures the synthesized dev stack on the local emulator
// (make bench): fan-out latency for channels of 100, 1,000 and 10,000 real
// WebSocket members under each fan-out strategy, DynamoDB reads per send as
// channels and the table grow, each function's size and init time, and how
// many connections the emulator holds in how much memory. It prints a table
// and writes results.json, results.md and latency.svg (see docs/bench.md).
//
//	go run ./bench                      # after make synth ENV=dev; or make bench
//	go run ./bench -sizes 100,1000      # a quicker run
//	go run ./bench -h
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options are the parsed flags.
type options struct {
	postLatency    time.Duration
	sizes          []int
	handlerSends   []int
	directSends    []int
	variants       []int
	handlerWorkers []int
	oneAtATimeMax  int
	starts         int
	dials          int
	outDir         string
	template       string
	timeout        time.Duration
	skip           map[string]bool
	args           []string
	accountRate    int
	accountBurst   int
	virtual        int
	virtualSends   int
	report         string
	eventSends     int
	only           string
}

const usage = `Usage: go run ./bench [flags]

Runs the synthesized dev stack (cdk.out/WsChat-dev.template.json; make synth
ENV=dev) on the local emulator and measures fan-out latency, DynamoDB reads
per send, function size and init time, and emulator capacity. Writes
results.json, results.md and latency.svg into -out. Method: docs/bench.md.

Flags:
`

func parseOptions(args []string, stderr io.Writer) (*options, error) {
	o := &options{args: args}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.postLatency, "post-latency", 20*time.Millisecond, "added latency of each @connections call (the emulator's --post-latency), modelling AWS")
	sizes := fs.String("sizes", "100,1000,10000", "channel sizes (members, each a WebSocket client); the largest is also the connection count")
	handlerSends := fs.String("sends", "30,15,6", "timed sends per size through the chat function (by position in -sizes)")
	directSends := fs.String("direct-sends", "10,5,3", "timed broadcasts per size and strategy with the fan-out package driven directly")
	variants := fs.String("workers", "64,128,1,-1", "fan-out strategies to compare directly: worker counts, -1 = a goroutine per member")
	handlerWorkers := fs.String("handler-workers", "64,128", "also run the chat function with these worker counts, except the template's own (--function-env; restarts the emulator), \"\" for none")
	fs.IntVar(&o.oneAtATimeMax, "one-at-a-time-max", 1000, "largest channel to measure with 1 worker (10,000 × 20 ms would take 200 s per send)")
	fs.IntVar(&o.starts, "starts", 20, "process starts per function for the init time")
	fs.IntVar(&o.dials, "dials", 32, "concurrent connection attempts while connecting the clients")
	fs.StringVar(&o.outDir, "out", "", "directory for results.json, results.md and latency.svg (default: bench/ under the module root)")
	fs.StringVar(&o.template, "template", "", "template to run (default: cdk.out/WsChat-dev.template.json under the module root)")
	fs.DurationVar(&o.timeout, "timeout", 15*time.Minute, "stop measuring after this long and write what was measured")
	fs.IntVar(&o.accountRate, "account-rate", 10000, "the emulator's account-wide @connections rate (--account-rate), the limit of the scale rows")
	fs.IntVar(&o.accountBurst, "account-burst", 5000, "the emulator's account-wide @connections burst (--account-burst)")
	fs.IntVar(&o.virtual, "virtual", 100000, "members of the virtual-connection channel of the scale rows (the emulator's --virtual-connections), 0 to skip")
	fs.IntVar(&o.virtualSends, "virtual-sends", 3, "timed sends to the virtual-connection channel")
	fs.StringVar(&o.report, "report", "", "judge an earlier run's results.json again and rewrite results.md and the chart next to it (or in -out), measuring nothing")
	fs.IntVar(&o.eventSends, "event-sends", 100, "timed sends with events off and on (each on its own emulator)")
	fs.StringVar(&o.only, "only", "", "run one section alone: cost (what make cost runs; writes cost.json, cost.md and cost.svg) or events (send → ack with events off, stream captured and on; prints its rows and target, writes nothing)")
	skip := fs.String("skip", "", "comma-separated phases to skip: coldstart, reload, readcost, handler, direct, sdk, liveness, lifecycle, cost, cpu, events")
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if o.only != "" && o.only != "cost" && o.only != "events" {
		return nil, fmt.Errorf("-only %q: want cost or events", o.only)
	}
	if o.sizes, err = intList(*sizes, 1); err != nil {
		return nil, fmt.Errorf("-sizes: %w", err)
	}
	if o.handlerSends, err = intList(*handlerSends, 1); err != nil {
		return nil, fmt.Errorf("-sends: %w", err)
	}
	if o.directSends, err = intList(*directSends, 1); err != nil {
		return nil, fmt.Errorf("-direct-sends: %w", err)
	}
	if o.variants, err = intList(*variants, -1); err != nil {
		return nil, fmt.Errorf("-workers: %w", err)
	}
	if strings.TrimSpace(*handlerWorkers) != "" {
		if o.handlerWorkers, err = intList(*handlerWorkers, 1); err != nil {
			return nil, fmt.Errorf("-handler-workers: %w", err)
		}
	}
	for i := range o.sizes {
		if i > 0 && o.sizes[i] <= o.sizes[i-1] {
			return nil, errors.New("-sizes: want increasing sizes")
		}
	}
	for len(o.handlerSends) < len(o.sizes) {
		o.handlerSends = append(o.handlerSends, o.handlerSends[len(o.handlerSends)-1])
	}
	for len(o.directSends) < len(o.sizes) {
		o.directSends = append(o.directSends, o.directSends[len(o.directSends)-1])
	}
	switch {
	case o.postLatency < 0:
		return nil, errors.New("-post-latency must not be negative")
	case o.starts < 1 || o.dials < 1:
		return nil, errors.New("-starts and -dials must be at least 1")
	case o.sizes[len(o.sizes)-1] > 15000:
		return nil, errors.New("-sizes: at most 15000 (each member is a connection on this machine)")
	}
	o.skip = map[string]bool{}
	for _, s := range strings.Split(*skip, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.skip[s] = true
		}
	}
	return o, nil
}

func intList(s string, lowest int) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < lowest || n == 0 {
			return nil, fmt.Errorf("%q: want integers >= %d (not 0)", s, lowest)
		}
		out = append(out, n)
	}
	return out, nil
}

// progress prints timestamped progress lines.
type progress struct {
	w     io.Writer
	start time.Time
}

func (p *progress) printf(format string, args ...any) {
	fmt.Fprintf(p.w, "[%6.1fs] %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	opts, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	if opts.report != "" {
		return rereport(opts, stdout)
	}
	b, err := newBench(opts, stdout)
	if err != nil {
		return err
	}
	defer b.close()
	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	switch opts.only {
	case "cost":
		return b.costOnly(ctx, stdout)
	case "events":
		return b.eventsOnly(ctx)
	}
	measureErr := b.measure(ctx)
	if measureErr != nil {
		b.res.Notes = append(b.res.Notes, "run stopped early: "+measureErr.Error())
		b.p.printf("stopped early: %v", measureErr)
	}
	b.res.Duration = time.Since(b.p.start).Round(time.Second).String()
	b.judge()
	if err := b.write(stdout); err != nil {
		return err
	}
	return measureErr
}

func defaultOutDir(root string) string { return filepath.Join(root, "bench") }

// rereport judges the results of an earlier run again (results.json) and
// rewrites results.md and the chart from them, measuring nothing: for a
// change of how targets are judged or shown.
func rereport(opts *options, stdout io.Writer) error {
	data, err := os.ReadFile(opts.report)
	if err != nil {
		return err
	}
	if filepath.Base(opts.report) == "cost.json" {
		return rereportCost(opts, data, stdout)
	}
	res := &Results{}
	if err := json.Unmarshal(data, res); err != nil {
		return fmt.Errorf("%s: %w", opts.report, err)
	}
	if opts.outDir == "" {
		opts.outDir = filepath.Dir(opts.report)
	}
	opts.postLatency = time.Duration(res.Config.PostLatencyMs * float64(time.Millisecond))
	b := &bench{opts: opts, res: res, devWorkers: res.Config.DevWorkers, sendBudget: res.Config.SendBudget, p: &progress{w: stdout, start: time.Now()}}
	b.judge()
	return b.write(stdout)
}
