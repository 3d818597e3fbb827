package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/wschat/wschat/internal/cost"
	"github.com/wschat/wschat/internal/emutest"
	"github.com/wschat/wschat/publisher"
)

// What a message costs (issue #23): named workloads run through the real
// stack on the emulator, with the emulator's usage counters and the
// DynamoDB counting proxy read before and after, priced by internal/cost.
// Method: docs/cost.md.

// CostResults is make cost's section of results.json (and cost.json).
type CostResults struct {
	PricesCompiled string    `json:"pricesCompiled"`
	Runs           []CostRun `json:"runs"`
	CPU            []CPURow  `json:"cpu,omitempty"`
	Notes          []string  `json:"notes,omitempty"`
}

// CostRun is one workload's run and bill.
type CostRun struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Channel     string            `json:"channel"`
	Members     int               `json:"members"`
	Sockets     string            `json:"sockets"` // real, virtual
	Path        string            `json:"path"`    // send, publish
	Connections cost.Connections  `json:"connections"`
	Measured    cost.Measured     `json:"measured"`
	Shape       cost.LogShape     `json:"logShape"`
	Bill        cost.Bill         `json:"bill"`
	Anchors     []cost.AnchorCost `json:"anchors"`
	Complete    int               `json:"complete"` // sends every member received
	Note        string            `json:"note,omitempty"`
}

// costWorkload is a named workload: who is in the channel, who sends, and
// the connection model that turns a run into a monthly bill.
type costWorkload struct {
	name, desc string
	channel    string
	members    int  // real clients in the channel; the first one sends
	virtual    int  // virtual members added (the emulator's --virtual-connections)
	backend    bool // the sends are publishes through the publish API
	sends      int
	conn       cost.Connections
	// extras runs with each measured send. It is the hook for the
	// lifecycle issue (#20): a 10-member room with typing indicators (a
	// typing frame before each send) and read receipts (a read frame from
	// each member after it). nil until those actions exist.
	extras func(ctx context.Context, sender *emutest.Client, members []*emutest.Client, seq int64) error
}

// costWorkloads are the workloads. Their connection models:
// members online HoursPerDay hours a day, the channel carrying
// SendsPerHour messages sent while they are; Groups such channels run side
// by side (what the anchors' plans and base fees are sized against).
func costWorkloads(virtual int) []*costWorkload {
	ws := []*costWorkload{
		{name: "DM pair", desc: "two users in a direct conversation", channel: "cost-dm", members: 2, sends: 20,
			conn: cost.Connections{Groups: 5000, Members: 2, HoursPerDay: 8, SendsPerHour: 20}},
		{name: "10-member room", desc: "a small team room (typing and read receipts: hook for #20, not yet measured)", channel: "cost-room10", members: 10, sends: 20,
			conn: cost.Connections{Groups: 1000, Members: 10, HoursPerDay: 8, SendsPerHour: 60}},
		{name: "1,000-member room", desc: "a large community room", channel: "cost-room1000", members: 1000, sends: 5,
			conn: cost.Connections{Groups: 10, Members: 1000, HoursPerDay: 8, SendsPerHour: 120}},
		{name: "backend publishes", desc: "a backend publishing to 100-member channels through the publish API", channel: "cost-backend", members: 100, backend: true, sends: 10,
			conn: cost.Connections{Groups: 100, Members: 100, HoursPerDay: 8, SendsPerHour: 30}},
	}
	if virtual > 0 {
		ws = append(ws, &costWorkload{name: fmt.Sprintf("%s-member broadcast", thousands(virtual)), desc: "one sender to an audience of virtual connections, through the fan-out queue",
			channel: fmt.Sprintf("cost-broadcast%d", virtual), members: 1, virtual: virtual, sends: 2,
			conn: cost.Connections{Groups: 1, Members: virtual + 1, HoursPerDay: 2, SendsPerHour: 10}})
	}
	return ws
}

// sendPace spaces the measured sends: with senders taking turns, no user
// comes near the chat function's 5 sends a second.
const sendPace = 120 * time.Millisecond

// costSend tracks one measured send: its deliveries to real members and
// the frames its sender received.
type costSend struct {
	clientID     string
	sender       *emutest.Client
	want         int64
	got          atomic.Int64
	senderFrames atomic.Int64
	done         chan struct{}
	once         sync.Once
}

// costClients are the cost phase's own WebSocket clients.
type costClients struct {
	e       *emutest.Emulator
	clients []*emutest.Client
	cur     atomic.Pointer[costSend]
}

func (cc *costClients) onFrame(c *emutest.Client, fr emutest.Frame) {
	s := cc.cur.Load()
	if s == nil {
		return
	}
	if c == s.sender {
		s.senderFrames.Add(1)
	}
	// The sender sends as the SDKs do, without echo: its ack carries the
	// message (userId set), and is its delivery.
	own := c == s.sender && fr.Type == "ack" && fr.UserID != ""
	if (fr.Type == "message" || own) && fr.ClientID == s.clientID && s.got.Add(1) == s.want {
		s.once.Do(func() { close(s.done) })
	}
}

