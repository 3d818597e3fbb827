package reliability

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"wschat/internal/dynalite"
	"wschat/reliability/harness"
)

// TestReliabilityClientsKilledMidBroadcast kills clients abruptly (TCP reset,
// no WebSocket close) while a message is being fanned out to them. The
// broadcast must carry on: the dead connections answer 410 and are removed
// with their memberships, every other member gets the message once, and the
// next broadcast only reaches the survivors.
func TestReliabilityClientsKilledMidBroadcast(t *testing.T) {
	// 200 ms per @connections call and 64 workers: 150 members are posted in
	// three rounds (64, 64, 22), so the last round's members can be killed
	// after the first round has arrived and ~400 ms before their own posts.
	members, victims := 150, 22
	if soak {
		members, victims = 400, 80 // rounds of 64: the last 80 are rounds 6 and 7
	}
	e := startEmulator(t, harness.Options{PostLatency: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	const channel = "kill"
	clients := connect(ctx, t, e, "kill", members)
	setup := time.Now()
	joinAll(ctx, t, clients, func(int) []string { return []string{channel} })
	t.Logf("kill: %d clients joined in %s", len(clients), time.Since(setup).Round(time.Millisecond))

	// Members are posted to in the order of their connection ids (the
	// membership sort key): the victims are the last ones.
	table, err := e.TableName()
	if err != nil {
		t.Fatal(err)
	}
	db := harness.DynamoClient(e.DynamoDB)
	ids, err := harness.ConnectionIDs(ctx, db, table)
	if err != nil {
		t.Fatal(err)
	}
	idOf := map[*harness.Client]string{}
	for _, c := range clients {
		if len(ids[c.User]) != 1 {
			t.Fatalf("%s: want one stored connection, got %v", c.User, ids[c.User])
		}
		idOf[c] = ids[c.User][0]
	}
	ordered := slices.Clone(clients)
	sort.Slice(ordered, func(i, j int) bool { return idOf[ordered[i]] < idOf[ordered[j]] })
	sender := ordered[0]
	dead := ordered[len(ordered)-victims:]
	survivors := ordered[:len(ordered)-victims]

	var fanouts fanoutLines
	defer e.WatchFanouts(fanouts.add)()

	// Kill the victims as soon as the first member has the message.
	var once sync.Once
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		err := survivors[1].Wait(ctx, func(fs []harness.Frame) bool { return countText(fs, channel, "first") > 0 })
		once.Do(func() {
			if err != nil {
				t.Errorf("no member got the first message: %v", err)
			}
			for _, c := range dead {
				_ = c.Kill()
			}
		})
	}()
	seq1, err := sender.Send(ctx, channel, "first", "kill-1")
	if err != nil {
		t.Fatalf("send during the kills: %v", err)
	}
	<-killed

	waitAll(ctx, t, survivors, channel, "first")
	l := fanouts.wait(ctx, t, channel, "send", 1)[0]
	t.Logf("broadcast with %d of %d members killed mid-way: %+v", victims, members, l)
	if l.Gone < 1 || l.Delivered+l.Gone != members || l.Failed != 0 {
		t.Errorf("want every member delivered or gone (410), at least one gone, none failed; got %+v", l)
	}

	// The dead connections are removed, with their memberships, by the 410
	// handling or by their $disconnect, whichever ran first.
	for _, c := range dead {
		id := idOf[c]
		err := poll(ctx, 20*time.Second, func() (bool, error) {
			n, err := harness.ItemsOf(ctx, db, table, id)
			return n == 0, err
		})
		if err != nil {
			t.Errorf("%s (%s): items still stored: %v", c.User, id, err)
		}
	}

	// The survivors are unaffected: still connected, the first message once,
	// and the next broadcast reaches exactly them.
	seq2, err := sender.Send(ctx, channel, "second", "kill-2")
	if err != nil {
		t.Fatalf("send after the kills: %v", err)
	}
	waitAll(ctx, t, survivors, channel, "second")
	l2 := fanouts.wait(ctx, t, channel, "send", 2)[1]
	if l2.Members != len(survivors) || l2.Delivered != len(survivors) || l2.Gone != 0 {
		t.Errorf("second broadcast: want %d members, all delivered, none gone; got %+v", len(survivors), l2)
	}
	for _, c := range survivors {
		if err := c.Ended(); err != nil {
			t.Errorf("%s: connection ended: %v", c.User, err)
		}
		r := checkMessages(c.Frames(), channel, []int64{seq1, seq2})
		if r.lost != 0 || r.duplicated != 0 || r.unknown != 0 {
			t.Errorf("%s: %+v", c.User, r)
		}
	}
}

// TestReliabilityDynamoDBRestart restarts DynamoDB (dynalite, its data on
// disk) while clients send. Sends during the outage get "internal" error
// frames and are retried with the same clientId; the service recovers
// without an emulator restart, and no acknowledged message is lost.
func TestReliabilityDynamoDBRestart(t *testing.T) {
	nClients, perClient, outage := 8, 16, 1500*time.Millisecond
	if soak {
		nClients, perClient, outage = 40, 80, 5*time.Second
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	dataDir := t.TempDir()
	port := freePort(t)
	db, err := dynalite.Start(ctx, dynalite.Options{Port: port, DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	var dbMu sync.Mutex
	t.Cleanup(func() {
		dbMu.Lock()
		defer dbMu.Unlock()
		_ = db.Close()
	})
	e := startEmulator(t, harness.Options{PostLatency: 20 * time.Millisecond, DynamoDBEndpoint: db.Endpoint()})

	channels := []string{"dyn-a", "dyn-b"}
	clients := connect(ctx, t, e, "dyn", nClients)
	joinAll(ctx, t, clients, func(int) []string { return channels })

	var (
		mu    sync.Mutex
		acked = map[string][]int64{}
		stats sendStats
	)
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			tick := time.NewTicker(250 * time.Millisecond)
			defer tick.Stop()
			for k := range perClient {
				ch := channels[(i+k)%len(channels)]
				id := fmt.Sprintf("%s-%d", c.User, k)
				seq, err := sendRetrying(ctx, c, ch, "text of "+id, id, &stats)
				if err != nil {
					t.Errorf("%s: %s: %v", c.User, id, err)
					return
				}
				mu.Lock()
				acked[ch] = append(acked[ch], seq)
				mu.Unlock()
				select {
				case <-tick.C:
				case <-ctx.Done():
					return
				}
			}
		})
	}

	// Restart DynamoDB a second into the run, on the same port and data.
	time.Sleep(time.Second)
	dbMu.Lock()
	if err := db.Close(); err != nil {
		t.Errorf("stop dynalite: %v", err)
	}
	down := time.Now()
	time.Sleep(outage)
	db, err = dynalite.Start(ctx, dynalite.Options{Port: port, DataDir: dataDir})
	dbMu.Unlock()
	if err != nil {
		t.Fatalf("restart dynalite: %v", err)
	}
	t.Logf("dynalite down for %s", time.Since(down).Round(time.Millisecond))
	wg.Wait()
	if t.Failed() {
		return
	}
	codes := stats.codes()
	if codes["internal"] == 0 {
		t.Errorf("want senders to get internal error frames during the outage; got %v", codes)
	}

	// Every acknowledged message reaches every member, and is in history
	// (which survived the restart).
	total := checkAll(ctx, t, clients, channels, acked)
	gatewayFrames := 0
	for _, c := range clients {
		for _, f := range c.Frames() {
			if f.IsGatewayError() {
				gatewayFrames++
			}
		}
	}
	t.Logf("dynalite restart: %d sends retried %v, and senders also got %d API Gateway error frames; %d deliveries checked: lost %d, duplicated %d, unacknowledged %d",
		stats.retries(), codes, gatewayFrames, total.delivered, total.lost, total.duplicated, total.unknown)
	if total.lost != 0 || total.unknown != 0 {
		t.Errorf("want no acknowledged message lost; got %+v", total)
	}
	checkHistory(ctx, t, clients[0], channels, acked)

	// A new connection works too: $connect writes to DynamoDB again.
	late := connect(ctx, t, e, "dyn-late", 1)[0]
	if err := late.Join(ctx, channels[0]); err != nil {
		t.Fatalf("join after the restart: %v", err)
	}
	if _, err := late.Send(ctx, channels[0], "after", "late-1"); err != nil {
		t.Fatalf("send after the restart: %v", err)
	}
}

// TestReliabilityHandlerCrash kills the chat handler instance that is
// fanning out a message, mid-broadcast. The sender gets API Gateway's error
// frame, the instance is replaced, a retry with the same clientId completes
// the delivery, and clients of other channels are unaffected throughout.
func TestReliabilityHandlerCrash(t *testing.T) {
	e := startEmulator(t, harness.Options{PostLatency: 200 * time.Millisecond})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	// 140 members: the fan-out takes three rounds of 200 ms, time enough to
	// kill the instance after the first round arrived.
	const channel = "crash"
	var firstOnce sync.Once
	firstArrived := make(chan struct{})
	clients := connectWith(ctx, t, e, "crash", 140, func(_ *harness.Client, f harness.Frame) {
		if f.Type == "message" && f.Text == "crash" {
			firstOnce.Do(func() { close(firstArrived) })
		}
	})
	setup := time.Now()
	joinAll(ctx, t, clients, func(int) []string { return []string{channel} })
	t.Logf("crash: %d clients joined in %s", len(clients), time.Since(setup).Round(time.Millisecond))
	calm := startCalm(ctx, t, e)
	sender := clients[0]

	calm.pause()
	victim, reply := freezeNextInvocation(ctx, t, e, func() (harness.Frame, error) {
		return sender.Request(ctx, map[string]string{"action": "send", "channel": channel, "text": "crash", "clientId": "crash-1"}, "send",
			func(f harness.Frame) bool { return f.Type == "ack" })
	})
	calm.resume()
	if err := harness.Continue(victim); err != nil {
		t.Fatal(err)
	}
	// Mid-broadcast: once a member has the message, kill the instance.
	select {
	case <-firstArrived:
	case <-ctx.Done():
		t.Fatal("no member got the message")
	}
	if err := harness.KillPID(victim); err != nil {
		t.Fatal(err)
	}
	r := <-reply
	var fe *harness.FrameError
	if !errors.As(r.err, &fe) || !fe.Frame.IsGatewayError() {
		t.Fatalf("sender: want API Gateway's error frame after the crash, got %+v, %v", r.f, r.err)
	}
	got := 0
	for _, c := range clients {
		got += countText(c.Frames(), channel, "crash")
	}
	t.Logf("crash: instance %d killed as the first member got the message; sender got %q; %d of %d members had it before the retry",
		victim, fe.Frame.Message, got, len(clients))
	if got >= len(clients) {
		t.Errorf("the crash came too late to be mid-broadcast: all %d members already had the message", got)
	}

	// The retry completes the send: a new seq is not taken, every member
	// has the message (those reached before the crash twice: delivery is at
	// least once, and clients drop a seq they have seen).
	var stats sendStats
	seq, err := sendRetrying(ctx, sender, channel, "crash", "crash-1", &stats)
	if err != nil {
		t.Fatalf("retry after the crash: %v", err)
	}
	waitAll(ctx, t, clients, channel, "crash")
	var total messageCheck
	for _, c := range clients {
		total.add(checkMessages(c.Frames(), channel, []int64{seq}))
	}
	t.Logf("crash: after the retry %d members have seq %d, %d of them twice", total.delivered, seq, total.duplicated)
	if total.lost != 0 || total.unknown != 0 {
		t.Errorf("want every member to have the message; got %+v", total)
	}
	assertReplaced(t, e, victim)
	calm.stopAndCheck(t)
}

// TestReliabilityHandlerTimeout hangs the chat instance that takes a send
// (SIGSTOP) until the function's timeout (10 s in dev): the emulator kills
// and replaces it, the sender gets API Gateway's error frame, the retry
// succeeds, and clients of other channels are unaffected meanwhile.
func TestReliabilityHandlerTimeout(t *testing.T) {
	e := startEmulator(t, harness.Options{PostLatency: 20 * time.Millisecond})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	chat, err := e.Function("chat")
	if err != nil {
		t.Fatal(err)
	}
	const channel = "hang"
	clients := connect(ctx, t, e, "hang", 4)
	joinAll(ctx, t, clients, func(int) []string { return []string{channel} })
	calm := startCalm(ctx, t, e)
	sender := clients[0]

	calm.pause()
	start := time.Now()
	victim, reply := freezeNextInvocation(ctx, t, e, func() (harness.Frame, error) {
		return sender.Request(ctx, map[string]string{"action": "send", "channel": channel, "text": "hang", "clientId": "hang-1"}, "send",
			func(f harness.Frame) bool { return f.Type == "ack" })
	})
	calm.resume()
	r := <-reply
	waited := time.Since(start)
	var fe *harness.FrameError
	if !errors.As(r.err, &fe) || !fe.Frame.IsGatewayError() {
		t.Fatalf("sender: want API Gateway's error frame after the timeout, got %+v, %v", r.f, r.err)
	}
	t.Logf("timeout: instance %d hung; sender got %q after %s (function timeout %s)", victim, fe.Frame.Message, waited.Round(time.Millisecond), chat.Timeout)
	if waited < chat.Timeout-time.Second || waited > chat.Timeout+10*time.Second {
		t.Errorf("error frame after %s, want about the function timeout %s", waited, chat.Timeout)
	}
	assertReplaced(t, e, victim)

	var stats sendStats
	seq, err := sendRetrying(ctx, sender, channel, "hang", "hang-1", &stats)
	if err != nil {
		t.Fatalf("retry after the timeout: %v", err)
	}
	waitAll(ctx, t, clients, channel, "hang")
	for _, c := range clients {
		if r := checkMessages(c.Frames(), channel, []int64{seq}); r.lost != 0 || r.duplicated != 0 || r.unknown != 0 {
			t.Errorf("%s: %+v", c.User, r)
		}
	}
	calm.stopAndCheck(t)
}

// freezeNextInvocation stops every chat instance, starts request, finds the
// stopped instance the emulator handed the invocation to (its socket holds
// the unread answer to GET /invocation/next), resumes the others and returns
// it, still stopped. No other chat traffic may run meanwhile.
func freezeNextInvocation(ctx context.Context, t *testing.T, e *harness.Emulator, request func() (harness.Frame, error)) (int, <-chan reqResult) {
	t.Helper()
	// Let invocations in flight finish first.
	time.Sleep(300 * time.Millisecond)
	pids, err := e.FunctionPIDs("chat")
	if err != nil || len(pids) == 0 {
		t.Fatalf("chat instances: %v %v", pids, err)
	}
	for _, pid := range pids {
		if err := harness.Stop(pid); err != nil {
			t.Fatal(err)
		}
	}
	resumeOthers := func(except int) {
		for _, pid := range pids {
			if pid != except {
				_ = harness.Continue(pid)
			}
		}
	}
	reply := make(chan reqResult, 1)
	go func() {
		f, err := request()
		reply <- reqResult{f, err}
	}()
	var victim int
	err = poll(ctx, 10*time.Second, func() (bool, error) {
		var found []int
		for _, pid := range pids {
			if ok, _ := harness.HasUnreadInput(pid); ok {
				found = append(found, pid)
			}
		}
		if len(found) > 1 {
			return false, fmt.Errorf("several stopped instances were handed invocations: %v", found)
		}
		if len(found) == 1 {
			victim = found[0]
		}
		return victim != 0, nil
	})
	if err != nil {
		resumeOthers(0)
		t.Fatalf("find the instance holding the invocation among %v: %v", pids, err)
	}
	resumeOthers(victim)
	return victim, reply
}

type reqResult struct {
	f   harness.Frame
	err error
}

// assertReplaced checks that pid is gone and the chat function still serves.
func assertReplaced(t *testing.T, e *harness.Emulator, pid int) {
	t.Helper()
	err := poll(t.Context(), 10*time.Second, func() (bool, error) {
		pids, err := e.FunctionPIDs("chat")
		return !slices.Contains(pids, pid), err
	})
	if err != nil {
		t.Errorf("instance %d still running: %v", pid, err)
	}
}

// calmTraffic is traffic on another channel that a fault must not disturb: four
// clients sending in turn, every message acknowledged and delivered once.
type calmTraffic struct {
	clients []*harness.Client
	paused  atomic.Bool
	stop    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	acked   []int64
	errs    []error
}

const calmChannel = "calm"

func startCalm(ctx context.Context, t *testing.T, e *harness.Emulator) *calmTraffic {
	t.Helper()
	c := &calmTraffic{stop: make(chan struct{}), done: make(chan struct{})}
	c.clients = connect(ctx, t, e, "calm", 4)
	joinAll(ctx, t, c.clients, func(int) []string { return []string{calmChannel} })
	go func() {
		defer close(c.done)
		for k := 0; k < 10_000; k++ {
			select {
			case <-c.stop:
				return
			case <-time.After(150 * time.Millisecond):
			}
			if c.paused.Load() {
				continue
			}
			sender := c.clients[k%len(c.clients)]
			id := "calm-" + strconv.Itoa(k)
			seq, err := sender.Send(ctx, calmChannel, id, id)
			c.mu.Lock()
			if err != nil {
				c.errs = append(c.errs, fmt.Errorf("%s: %w", id, err))
			} else {
				c.acked = append(c.acked, seq)
			}
			c.mu.Unlock()
		}
	}()
	return c
}

// pause stops new sends and waits for the one in flight.
func (c *calmTraffic) pause() {
	c.paused.Store(true)
	time.Sleep(400 * time.Millisecond)
}

func (c *calmTraffic) resume() { c.paused.Store(false) }

func (c *calmTraffic) stopAndCheck(t *testing.T) {
	t.Helper()
	// Let it run long enough to mean something after the fault.
	_ = poll(t.Context(), 10*time.Second, func() (bool, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.acked) >= 8, nil
	})
	close(c.stop)
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.errs) > 0 {
		t.Errorf("other channel's sends failed: %v", errors.Join(c.errs...))
	}
	if len(c.acked) < 8 {
		t.Errorf("other channel: only %d sends acknowledged", len(c.acked))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var total messageCheck
	for _, cl := range c.clients {
		want := len(c.acked)
		if err := cl.Wait(ctx, func(fs []harness.Frame) bool { return countMessages(fs, calmChannel) >= want }); err != nil {
			t.Errorf("%s: %v", cl.User, err)
		}
		if err := cl.Ended(); err != nil {
			t.Errorf("%s: connection ended: %v", cl.User, err)
		}
		total.add(checkMessages(cl.Frames(), calmChannel, c.acked))
	}
	t.Logf("other channel meanwhile: %d messages acknowledged, %d deliveries: lost %d, duplicated %d", len(c.acked), total.delivered, total.lost, total.duplicated)
	if total.lost != 0 || total.duplicated != 0 || total.unknown != 0 || total.senderFIFO != 0 {
		t.Errorf("other channel disturbed: %+v", total)
	}
}

