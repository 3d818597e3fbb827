package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/dynalite"
	"github.com/wschat/wschat/internal/dynamo"
	"github.com/wschat/wschat/internal/dynamo/dynamotest"
	"github.com/wschat/wschat/internal/emutest"
	"github.com/wschat/wschat/internal/fanout"
	"github.com/wschat/wschat/internal/handler"
	"github.com/wschat/wschat/internal/modroot"
	"github.com/wschat/wschat/internal/template"
)

// bench holds one run's processes and results.
type bench struct {
	opts  *options
	p     *progress
	root  string
	tpl   string
	stack *template.Stack // the template as prepare read it (settings, mappings)
	tmp   string
	res   *Results

	db    *dynalite.Server
	proxy *emutest.DynamoProxy
	e     *emutest.Emulator
	ddb   *dynamodb.Client // straight to dynalite, not counted
	store *dynamo.Store    // the same store the handlers use, for seeding and the direct fan-out
	table string
	fleet *fleet

	bin          string // the emulator, built once
	fanouts      *fanoutLog
	handlerSends map[string]int
	sendBudget   int
	devWorkers   int
	maxChannels  int
	tableItems   int   // the table's size at the last read-cost measurement
	rssStart     int64 // the emulator's RSS when it became ready
}

func newBench(opts *options, stdout io.Writer) (*bench, error) {
	root, err := modroot.FromWorkingDir()
	if err != nil {
		return nil, err
	}
	tpl, err := emutest.CheckTemplate(root, opts.template)
	if err != nil {
		return nil, err
	}
	if opts.outDir == "" {
		opts.outDir = defaultOutDir(root)
	}
	tmp, err := os.MkdirTemp("", "wschat-bench-")
	if err != nil {
		return nil, err
	}
	b := &bench{
		opts: opts, p: &progress{w: stdout, start: time.Now()}, root: root, tpl: tpl, tmp: tmp,
		res:          &Results{Started: time.Now().UTC(), Machine: machineInfo()},
		handlerSends: map[string]int{},
	}
	return b, nil
}

func (b *bench) close() {
	b.stopStack()
	_ = os.RemoveAll(b.tmp)
}

// stopStack ends the clients, the emulator, the proxy and dynalite.
func (b *bench) stopStack() {
	if b.fleet != nil {
		b.fleet.closeAll()
		b.fleet = nil
	}
	if b.e != nil {
		// Kill: a graceful stop would run 10,000 $disconnects, each
		// broadcasting "left" to 10,000 members.
		if err := b.e.Kill(); err != nil {
			b.p.printf("stop emulator: %v", err)
		}
		b.e = nil
	}
	if b.proxy != nil {
		_ = b.proxy.Close()
		b.proxy = nil
	}
	if b.db != nil {
		_ = b.db.Close()
		b.db = nil
	}
}

// measure runs every phase; an error ends the run early (results so far are
// still written).
func (b *bench) measure(ctx context.Context) error {
	stack, err := b.prepare()
	if err != nil {
		return err
	}
	b.stack = stack
	if !b.opts.skip["coldstart"] {
		b.p.printf("cold start: building each function for linux/arm64 (sizes) and %s (init time, %d starts)", "the host", b.opts.starts)
		fs, err := measureColdStarts(ctx, b.root, stack, b.opts.starts, b.p.printf)
		if err != nil {
			return fmt.Errorf("cold start: %w", err)
		}
		b.res.ColdStart = fs
		if b.res.InitFloor, err = measureInitFloor(ctx, b.root, b.opts.starts, b.p.printf); err != nil {
			return fmt.Errorf("cold start: %w", err)
		}
	}
	if !b.opts.skip["reload"] {
		if err := b.measureReload(ctx); err != nil {
			return fmt.Errorf("reload: %w", err)
		}
	}
	if err := b.startStack(ctx, nil); err != nil {
		return err
	}
	if err := b.measureSDK(ctx); err != nil {
		return err
	}
	if err := b.measureLiveness(ctx); err != nil {
		return err
	}
	if err := b.measureLifecycle(ctx); err != nil {
		return err
	}
	if err := b.connectAndFill(ctx); err != nil {
		return err
	}
	if err := b.measureFanouts(ctx); err != nil {
		return err
	}
	if b.opts.virtual > 0 {
		if err := b.virtualScale(ctx, b.opts.virtual, b.opts.virtualSends); err != nil {
			return fmt.Errorf("virtual channel: %w", err)
		}
	}
	b.finishCapacity()
	if !b.opts.skip["cost"] {
		if err := b.measureCost(ctx); err != nil {
			return err
		}
	}
	if !b.opts.skip["handler"] {
		for _, w := range b.opts.handlerWorkers {
			if w == b.devWorkers {
				continue
			}
			if err := b.handlerVariant(ctx, w); err != nil {
				return err
			}
		}
	}
	if !b.opts.skip["events"] {
		b.stopStack() // the events phase runs its own emulators; free the cores
		if err := b.measureEvents(ctx); err != nil {
			return err
		}
	}
	return nil
}

