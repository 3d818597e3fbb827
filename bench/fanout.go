package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/connections"
	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/emutest"
	"github.com/wschat/wschat/internal/fanout"
	"github.com/wschat/wschat/internal/protocol"
)

// sample is one timed broadcast.
type sample struct {
	elapsed     time.Duration // start to the last member's receipt
	complete    bool
	received    int
	duplicates  int
	receivedAll int                  // every receipt, beyond want too
	counts      emutest.DynamoCounts // handler path: DynamoDB calls of the send, at its ack
	log         emutest.FanoutLog    // handler path: the handler's fan-out line
	stats       chat.FanoutStats     // direct path
	// Handler path, once delivered: every DynamoDB call of the send and of
	// its fan-out tasks, the tasks' fan-out lines, the peak post rate.
	countsDone emutest.DynamoCounts
	tasks      []emutest.FanoutLog
	peakPerSec float64
}

// taskLines are the fan-out function's lines for channel logged since t.
func (f *fanoutLog) taskLines(channel string, since time.Time) []emutest.FanoutLog {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []emutest.FanoutLog
	for i, l := range f.lines {
		if l.Channel == channel && !f.at[i].Before(since) && strings.HasPrefix(l.Function, contract.FunctionFanout+"#") {
			out = append(out, l)
		}
	}
	return out
}

// fanoutLog collects the handlers' fan-out lines.
type fanoutLog struct {
	mu    sync.Mutex
	lines []emutest.FanoutLog
	at    []time.Time // when each line arrived
}

func (f *fanoutLog) add(l emutest.FanoutLog) {
	f.mu.Lock()
	f.lines = append(f.lines, l)
	f.at = append(f.at, time.Now())
	f.mu.Unlock()
}