// fanoutLines collects fan-out log lines.
type fanoutLines struct {
	mu    sync.Mutex
	lines []harness.FanoutLog
}

func (f *fanoutLines) add(l harness.FanoutLog) {
	f.mu.Lock()
	f.lines = append(f.lines, l)
	f.mu.Unlock()
}

// wait returns the first n lines of channel's broadcasts on routeKey.
func (f *fanoutLines) wait(ctx context.Context, t *testing.T, channel, routeKey string, n int) []harness.FanoutLog {
	t.Helper()
	var got []harness.FanoutLog
	err := poll(ctx, 20*time.Second, func() (bool, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		got = got[:0]
		for _, l := range f.lines {
			if l.Channel == channel && l.RouteKey == routeKey {
				got = append(got, l)
			}
		}
		return len(got) >= n, nil
	})
	if err != nil {
		t.Fatalf("want %d fan-out log lines for %s %s, got %d: %v", n, routeKey, channel, len(got), err)
	}
	return got
}

// waitAll waits until every client has a message with text in channel.
func waitAll(ctx context.Context, t *testing.T, clients []*harness.Client, channel, text string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, c := range clients {
		if err := c.Wait(ctx, func(fs []harness.Frame) bool { return countText(fs, channel, text) > 0 }); err != nil {
			t.Errorf("%s: no %q in %s: %v", c.User, text, channel, err)
		}
	}
}

