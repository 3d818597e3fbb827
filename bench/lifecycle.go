package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wschat/wschat/internal/emutest"
)

// LifecycleCost is what one request of the message lifecycle costs on the
// real handlers (issue #20): DynamoDB calls, read and write capacity units
// as the counting proxy saw them, and the frames posted because of it
// (to every member and the requester), averaged over Samples requests in
// a channel of Members members.
type LifecycleCost struct {
	Action    string             `json:"action"`
	Members   int                `json:"members"`
	Samples   int                `json:"samples"`
	Calls     float64            `json:"dynamoCalls"`
	CallsByOp map[string]float64 `json:"dynamoCallsByOperation"`
	ReadCU    float64            `json:"readCapacityUnits"`
	WriteCU   float64            `json:"writeCapacityUnits"`
	Posts     float64            `json:"posts"`
}

// lifecycleBench sizes the measurement.
const (
	lifecycleMembers = 10
	lifecycleSamples = 5
	lifecycleChannel = "lifecycle"
)

// lifeStep is one action to measure: prepare (not counted) returns the
// request, done tells its answer.
type lifeStep struct {
	action  string
	prepare func(ctx context.Context, i int) (any, func(emutest.Frame) bool, error)
	// wait, when set, replaces waiting for an answer (typing has none):
	// it polls the frames posted since the request.
	wait func(ctx context.Context, posts *atomic.Int64) error
	// who makes the i-th request (default: the first member).
	who func(i int) *emutest.Client
}

func (b *bench) measureLifecycle(ctx context.Context) error {
	if b.opts.skip["lifecycle"] {
		return nil
	}
	b.p.printf("lifecycle: DynamoDB calls, RCU, WCU and posts per action in a %d-member channel", lifecycleMembers)
	var posts atomic.Int64
	var clients []*emutest.Client
	for i := range lifecycleMembers {
		user := fmt.Sprintf("life-%d", i)
		tok, err := b.e.Token(ctx, user)
		if err != nil {
			return err
		}
		c, err := emutest.Dial(ctx, b.e.DialURL(tok), user, emutest.ClientOptions{OnFrame: func(*emutest.Client, emutest.Frame) { posts.Add(1) }})
		if err != nil {
			return fmt.Errorf("lifecycle: dial: %w", err)
		}
		defer c.Close()
		if err := c.Join(ctx, lifecycleChannel); err != nil {
			return fmt.Errorf("lifecycle: join: %w", err)
		}
		clients = append(clients, c)
	}
	time.Sleep(200 * time.Millisecond) // the joins' presence frames
	for _, st := range lifecycleSteps(clients) {
		cost, err := b.measureStep(ctx, clients[0], st, &posts)
		if err != nil {
			return fmt.Errorf("lifecycle %s: %w", st.action, err)
		}
		b.res.Lifecycle = append(b.res.Lifecycle, cost)
		b.p.printf("lifecycle: %-8s %5.1f DynamoDB calls, %5.1f RCU, %5.1f WCU, %5.1f posts", cost.Action, cost.Calls, cost.ReadCU, cost.WriteCU, cost.Posts)
	}
	return nil
}

// lifecyclePace spaces the samples of a step.
const lifecyclePace = 300 * time.Millisecond

// measureStep runs one action lifecycleSamples times and averages.
func (b *bench) measureStep(ctx context.Context, a *emutest.Client, st lifeStep, posts *atomic.Int64) (LifecycleCost, error) {
	cost := LifecycleCost{Action: st.action, Members: lifecycleMembers, Samples: lifecycleSamples, CallsByOp: map[string]float64{}}
	for i := range lifecycleSamples {
		// Two requests a sample (a fresh target, then the measured one):
		// paced under the connection's 5 a second, which the run would
		// otherwise reach once the send path got faster (issue #23).
		time.Sleep(lifecyclePace)
		req, done, err := st.prepare(ctx, i)
		if err != nil {
			return cost, err
		}
		c := a
		if st.who != nil {
			c = st.who(i)
		}
		settle(posts)
		posts.Store(0)
		b.proxy.Reset()
		rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		if st.wait != nil {
			err = c.Write(rctx, req)
			if err == nil {
				err = st.wait(rctx, posts)
			}
		} else {
			_, err = c.Request(rctx, req, wireAction(st.action), done)
		}
		cancel()
		if err != nil {
			return cost, err
		}
		settle(posts)
		got := b.proxy.Snapshot()
		for op, n := range got.Calls {
			cost.CallsByOp[op] += float64(n) / lifecycleSamples
			cost.Calls += float64(n) / lifecycleSamples
		}
		cost.ReadCU += got.ReadCU / lifecycleSamples
		cost.WriteCU += got.WriteCU / lifecycleSamples
		cost.Posts += float64(posts.Load()) / lifecycleSamples
	}
	return cost, nil
}

