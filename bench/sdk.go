package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wschat/wschat/client"
	"github.com/wschat/wschat/internal/emutest"
)

// SDK is what the client SDK costs and gives (issue #11, item 5): an
// offline client catching up, handovers before the lifetime limit, and the
// SDK's own overhead per delivered message.
type SDK struct {
	CatchUpMessages int     `json:"catchUpMessages"`
	CatchUpMs       float64 `json:"catchUpMs"`      // Dial + Join(From(0)) → last seq delivered
	CatchUpInOrder  bool    `json:"catchUpInOrder"` // every seq once, strictly increasing
	Handovers       int     `json:"handovers"`
	HandoverP50Ms   float64 `json:"handoverP50Ms"` // new connection dialled → it took over
	HandoverP99Ms   float64 `json:"handoverP99Ms"`
	HandoverAcked   int     `json:"handoverAcked"` // messages acknowledged meanwhile
	HandoverLost    int     `json:"handoverLost"`
	HandoverDup     int     `json:"handoverDuplicated"`
	OverheadFrames  int     `json:"overheadFrames"`
	OverheadP50Us   float64 `json:"overheadP50Us"`
	OverheadP99Us   float64 `json:"overheadP99Us"`
}

// sdkBench sizes the SDK measurements.
type sdkBench struct {
	catchUp   int           // messages sent before the offline client joins
	handovers int           // handovers to observe
	lifetime  time.Duration // the client's MaxLifetime during the handover run
}

// measureSDK runs the catch-up and handover measurements on a running
// emulator; the overhead comes from the client's own timing test, run by
// overhead.
func measureSDK(ctx context.Context, e *emutest.Emulator, size sdkBench, progress func(string, ...any)) (*SDK, error) {
	res := &SDK{}
	if err := catchUp(ctx, e, size.catchUp, res); err != nil {
		return res, fmt.Errorf("catch-up: %w", err)
	}
	progress("sdk: an offline client caught up %d messages in %.0f ms (in order: %v)", res.CatchUpMessages, res.CatchUpMs, res.CatchUpInOrder)
	if err := handovers(ctx, e, size, res); err != nil {
		return res, fmt.Errorf("handover: %w", err)
	}
	progress("sdk: %d handovers, p50 %.0f ms, p99 %.0f ms; %d messages acked meanwhile, %d lost, %d duplicated",
		res.Handovers, res.HandoverP50Ms, res.HandoverP99Ms, res.HandoverAcked, res.HandoverLost, res.HandoverDup)
	return res, nil
}

func dialSDK(ctx context.Context, e *emutest.Emulator, user string, opts client.Options) (*client.Client, error) {
	opts.Token = func(ctx context.Context) (string, error) { return e.Token(ctx, user) }
	return client.Dial(ctx, e.WebSocketURL, opts)
}