func countText(fs []harness.Frame, channel, text string) int {
	n := 0
	for _, f := range fs {
		if f.Type == "message" && f.Channel == channel && f.Text == text {
			n++
		}
	}
	return n
}

// checkAll waits for every acknowledged message at every client (all joined
// to all channels) and sums the checks.
func checkAll(ctx context.Context, t *testing.T, clients []*harness.Client, channels []string, acked map[string][]int64) messageCheck {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var total messageCheck
	for _, c := range clients {
		for _, ch := range channels {
			want := map[int64]bool{}
			for _, s := range acked[ch] {
				want[s] = true
			}
			err := c.Wait(ctx, func(fs []harness.Frame) bool {
				have := 0
				seen := map[int64]bool{}
				for _, f := range fs {
					if f.Type == "message" && f.Channel == ch && want[f.Seq] && !seen[f.Seq] {
						seen[f.Seq] = true
						have++
					}
				}
				return have == len(want)
			})
			if err != nil {
				t.Errorf("%s in %s: %v", c.User, ch, err)
			}
			total.add(checkMessages(c.Frames(), ch, acked[ch]))
		}
	}
	return total
}

// checkHistory checks that history holds exactly the acknowledged seqs.
func checkHistory(ctx context.Context, t *testing.T, c *harness.Client, channels []string, acked map[string][]int64) {
	t.Helper()
	for _, ch := range channels {
		entries, err := c.History(ctx, ch, 0)
		if err != nil {
			t.Fatalf("history %s: %v", ch, err)
		}
		var got []int64
		for _, en := range entries {
			got = append(got, en.Seq)
		}
		want := slices.Sorted(slices.Values(acked[ch]))
		if !slices.Equal(got, want) {
			t.Errorf("history %s: got seqs %v, want the acknowledged %v", ch, got, want)
		}
	}
}

// poll calls cond every 50 ms until it holds, fails, or within passes.
func poll(ctx context.Context, within time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