// measureReload times --watch's edit loop on a copy of the module: five
// one-function changes (lambdas/chat), then three changes of a package every
// function depends on, each until an answer comes from the new code.
func (b *bench) measureReload(ctx context.Context) error {
	if b.bin == "" {
		var err error
		if b.bin, err = emutest.Build(ctx, b.root, b.tmp); err != nil {
			return err
		}
	}
	b.p.printf("reload: --watch on a copy of the module")
	runs, err := measureReload(ctx, b.bin, chatReloadCase(b.root, b.tpl, 5, 3), b.p.printf)
	if err != nil {
		return err
	}
	b.res.Reloads = runs
	return nil
}

// prepare checks the machine can hold the largest channel and reads the
// chat function's settings from the template.
func (b *bench) prepare() (*template.Stack, error) {
	m := b.res.Machine
	b.p.printf("machine: %d CPUs (%s), %s, %s, kernel %s", m.CPUs, m.CPUModel, m.MemTotal, m.GoVersion, m.Kernel)
	limit, err := emutest.RaiseFileLimit()
	if err != nil {
		return nil, fmt.Errorf("raise the file limit: %w", err)
	}
	maxSize := b.opts.sizes[len(b.opts.sizes)-1]
	if need := uint64(maxSize) + 2000; limit < need {
		return nil, fmt.Errorf("open-file limit %d is below the %d this run needs (ulimit -Hn)", limit, need)
	}
	stack, err := template.Load(b.tpl, template.Options{GoPackageKey: contract.MetadataGoPackage})
	if err != nil {
		return nil, err
	}
	return stack, b.readConfig(stack)
}

// readChannel is the small channel whose read cost is measured, before and
// after the table grows.
const readChannel, readMembers = "reads10", 10

// connectAndFill measures read cost on a small table (a 10-member channel
// among ~110 connections), connects everyone else (capacity), fills the
// channels, and measures read cost again on the grown table.
func (b *bench) connectAndFill(ctx context.Context) error {
	maxSize := b.opts.sizes[len(b.opts.sizes)-1]
	small := min(110, maxSize)
	b.p.printf("connecting %d clients", small)
	if _, err := b.fleet.grow(ctx, small, 8, func(int) {}); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if err := b.fleet.joinProtocol(ctx, readChannel, readMembers, 5); err != nil {
		return err
	}
	if !b.opts.skip["readcost"] {
		if err := b.readCost(ctx, readChannel, readMembers, 5); err != nil {
			return err
		}
	}
	if err := b.capacity(ctx, maxSize); err != nil {
		return err
	}
	// Channels: small ones joined through the protocol, the rest seeded
	// through the store (see docs/bench.md: a join tells every member).
	for _, size := range b.opts.sizes {
		if err := b.fillChannel(ctx, size); err != nil {
			return err
		}
	}
	if b.opts.skip["readcost"] {
		return nil
	}
	return b.readCost(ctx, readChannel, readMembers, 5)
}