// dial connects n clients, 32 at a time.
func (cc *costClients) dial(ctx context.Context, n int) error {
	cc.clients = make([]*emutest.Client, n)
	tr := emutest.NewTransport()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			user := fmt.Sprintf("cost%04d", i)
			dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			tok, err := cc.e.Token(dctx, user)
			if err == nil {
				cc.clients[i], err = emutest.Dial(dctx, cc.e.DialURL(tok), user, emutest.ClientOptions{OnFrame: cc.onFrame, Transport: tr})
			}
			errs[i] = err
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (cc *costClients) closeAll() {
	for _, c := range cc.clients {
		if c != nil {
			_ = c.CloseNow()
		}
	}
}

// measureCost runs every workload and prices it.
func (b *bench) measureCost(ctx context.Context) error {
	prices, err := cost.Load()
	if err != nil {
		return err
	}
	shapes, err := readLogConfig(b.tpl, b.stack)
	if err != nil {
		return err
	}
	ws := costWorkloads(b.opts.virtual)
	need := 0
	for _, w := range ws {
		need += w.members
	}
	cc := &costClients{e: b.e}
	b.p.printf("cost: connecting %d clients for %d workloads", need, len(ws))
	if err := cc.dial(ctx, need); err != nil {
		return fmt.Errorf("cost: connect: %w", err)
	}
	defer cc.closeAll()
	res := &CostResults{PricesCompiled: prices.Compiled}
	b.res.Cost = res
	next := 0
	for _, w := range ws {
		members := cc.clients[next : next+w.members]
		next += w.members
		run, err := b.costRun(ctx, cc, w, members)
		if err != nil {
			return fmt.Errorf("cost: %s: %w", w.name, err)
		}
		run.Shape = shapes.of(run.Measured)
		if run.Bill, err = cost.Compute(prices, w.conn, run.Measured, run.Shape); err != nil {
			return fmt.Errorf("cost: %s: %w", w.name, err)
		}
		run.Anchors = cost.Anchors(prices, w.conn, run.Bill.DeliveriesPerSend, run.Bill.Floor+run.Bill.Line(cost.PartConnections).PerMillionSent)
		res.Runs = append(res.Runs, run)
		b.p.printf("  %s: $%.3f per million sent, $%.3f per million delivered; overhead %.0f%% of the API Gateway messages; %.0f log bytes per send",
			w.name, run.Bill.PerMillionSent, run.Bill.PerMillionDelivered, run.Bill.OverheadShare*100, run.Bill.LogBytesPerSend)
	}
	if b.opts.virtual > 0 && !b.opts.skip["cpu"] {
		if err := b.measureCPU(ctx); err != nil {
			return fmt.Errorf("cost: CPU per delivery: %w", err)
		}
	}
	return nil
}

// costRun sets up w's channel, warms it with one unmeasured send, and
// measures w.sends sends between two readings of the counters.
func (b *bench) costRun(ctx context.Context, cc *costClients, w *costWorkload, members []*emutest.Client) (CostRun, error) {
	run := CostRun{Name: w.name, Description: w.desc, Channel: w.channel, Members: w.members + w.virtual, Sockets: "real", Path: "send", Connections: w.conn}
	if w.virtual > 0 {
		run.Sockets = "virtual"
	}
	if w.backend {
		run.Path = "publish"
	}
	send, err := b.costSender(ctx, cc, w, members)
	if err != nil {
		return run, err
	}
	if w.virtual == 0 {
		if _, err := send(ctx, "warm"); err != nil {
			return run, fmt.Errorf("warm-up: %w", err)
		}
	}
	before, err := readUsage(ctx, b.e)
	if err != nil {
		return run, err
	}
	b.proxy.Reset()
	var m cost.Measured
	for k := range w.sends {
		d, err := send(ctx, fmt.Sprintf("m%d", k))
		if err != nil {
			return run, err
		}
		time.Sleep(sendPace)
		m.Sends++
		m.Deliveries += d.deliveries
		m.SenderFrames += d.senderFrames
		if d.complete {
			run.Complete++
		}
	}
	// Fan-out tasks and their log lines finish after the last ack.
	time.Sleep(time.Second)
	after, err := readUsage(ctx, b.e)
	if err != nil {
		return run, err
	}
	fillMeasured(&m, after.Sub(before), b.proxy.Snapshot())
	if w.backend {
		m.HTTPRequests = int64(m.Sends)
	}
	run.Measured = m
	if run.Complete < w.sends {
		run.Note = fmt.Sprintf("%d of %d sends did not reach every member", w.sends-run.Complete, w.sends)
	}
	return run, nil
}

// fillMeasured copies the counters of the window into m.
func fillMeasured(m *cost.Measured, u Usage, d emutest.DynamoCounts) {
	g := u.Gateway
	m.GatewayMessagesIn, m.GatewayMessagesOut = g.MessagesIn, g.MessagesOut
	m.GatewayUnitsIn, m.GatewayUnitsOut = g.UnitsIn, g.UnitsOut
	m.Functions = map[string]cost.FunctionUsage{}
	for name, f := range u.Functions {
		if f.Invocations == 0 && f.LogEvents == 0 {
			continue
		}
		m.Functions[name] = cost.FunctionUsage{Invocations: f.Invocations, BilledMs: f.BilledMs, MemoryMB: f.MemoryMB, LogEvents: f.LogEvents, LogBytes: f.LogBytes}
	}
	m.ReadUnits, m.WriteUnits, m.DynamoCalls = d.ReadCU, d.WriteCU, d.Calls
	m.SQSUnits, m.SQSMappingBatches = u.SQS.Units, u.SQS.MappingBatches
	m.BusEvents = u.Events.Units
}

// sent is what one send did.
type sent struct {
	deliveries, senderFrames int64
	complete                 bool
}

// costSender joins w's members (and seeds its virtual ones) and returns
// the function that sends one message and waits for its delivery.
func (b *bench) costSender(ctx context.Context, cc *costClients, w *costWorkload, members []*emutest.Client) (func(context.Context, string) (sent, error), error) {
	if err := joinAll(ctx, w.channel, members); err != nil {
		return nil, err
	}
	if w.virtual > 0 {
		ids, err := b.e.AddVirtual(ctx, w.virtual)
		if err != nil {
			return nil, err
		}
		if err := b.store.SeedFanoutMembers(ctx, w.channel, ids); err != nil {
			return nil, err
		}
		return func(ctx context.Context, id string) (sent, error) {
			return b.virtualCostSend(ctx, cc, members[0], w, id)
		}, nil
	}
	if w.backend {
		pub, err := b.publisher()
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context, id string) (sent, error) {
			return cc.deliver(len(members), nil, w.channel+"-"+id, func(clientID string) error {
				_, err := pub.Publish(ctx, w.channel, clientID, "cost "+clientID)
				return err
			})
		}, nil
	}
	// Senders take turns, and sends are paced (costRun): each user may send
	// 5 a second (burst 10), and a rate-limited send is not what is priced.
	turn := 0
	return func(ctx context.Context, id string) (sent, error) {
		sender := members[turn%len(members)]
		turn++
		return cc.deliver(len(members), sender, w.channel+"-"+id, func(clientID string) error {
			seq, err := sender.SendAckOnly(ctx, w.channel, "cost "+clientID, clientID)
			if err == nil && w.extras != nil {
				err = w.extras(ctx, sender, members, seq)
			}
			return err
		})
	}, nil
}