// after waits up to 3 s for the n-th send line of channel and returns it.
func (f *fanoutLog) nth(channel string, n int) (emutest.FanoutLog, bool) {
	deadline := time.Now().Add(3 * time.Second)
	for {
		f.mu.Lock()
		k := 0
		for _, l := range f.lines {
			if l.Channel == channel && l.RouteKey == "send" {
				k++
				if k == n {
					f.mu.Unlock()
					return l, true
				}
			}
		}
		f.mu.Unlock()
		if time.Now().After(deadline) {
			return emutest.FanoutLog{}, false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// handlerSend sends one message through the gateway and the chat function
// from member sender of channel, and times its delivery to all members.
func (b *bench) handlerSend(ctx context.Context, channel string, members int, sender *emutest.Client, id string) (sample, error) {
	d := newDelivery(id, members)
	b.fleet.cur.Store(d)
	defer b.fleet.cur.Store(nil)
	b.proxy.Reset()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	d.start = time.Now()
	_, err := sender.Send(ctx, channel, "bench "+id, id)
	if err != nil {
		return sample{}, fmt.Errorf("send %s as %s: %w", id, sender.User, err)
	}
	// The ack follows the whole fan-out, so every DynamoDB call of the send
	// has been made.
	counts := b.proxy.Snapshot()
	s := sample{counts: counts}
	select {
	case <-d.done:
		s.complete = true
	case <-time.After(10 * time.Second):
	case <-ctx.Done():
	}
	s.elapsed = d.elapsed()
	s.received = int(min(d.got.Load(), d.want))
	s.duplicates = int(d.extra.Load())
	b.afterDelivery(&s, d, channel)
	return s, nil
}

// afterDelivery completes a sample of a send through the chat function,
// once delivered or given up on: its peak post rate, every DynamoDB call
// of the send and its fan-out tasks (which finish after the ack: their
// last lines and calls get 300 ms to land), the tasks' lines, and the
// sending invocation's own fan-out line.
func (b *bench) afterDelivery(s *sample, d *delivery, channel string) {
	s.peakPerSec = d.peakRate()
	time.Sleep(300 * time.Millisecond)
	s.countsDone = b.proxy.Snapshot()
	s.tasks = b.fanouts.taskLines(channel, d.start)
	b.handlerSends[channel]++
	if l, ok := b.fanouts.nth(channel, b.handlerSends[channel]); ok {
		s.log = l
	}
}

// peakPoster wraps the @connections client and records the most posts in
// flight at once.
type peakPoster struct {
	next     fanout.Poster
	inFlight atomic.Int64
	peak     atomic.Int64
	posts    atomic.Int64
}

func (p *peakPoster) Post(ctx context.Context, id string, data []byte) error {
	n := p.inFlight.Add(1)
	for {
		old := p.peak.Load()
		if n <= old || p.peak.CompareAndSwap(old, n) {
			break
		}
	}
	p.posts.Add(1)
	defer p.inFlight.Add(-1)
	return p.next.Post(ctx, id, data)
}

func (p *peakPoster) reset() {
	p.peak.Store(0)
	p.posts.Store(0)
}

// newDirectFanout builds the fan-out the chat function builds (fanout.New
// over the DynamoDB store and the @connections client), with workers, in
// this process.
func (b *bench) newDirectFanout(workers int) (*fanout.Fanout, *peakPoster) {
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")}
	conns, err := connections.New(cfg, b.e.CallbackURL, connections.Options{MaxConns: workers})
	if err != nil {
		panic(err) // the emulator's own callback URL
	}
	pp := &peakPoster{next: conns}
	return fanout.New(b.store, pp, fanout.Config{Workers: workers}, nil, nil), pp
}

// directSend broadcasts one message frame with f and times its delivery.
// settle is an extra wait before counting receipts (frames beyond want).
func (b *bench) directSend(ctx context.Context, f *fanout.Fanout, pp *peakPoster, channel string, members, budget int, id string, settle time.Duration) (sample, error) {
	frame, err := protocol.Encode(protocol.Message{Channel: channel, Entry: protocol.Entry{
		Seq: 1, UserID: "bench", UserName: "bench", Text: "bench " + id, ClientID: id, SentAt: time.Now().UTC(),
	}})
	if err != nil {
		return sample{}, err
	}
	want := min(members, budget)
	d := newDelivery(id, want)
	b.fleet.cur.Store(d)
	defer b.fleet.cur.Store(nil)
	pp.reset()
	// The dev function's timeout bounds an invocation; a benchmark of the
	// slow strategies needs longer.
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	d.start = time.Now()
	stats, err := f.Broadcast(ctx, chat.NewBudget(budget), channel, frame)
	if err != nil {
		return sample{}, fmt.Errorf("broadcast %s: %w", id, err)
	}
	s := sample{stats: stats}
	if stats.Delivered >= want {
		select {
		case <-d.done:
		case <-time.After(10 * time.Second):
		}
	} else {
		time.Sleep(500 * time.Millisecond)
	}
	time.Sleep(settle)
	s.complete = d.got.Load() >= d.want
	s.elapsed = d.elapsed()
	s.received = int(min(d.got.Load(), d.want))
	s.duplicates = int(d.extra.Load())
	s.receivedAll = int(d.got.Load())
	return s, nil
}

// summarize turns samples into a FanoutRun.
func summarize(path string, workers, members int, samples []sample) FanoutRun {
	r := FanoutRun{Path: path, Workers: workers, Members: members, Sends: len(samples)}
	var ms, handler []float64
	for _, s := range samples {
		if s.complete {
			r.Complete++
			ms = append(ms, float64(s.elapsed.Microseconds())/1000)
		}
		r.Duplicates += s.duplicates
		if path == "handler" {
			posts := s.log.Delivered + s.log.Gone + s.log.Failed
			for _, t := range s.tasks { // a spread send's tasks
				posts += t.Delivered + t.Gone + t.Failed
				r.Skipped += t.Skipped
				r.Failed += t.Failed
			}
			r.Posts = max(r.Posts, posts)
			r.Skipped += s.log.Skipped
			r.Failed += s.log.Failed
			if s.log.Channel != "" {
				handler = append(handler, float64(s.log.DurationMs))
			}
		} else {
			r.Posts = max(r.Posts, s.stats.Delivered+s.stats.Gone+s.stats.Failed)
			r.Skipped += s.stats.Skipped
			r.Failed += s.stats.Failed
		}
	}
	if len(ms) > 0 {
		r.P50, r.P99 = percentile(ms, 50), percentile(ms, 99)
		r.Min, r.Max = percentile(ms, 0), percentile(ms, 100)
		if r.P50 > 0 {
			r.PerSec = float64(members) / (r.P50 / 1000)
		}
	}
	if len(handler) > 0 {
		r.HandlerMs = percentile(handler, 50)
	}
	if r.Complete < r.Sends {
		worst := 0
		for _, s := range samples {
			if !s.complete {
				worst = max(worst, members-s.received)
			}
		}
		r.Note = fmt.Sprintf("%d of %d sends incomplete (up to %d members missed; %d posts failed)", r.Sends-r.Complete, r.Sends, worst, r.Failed)
	}
	return r
}

func workersName(w int) string {
	if w == fanout.Unbounded {
		return "unbounded"
	}
	return strconv.Itoa(w)
}
