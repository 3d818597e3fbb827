package reliability

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"

	"github.com/wschat/wschat/client"
	"github.com/wschat/wschat/internal/badnet"
	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/dynalite"
	"github.com/wschat/wschat/internal/dynamo/dynamotest"
	"github.com/wschat/wschat/internal/emutest"
	"github.com/wschat/wschat/internal/liveproof"
	"github.com/wschat/wschat/internal/testkit"
)

// sdkSize is the scale of one SDK proof run.
type sdkSize struct {
	senders, receivers, channels int
	perSender                    int           // messages each sender sends
	lifetime                     time.Duration // the emulator's --max-connection-duration
}

// TestReliabilityClientSDK is the proof at the application level (issue
// #11, item 4): Go clients (wschat/client) send and receive in several
// channels through the emulator on the dev template, each through its own
// hostile-network proxy (internal/badnet: latency and jitter on every
// link), while the test kills client connections (DELETE
// @connections/{id}, signed by the SDK's apigatewaymanagementapi client),
// blackholes others (silent, no FIN or RST: the heartbeat must find them),
// cuts every connection after a few seconds (--max-connection-duration, so
// clients hand over again and again), crashes (SIGKILL) and hangs (SIGSTOP,
// until the function's timeout) chat handler instances, and restarts
// DynamoDB. Per receiver and channel every acknowledged message must reach
// the application exactly once, in strictly increasing seq, and every
// discontinuity be reported.
func TestReliabilityClientSDK(t *testing.T) {
	size := sdkSize{senders: 3, receivers: 3, channels: 3, perSender: 40, lifetime: 4 * time.Second}
	if soak {
		size = sdkSize{senders: 6, receivers: 8, channels: 4, perSender: 300, lifetime: 5 * time.Second}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()
	run := newSDKRun(ctx, t, size)
	faults := run.startFaults(ctx, t, faultKill, faultBlackhole, faultCrash, faultTimeout, faultRestart)

	acked, failed := run.send(ctx, t)
	faults.stop()
	if failed > 0 {
		t.Errorf("%d sends returned an error (each is reported to its caller, none silently dropped)", failed)
	}
	fig := run.check(ctx, t, acked)
	fig.faults = faults.counts()
	for _, c := range run.clients {
		s := c.Stats()
		fig.reconnects += s.Reconnects
		fig.handovers += s.Handovers
	}
	fig.life = run.tally
	fig.checked, fig.diverged = converge(ctx, t, run.e, run.names, run.channels, func(i int, ch string) []client.Message {
		return run.subs[i][ch].Messages()
	})
	t.Logf("FIGURES sdk-go: %s", fig)
	t.Logf("FIGURES sdk-go blackholes: %s", run.detections())
	if fig.lost != 0 || fig.duplicated != 0 || fig.outOfOrder != 0 || fig.unreported != 0 || fig.diverged != 0 {
		t.Errorf("want 0 lost, 0 duplicated, 0 out of order, 0 unreported holes, 0 states diverged; got %s", fig)
	}
	if l := run.tally; l.edits == 0 || l.deletes == 0 || l.reacts == 0 || l.replies == 0 || fig.checked == 0 {
		t.Errorf("want edits, deletes, reactions and replies acked and states checked; got %s", fig)
	}
	if fig.acked == 0 || fig.reconnects == 0 || fig.handovers == 0 {
		t.Errorf("want acked messages, reconnects and handovers; got %s", fig)
	}
	for name, n := range fig.faults {
		if n == 0 {
			t.Errorf("fault %q never happened: %s", name, fig)
		}
	}
}

// sdkRun is one proof run: the emulator on its own dynalite, and the clients.
type sdkRun struct {
	size      sdkSize
	e         *emutest.Emulator
	db        *restartableDynalite
	channels  []string
	clients   []*client.Client // senders first, then receivers
	names     []string
	delivered []map[string]*delivery // per client, per channel
	proxies   []*badnet.Proxy        // per name: every client's link
	lost      []*lossLog             // per name: the Go clients' transitions
	subs      []map[string]*client.Subscription
	tally     *lifeTally
}

// delivery is what one subscription handed to the application.
type delivery struct {
	mu    sync.Mutex
	seqs  []int64
	holes [][2]int64 // discontinuities reported
}

// startSDKEmulator starts the emulator, with a short connection lifetime,
// on a dynalite the test can restart, and names the channels and users.
func startSDKEmulator(ctx context.Context, t *testing.T, size sdkSize, prefix string) *sdkRun {
	t.Helper()
	db := startRestartable(ctx, t)
	e := startEmulator(t, emutest.Options{
		PostLatency:      5 * time.Millisecond,
		DynamoDBEndpoint: db.endpoint(),
		Args:             []string{"--max-connection-duration", size.lifetime.String()},
	})
	r := &sdkRun{size: size, e: e, db: db}
	for i := range size.channels {
		r.channels = append(r.channels, fmt.Sprintf("%s-%d", prefix, i))
	}
	host := strings.TrimPrefix(e.BaseURL, "http://")
	for i := range size.senders + size.receivers {
		role := "r"
		if i < size.senders {
			role = "s"
		}
		r.names = append(r.names, fmt.Sprintf("%s-%s%d", prefix, role, i))
		p, err := badnet.Listen(host, badnet.Options{Shape: badnet.Shape{Latency: 10 * time.Millisecond, Jitter: 10 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		r.proxies = append(r.proxies, p)
		r.lost = append(r.lost, &lossLog{})
	}
	return r
}

// lossLog records when a client's connection was blackholed and when the
// client gave it up.
type lossLog struct {
	mu       sync.Mutex
	faultAt  time.Time
	detected []time.Duration
}

func (l *lossLog) state(s client.StateChange) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.To == client.StateReconnecting && errors.Is(s.Err, client.ErrSilent) && !l.faultAt.IsZero() && s.At.After(l.faultAt) {
		l.detected = append(l.detected, s.At.Sub(l.faultAt))
		l.faultAt = time.Time{}
	}
}

// detections summarizes how fast the Go clients found their blackholed
// connections (the heartbeat of this test: 1 s + 1 s).
func (r *sdkRun) detections() string {
	var all []time.Duration
	for _, l := range r.lost {
		l.mu.Lock()
		all = append(all, l.detected...)
		l.mu.Unlock()
	}
	return fmt.Sprintf("n=%d p50 %.1fs p99 %.1fs (heartbeat %v + %v)", len(all),
		liveproof.P(all, .5).Seconds(), liveproof.P(all, .99).Seconds(), sdkHeartbeat, sdkHeartbeat)
}

// sdkHeartbeat is the SDK proofs' heartbeat interval and timeout: short, so
// that blackholed connections are found within the run.
const sdkHeartbeat = time.Second

func newSDKRun(ctx context.Context, t *testing.T, size sdkSize) *sdkRun {
	t.Helper()
	r := startSDKEmulator(ctx, t, size, "sdk")
	e := r.e
	for i, user := range r.names {
		c, err := client.Dial(ctx, e.WebSocketURL, client.Options{
			HTTPClient: r.proxies[i].HTTPClient(), // the emulator addressed, through the client's proxy
			Token:      func(ctx context.Context) (string, error) { return e.Token(ctx, user) },
			// Hand over well before the emulator's cut, so most
			// connections are replaced by handovers and the rest by
			// reconnects after the cut or a kill.
			MaxLifetime:     size.lifetime * 3 / 5,
			AckTimeout:      3 * time.Second,
			BackoffBase:     50 * time.Millisecond,
			BackoffMax:      time.Second,
			MaxSendAttempts: 60,
			GapTimeout:      time.Second,
			PingInterval:    time.Minute,
			// Short, so that blackholed connections are found within
			// the run; TestReliabilityHostileNetwork proves the default.
			HeartbeatInterval: sdkHeartbeat,
			HeartbeatTimeout:  sdkHeartbeat,
			OnState:           r.lost[i].state,
		})
		if err != nil {
			t.Fatalf("dial %s: %v", user, err)
		}
		t.Cleanup(func() { _ = c.Close() })
		r.clients = append(r.clients, c)
		d, subs := r.subscribe(ctx, t, c, user)
		r.delivered = append(r.delivered, d)
		r.subs = append(r.subs, subs)
	}
	return r
}

// subscribe joins every channel from its start and records what the
// application receives: the seqs of messages and updates (both items of
// the stream).
func (r *sdkRun) subscribe(ctx context.Context, t *testing.T, c *client.Client, user string) (map[string]*delivery, map[string]*client.Subscription) {
	t.Helper()
	out, subs := map[string]*delivery{}, map[string]*client.Subscription{}
	for _, ch := range r.channels {
		sub, err := c.Join(ctx, ch, client.From(0))
		if err != nil {
			t.Fatalf("%s: join %s: %v", user, ch, err)
		}
		d := &delivery{}
		out[ch], subs[ch] = d, sub
		go func() {
			for ev := range sub.Events() {
				d.mu.Lock()
				switch ev.Type {
				case client.EventMessage:
					d.seqs = append(d.seqs, ev.Message.Seq)
				case client.EventUpdate:
					d.seqs = append(d.seqs, ev.Update.Seq)
				case client.EventDiscontinuity:
					d.holes = append(d.holes, [2]int64{ev.Discontinuity.From, ev.Discontinuity.To})
				}
				d.mu.Unlock()
			}
		}()
	}
	return out, subs
}

// send has every sender send its messages round robin over the channels,
// one at a time (Send returns once acknowledged), each followed by one
// change (lifecycleStep: an edit or a delete of one of its own messages,
// a reaction or unreaction, or a reply). It returns the acknowledged seqs
// per channel (messages and updates) and how many requests failed.
func (r *sdkRun) send(ctx context.Context, t *testing.T) (map[string][]int64, int) {
	var (
		mu     sync.Mutex
		acked  = map[string][]int64{}
		seen   = map[string][]int64{}
		failed int
		wg     sync.WaitGroup
	)
	r.tally = &lifeTally{}
	for i := range r.size.senders {
		c := r.clients[i]
		s := &sender{own: map[string][]int64{}, rx: map[string][][2]any{}, rng: rand.New(rand.NewPCG(uint64(i), 7))}
		wg.Go(func() {
			for k := range r.size.perSender {
				ch := r.channels[(i+k)%len(r.channels)]
				seq, err := c.Send(ctx, ch, fmt.Sprintf("%s #%d", r.names[i], k))
				mu.Lock()
				if err != nil {
					failed++
					t.Logf("%s: send %d to %s: %v", r.names[i], k, ch, err)
				} else {
					acked[ch] = append(acked[ch], seq)
					seen[ch] = append(seen[ch], seq)
					s.own[ch] = append(s.own[ch], seq)
				}
				s.seen = map[string][]int64{ch: append([]int64(nil), seen[ch]...)}
				mu.Unlock()
				useq, err := lifecycleStep(ctx, c, s, ch, k, r.tally)
				mu.Lock()
				if err != nil {
					failed++
					t.Logf("%s: change after send %d in %s: %v", r.names[i], k, ch, err)
				} else if useq > 0 {
					acked[ch] = append(acked[ch], useq)
				}
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	return acked, failed
}

// sdkFigures are the counts the proof prints and asserts.
type sdkFigures struct {
	acked, deliveries, lost, duplicated, outOfOrder int
	discontinuities, unreported                     int
	reconnects, handovers                           int64
	faults                                          map[string]int
	// The lifecycle: what was changed, and the convergence check.
	life              *lifeTally
	checked, diverged int
	// lostSeqs are the first few acknowledged seqs a subscription never
	// delivered, for the log line of a failing run.
	lostSeqs []int64
}

func (f sdkFigures) String() string {
	var fs []string
	for name, n := range f.faults {
		fs = append(fs, fmt.Sprintf("%s %d", name, n))
	}
	sort.Strings(fs)
	life := ""
	if f.life != nil {
		life = fmt.Sprintf("; lifecycle: %s; states checked %d, diverged from history %d", f.life, f.checked, f.diverged)
	}
	return fmt.Sprintf("acked %d, deliveries %d, lost %d, duplicated %d, out of order %d, reconnects %d, handovers %d, discontinuities %d (unreported holes %d)%s; faults: %s",
		f.acked, f.deliveries, f.lost, f.duplicated, f.outOfOrder, f.reconnects, f.handovers, f.discontinuities, f.unreported, life, strings.Join(fs, ", "))
}

// check waits (bounded) until every subscription has every acknowledged
// message, then counts, per client and channel, what reached the
// application.
func (r *sdkRun) check(ctx context.Context, t *testing.T, acked map[string][]int64) sdkFigures {
	t.Helper()
	err := poll(ctx, 90*time.Second, func() (bool, error) {
		for _, subs := range r.delivered {
			for ch, d := range subs {
				if checkDelivery(d, acked[ch]).lost > 0 {
					return false, nil
				}
			}
		}
		return true, nil
	})
	if err != nil {
		t.Errorf("not every acknowledged message arrived within 90 s: %v", err)
	}
	var fig sdkFigures
	for ch := range acked {
		fig.acked += len(acked[ch])
	}
	for i, subs := range r.delivered {
		for ch, d := range subs {
			got := checkDelivery(d, acked[ch])
			if got.lost+got.duplicated+got.outOfOrder+got.unreported > 0 {
				t.Logf("%s in %s: %s; first lost seqs %v", r.names[i], ch, got, got.lostSeqs)
			}
			fig.deliveries += got.deliveries
			fig.lost += got.lost
			fig.duplicated += got.duplicated
			fig.outOfOrder += got.outOfOrder
			fig.discontinuities += got.discontinuities
			fig.unreported += got.unreported
		}
	}
	return fig
}

// checkDelivery compares one subscription's stream with the acknowledged
// seqs of its channel (liveproof.Check). A seq inside a reported
// discontinuity that never arrived is counted lost: every message here is
// within retention, so no hole may swallow one.
func checkDelivery(d *delivery, acked []int64) sdkFigures {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := liveproof.Check(d.seqs, d.holes, acked)
	return sdkFigures{deliveries: c.Deliveries, lost: c.Lost, duplicated: c.Duplicated, outOfOrder: c.OutOfOrder,
		unreported: c.Unreported, discontinuities: len(d.holes), lostSeqs: c.LostSeqs}
}

// sdkFaults injects the faults of the proof until stopped, and counts them.
type sdkFaults struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	n      map[string]int
}

func (f *sdkFaults) count(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n[name]++
}

func (f *sdkFaults) counts() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]int{}
	for k, v := range f.n {
		out[k] = v
	}
	return out
}

func (f *sdkFaults) stop() {
	f.cancel()
	f.wg.Wait()
}

// The faults' names in the figure line.
const (
	faultKill      = "connections killed"
	faultBlackhole = "connections blackholed"
	faultCrash     = "handler crashes"
	faultTimeout   = "handler timeouts"
	faultRestart   = "dynalite restarts"
)

// startFaults injects the named faults until stopped.
func (r *sdkRun) startFaults(ctx context.Context, t *testing.T, kinds ...string) *sdkFaults {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	f := &sdkFaults{cancel: cancel, n: map[string]int{}}
	for _, k := range kinds {
		f.n[k] = 0
	}
	on := func(k string) bool { _, ok := f.n[k]; return ok }
	table, err := r.e.TableName()
	if err != nil {
		t.Fatal(err)
	}
	mgmt := apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
		BaseEndpoint: aws.String(r.e.CallbackURL),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
	if on(faultKill) {
		f.wg.Go(func() { r.killConnections(ctx, t, f, mgmt, table) })
	}
	if on(faultBlackhole) {
		f.wg.Go(func() { r.blackholeConnections(ctx, f) })
	}
	if on(faultCrash) {
		f.wg.Go(func() { r.breakHandlers(ctx, t, f, on(faultTimeout)) })
	}
	f.wg.Go(func() {
		if on(faultRestart) && sleepCtx(ctx, 2*time.Second) {
			if err := r.db.restart(ctx, time.Second); err != nil {
				t.Errorf("restart dynalite: %v", err)
				return
			}
			f.count(faultRestart)
		}
	})
	return f
}

// killConnections deletes a random live client connection every 400 ms.
func (r *sdkRun) killConnections(ctx context.Context, t *testing.T, f *sdkFaults, mgmt *apigatewaymanagementapi.Client, table string) {
	for sleepCtx(ctx, 400*time.Millisecond) {
		ids, err := emutest.ConnectionIDs(ctx, dynamotest.Client(r.db.endpoint()), table)
		if err != nil {
			continue // DynamoDB may be restarting
		}
		var all []string
		for _, user := range r.names {
			all = append(all, ids[user]...)
		}
		if len(all) == 0 {
			continue
		}
		id := all[rand.IntN(len(all))]
		_, err = mgmt.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: aws.String(id)})
		if err == nil {
			f.count(faultKill)
		} else if ctx.Err() == nil && !strings.Contains(err.Error(), "GoneException") {
			t.Logf("delete connection %s: %v", id, err)
		}
	}
}

// blackholeConnections makes a random client's link silent (no FIN, no
// RST) every 1.5 s; the client's heartbeat must find it and reconnect.
func (r *sdkRun) blackholeConnections(ctx context.Context, f *sdkFaults) {
	for sleepCtx(ctx, 1500*time.Millisecond) {
		i := rand.IntN(len(r.proxies))
		conn := r.proxies[i].Healthy()
		if conn == nil {
			continue // reconnecting
		}
		l := r.lost[i]
		l.mu.Lock()
		l.faultAt = time.Now()
		l.mu.Unlock()
		conn.Blackhole()
		f.count(faultBlackhole)
	}
}

// breakHandlers crashes a random chat instance every 1.5 s and, if hang,
// first hangs one until the emulator times its invocation out.
func (r *sdkRun) breakHandlers(ctx context.Context, t *testing.T, f *sdkFaults, hang bool) {
	hung := !hang
	for sleepCtx(ctx, 1500*time.Millisecond) {
		pids, err := r.e.FunctionPIDs(contract.FunctionChat)
		if err != nil || len(pids) == 0 {
			continue
		}
		pid := pids[rand.IntN(len(pids))]
		if !hung {
			hung = true
			f.wg.Go(func() { r.hang(ctx, t, f, pid) })
			continue
		}
		if emutest.KillPID(pid) == nil {
			f.count(faultCrash)
		}
	}
}

// hang stops pid and counts a timeout when the emulator replaced it; an
// instance that was never handed an invocation is resumed, uncounted.
func (r *sdkRun) hang(ctx context.Context, t *testing.T, f *sdkFaults, pid int) {
	if err := emutest.Stop(pid); err != nil {
		return
	}
	fn, err := r.e.Function(contract.FunctionChat)
	if err != nil {
		t.Error(err)
		return
	}
	err = poll(context.WithoutCancel(ctx), fn.Timeout+15*time.Second, func() (bool, error) {
		pids, err := r.e.FunctionPIDs(contract.FunctionChat)
		for _, p := range pids {
			if p == pid {
				return false, err
			}
		}
		return true, err
	})
	if err != nil {
		_ = emutest.Continue(pid)
		t.Logf("hung instance %d was not timed out: %v", pid, err)
		return
	}
	f.count(faultTimeout)
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// restartableDynalite is a dynalite on a fixed port and data directory
// that the test can stop and start again.
type restartableDynalite struct {
	mu   sync.Mutex
	db   *dynalite.Server
	port int
	dir  string
	ep   atomic.Value
	// stderr is what the dynalite processes wrote there, shown when the
	// test fails: a process that died unasked says why.
	stderr testkit.Buffer
}

func startRestartable(ctx context.Context, t *testing.T) *restartableDynalite {
	t.Helper()
	r := &restartableDynalite{port: freePort(t), dir: t.TempDir()}
	db, err := dynalite.Start(ctx, dynalite.Options{Port: r.port, DataDir: r.dir, Stderr: &r.stderr})
	if err != nil {
		t.Fatal(err)
	}
	r.db = db
	r.ep.Store(db.Endpoint())
	t.Cleanup(func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.db != nil {
			_ = r.db.Close()
		}
		if out := r.stderr.String(); t.Failed() && out != "" {
			t.Logf("dynalite's stderr:\n%s", out)
		}
	})
	return r
}

func (r *restartableDynalite) endpoint() string { return r.ep.Load().(string) }

func (r *restartableDynalite) restart(ctx context.Context, down time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.db.Close(); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	r.db = nil
	time.Sleep(down)
	db, err := dynalite.Start(context.WithoutCancel(ctx), dynalite.Options{Port: r.port, DataDir: r.dir, Stderr: &r.stderr})
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	r.db = db
	return nil
}

// TestCheckDeliveryFindsEveryKindOfFault is the proof's positive control:
// the checker counts each fault it exists to find.
func TestCheckDeliveryFindsEveryKindOfFault(t *testing.T) {
	tests := []struct {
		name  string
		seqs  []int64
		holes [][2]int64
		acked []int64
		want  sdkFigures
	}{
		{"clean", []int64{1, 2, 4}, nil, []int64{1, 2, 4}, sdkFigures{deliveries: 3}},
		{"lost at the end", []int64{1, 2}, nil, []int64{1, 2, 3}, sdkFigures{deliveries: 2, lost: 1}},
		{"duplicated", []int64{1, 2, 2}, nil, []int64{1, 2}, sdkFigures{deliveries: 3, duplicated: 1, outOfOrder: 1}},
		{"out of order", []int64{2, 1}, nil, []int64{1, 2}, sdkFigures{deliveries: 2, outOfOrder: 1}},
		{"silent hole", []int64{1, 3}, nil, []int64{1, 2, 3}, sdkFigures{deliveries: 2, lost: 1, unreported: 1}},
		{"reported hole", []int64{1, 3}, [][2]int64{{2, 2}}, []int64{1, 2, 3}, sdkFigures{deliveries: 2, lost: 1, discontinuities: 1}},
	}
	for _, tt := range tests {
		got := checkDelivery(&delivery{seqs: tt.seqs, holes: tt.holes}, tt.acked)
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%s: checkDelivery = %s, want %s", tt.name, got, tt.want)
		}
	}
}
