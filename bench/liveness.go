package main

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/wschat/wschat/client"
	"github.com/wschat/wschat/internal/badnet"
	"github.com/wschat/wschat/internal/emutest"
	"github.com/wschat/wschat/internal/liveproof"
)

// Liveness is how fast the SDKs find a dead connection and what their
// heartbeat costs (issue #24, docs/client.md "Liveness").
type Liveness struct {
	Detection []Detection     `json:"detection"`
	Cost      []HeartbeatCost `json:"cost"`
	// Proof is the proof's figure line per SDK; Lost, Duplicated and
	// OutOfOrder sum both SDKs.
	Proof                        map[string]string `json:"proof"`
	Lost, Duplicated, OutOfOrder int
	// DroppedP50S and DroppedP99S: fault → the server dropped the dead
	// connection (its reconnect named it), both SDKs.
	DroppedP50S float64 `json:"droppedP50Seconds"`
	DroppedP99S float64 `json:"droppedP99Seconds"`
}

// Detection is one SDK's time to notice one kind of fault.
type Detection struct {
	SDK      string  `json:"sdk"`
	Fault    string  `json:"fault"`
	N        int     `json:"n"`
	P50S     float64 `json:"p50Seconds"`
	P99S     float64 `json:"p99Seconds"`
	Survived int     `json:"survived"` // faults that cost no reconnect
}

// HeartbeatCost is what one heartbeat setting costs per connection-hour,
// measured on idle (or busy) Go clients against the gateway's meters.
type HeartbeatCost struct {
	Setting string  `json:"setting"`
	Clients int     `json:"clients"`
	WindowS float64 `json:"windowSeconds"`
	// Per connection-hour: API Gateway messages (ping in, pong out),
	// Lambda invocations, and WebSocket Ping frames (not billed, assumed).
	MessagesPerHour    float64 `json:"messagesPerConnectionHour"`
	InvocationsPerHour float64 `json:"invocationsPerConnectionHour"`
	PingFramesPerHour  float64 `json:"pingFramesPerConnectionHour"`
	// DetectWithinS is the setting's worst case (interval + timeout).
	DetectWithinS float64 `json:"detectWithinSeconds"`
}

// measureLiveness runs the liveness proof at bench size on the running
// emulator, then prices the heartbeat.
func (b *bench) measureLiveness(ctx context.Context) error {
	if b.opts.skip["liveness"] {
		return nil
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return fmt.Errorf("liveness: node: %w", err)
	}
	b.p.printf("liveness: 40 Go and 40 JavaScript receivers through hostile-network proxies, 36 of each blackholed")
	figs, err := liveproof.Run(ctx, liveproof.Config{
		Emulator: b.e, GoReceivers: 40, JSReceivers: 40, Blackholes: 36,
		Pause: 5 * time.Second, Bandwidth: 32 << 10,
		Shape:     badnet.Shape{Latency: 20 * time.Millisecond, Jitter: 20 * time.Millisecond},
		SendEvery: 250 * time.Millisecond, Spread: 3 * time.Second,
		Node: node, Script: filepath.Join(b.root, "reliability", "testdata", "liveproof.mjs"),
		Logf: b.p.printf,
	})
	if err != nil {
		return fmt.Errorf("liveness: %w", err)
	}
	l := &Liveness{Proof: map[string]string{}}
	var dropped []time.Duration
	for _, sdk := range []string{"go", "js"} {
		f := figs[sdk]
		l.Proof[sdk] = f.String()
		b.p.printf("liveness %s: %s", sdk, f)
		l.Lost += f.Lost
		l.Duplicated += f.Duplicated
		l.OutOfOrder += f.OutOfOrder
		dropped = append(dropped, f.Dropped...)
		for _, k := range []badnet.Kind{badnet.KindBlackhole, badnet.KindReset, badnet.KindPause, badnet.KindBandwidth} {
			d := f.Detect[k]
			l.Detection = append(l.Detection, Detection{SDK: sdk, Fault: string(k), N: len(d) + f.Undetected(k) + f.Survived[k],
				P50S: liveproof.P(d, .5).Seconds(), P99S: liveproof.P(d, .99).Seconds(), Survived: f.Survived[k]})
		}
	}
	l.DroppedP50S, l.DroppedP99S = liveproof.P(dropped, .5).Seconds(), liveproof.P(dropped, .99).Seconds()
	b.res.Liveness = l
	costs, err := heartbeatCosts(ctx, b.e, b.p.printf)
	l.Cost = costs
	return err
}