// deliver runs do (one send with clientID) and waits until want members
// have the message, up to 20 s.
func (cc *costClients) deliver(want int, sender *emutest.Client, clientID string, do func(string) error) (sent, error) {
	s := &costSend{clientID: clientID, sender: sender, want: int64(want), done: make(chan struct{})}
	cc.cur.Store(s)
	defer cc.cur.Store(nil)
	if err := do(clientID); err != nil {
		return sent{}, fmt.Errorf("send %s: %w", clientID, err)
	}
	out := sent{complete: true}
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		out.complete = false
	}
	// The ack and the sender's own copy race; both are in by now or
	// within a moment.
	time.Sleep(50 * time.Millisecond)
	out.deliveries, out.senderFrames = s.got.Load(), s.senderFrames.Load()
	return out, nil
}

// virtualCostSend sends from the one real member and waits until every
// virtual member has a post (and the sender its own copy).
func (b *bench) virtualCostSend(ctx context.Context, cc *costClients, sender *emutest.Client, w *costWorkload, id string) (sent, error) {
	v0, err := b.e.Virtual(ctx, false)
	if err != nil {
		return sent{}, err
	}
	var posts int64
	d, err := cc.deliver(1, sender, w.channel+"-"+id, func(clientID string) error {
		if _, err := sender.SendAckOnly(ctx, w.channel, "cost "+clientID, clientID); err != nil {
			return err
		}
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) && ctx.Err() == nil {
			v, err := b.e.Virtual(ctx, false)
			if err != nil {
				return err
			}
			if posts = v.Posts - v0.Posts; posts >= int64(w.virtual) {
				return nil
			}
			time.Sleep(100 * time.Millisecond)
		}
		return ctx.Err()
	})
	d.deliveries += posts
	d.complete = d.complete && posts >= int64(w.virtual)
	return d, err
}

// joinAll has clients join channel through the protocol, 32 at a time.
func joinAll(ctx context.Context, channel string, clients []*emutest.Client) error {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	errs := make([]error, len(clients))
	for i, c := range clients {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			jctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			if err := c.Join(jctx, channel); err != nil {
				errs[i] = fmt.Errorf("%s joins %s: %w", c.User, channel, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// publisher is a publish API client for the emulator, signed with the
// emulator's local credentials.
func (b *bench) publisher() (*publisher.Client, error) {
	if len(b.stack.HTTPAPIs) == 0 {
		return nil, errors.New("the template has no publish API")
	}
	return publisher.New(publisher.Options{
		Endpoint: b.e.BaseURL + "/@http/" + b.stack.HTTPAPIs[0].Stage, Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""), MaxAttempts: 1,
	})
}
