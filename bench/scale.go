package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/fanout"
)

// Channels of any size (issue #13): the sends through the chat function to
// the real-socket channels, and to a channel of virtual connections too big
// for one machine's sockets, with the emulator's account throttle on. Each
// row compares the delivery time with the limit: the time the account's
// @connections rate allows for that many posts, or the time the posts take
// at the modelled latency with every allowed post in flight, whichever is
// larger.

// ScaleRun is one row of the "Channels of any size" table.
type ScaleRun struct {
	Members  int     `json:"members"`
	Sockets  string  `json:"sockets"` // "real" or "virtual"
	Path     string  `json:"path"`    // "sender": one invocation; "queue": spread over fan-out tasks
	Sends    int     `json:"sends"`
	Complete int     `json:"complete"`
	P50      float64 `json:"p50Ms"`
	P99      float64 `json:"p99Ms"`
	// Tasks is the fan-out tasks per send; Instances the fan-out function
	// instances that ran them (over every send).
	Tasks     float64 `json:"tasksPerSend"`
	Instances int     `json:"fanoutInstances"`
	// PeakPerSec is the most posts delivered in half a second, per second.
	PeakPerSec float64 `json:"peakPostsPerSecond"`
	Throttled  float64 `json:"throttledPerSend"` // posts answered 429, retried
	Skipped    int     `json:"skipped"`
	ItemsRead  float64 `json:"itemsReadPerSend"`
	ReadCU     float64 `json:"rcuPerSend"`
	// LimitMs is max(members ÷ account rate, members × post latency ÷
	// concurrent posts); RatioP50 and RatioP99 are P50 and P99 over it.
	LimitMs  float64 `json:"limitMs"`
	RatioP50 float64 `json:"ratioP50"`
	RatioP99 float64 `json:"ratioP99"`
	Note     string  `json:"note,omitempty"`
}

// FillRun is how long a channel took to fill through join frames: with
// presence bounded (issue #13), no longer than the joins themselves.
type FillRun struct {
	Members        int     `json:"members"`
	Seconds        float64 `json:"seconds"`
	JoinsPerSec    float64 `json:"joinsPerSecond"`
	PresenceFrames int64   `json:"presenceFrames"` // joined frames received by anyone
}

// scaleLimits are what the limit of a row depends on.
type scaleLimits struct {
	rate          float64 // account @connections rate, posts/s
	latency       time.Duration
	senderWorkers int // concurrent posts of the sending invocation
	queueWorkers  int // concurrent posts of all fan-out instances together
	threshold     int
}

// scaleLimitsOf reads the fan-out settings from the template.
func (b *bench) scaleLimitsOf() scaleLimits {
	l := scaleLimits{rate: float64(b.opts.accountRate), latency: b.opts.postLatency, senderWorkers: b.devWorkers, threshold: 1 << 30}
	for _, m := range b.stack.Mappings {
		if m.Function == nil || m.Function.Label != contract.FunctionFanout {
			continue
		}
		workers, err := strconv.Atoi(m.Function.Env[contract.EnvFanoutWorkers])
		if err != nil {
			workers = fanout.DefaultWorkers
		}
		l.queueWorkers = max(m.MaximumConcurrency, 1) * workers
	}
	for _, f := range b.stack.Functions {
		if f.Label == contract.FunctionChat {
			if n, err := strconv.Atoi(f.Env[contract.EnvFanoutThreshold]); err == nil {
				l.threshold = n
			}
		}
	}
	return l
}

func (l scaleLimits) limitMs(members int, queue bool) float64 {
	workers := l.senderWorkers
	if queue {
		workers = l.queueWorkers
	}
	byRate := 0.0
	if l.rate > 0 {
		byRate = float64(members) / l.rate
	}
	byLatency := float64(members) * l.latency.Seconds() / float64(max(workers, 1))
	return max(byRate, byLatency) * 1000
}