// settle waits until no frame has arrived for 100 ms (at most 3 s): the
// handler posts before it answers, the clients read a moment later.
func settle(posts *atomic.Int64) {
	last, quiet := posts.Load(), time.Now()
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if n := posts.Load(); n != last {
			last, quiet = n, time.Now()
		} else if time.Since(quiet) >= 100*time.Millisecond {
			return
		}
	}
}

// lifecycleSteps are the measured actions, each on a message sent for it
// (the send is not counted, except in the send row, the baseline).
func lifecycleSteps(clients []*emutest.Client) []lifeStep {
	a := clients[0]
	n := 0
	fresh := func(ctx context.Context) (int64, error) {
		n++
		return a.Send(ctx, lifecycleChannel, fmt.Sprintf("lifecycle target %d", n), fmt.Sprintf("lt-%d-%d", time.Now().UnixNano(), n))
	}
	ackOf := func(action, id string) func(emutest.Frame) bool {
		// A send's (and a reply's) ack names no action.
		return func(f emutest.Frame) bool {
			return f.Type == "ack" && f.ClientID == id && (f.Action == action || f.Action == "" && (action == "send" || action == "reply"))
		}
	}
	change := func(action string, body func(seq int64, id string) map[string]any, before func(ctx context.Context, seq int64) error) lifeStep {
		return lifeStep{action: action, prepare: func(ctx context.Context, i int) (any, func(emutest.Frame) bool, error) {
			seq, err := fresh(ctx)
			if err == nil && before != nil {
				err = before(ctx, seq)
			}
			id := fmt.Sprintf("%s-%d-%d", action, time.Now().UnixNano(), i)
			return body(seq, id), ackOf(action, id), err
		}}
	}
	react := func(seq int64, id string) map[string]any {
		return map[string]any{"action": "react", "channel": lifecycleChannel, "seq": seq, "emoji": "👍", "clientId": id}
	}
	return []lifeStep{
		{action: "send", prepare: func(_ context.Context, i int) (any, func(emutest.Frame) bool, error) {
			id := fmt.Sprintf("send-%d-%d", time.Now().UnixNano(), i)
			return map[string]any{"action": "send", "channel": lifecycleChannel, "text": "a message", "clientId": id}, ackOf("send", id), nil
		}},
		change("edit", func(seq int64, id string) map[string]any {
			return map[string]any{"action": "edit", "channel": lifecycleChannel, "seq": seq, "text": "edited", "clientId": id}
		}, nil),
		change("react", react, nil),
		change("unreact", func(seq int64, id string) map[string]any {
			return map[string]any{"action": "unreact", "channel": lifecycleChannel, "seq": seq, "emoji": "👍", "clientId": id}
		}, func(ctx context.Context, seq int64) error {
			id := fmt.Sprintf("pre-%d", time.Now().UnixNano())
			_, err := a.Request(ctx, react(seq, id), "react", ackOf("react", id))
			return err
		}),
		change("reply", func(seq int64, id string) map[string]any {
			return map[string]any{"action": "send", "channel": lifecycleChannel, "text": "a reply", "clientId": id, "replyTo": seq}
		}, nil),
		change("delete", func(seq int64, id string) map[string]any {
			return map[string]any{"action": "delete", "channel": lifecycleChannel, "seq": seq, "clientId": id}
		}, nil),
		{action: "read", prepare: func(ctx context.Context, _ int) (any, func(emutest.Frame) bool, error) {
			seq, err := fresh(ctx)
			return map[string]any{"action": "read", "channel": lifecycleChannel, "seq": seq},
				func(f emutest.Frame) bool { return f.Type == "read" && f.UserID == a.User && f.Seq == seq }, err
		}},
		{action: "typing", prepare: func(context.Context, int) (any, func(emutest.Frame) bool, error) {
			return map[string]any{"action": "typing", "channel": lifecycleChannel}, nil, nil
		}, wait: func(ctx context.Context, posts *atomic.Int64) error {
			// No answer: every member (the typist too) gets the event.
			for posts.Load() < lifecycleMembers {
				select {
				case <-ctx.Done():
					return fmt.Errorf("typing reached %d of %d members: %w", posts.Load(), lifecycleMembers, ctx.Err())
				case <-time.After(10 * time.Millisecond):
				}
			}
			return nil
		},
			// A different member each time: typing is throttled per user.
			who: func(i int) *emutest.Client { return clients[(i+1)%len(clients)] }},
		{action: "channels", prepare: func(context.Context, int) (any, func(emutest.Frame) bool, error) {
			return map[string]any{"action": "channels"}, func(f emutest.Frame) bool { return f.Type == "channels" }, nil
		}},
	}
}

