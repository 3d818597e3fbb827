package reliability

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/emutest"
)

// TestReliabilityLargeChannelThroughTheQueue: a channel of 5,000 real
// WebSocket members, with the fan-out threshold set low (100) and the
// account's @connections rate set low (1,000/s, burst 100), so the send is
// spread through the SQS queue to the fan-out function and the posts run
// into 429s. Every member must receive the message; the test counts the
// tasks, the fan-out invocations and the 429s, and fails if the queue path
// or the throttle did not actually take part.
func TestReliabilityLargeChannelThroughTheQueue(t *testing.T) {
	const members, threshold, rate, burst = 5000, 100, 1000, 100
	e := startEmulator(t, emutest.Options{
		FunctionEnv: []string{
			fmt.Sprintf("%s:%s=%d", contract.FunctionChat, contract.EnvFanoutThreshold, threshold),
		},
		Args: []string{fmt.Sprintf("--account-rate=%d", rate), fmt.Sprintf("--account-burst=%d", burst)},
	})
	var spreadLines, taskLines, throttled atomic.Int64
	var mu sync.Mutex
	taskInstances := map[string]bool{}
	stop := e.Watch(func(line string) {
		if strings.Contains(line, `"message":"fanout spread"`) {
			spreadLines.Add(1)
		}
		if l, ok := emutest.ParseFanoutLog(line); ok {
			throttled.Add(int64(l.Throttled))
			if strings.HasPrefix(l.Function, contract.FunctionFanout+"#") {
				taskLines.Add(1)
				mu.Lock()
				taskInstances[l.Function] = true
				mu.Unlock()
			}
		}
	})
	defer stop()
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()

	const clientID = "big-1"
	got := make([]atomic.Int64, members)
	start := time.Now()
	tr := emutest.NewTransport()
	clients := dialAll(ctx, t, e, "big", members, 16, func(i int) emutest.ClientOptions {
		return emutest.ClientOptions{Transport: tr, OnFrame: func(_ *emutest.Client, f emutest.Frame) {
			if f.Type == "message" && f.ClientID == clientID {
				got[i].Add(1)
			}
		}}
	})
	connected := time.Since(start)
	joinAll(ctx, t, clients, func(int) []string { return []string{"big"} })
	joined := time.Since(start) - connected

	sendStart := time.Now()
	seq, err := clients[0].Send(ctx, "big", "to everyone", clientID)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	acked := time.Since(sendStart)
	missing := waitEveryCounter(ctx, got, 3*time.Minute)
	delivered := time.Since(sendStart)
	twice := 0
	for i := range got {
		if got[i].Load() > 1 {
			twice++
		}
	}
	t.Logf("%d members (connected in %.1fs, joined in %.1fs); seq %d acked after %v, delivered to %d of %d in %.1fs (%d got it twice); spread %d, fan-out task lines %d from %d fan-out instances, 429s %d",
		members, connected.Seconds(), joined.Seconds(), seq, acked.Round(time.Millisecond), members-missing, members, delivered.Seconds(), twice,
		spreadLines.Load(), taskLines.Load(), len(taskInstances), throttled.Load())
	if missing > 0 {
		t.Errorf("%d of %d members never got the message", missing, members)
	}
	// One send spreads once; a second line would be the same message spread
	// again (at least once), which members drop by its seq.
	if spreadLines.Load() < 1 || taskLines.Load() < 2 {
		t.Errorf("spread lines %d, task lines %d: the send did not go through the queue", spreadLines.Load(), taskLines.Load())
	}
	if throttled.Load() == 0 {
		t.Errorf("no 429 counted: the throttle at %d/s did not take part", rate)
	}
}

// waitEveryCounter waits until every counter is at least 1, or timeout; it returns
// how many are still 0.
func waitEveryCounter(ctx context.Context, got []atomic.Int64, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		missing := 0
		for i := range got {
			if got[i].Load() == 0 {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return missing
		}
		time.Sleep(100 * time.Millisecond)
	}
}