// measureFanouts measures delivery through the chat function at the template's
// worker count, then each direct strategy and the send budget.
func (b *bench) measureFanouts(ctx context.Context) error {
	if !b.opts.skip["handler"] {
		for i, size := range b.opts.sizes {
			if err := b.handlerFanout(ctx, size, b.opts.handlerSends[i], b.devWorkers, true); err != nil {
				return err
			}
		}
	}
	if b.opts.skip["direct"] {
		return nil
	}
	if err := b.directFanouts(ctx); err != nil {
		return err
	}
	return b.budgetCheck(ctx)
}

// handlerVariant runs the chat function with another worker count (the
// emulator's --function-env chat:WSCHAT_FANOUT_WORKERS=N, the template
// unchanged) on a fresh emulator, DynamoDB and set of clients.
func (b *bench) handlerVariant(ctx context.Context, workers int) error {
	override := fmt.Sprintf("%s:%s=%d", contract.FunctionChat, contract.EnvFanoutWorkers, workers)
	b.p.printf("restarting with --function-env %s", override)
	b.stopStack()
	if err := b.startStack(ctx, []string{override}); err != nil {
		return err
	}
	maxSize := b.opts.sizes[len(b.opts.sizes)-1]
	took, err := b.fleet.grow(ctx, maxSize, b.opts.dials, func(done int) { b.p.printf("  %d connections", done) })
	if err != nil {
		return fmt.Errorf("connect %d clients: %w", maxSize, err)
	}
	b.p.printf("%d clients connected in %.1fs", maxSize, took.Seconds())
	for _, size := range b.opts.sizes {
		if err := b.seedChannel(ctx, size); err != nil {
			return err
		}
	}
	for i, size := range b.opts.sizes {
		if err := b.handlerFanout(ctx, size, b.opts.handlerSends[i], workers, false); err != nil {
			return err
		}
	}
	return nil
}