// scaleOf summarizes the timed sends to one channel.
func scaleOf(members int, sockets string, l scaleLimits, samples []sample) ScaleRun {
	r := ScaleRun{Members: members, Sockets: sockets, Path: "sender", Sends: len(samples)}
	queue := members > l.threshold
	if queue {
		r.Path = "queue"
	}
	var ms []float64
	instances := map[string]bool{}
	for _, s := range samples {
		if s.complete {
			r.Complete++
			ms = append(ms, float64(s.elapsed.Microseconds())/1000)
		}
		r.PeakPerSec = max(r.PeakPerSec, s.peakPerSec)
		r.Skipped += s.log.Skipped
		r.Throttled += float64(s.log.Throttled)
		for _, t := range s.tasks {
			r.Tasks++
			r.Skipped += t.Skipped
			r.Throttled += float64(t.Throttled)
			instances[t.Function] = true
		}
		r.ItemsRead += float64(s.countsDone.ItemsRead)
		r.ReadCU += s.countsDone.ReadCU
	}
	r.Instances = len(instances)
	if n := float64(len(samples)); n > 0 {
		r.Tasks /= n
		r.Throttled /= n
		r.ItemsRead /= n
		r.ReadCU /= n
	}
	r.LimitMs = l.limitMs(members, queue)
	if len(ms) > 0 {
		r.P50, r.P99 = percentile(ms, 50), percentile(ms, 99)
		r.RatioP50, r.RatioP99 = r.P50/r.LimitMs, r.P99/r.LimitMs
	}
	if r.Complete < r.Sends {
		r.Note = fmt.Sprintf("%d of %d sends incomplete", r.Sends-r.Complete, r.Sends)
	}
	return r
}

// virtualChannel is the channel of virtual members.
func virtualChannel(n int) string { return "virtual" + strconv.Itoa(n) }

// virtualScale registers n virtual connections, seeds them as members of
// one channel (keys-only fan-out items, in bulk), makes a real client a
// member through the protocol, and times sends from it until every virtual
// member got a post.
func (b *bench) virtualScale(ctx context.Context, n, sends int) error {
	start := time.Now()
	ids, err := b.e.AddVirtual(ctx, n)
	if err != nil {
		return err
	}
	ch := virtualChannel(n)
	if err := b.store.SeedFanoutMembers(ctx, ch, ids); err != nil {
		return err
	}
	sender := b.fleet.client(0)
	if err := sender.Join(ctx, ch); err != nil {
		return fmt.Errorf("%s joins %s: %w", sender.User, ch, err)
	}
	b.p.printf("virtual channel %s: %d virtual members registered and seeded in %.1fs; 1 warm-up + %d sends", ch, n, time.Since(start).Seconds(), sends)
	var samples []sample
	for k := -1; k < sends; k++ {
		s, err := b.virtualSend(ctx, ch, n, fmt.Sprintf("v-%d-%d", n, k+1))
		if err != nil {
			return err
		}
		if k >= 0 {
			samples = append(samples, s)
		}
		b.p.printf("  send %d: %d of %d reached in %.1fs, peak %.0f posts/s, %d tasks", k+1, s.received, n, s.elapsed.Seconds(), s.peakPerSec, len(s.tasks))
	}
	r := scaleOf(n, "virtual", b.scaleLimitsOf(), samples)
	b.res.Scale = append(b.res.Scale, r)
	b.p.printf("  %d virtual members: p50 %.0f ms, p99 %.0f ms, limit %.0f ms (%.2f×), %.0f 429s per send, skipped %d", n, r.P50, r.P99, r.LimitMs, r.RatioP50, r.Throttled, r.Skipped)
	return nil
}