// catchUp sends n messages from four clients, then times a new client from
// Dial to the delivery of the last seq, checking the order.
func catchUp(ctx context.Context, e *emutest.Emulator, n int, res *SDK) error {
	const channel = "sdk-catchup"
	const senders = 4
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		last int64
		errs []error
	)
	for i := range senders {
		c, err := dialSDK(ctx, e, fmt.Sprintf("sdk-sender-%d", i), client.Options{})
		if err != nil {
			return err
		}
		defer c.Close()
		if _, err := c.Join(ctx, channel); err != nil {
			return err
		}
		wg.Go(func() {
			for k := i; k < n; k += senders {
				seq, err := c.Send(ctx, channel, fmt.Sprintf("catch-up %d", k))
				mu.Lock()
				last = max(last, seq)
				if err != nil {
					errs = append(errs, err)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return errs[0]
	}
	start := time.Now()
	c, err := dialSDK(ctx, e, "sdk-offline", client.Options{})
	if err != nil {
		return err
	}
	defer c.Close()
	sub, err := c.Join(ctx, channel, client.From(0))
	if err != nil {
		return err
	}
	var prev int64
	inOrder, got := true, 0
	for got < n {
		select {
		case ev := <-sub.Events():
			if ev.Type != client.EventMessage {
				continue
			}
			got++
			inOrder = inOrder && ev.Message.Seq > prev
			prev = ev.Message.Seq
		case <-ctx.Done():
			return fmt.Errorf("%d of %d messages after %s: %w", got, n, time.Since(start), ctx.Err())
		}
	}
	res.CatchUpMessages, res.CatchUpMs = got, float64(time.Since(start).Microseconds())/1000
	res.CatchUpInOrder = inOrder && prev == last
	return nil
}

// handovers runs a receiver whose MaxLifetime is short while a sender
// sends steadily, until size.handovers handovers happened; it records
// each handover's duration and checks every acknowledged message arrived
// once.
func handovers(ctx context.Context, e *emutest.Emulator, size sdkBench, res *SDK) error {
	const channel = "sdk-handover"
	var (
		mu      sync.Mutex
		took    []float64
		ended   = make(chan struct{})
		sending atomic.Bool // handovers count once messages flow: on a slow machine the sender's dial and join outlast several lifetimes
	)
	rx, err := dialSDK(ctx, e, "sdk-receiver", client.Options{MaxLifetime: size.lifetime, OnState: func(s client.StateChange) {
		if s.Took <= 0 || !sending.Load() {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if len(took) == size.handovers {
			// The run has its handovers. The connection keeps being
			// replaced while the last messages arrive (10 s at most, a
			// dozen lifetimes on a loaded machine): those are not timed.
			return
		}
		took = append(took, float64(s.Took.Microseconds())/1000)
		if len(took) == size.handovers {
			close(ended)
		}
	}})
	if err != nil {
		return err
	}
	defer rx.Close()
	sub, err := rx.Join(ctx, channel)
	if err != nil {
		return err
	}
	seen := map[int64]int{}
	var seenMu sync.Mutex
	go func() {
		for ev := range sub.Events() {
			if ev.Type == client.EventMessage {
				seenMu.Lock()
				seen[ev.Message.Seq]++
				seenMu.Unlock()
			}
		}
	}()
	tx, err := dialSDK(ctx, e, "sdk-handover-sender", client.Options{})
	if err != nil {
		return err
	}
	defer tx.Close()
	if _, err := tx.Join(ctx, channel); err != nil {
		return err
	}
	sending.Store(true)
	acked, err := sendUntil(ctx, tx, channel, ended)
	if err != nil {
		return err
	}
	if len(acked) == 0 {
		return errors.New("sdk: the handovers ended before any message was acknowledged")
	}
	// Let the last acknowledged messages arrive (bounded).
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		seenMu.Lock()
		done := seen[acked[len(acked)-1]] > 0
		seenMu.Unlock()
		if done {
			break
		}
	}
	seenMu.Lock()
	defer seenMu.Unlock()
	for _, s := range acked {
		switch n := seen[s]; {
		case n == 0:
			res.HandoverLost++
		case n > 1:
			res.HandoverDup++
		}
	}
	mu.Lock()
	defer mu.Unlock()
	res.Handovers, res.HandoverAcked = len(took), len(acked)
	if len(took) > 0 { // percentile of nothing is NaN, which JSON cannot hold
		res.HandoverP50Ms, res.HandoverP99Ms = percentile(took, 50), percentile(took, 99)
	}
	return nil
}

// sendUntil sends one message every 10 ms until ended is closed, and
// returns the acknowledged seqs.
func sendUntil(ctx context.Context, tx *client.Client, channel string, ended <-chan struct{}) ([]int64, error) {
	var acked []int64
	for k := 0; ; k++ {
		select {
		case <-ended:
			return acked, nil
		case <-ctx.Done():
			return acked, ctx.Err()
		default:
		}
		seq, err := tx.Send(ctx, channel, fmt.Sprintf("handover %d", k))
		if err != nil {
			return acked, err
		}
		acked = append(acked, seq)
		time.Sleep(10 * time.Millisecond)
	}
}

var overheadLine = regexp.MustCompile(`FIGURES deliver_overhead frames=(\d+) delivered=\d+ p50=(\S+) p99=(\S+)`)

// overhead runs the client's own per-frame timing test (decode, dedupe,
// reorder of one message frame, without the network) and reads its
// figures: the SDK's cost is measured where it is spent, in one place.
func overhead(ctx context.Context, root string, res *SDK) error {
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-run", "^TestDeliverOverheadP99$", "-v", ".")
	cmd.Dir = filepath.Join(root, "client") // its own module
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go test ./client: %v\n%s", err, out)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := overheadLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		p50, err1 := time.ParseDuration(m[2])
		p99, err2 := time.ParseDuration(m[3])
		if err1 != nil || err2 != nil {
			return fmt.Errorf("overhead figures %q: %v %v", sc.Text(), err1, err2)
		}
		res.OverheadFrames, _ = strconv.Atoi(m[1]) // \d+ by the pattern
		res.OverheadP50Us, res.OverheadP99Us = float64(p50.Nanoseconds())/1000, float64(p99.Nanoseconds())/1000
		return nil
	}
	return fmt.Errorf("no FIGURES deliver_overhead line in:\n%s", out)
}

// sdkTargets judges the SDK figures against the targets; a miss
// says why.
func sdkTargets(s *SDK) []Target {
	out := []Target{{
		Name:     fmt.Sprintf("offline client catches up %s messages", thousands(s.CatchUpMessages)),
		Goal:     "< 2 s, in order",
		Measured: fmt.Sprintf("%.0f ms, in order: %v", s.CatchUpMs, s.CatchUpInOrder),
		Pass:     s.CatchUpMs > 0 && s.CatchUpMs < 2000 && s.CatchUpInOrder,
	}, {
		Name:     "handover before the lifetime limit",
		Goal:     "0 lost; duration p50/p99",
		Measured: fmt.Sprintf("%d handovers, p50 %.0f ms, p99 %.0f ms; %d acked, %d lost, %d duplicated", s.Handovers, s.HandoverP50Ms, s.HandoverP99Ms, s.HandoverAcked, s.HandoverLost, s.HandoverDup),
		Pass:     s.Handovers > 0 && s.HandoverLost == 0 && s.HandoverDup == 0,
	}, {
		Name:     "SDK overhead per delivered message",
		Goal:     "p99 < 1 ms",
		Measured: fmt.Sprintf("p50 %.1f µs, p99 %.1f µs over %s frames", s.OverheadP50Us, s.OverheadP99Us, thousands(s.OverheadFrames)),
		Pass:     s.OverheadFrames > 0 && s.OverheadP99Us < 1000,
	}}
	if s.CatchUpMessages < 1000 {
		out[0].NotMeasured = true // a smaller run is not the target's
	}
	why := []string{
		"the catch-up took longer than 2 s, was out of order, or did not finish (see the notes)",
		"a message was lost or duplicated across a handover, or no handover finished",
		"the client's per-frame timing test found a p99 of 1 ms or more, or did not run",
	}
	for i := range out {
		if !out[i].Pass && !out[i].NotMeasured {
			out[i].Why = why[i]
		}
	}
	return out
}

// measureSDK is the bench phase: catch-up of 1,000 messages, 20 handovers
// of a client living 1 s, and the client's overhead figures.
func (b *bench) measureSDK(ctx context.Context) error {
	if b.opts.skip["sdk"] {
		return nil
	}
	b.p.printf("sdk: catch-up, handovers and overhead of the Go client")
	res, err := measureSDK(ctx, b.e, sdkBench{catchUp: 1000, handovers: 20, lifetime: time.Second}, b.p.printf)
	b.res.SDK = res
	if err != nil {
		return fmt.Errorf("sdk: %w", err)
	}
	if err := overhead(ctx, b.root, res); err != nil {
		return fmt.Errorf("sdk overhead: %w", err)
	}
	b.p.printf("sdk: overhead per delivered frame p50 %.1f µs, p99 %.1f µs", res.OverheadP50Us, res.OverheadP99Us)
	return nil
}