func joinNotes(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

// readConfig takes the chat function's settings from the template.
func (b *bench) readConfig(stack *template.Stack) error {
	var chatFn *template.Function
	for _, f := range stack.Functions {
		if f.Label == contract.FunctionChat {
			chatFn = f
		}
	}
	if chatFn == nil {
		return errors.New("no chat function in the template")
	}
	atoi := func(name string, def int) int {
		if n, err := strconv.Atoi(chatFn.Env[name]); err == nil {
			return n
		}
		return def
	}
	b.devWorkers = atoi(contract.EnvFanoutWorkers, fanout.DefaultWorkers)
	b.sendBudget = atoi(contract.EnvSendBudget, handler.DefaultSendBudget)
	b.maxChannels = atoi(contract.EnvMaxChannels, 20)
	b.res.Config = Config{
		Template:        b.tpl,
		PostLatencyMs:   float64(b.opts.postLatency.Microseconds()) / 1000,
		Sizes:           b.opts.sizes,
		DevWorkers:      b.devWorkers,
		SendBudget:      b.sendBudget,
		FunctionTimeout: chatFn.Timeout.String(),
		MaxInstances:    10,
		Args:            b.opts.args,
		AccountRate:     b.opts.accountRate,
		AccountBurst:    b.opts.accountBurst,
	}
	return nil
}

// startStack starts dynalite, the counting proxy in front of it, and the
// emulator on the template, with functionEnv as its --function-env values.
// The stage throttle is off (emutest's default): the fleet's parallel dials
// and joins exceed dev's route limits by design.
func (b *bench) startStack(ctx context.Context, functionEnv []string) error {
	b.p.printf("starting dynalite, the DynamoDB counting proxy and the emulator (--post-latency %s)", b.opts.postLatency)
	db, err := dynalite.Start(ctx, dynalite.Options{})
	if err != nil {
		return err
	}
	b.db = db
	b.proxy, err = emutest.StartDynamoProxy(db.Endpoint())
	if err != nil {
		return err
	}
	if b.bin == "" {
		if b.bin, err = emutest.Build(ctx, b.root, b.tmp); err != nil {
			return err
		}
	}
	logPath := filepath.Join(b.tmp, fmt.Sprintf("emulator-%d.log", time.Now().UnixNano()))
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	start := time.Now()
	b.e, err = emutest.Start(ctx, emutest.Options{
		Binary:           b.bin,
		Root:             b.root,
		Template:         b.tpl,
		FunctionEnv:      functionEnv,
		PostLatency:      b.opts.postLatency,
		Args:             b.emulatorArgs(),
		DynamoDBEndpoint: b.proxy.URL(),
		Output:           logFile,
	})
	if err != nil {
		return err
	}
	b.p.printf("emulator ready in %.1fs at %s", time.Since(start).Seconds(), b.e.WebSocketURL)
	if b.rssStart, err = emutest.RSS(b.e.Pid()); err != nil {
		return err
	}
	b.fanouts = &fanoutLog{}
	b.handlerSends = map[string]int{}
	b.e.WatchFanouts(b.fanouts.add)
	if b.table, err = b.e.TableName(); err != nil {
		return err
	}
	b.ddb = dynamotest.Client(db.Endpoint())
	b.store = dynamo.New(b.ddb, b.table, dynamo.Options{})
	b.fleet = newFleet(b.e)
	return nil
}

// readCost sends `sends` messages to channel and records the DynamoDB calls
// each made, with the table's size.
func (b *bench) readCost(ctx context.Context, channel string, members, sends int) error {
	items, err := emutest.ItemCount(ctx, b.ddb, b.table)
	if err != nil {
		return err
	}
	var samples []sample
	for k := range sends {
		s, err := b.handlerSend(ctx, channel, members, b.fleet.client(k%members), fmt.Sprintf("rc-%d-%d", items, k))
		if err != nil {
			return err
		}
		samples = append(samples, s)
	}
	b.tableItems = items
	rc := readCostOf(channel, members, items, samples)
	b.res.ReadCost = append(b.res.ReadCost, rc)
	b.p.printf("read cost: %d-member channel, table of %d items: %.1f items read per send (%s), %.1f RCU, %.1f WCU", members, items, rc.ItemsRead, rc.Calls, rc.ReadCU, rc.WriteCU)
	return nil
}

func readCostOf(channel string, members, tableItems int, samples []sample) ReadCost {
	rc := ReadCost{Channel: channel, Members: members, TableItems: tableItems, Sends: len(samples), ItemsMin: -1}
	calls := map[string]int{}
	for _, s := range samples {
		// Once delivered: a spread send's tasks read after its ack.
		c := s.counts
		if s.countsDone.Calls != nil {
			c = s.countsDone
		}
		n := c.ItemsRead
		rc.ItemsRead += float64(n)
		rc.ReadCU += c.ReadCU
		rc.WriteCU += c.WriteCU
		if rc.ItemsMin < 0 || n < rc.ItemsMin {
			rc.ItemsMin = n
		}
		rc.ItemsMax = max(rc.ItemsMax, n)
		for k, v := range c.Calls {
			calls[k] += v
		}
	}
	if n := float64(len(samples)); n > 0 {
		rc.ItemsRead /= n
		rc.ReadCU /= n
		rc.WriteCU /= n
		per := emutest.DynamoCounts{Calls: map[string]int{}}
		for k, v := range calls {
			per.Calls[k] = (v + len(samples)/2) / len(samples)
		}
		rc.Calls = per.CallsString()
	}
	rc.Overhead = rc.ItemsRead - float64(members)
	return rc
}

// capacity connects clients up to n and measures the emulator's memory:
// per connection is the RSS growth over the bulk connect divided by the
// connections it added (or, when there is no bulk, the growth since the
// emulator started divided by all connections).
func (b *bench) capacity(ctx context.Context, n int) error {
	before := b.fleet.size()
	time.Sleep(time.Second)
	rss0, err := emutest.RSS(b.e.Pid())
	if err != nil {
		return err
	}
	var took time.Duration
	if n > before {
		b.p.printf("capacity: connecting %d more clients (%d at a time); emulator RSS %s", n-before, b.opts.dials, mib(rss0))
		took, err = b.fleet.grow(ctx, n, b.opts.dials, func(done int) {
			b.p.printf("  %d connections", done)
		})
		if err != nil {
			return fmt.Errorf("connect %d clients: %w", n, err)
		}
		time.Sleep(2 * time.Second)
	}
	rss1, err := emutest.RSS(b.e.Pid())
	if err != nil {
		return err
	}
	c := &Capacity{Connections: n, EmulatorRSSBefore: rss0, EmulatorRSSAfter: rss1}
	if added := n - before; added > 0 {
		c.SetupSeconds = took.Seconds()
		c.SetupPerSecond = float64(added) / max(took.Seconds(), 1e-9)
		c.BytesPerConn = float64(rss1-rss0) / float64(added)
	} else {
		c.EmulatorRSSBefore = b.rssStart
		c.BytesPerConn = float64(rss1-b.rssStart) / float64(max(n, 1))
	}
	b.res.Capacity = c
	b.p.printf("capacity: %d connections; %d set up in %.1fs (%.0f/s); emulator RSS %s (%.1f KiB per connection)",
		n, n-before, c.SetupSeconds, c.SetupPerSecond, mib(rss1), c.BytesPerConn/1024)
	return nil
}

// finishCapacity records what is still held at the end, and the memory of
// the other processes.
func (b *bench) finishCapacity() {
	c := b.res.Capacity
	if c == nil || b.e == nil {
		return
	}
	c.Held = b.fleet.open()
	emu := emutest.TreeRSS(b.e.Pid())
	for pid, rss := range emu {
		if pid != b.e.Pid() {
			c.HandlersRSS += rss
			c.HandlerInstances++
		}
	}
	all := emutest.TreeRSS(os.Getpid())
	self := all[os.Getpid()]
	c.BenchRSS = self
	var sum int64
	for pid, rss := range all {
		if _, inEmu := emu[pid]; !inEmu && pid != os.Getpid() {
			sum += rss
		}
	}
	c.DynaliteRSS = sum
	b.p.printf("capacity: %d of %d connections still open at the end; handlers %s in %d instances, dynalite %s, benchmark clients %s",
		c.Held, c.Connections, mib(c.HandlersRSS), c.HandlerInstances, mib(c.DynaliteRSS), mib(c.BenchRSS))
}

func channelName(size int) string { return "fan" + strconv.Itoa(size) }

// fillChannel makes clients [0, size) members of the size's channel through
// join frames, 32 at a time, and records how long it took and how many
// presence frames it caused: above the presence limit a join answers only
// the joiner, so filling is linear in the joins (issue #13).
func (b *bench) fillChannel(ctx context.Context, size int) error {
	ch := channelName(size)
	start := time.Now()
	before := b.fleet.presence.Load()
	if err := b.fleet.joinProtocol(ctx, ch, size, fillParallel); err != nil {
		return err
	}
	took := time.Since(start)
	f := FillRun{Members: size, Seconds: took.Seconds(), JoinsPerSec: float64(size) / took.Seconds(), PresenceFrames: b.fleet.presence.Load() - before}
	b.res.Fill = append(b.res.Fill, f)
	b.p.printf("channel %s: %d members joined through the protocol in %.1fs (%.0f joins/s, %d presence frames received)", ch, size, f.Seconds, f.JoinsPerSec, f.PresenceFrames)
	return ctx.Err()
}

// seedChannel makes clients [0, size) members of the size's channel through
// the store (quick: a restarted emulator's channels, already timed once
// through the protocol).
func (b *bench) seedChannel(ctx context.Context, size int) error {
	ch := channelName(size)
	start := time.Now()
	ids, err := emutest.ConnectionIDs(ctx, b.ddb, b.table)
	if err != nil {
		return err
	}
	var next atomic.Int64
	var firstErr atomic.Pointer[error]
	var wg sync.WaitGroup
	now := time.Now()
	for range 32 {
		wg.Go(func() {
			for ctx.Err() == nil && firstErr.Load() == nil {
				i := int(next.Add(1) - 1)
				if i >= size {
					return
				}
				c := b.fleet.client(i)
				if len(ids[c.User]) != 1 {
					err := fmt.Errorf("%s: want one stored connection, found %d", c.User, len(ids[c.User]))
					firstErr.CompareAndSwap(nil, &err)
					return
				}
				m := chat.Member{Channel: ch, ConnectionID: ids[c.User][0], Identity: chat.Identity{UserID: c.User, UserName: c.User},
					JoinedAt: now, ExpiresAt: now.Add(chat.ConnectionTTL)}
				if _, err := b.store.AddMember(ctx, m, b.maxChannels); err != nil {
					err = fmt.Errorf("seed %s in %s: %w", c.User, ch, err)
					firstErr.CompareAndSwap(nil, &err)
					return
				}
			}
		})
	}
	wg.Wait()
	if p := firstErr.Load(); p != nil {
		return *p
	}
	b.p.printf("channel %s: %d memberships written through the store in %.1fs", ch, size, time.Since(start).Seconds())
	return ctx.Err()
}

// emulatorArgs are the flags of the benchmark's emulator: the account
// throttle, and virtual connections for the largest channel.
func (b *bench) emulatorArgs() []string {
	args := []string{fmt.Sprintf("--account-rate=%d", b.opts.accountRate), fmt.Sprintf("--account-burst=%d", b.opts.accountBurst)}
	if b.opts.virtual > 0 {
		args = append(args, "--virtual-connections")
	}
	return args
}

// handlerFanout times sends through the chat function, which runs with
// workers, to the size's channel.
func (b *bench) handlerFanout(ctx context.Context, size, sends, workers int, recordReads bool) error {
	ch := channelName(size)
	b.p.printf("fan-out through the chat function (%d workers): %d members, 1 warm-up + %d sends", workers, size, sends)
	var samples []sample
	for k := -1; k < sends; k++ {
		// Rotate senders: each connection may send 5 per second.
		sender := b.fleet.client((k + 1) * 7 % size)
		s, err := b.handlerSend(ctx, ch, size, sender, fmt.Sprintf("h-%d-%d", size, k+1))
		if err != nil {
			return err
		}
		if k >= 0 {
			samples = append(samples, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
	r := summarize("handler", workers, size, samples)
	if recordReads && size >= 1000 {
		sr := scaleOf(size, "real", b.scaleLimitsOf(), samples)
		b.res.Scale = append(b.res.Scale, sr)
		b.p.printf("  scale: %s path, limit %.0f ms (p50 %.2f×, p99 %.2f×), %.1f tasks/send, peak %.0f posts/s, %.0f 429s/send, %.1f RCU/send, skipped %d",
			sr.Path, sr.LimitMs, sr.RatioP50, sr.RatioP99, sr.Tasks, sr.PeakPerSec, sr.Throttled, sr.ReadCU, sr.Skipped)
	}
	if workers != b.devWorkers {
		r.Note = joinNotes(fmt.Sprintf("--function-env %s=%d", contract.EnvFanoutWorkers, workers), r.Note)
	}
	b.res.Fanout = append(b.res.Fanout, r)
	if recordReads {
		b.res.ReadCost = append(b.res.ReadCost, readCostOf(ch, size, b.tableItems, samples))
	}
	b.p.printf("  p50 %.0f ms, p99 %.0f ms, %.0f deliveries/s, handler fan-out p50 %.0f ms%s", r.P50, r.P99, r.PerSec, r.HandlerMs, noteSuffix(r.Note))
	return nil
}

// directFanouts times each strategy at each size with the fan-out package.
func (b *bench) directFanouts(ctx context.Context) error {
	maxSize := b.opts.sizes[len(b.opts.sizes)-1]
	for i, size := range b.opts.sizes {
		ch := channelName(size)
		for _, w := range b.opts.variants {
			if w == 1 && size > b.opts.oneAtATimeMax {
				b.res.Notes = append(b.res.Notes, fmt.Sprintf("1 worker not measured at %d members: %d × %s ≈ %s per send (-one-at-a-time-max %d)",
					size, size, b.opts.postLatency, time.Duration(size)*b.opts.postLatency, b.opts.oneAtATimeMax))
				continue
			}
			// The unbounded strategy at the largest size runs last: it opens
			// one socket per member and may exhaust descriptors.
			if w == fanout.Unbounded && size == maxSize {
				continue
			}
			if err := b.directRun(ctx, ch, size, w, b.directSendsFor(i, w, size)); err != nil {
				return err
			}
		}
	}
	if containsInt(b.opts.variants, fanout.Unbounded) {
		i := len(b.opts.sizes) - 1
		return b.directRun(ctx, channelName(maxSize), maxSize, fanout.Unbounded, b.directSendsFor(i, fanout.Unbounded, maxSize))
	}
	return nil
}

func (b *bench) directSendsFor(i, workers, size int) int {
	n := b.opts.directSends[i]
	if workers == 1 {
		// One at a time is as regular as it is slow (1,000 × 20 ms = 20 s
		// per send): a few sends say all there is.
		if size >= 1000 {
			n = min(n, 2)
		} else {
			n = min(n, 5)
		}
	}
	return n
}

func (b *bench) directRun(ctx context.Context, ch string, size, w, sends int) error {
	f, pp := b.newDirectFanout(w)
	b.p.printf("fan-out direct, %s workers: %d members, %d broadcasts (and a warm-up unless 1 worker at ≥ 1,000)", workersName(w), size, sends)
	var samples []sample
	peak := 0
	first := -1
	if w == 1 && size >= 1000 {
		first = 0 // one connection to warm up, and 20 s per send
	}
	for k := first; k < sends; k++ {
		s, err := b.directSend(ctx, f, pp, ch, size, b.sendBudget, fmt.Sprintf("d-%s-%d-%d", workersName(w), size, k+1), 0)
		if err != nil {
			return err
		}
		if k >= 0 {
			samples = append(samples, s)
			peak = max(peak, int(pp.peak.Load()))
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(100 * time.Millisecond)
	}
	r := summarize("direct", w, size, samples)
	r.PeakInFlight = peak
	b.res.Fanout = append(b.res.Fanout, r)
	b.p.printf("  p50 %.0f ms, p99 %.0f ms, %.0f deliveries/s, peak %d posts in flight%s", r.P50, r.P99, r.PerSec, r.PeakInFlight, noteSuffix(r.Note))
	return nil
}

// budgetCheck broadcasts to the 1,000 channel (or the largest below it)
// with a budget of 30% of its members, which ends within the first page.
func (b *bench) budgetCheck(ctx context.Context) error {
	size := b.opts.sizes[0]
	for _, s := range b.opts.sizes {
		if s <= 1000 {
			size = s
		}
	}
	budget := max(1, size*3/10)
	f, pp := b.newDirectFanout(b.devWorkers)
	s, err := b.directSend(ctx, f, pp, channelName(size), size, budget, fmt.Sprintf("budget-%d", size), 300*time.Millisecond)
	if err != nil {
		return err
	}
	s.received = s.receivedAll
	st := s.stats
	b.res.Budget = &BudgetCheck{Members: size, Budget: budget, Read: st.Members, Delivered: st.Delivered, Skipped: st.Skipped,
		Unread: size - st.Members, Received: s.received}
	b.p.printf("send budget: %d members, budget %d: %d read, %d posted, %d skipped, %d not read, %d received",
		size, budget, st.Members, st.Delivered, st.Skipped, size-st.Members, s.received)
	return nil
}

func containsInt(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func noteSuffix(note string) string {
	if note == "" {
		return ""
	}
	return " — " + note
}