// virtualSend sends one message to the virtual channel and polls the
// emulator's counters until every virtual member has a post.
func (b *bench) virtualSend(ctx context.Context, ch string, n int, id string) (sample, error) {
	if _, err := b.e.Virtual(ctx, true); err != nil {
		return sample{}, err
	}
	b.proxy.Reset()
	d := newDelivery(id, n)
	d.start = time.Now()
	if _, err := b.fleet.client(0).Send(ctx, ch, "bench "+id, id); err != nil {
		return sample{}, fmt.Errorf("send %s: %w", id, err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	var s sample
	last := int64(0)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		v, err := b.e.Virtual(ctx, false)
		if err != nil {
			return sample{}, err
		}
		now := time.Now()
		d.count(now, v.Posts-last)
		last = v.Posts
		s.received = v.Reached
		if v.Reached >= n {
			s.complete, s.elapsed = true, now.Sub(d.start)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.duplicates = int(last) - s.received
	b.afterDelivery(&s, d, ch)
	return s, nil
}

// Targets of issue #13. The 1,000-member baseline is the dev stack's
// figure before the queue path (bench/results.md of 2026-11-26: p50 229 ms,
// p99 283 ms through the chat function at 20 ms per call). The ratio goal
// is issue #23's for this 2-core machine, where the benchmark's clients,
// the emulator, dynalite and every function share the CPU (issue #13 asked
// 1.2×; the machine stops near 9,000 posts/s, short of the account's
// 10,000).
const (
	scaleRatioGoal   = 1.5
	baseline1kP99Ms  = 283
	presenceMaxOfDev = 100
	fillParallel     = 32 // joins in flight while filling
)

func (b *bench) scaleTargets() []Target {
	var out []Target
	big := Target{Name: "100,000-member channel (virtual connections) fully delivered", Goal: fmt.Sprintf("p99 within %.1f× of the limit (members ÷ account rate), 0 skipped", scaleRatioGoal), Measured: "not measured", NotMeasured: true}
	small := Target{Name: "1,000-member channel no slower than before the queue path", Goal: fmt.Sprintf("p99 ≤ %d ms (before: p50 229, p99 283 ms)", baseline1kP99Ms), Measured: "not measured", NotMeasured: true}
	skipped := 0
	for _, r := range b.res.Scale {
		skipped += r.Skipped
		switch {
		case r.Sockets == "virtual":
			big = Target{Name: fmt.Sprintf("%s-member channel (virtual connections) fully delivered", thousands(r.Members)), Goal: big.Goal,
				Measured: fmt.Sprintf("p50 %.0f ms, p99 %.0f ms; limit %.0f ms: %.2f× / %.2f×; %d/%d sends complete, %d skipped", r.P50, r.P99, r.LimitMs, r.RatioP50, r.RatioP99, r.Complete, r.Sends, r.Skipped),
				Pass:     r.Complete == r.Sends && r.Sends > 0 && r.RatioP99 <= scaleRatioGoal && r.Skipped == 0, scaleRatio: r.RatioP99}
		case r.Members == 1000:
			small.Measured = fmt.Sprintf("p50 %.0f ms, p99 %.0f ms (%s path)", r.P50, r.P99, r.Path)
			small.NotMeasured = false
			small.Pass = r.Complete == r.Sends && r.P99 <= baseline1kP99Ms
		}
	}
	for _, f := range b.res.Fanout {
		skipped += f.Skipped
	}
	if !big.Pass && !big.NotMeasured {
		big.Why = fmt.Sprintf("p99 is %.2f× the limit (goal %.1f×), or a send was incomplete or skipped members", big.ratio(), scaleRatioGoal)
		for _, r := range b.res.Scale {
			if r.Sockets == "virtual" && r.Throttled == 0 {
				big.Why += fmt.Sprintf("; the peak was %s posts/s with no 429 at all: this %d-core machine, which signs and verifies every post, ran out before the account rate did", perSec(r.PeakPerSec), b.res.Machine.CPUs)
			}
		}
	}
	if !small.Pass && !small.NotMeasured {
		small.Why = "slower than on 2026-11-26, on the same code path (a channel below the threshold never touches the queue)"
		if d := b.findRun("direct", b.devWorkers, 1000); d != nil {
			small.Why += fmt.Sprintf("; this run's fan-out alone (direct, %d workers) took p50 %.0f ms, p99 %.0f ms, against p50 200, p99 272 ms then: the machine was slower", b.devWorkers, d.P50, d.P99)
		}
	}
	sk := Target{Name: "members skipped", Goal: "0 in every row", Measured: thousands(skipped), Pass: skipped == 0}
	if !sk.Pass {
		sk.Why = "a send budget ran out without the queue to hand the rest to"
	}
	out = append(out, big, small, sk)
	for _, f := range b.res.Fill {
		if f.Members < 10000 {
			continue
		}
		// Joins run 32 at a time, so a few past the 100th may still see
		// a channel of at most 100 and announce themselves.
		k := int64(presenceMaxOfDev + fillParallel)
		bound := int64(f.Members) + k*(k+1)/2
		out = append(out, Target{Name: fmt.Sprintf("filling a %s-member channel", thousands(f.Members)), Goal: fmt.Sprintf("linear in the joins: each join answered to its joiner, presence broadcast only while the channel had at most 100 members (+%d joins in flight)", fillParallel),
			Measured: fmt.Sprintf("%.1f s, %.0f joins/s, %s presence frames (bound %s)", f.Seconds, f.JoinsPerSec, thousands(int(f.PresenceFrames)), thousands(int(bound))),
			Pass:     f.PresenceFrames <= bound, Why: whyIf(f.PresenceFrames > bound, "presence events were broadcast above the presence limit")})
	}
	return out
}

// scaleMarkdown renders the "Channels of any size" section.
func scaleMarkdown(s *strings.Builder, r *Results) {
	if len(r.Scale) == 0 && len(r.Fill) == 0 {
		return
	}
	s.WriteString("\n## Channels of any size (account throttle on)\n\n")
	fmt.Fprintf(s, "Account @connections rate %s/s, burst %s; the limit is max(members ÷ rate, members × post latency ÷ concurrent posts). \"queue\": the send went through the fan-out queue (channel above the threshold).\n\n",
		thousands(r.Config.AccountRate), thousands(r.Config.AccountBurst))
	s.WriteString("| members | sockets | path | sends | p50 ms | p99 ms | limit ms | p50 ÷ limit | p99 ÷ limit | tasks/send | fan-out instances | peak posts/s | 429s/send | skipped | items read/send | RCU/send | note |\n")
	s.WriteString("|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, x := range r.Scale {
		fmt.Fprintf(s, "| %s | %s | %s | %d | %s | %s | %.0f | %.2f | %.2f | %s | %d | %s | %s | %d | %s | %.1f | %s |\n", thousands(x.Members), x.Sockets, x.Path, x.Sends,
			ms(x.P50, x.Complete), ms(x.P99, x.Complete), x.LimitMs, x.RatioP50, x.RatioP99, trimFloat(x.Tasks), x.Instances, perSec(x.PeakPerSec),
			trimFloat(x.Throttled), x.Skipped, trimFloat(x.ItemsRead), x.ReadCU, x.Note)
	}
	if len(r.Fill) > 0 {
		s.WriteString("\nFilling a channel through join frames (32 at a time):\n\n| members | seconds | joins/s | presence frames received |\n|---:|---:|---:|---:|\n")
		for _, f := range r.Fill {
			fmt.Fprintf(s, "| %s | %.1f | %.0f | %s |\n", thousands(f.Members), f.Seconds, f.JoinsPerSec, thousands(int(f.PresenceFrames)))
		}
	}
}

// printScale prints the same as text.
func printScale(w io.Writer, r *Results) {
	if len(r.Scale) == 0 {
		return
	}
	fmt.Fprintf(w, "\nChannels of any size (account rate %d/s, burst %d)\n", r.Config.AccountRate, r.Config.AccountBurst)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "members\tsockets\tpath\tsends\tp50 ms\tp99 ms\tlimit ms\tp50/limit\tp99/limit\ttasks\tinstances\tpeak posts/s\t429s/send\tskipped\titems read\tRCU\t")
	for _, x := range r.Scale {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%.0f\t%.2f\t%.2f\t%s\t%d\t%s\t%s\t%d\t%s\t%.1f\t  %s\n", x.Members, x.Sockets, x.Path, x.Sends,
			ms(x.P50, x.Complete), ms(x.P99, x.Complete), x.LimitMs, x.RatioP50, x.RatioP99, trimFloat(x.Tasks), x.Instances, perSec(x.PeakPerSec),
			trimFloat(x.Throttled), x.Skipped, trimFloat(x.ItemsRead), x.ReadCU, x.Note)
	}
	tw.Flush()
	for _, f := range r.Fill {
		fmt.Fprintf(w, "fill: %d members through join frames in %.1f s (%.0f joins/s), %d presence frames\n", f.Members, f.Seconds, f.JoinsPerSec, f.PresenceFrames)
	}
}

func whyIf(cond bool, why string) string {
	if cond {
		return why
	}
	return ""
}
