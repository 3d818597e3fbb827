package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/dynalite"
	"github.com/wschat/wschat/internal/dynamo"
	"github.com/wschat/wschat/internal/dynamo/dynamotest"
	"github.com/wschat/wschat/internal/emutest"
)

// TestReliabilityClientsKilledMidBroadcast kills clients abruptly (TCP reset,
// no WebSocket close) while a message is being fanned out to them. The
// broadcast must carry on: the dead connections answer 410 and are removed
// with their memberships, every other member gets the message once, and the
// next broadcast only reaches the survivors.
//
// The kills certainly land during the broadcast: the chat function posts
// through postHold, which holds the posts to the victims until they are
// dead (the emulator answers 410 for them), so the broadcast has read its
// members and is waiting on those very posts when the clients die. (It
// used to kill after the first member got the message and rely on 200 ms
// per post round to reach the victims later: under load the broadcast
// could finish first, 0 gone.)
func TestReliabilityClientsKilledMidBroadcast(t *testing.T) {
	hold := startPostHold(t)
	e := startEmulator(t, emutest.Options{PostLatency: 5 * time.Millisecond,
		FunctionEnv: []string{contract.FunctionChat + ":" + contract.EnvCallbackURL + "=" + hold.callbackURL("dev")}})
	hold.forwardTo(e)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	victims, others := 22, 60
	if soak {
		w := chatWorkers(t, e)
		victims, others = 2*w, 2*w
	}
	members := victims + others
	const channel = "kill"
	clients := connect(ctx, t, e, "kill", members)
	db, table, idOf := seedChannel(ctx, t, e, clients, channel)
	t.Logf("kill: %d members, %d to be killed mid-broadcast", members, victims)

	// Victims are spread over the members, wherever their posts fall in
	// the fan-out; the first member sends.
	var dead, survivors []*emutest.Client
	step := members / victims
	for i, c := range clients {
		if i%step == 1 && len(dead) < victims {
			dead = append(dead, c)
		} else {
			survivors = append(survivors, c)
		}
	}
	sender := survivors[0]
	var deadIDs []string
	for _, c := range dead {
		deadIDs = append(deadIDs, idOf[c])
	}
	hold.hold(deadIDs...)

	var fanouts fanoutLines
	defer e.WatchFanouts(fanouts.add)()

	sent := make(chan error, 1)
	var seq1 int64
	go func() {
		var err error
		seq1, err = sender.Send(ctx, channel, "first", "kill-1")
		sent <- err
	}()
	// The broadcast is now waiting on every victim's post: kill them, wait
	// until the emulator has let go of each (GET answers 410), release.
	if err := hold.waitHeld(ctx, deadIDs); err != nil {
		t.Fatalf("the broadcast never posted to every victim: %v", err)
	}
	for _, c := range dead {
		_ = c.Kill()
	}
	mgmt := managementClient(e)
	for _, id := range deadIDs {
		err := poll(ctx, 20*time.Second, func() (bool, error) {
			_, err := mgmt.GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{ConnectionId: aws.String(id)})
			return err != nil && strings.Contains(err.Error(), "GoneException"), nil
		})
		if err != nil {
			t.Fatalf("killed connection %s still known to the emulator: %v", id, err)
		}
	}
	hold.releaseAll()
	if err := <-sent; err != nil {
		t.Fatalf("send during the kills: %v", err)
	}

	waitAll(ctx, t, survivors, channel, "first")
	l := fanouts.wait(ctx, t, channel, "send", 1)[0]
	t.Logf("broadcast with %d of %d members killed mid-way: %+v", victims, members, l)
	if l.Gone != victims || l.Delivered != members-victims || l.Failed != 0 {
		t.Errorf("want the %d killed members gone (410), the other %d delivered, none failed; got %+v", victims, members-victims, l)
	}

	// The dead connections are removed, with their memberships, by the 410
	// handling or by their $disconnect, whichever ran first.
	for _, c := range dead {
		id := idOf[c]
		err := poll(ctx, 20*time.Second, func() (bool, error) {
			n, err := emutest.ItemsOf(ctx, db, table, id)
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
	// Every survivor gets it. A removed member may still be read for a few
	// seconds from the channel's recent-joins log (internal/dynamo,
	// recipients.go): it is then one more 410, never a skipped survivor.
	if l2.Delivered != len(survivors) || l2.Members-l2.Gone != len(survivors) || l2.Failed != 0 || l2.Skipped != 0 {
		t.Errorf("second broadcast: want %d survivors delivered, any other member gone; got %+v", len(survivors), l2)
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
	e := startEmulator(t, emutest.Options{PostLatency: 20 * time.Millisecond, DynamoDBEndpoint: db.Endpoint()})

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

// TestReliabilityHandlerCrash kills (SIGKILL) the chat instance handling a
// send after it has claimed it, taken its seq and stored the message, at
// the start of the fan-out: a proxy in front of DynamoDB holds the
// instance's member Query meanwhile, so no post is in flight. The sender gets
// API Gateway's error frame, the instance is replaced, and the retry with the
// same clientId delivers the stored message under the same seq to every
// member exactly once, taking no second seq. Another channel's traffic runs
// throughout, unaffected.
//
// The crash is not placed in the middle of the posts: the emulator's gateway
// writes each post with the request's context, so a caller that dies while
// posts are in flight can close or wedge their recipients' connections,
// which API Gateway does not do (reported to the emulator's owner).
func TestReliabilityHandlerCrash(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	db, err := dynalite.Start(ctx, dynalite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	proxy, err := emutest.StartDynamoProxy(db.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxy.Close() })
	// The dev stack without its table stream: with one, the emulator's
	// stream capture sits in front of --dynamodb-endpoint and the proxy
	// sees the capture's connections, not the chat instance's, which is
	// how this test finds the instance to kill. (The integrations' own
	// crash case is TestIntegrationsEndToEnd's.)
	tpl := filepath.Join(t.TempDir(), "WsChat-dev-nostream.template.json")
	if err := emutest.WithoutEvents(filepath.Join(root, emutest.DefaultTemplate), tpl); err != nil {
		t.Fatal(err)
	}
	e := startEmulator(t, emutest.Options{PostLatency: 20 * time.Millisecond, DynamoDBEndpoint: proxy.URL(), Template: tpl})

	const channel = "crash"
	clients := connect(ctx, t, e, "crash", 20)
	joinAll(ctx, t, clients, func(int) []string { return []string{channel} })
	calm := startCalm(ctx, t, e)
	sender := clients[0]

	hold := proxy.Hold(func(op string, body []byte) bool {
		// The fan-out's read of the channel's keys-only member items.
		return op == "Query" && bytes.Contains(body, []byte(`"M#`+channel+`#`))
	})
	reply := make(chan reqResult, 1)
	go func() {
		f, err := sender.Request(ctx, map[string]string{"action": "send", "channel": channel, "text": "crash", "clientId": "crash-1"}, "send",
			func(f emutest.Frame) bool { return f.Type == "ack" })
		reply <- reqResult{f, err}
	}()
	select {
	case <-hold.Held():
	case <-time.After(30 * time.Second):
		t.Fatal("the send never queried the channel's members")
	}
	_, portStr, _ := net.SplitHostPort(hold.RemoteIP)
	port, _ := strconv.Atoi(portStr)
	pids, err := e.FunctionPIDs(contract.FunctionChat)
	if err != nil {
		t.Fatal(err)
	}
	victim, err := emutest.OwnerOfPort(pids, port)
	if err != nil {
		t.Fatalf("which chat instance sent the held Query: %v", err)
	}
	if err := emutest.KillPID(victim); err != nil {
		t.Fatal(err)
	}
	hold.Release() // the request's client is dead: the proxy drops it

	var r reqResult
	select {
	case r = <-reply:
	case <-time.After(30 * time.Second):
		t.Fatal("no answer to the sender after the crash")
	}
	var fe *emutest.FrameError
	if !errors.As(r.err, &fe) || !fe.Frame.IsGatewayError() {
		t.Fatalf("sender: want API Gateway's error frame after the crash, got %+v, %v", r.f, r.err)
	}
	t.Logf("crash: instance %d killed at the start of its fan-out; sender got %q", victim, fe.Frame.Message)
	for _, c := range clients {
		if n := countText(c.Frames(), channel, "crash"); n != 0 {
			t.Errorf("%s got the message before the retry: nothing was posted", c.User)
		}
	}
	assertReplaced(t, e, victim)

	// The retry completes the send under the seq the crashed attempt took.
	var stats sendStats
	seq, err := sendRetrying(ctx, sender, channel, "crash", "crash-1", &stats)
	if err != nil {
		t.Fatalf("retry after the crash: %v", err)
	}
	next, err := sender.Send(ctx, channel, "after", "crash-2")
	if err != nil {
		t.Fatalf("send after the crash: %v", err)
	}
	// The channel's first seq is its counter's base + 1 (dynamo/counter.go).
	// The retry took first+1 before its claim said first, and settled it
	// (issue #23: the claim carries its seq, so the seq is taken before
	// the claim is found), so the next send gets first+2.
	first := firstSeq(ctx, t, e, channel)
	if seq != first || next != first+2 {
		t.Errorf("want the retry to keep the channel's first seq %d and the next send to get %d; got %d and %d", first, first+2, seq, next)
	}
	waitAll(ctx, t, clients, channel, "after")
	var total messageCheck
	for _, c := range clients {
		if err := c.Ended(); err != nil {
			t.Errorf("%s: connection ended: %v", c.User, err)
		}
		total.add(checkMessages(c.Frames(), channel, []int64{seq, next}))
	}
	t.Logf("crash: after the retry %d deliveries of seqs %d and %d: lost %d, duplicated %d", total.delivered, seq, next, total.lost, total.duplicated)
	if total.lost != 0 || total.duplicated != 0 || total.unknown != 0 || total.senderFIFO != 0 {
		t.Errorf("want every member to have each message once, in order; got %+v", total)
	}
	checkHistory(ctx, t, sender, []string{channel}, map[string][]int64{channel: {seq, next}})
	calm.stopAndCheck(t)
}

// TestReliabilityHandlerTimeout hangs the chat instance that takes a send
// (SIGSTOP) until the function's timeout (10 s in dev): the emulator kills
// and replaces it, the sender gets API Gateway's error frame, the retry
// succeeds, and clients of other channels are unaffected meanwhile.
func TestReliabilityHandlerTimeout(t *testing.T) {
	e := startEmulator(t, emutest.Options{PostLatency: 20 * time.Millisecond})
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
	victim, reply := freezeNextInvocation(ctx, t, e, func() (emutest.Frame, error) {
		return sender.Request(ctx, map[string]string{"action": "send", "channel": channel, "text": "hang", "clientId": "hang-1"}, "send",
			func(f emutest.Frame) bool { return f.Type == "ack" })
	})
	calm.resume()
	r := <-reply
	waited := time.Since(start)
	var fe *emutest.FrameError
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

// chatWorkers is the chat function's fan-out worker count in the template.
func chatWorkers(t *testing.T, e *emutest.Emulator) int {
	t.Helper()
	f, err := e.Function(contract.FunctionChat)
	if err != nil {
		t.Fatal(err)
	}
	w, err := strconv.Atoi(f.Env[contract.EnvFanoutWorkers])
	if err != nil || w < 1 {
		t.Fatalf("chat function: %s=%q: want a worker count", contract.EnvFanoutWorkers, f.Env[contract.EnvFanoutWorkers])
	}
	return w
}

// seedChannel makes every client a member of channel through the store
// (dynamo.Store.AddMember, what the join handler calls), without the
// "joined" broadcast per join that makes filling a channel of n cost n²/2
// posts. It returns the table, its client and each client's connection id.
func seedChannel(ctx context.Context, t *testing.T, e *emutest.Emulator, clients []*emutest.Client, channel string) (*dynamodb.Client, string, map[*emutest.Client]string) {
	t.Helper()
	table, err := e.TableName()
	if err != nil {
		t.Fatal(err)
	}
	db := dynamotest.Client(e.DynamoDB)
	ids, err := emutest.ConnectionIDs(ctx, db, table)
	if err != nil {
		t.Fatal(err)
	}
	store := dynamo.New(db, table, dynamo.Options{})
	idOf := map[*emutest.Client]string{}
	now := time.Now()
	for _, c := range clients {
		if len(ids[c.User]) != 1 {
			t.Fatalf("%s: want one stored connection, got %v", c.User, ids[c.User])
		}
		idOf[c] = ids[c.User][0]
		m := chat.Member{Channel: channel, ConnectionID: idOf[c], Identity: chat.Identity{UserID: c.User, UserName: c.User},
			JoinedAt: now, ExpiresAt: now.Add(chat.ConnectionTTL)}
		if _, err := store.AddMember(ctx, m, 20); err != nil {
			t.Fatalf("seed %s in %s: %v", c.User, channel, err)
		}
	}
	return db, table, idOf
}

// freezeNextInvocation stops every chat instance, starts request, finds the
// stopped instance the emulator handed the invocation to (its socket holds
// the unread answer to GET /invocation/next), resumes the others and returns
// it, still stopped. No other chat traffic may start meanwhile; what is in
// flight is waited for: the gateway's gauge of work in progress must be 0
// (it used to sleep 300 ms, and under load a calm send's invocation was
// still being dispatched: two stopped instances held invocations).
func freezeNextInvocation(ctx context.Context, t *testing.T, e *emutest.Emulator, request func() (emutest.Frame, error)) (int, <-chan reqResult) {
	t.Helper()
	err := poll(ctx, 30*time.Second, func() (bool, error) {
		n, err := processing(ctx, e)
		return err == nil && n == 0, err
	})
	if err != nil {
		t.Fatalf("the gateway never went idle before the freeze: %v", err)
	}
	pids, err := e.FunctionPIDs("chat")
	if err != nil || len(pids) == 0 {
		t.Fatalf("chat instances: %v %v", pids, err)
	}
	for _, pid := range pids {
		if err := emutest.Stop(pid); err != nil {
			t.Fatal(err)
		}
	}
	resumeOthers := func(except int) {
		for _, pid := range pids {
			if pid != except {
				_ = emutest.Continue(pid)
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
			if ok, _ := emutest.HasUnreadInput(pid); ok {
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
	f   emutest.Frame
	err error
}

// assertReplaced checks that pid is gone and the chat function still serves.
func assertReplaced(t *testing.T, e *emutest.Emulator, pid int) {
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
	clients []*emutest.Client
	paused  atomic.Bool
	sending sync.Mutex // held by the loop for each send, until it is acknowledged
	stop    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	acked   []int64
	errs    []error
}

const calmChannel = "calm"

func startCalm(ctx context.Context, t *testing.T, e *emutest.Emulator) *calmTraffic {
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
			c.sending.Lock()
			if c.paused.Load() {
				c.sending.Unlock()
				continue
			}
			sender := c.clients[k%len(c.clients)]
			id := "calm-" + strconv.Itoa(k)
			seq, err := sender.Send(ctx, calmChannel, id, id)
			c.sending.Unlock()
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

// pause stops new sends and waits until the one in flight is acknowledged
// (its invocation may still be finishing: freezeNextInvocation waits for
// the gateway to be idle).
func (c *calmTraffic) pause() {
	c.paused.Store(true)
	c.sending.Lock()
	defer c.sending.Unlock()
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
		if err := cl.Wait(ctx, func(fs []emutest.Frame) bool { return countMessages(fs, calmChannel) >= want }); err != nil {
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
	lines []emutest.FanoutLog
}

func (f *fanoutLines) add(l emutest.FanoutLog) {
	f.mu.Lock()
	f.lines = append(f.lines, l)
	f.mu.Unlock()
}

// wait returns the first n lines of channel's broadcasts on routeKey.
func (f *fanoutLines) wait(ctx context.Context, t *testing.T, channel, routeKey string, n int) []emutest.FanoutLog {
	t.Helper()
	var got []emutest.FanoutLog
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
func waitAll(ctx context.Context, t *testing.T, clients []*emutest.Client, channel, text string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, c := range clients {
		if err := c.Wait(ctx, func(fs []emutest.Frame) bool { return countText(fs, channel, text) > 0 }); err != nil {
			t.Errorf("%s: no %q in %s: %v", c.User, text, channel, err)
		}
	}
}

func countText(fs []emutest.Frame, channel, text string) int {
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
func checkAll(ctx context.Context, t *testing.T, clients []*emutest.Client, channels []string, acked map[string][]int64) messageCheck {
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
			err := c.Wait(ctx, func(fs []emutest.Frame) bool {
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
func checkHistory(ctx context.Context, t *testing.T, c *emutest.Client, channels []string, acked map[string][]int64) {
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

// firstSeq is the first seq of channel's counter: its base + 1 (1 for a
// counter without a base).
func firstSeq(ctx context.Context, t *testing.T, e *emutest.Emulator, channel string) int64 {
	t.Helper()
	table, err := e.TableName()
	if err != nil {
		t.Fatal(err)
	}
	out, err := dynamotest.Client(e.DynamoDB).GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "CTR#" + channel}, "sk": &types.AttributeValueMemberS{Value: "SEQ"}}})
	if err != nil {
		t.Fatal(err)
	}
	base := int64(0)
	if n, ok := out.Item["base"].(*types.AttributeValueMemberN); ok {
		base, _ = strconv.ParseInt(n.Value, 10, 64)
	}
	return base + 1
}

// processing reads the gateway's gauge of work in flight from the
// emulator's usage document (docs/emulator.md, /@admin/usage).
func processing(ctx context.Context, e *emutest.Emulator) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.BaseURL+"/@admin/usage", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("usage: %s", resp.Status)
	}
	var u struct {
		Gateway struct {
			Processing *int64 `json:"processing"`
		} `json:"gateway"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&u); err != nil {
		return 0, fmt.Errorf("usage: %w", err)
	}
	if u.Gateway.Processing == nil {
		return 0, fmt.Errorf("usage: no gateway.processing gauge")
	}
	return *u.Gateway.Processing, nil
}