// heartbeatCosts connects three groups of idle Go clients for one window:
// the default heartbeat, the default with Ping frames, and clients in a
// busy channel (a message every 2 s), and counts what each sends. Every
// ping is a message in and a pong out (the MOCK route), never an
// invocation: the gateway's meters check both.
func heartbeatCosts(ctx context.Context, e *emutest.Emulator, progress func(string, ...any)) ([]HeartbeatCost, error) {
	const clients, window = 20, 75 * time.Second
	type group struct {
		name   string
		opts   client.Options
		busy   bool
		conns  []*client.Client
		before []client.Stats
	}
	groups := []*group{
		{name: "default: heartbeat 18 s + 8 s, idle connection"},
		{name: "default with PingFrames (Go only), idle connection", opts: client.Options{PingFrames: true}},
		{name: "default, busy connection (a message every 2 s)", busy: true},
	}
	for gi, g := range groups {
		for i := range clients {
			user := fmt.Sprintf("hb-%d-%02d", gi, i)
			o := g.opts
			c, err := dialSDK(ctx, e, user, o)
			if err != nil {
				return nil, err
			}
			defer c.Close()
			if g.busy {
				if _, err := c.Join(ctx, "hb-busy"); err != nil {
					return nil, err
				}
			}
			g.conns = append(g.conns, c)
		}
	}
	time.Sleep(2 * time.Second) // first pings answered
	before, err := readUsage(ctx, e)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		for _, c := range g.conns {
			g.before = append(g.before, c.Stats())
		}
	}
	sender, err := dialSDK(ctx, e, "hb-sender", client.Options{})
	if err != nil {
		return nil, err
	}
	defer sender.Close()
	if _, err := sender.Join(ctx, "hb-busy"); err != nil {
		return nil, err
	}
	progress("liveness: pricing the heartbeat over %v with %d clients per setting", window, clients)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-t.C:
				_, _ = sender.Send(ctx, "hb-busy", fmt.Sprintf("busy %d", i))
			}
		}
	})
	start := time.Now()
	select {
	case <-time.After(window):
	case <-ctx.Done():
	}
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)
	later, err := readUsage(ctx, e)
	if err != nil {
		return nil, err
	}
	after := later.Sub(before).Gateway
	hours := elapsed.Hours() * clients
	var out []HeartbeatCost
	var appPings int64
	for _, g := range groups {
		var pings int64
		for i, c := range g.conns {
			pings += c.Stats().Pings - g.before[i].Pings
		}
		hc := HeartbeatCost{Setting: g.name, Clients: clients, WindowS: elapsed.Seconds(), DetectWithinS: 26}
		if g.opts.PingFrames {
			hc.PingFramesPerHour = float64(pings) / hours
		} else {
			hc.MessagesPerHour = 2 * float64(pings) / hours
			appPings += pings
		}
		out = append(out, hc)
		progress("liveness cost: %s: %.0f messages, %.0f Ping frames, 0 invocations per connection-hour", hc.Setting, hc.MessagesPerHour, hc.PingFramesPerHour)
	}
	// The gateway saw what the clients sent (the sender's own pings come
	// on top): no ping reached a function, and every ping message was
	// answered by the MOCK integration.
	inPing := after.MessagesByRoute["ping"]
	if after.Invocations["ping"] != 0 || after.MockAnswers != inPing || inPing < appPings {
		return out, fmt.Errorf("liveness cost: gateway usage %+v disagrees with %d pings sent by the clients", after, appPings)
	}
	return out, nil
}