func lifecycleOps(c LifecycleCost) string {
	ops := make([]string, 0, len(c.CallsByOp))
	for op, n := range c.CallsByOp {
		ops = append(ops, fmt.Sprintf("%s %s", trimFloat(n), op))
	}
	sort.Strings(ops)
	return strings.Join(ops, ", ")
}

func printLifecycle(w io.Writer, rows []LifecycleCost) {
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "\nMessage lifecycle: cost per request (%d-member channel, mean of %d)\n", rows[0].Members, rows[0].Samples)
	for _, c := range rows {
		fmt.Fprintf(w, "  %-8s %5.1f DynamoDB calls (%s), %5.1f RCU, %5.1f WCU, %5.1f posts\n", c.Action, c.Calls, lifecycleOps(c), c.ReadCU, c.WriteCU, c.Posts)
	}
}

func lifecycleMarkdown(rows []LifecycleCost) string {
	if len(rows) == 0 {
		return ""
	}
	var s strings.Builder
	fmt.Fprintf(&s, "\n## Message lifecycle: cost per request\n\nA %d-member channel, mean of %d requests each, measured by the DynamoDB proxy on the real handlers; posts are the frames the request caused (to the members and the requester). `send` is the baseline.\n\n",
		rows[0].Members, rows[0].Samples)
	s.WriteString("| action | DynamoDB calls | by operation | RCU | WCU | posts |\n|---|---|---|---|---|---|\n")
	for _, c := range rows {
		fmt.Fprintf(&s, "| %s | %s | %s | %s | %s | %s |\n", c.Action, trimFloat(c.Calls), lifecycleOps(c), trimFloat(c.ReadCU), trimFloat(c.WriteCU), trimFloat(c.Posts))
	}
	return s.String()
}

// wireAction is the protocol action of a measured one (a reply is a send).
func wireAction(action string) string {
	if action == "reply" {
		return "send"
	}
	return action
}

// typingTarget is issue #20's: typing is ephemeral, it stores nothing.
func typingTarget(rows []LifecycleCost) Target {
	t := Target{Name: "typing stores nothing", Goal: "0 WCU per typing (no item, no seq)"}
	for _, c := range rows {
		if c.Action == "typing" {
			t.Measured = fmt.Sprintf("%s WCU, %s DynamoDB calls (%s), %s posts", trimFloat(c.WriteCU), trimFloat(c.Calls), lifecycleOps(c), trimFloat(c.Posts))
			t.Pass = c.WriteCU == 0 && c.CallsByOp["PutItem"]+c.CallsByOp["UpdateItem"]+c.CallsByOp["DeleteItem"] == 0
			if !t.Pass {
				t.Why = "a typing request wrote to DynamoDB: it must take neither a seq nor a rate-limit token"
			}
			return t
		}
	}
	t.Measured, t.NotMeasured = "not measured", true
	return t
}