// livenessTargets are the acceptance figures.
func livenessTargets(l *Liveness) []Target {
	var out []Target
	for _, d := range l.Detection {
		if d.Fault != string(badnet.KindBlackhole) {
			continue
		}
		out = append(out, Target{
			Name:     fmt.Sprintf("%s SDK finds a blackholed connection (default heartbeat)", map[string]string{"go": "Go", "js": "JavaScript"}[d.SDK]),
			Goal:     "p99 ≤ 30 s over ≥ 20 blackholes",
			Measured: fmt.Sprintf("%d blackholes: p50 %.1f s, p99 %.1f s", d.N, d.P50S, d.P99S),
			Pass:     d.N >= 20 && d.P99S > 0 && d.P99S <= 30,
			Why:      "a blackholed connection was found after more than 30 s, or not at all, or fewer than 20 were measured",
		})
	}
	out = append(out, Target{
		Name:     "messages sent while connections were dead",
		Goal:     "0 lost, 0 duplicated, 0 out of order",
		Measured: fmt.Sprintf("%d lost, %d duplicated, %d out of order", l.Lost, l.Duplicated, l.OutOfOrder),
		Pass:     l.Lost == 0 && l.Duplicated == 0 && l.OutOfOrder == 0 && len(l.Detection) > 0,
		Why:      "a receiver missed, repeated or reordered a message across the faults",
	})
	return out
}

func printLiveness(w io.Writer, l *Liveness) {
	if l == nil {
		return
	}
	fmt.Fprintln(w, "\nLiveness on a hostile network (default heartbeat 18 s + 8 s; latency 20 ms ± 20 ms on every link)")
	for _, d := range l.Detection {
		if d.Survived > 0 && d.N == d.Survived {
			fmt.Fprintf(w, "  %-3s %-9s %d of %d survived without a reconnect\n", d.SDK, d.Fault, d.Survived, d.N)
			continue
		}
		fmt.Fprintf(w, "  %-3s %-9s found in p50 %.1f s, p99 %.1f s (n=%d)\n", d.SDK, d.Fault, d.P50S, d.P99S, d.N)
	}
	fmt.Fprintf(w, "  server dropped the dead connection (named by the reconnect): p50 %.1f s, p99 %.1f s after the fault\n", l.DroppedP50S, l.DroppedP99S)
	fmt.Fprintf(w, "  messages: %d lost, %d duplicated, %d out of order\n", l.Lost, l.Duplicated, l.OutOfOrder)
	for _, c := range l.Cost {
		fmt.Fprintf(w, "  cost, %s: %.0f API Gateway messages, %.0f Lambda invocations, %.0f Ping frames per connection-hour\n",
			c.Setting, c.MessagesPerHour, c.InvocationsPerHour, c.PingFramesPerHour)
	}
}

func livenessMarkdown(l *Liveness) string {
	if l == nil {
		return ""
	}
	var s strings.Builder
	s.WriteString("\n## Liveness on a hostile network\n\nDefault heartbeat (18 s + 8 s), every link through `internal/badnet` with 20 ms ± 20 ms latency; ")
	s.WriteString("time from the fault to the SDK's transition to reconnecting.\n\n| SDK | fault | n | p50 | p99 | survived (no reconnect) |\n|---|---|---:|---:|---:|---:|\n")
	for _, d := range l.Detection {
		fmt.Fprintf(&s, "| %s | %s | %d | %.1f s | %.1f s | %d |\n", d.SDK, d.Fault, d.N, d.P50S, d.P99S, d.Survived)
	}
	fmt.Fprintf(&s, "\nThe server dropped each dead connection (the reconnect names it, `replaces=`) p50 %.1f s, p99 %.1f s after the fault; messages: %d lost, %d duplicated, %d out of order.\n",
		l.DroppedP50S, l.DroppedP99S, l.Lost, l.Duplicated, l.OutOfOrder)
	s.WriteString("\n| heartbeat setting | API Gateway messages / connection-hour | Lambda invocations / connection-hour | Ping frames / connection-hour |\n|---|---:|---:|---:|\n")
	for _, c := range l.Cost {
		fmt.Fprintf(&s, "| %s | %.0f | %.0f | %.0f |\n", c.Setting, c.MessagesPerHour, c.InvocationsPerHour, c.PingFramesPerHour)
	}
	return s.String()
}
