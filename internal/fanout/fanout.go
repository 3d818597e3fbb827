// Package fanout delivers one frame to every member of a channel through the
// @connections API: members are read page by page (Query, never Scan) and
// posted to by a bounded pool of workers, each post with its own timeout and
// jittered exponential retries on server errors, and every attempt paced by
// an AIMD window that a 429 narrows (see window), the whole loop inside the
// invocation's deadline and a per-invocation send budget. A
// connection that answers 410 Gone is removed with its memberships, and the
// loop carries on.
//
// The concurrency strategy is a number so a benchmark can run the same code
// path three ways: Workers: 1 posts one at a time, Workers: n uses a pool of
// n, Workers: Unbounded (-1) starts a goroutine per member.
package fanout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/metrics"
)

// Unbounded as Config.Workers starts one goroutine per member.
const Unbounded = -1

// Defaults, sized for a Lambda function: 64 concurrent posts keep a
// 1,000-member channel under a second at typical @connections latency
// without exhausting sockets or memory.
const (
	DefaultWorkers     = 64
	DefaultCallTimeout = 3 * time.Second
	DefaultRetries     = 3
	DefaultBackoff     = 50 * time.Millisecond
	DefaultMaxBackoff  = time.Second
	DefaultPageSize    = 1000
	DefaultReserve     = 300 * time.Millisecond

	// A 429 is the account's API Gateway rate, shared by every invocation:
	// it says "slower", not "failed". The throttle window paces the posts
	// (see window), so a throttled post is retried after a short pause,
	// as often as the deadline allows: the count only bounds a post whose
	// context has no deadline. The pause, held in the window, is what
	// slows a window of one slot further when even that is too fast.
	DefaultThrottleRetries = 1000
	DefaultThrottleBackoff = 50 * time.Millisecond
)

// maxPages bounds the member pages of one broadcast (with DefaultPageSize,
// ten million members: far beyond any send budget).
const maxPages = 10_000

// Config tunes a Fanout. Zero fields take the defaults above.
type Config struct {
	// Workers is the number of concurrent posts: n > 0 a pool of n,
	// Unbounded a goroutine per member, 0 DefaultWorkers.
	Workers int
	// CallTimeout bounds one post attempt.
	CallTimeout time.Duration
	// Retries is the number of extra attempts after a retryable failure
	// (chat.ErrUnavailable); a negative value means none.
	Retries int
	// Backoff is the first retry's maximum delay; it doubles per attempt up
	// to MaxBackoff, and each delay is drawn uniformly below it ("full
	// jitter"), so throttled workers do not retry in lockstep.
	Backoff, MaxBackoff time.Duration
	// PageSize is the members read per Query. Fan-out items are keys only
	// (~31 bytes), so 1,000 fill about eight 4 KB read units: fewer, fuller
	// pages waste less capacity to each Query's rounding up.
	PageSize int
	// Reserve is kept free before the invocation's deadline, so the handler
	// can still record the delivery and answer the sender.
	Reserve time.Duration
	// ThrottleRetries is Retries for a post answered 429
	// (chat.ErrThrottled), and ThrottleBackoff the ceiling of the jittered
	// pause before its retry, the same for every retry: the throttle window
	// does the pacing, not a growing per-post delay.
	ThrottleRetries int
	ThrottleBackoff time.Duration
}

func (c Config) withDefaults() Config {
	if c.Workers == 0 || c.Workers < Unbounded {
		c.Workers = DefaultWorkers
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = DefaultCallTimeout
	}
	if c.Retries == 0 {
		c.Retries = DefaultRetries
	} else if c.Retries < 0 {
		c.Retries = 0
	}
	if c.Backoff <= 0 {
		c.Backoff = DefaultBackoff
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.PageSize <= 0 {
		c.PageSize = DefaultPageSize
	}
	if c.Reserve <= 0 {
		c.Reserve = DefaultReserve
	}
	if c.ThrottleRetries == 0 {
		c.ThrottleRetries = DefaultThrottleRetries
	} else if c.ThrottleRetries < 0 {
		c.ThrottleRetries = 0
	}
	if c.ThrottleBackoff <= 0 {
		c.ThrottleBackoff = DefaultThrottleBackoff
	}
	return c
}

// ConfigFromEnv reads WSCHAT_FANOUT_WORKERS (default 64; -1 = unbounded).
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	var c Config
	if v := getenv(contract.EnvFanoutWorkers); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < Unbounded || n == 0 {
			return Config{}, fmt.Errorf("%s=%q: want a positive number of workers, or -1 for unbounded", contract.EnvFanoutWorkers, v)
		}
		c.Workers = n
	}
	return c.withDefaults(), nil
}

// Store is what a Fanout reads and cleans up.
type Store interface {
	// Recipients pages the connections a broadcast must reach; one may be
	// listed twice (the fan-out posts once).
	Recipients(ctx context.Context, channel, cursor string, limit int) ([]chat.Member, string, error)
	RemoveConnection(ctx context.Context, id string, alsoChannels ...string) (chat.Connection, error)
}

// Poster posts one frame to one connection (the @connections adapter).
type Poster interface {
	Post(ctx context.Context, connectionID string, data []byte) error
}

// Meter records metrics (a *metrics.Emitter): Attrs puts them on the
// broadcast's log line, Record keeps them for the request's line or writes
// them alone.
type Meter interface {
	Record(ctx context.Context, values ...metrics.Value)
	Attrs(ctx context.Context, values ...metrics.Value) []slog.Attr
}

// Fanout broadcasts frames to channels. It is safe for concurrent use and
// meant to be built once per process.
type Fanout struct {
	store  Store
	poster Poster
	cfg    Config
	log    *slog.Logger
	meter  Meter
	sleep  func(ctx context.Context, d time.Duration) error
	// win paces every post of this Fanout, so broadcasts running at once
	// in one process share what they learn of the account's rate.
	win *window
}

// New returns a Fanout. log and meter may be nil.
func New(store Store, poster Poster, cfg Config, log *slog.Logger, meter Meter) *Fanout {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if meter == nil {
		meter = (*metrics.Emitter)(nil)
	}
	cfg = cfg.withDefaults()
	return &Fanout{store: store, poster: poster, cfg: cfg, log: log, meter: meter, sleep: sleepCtx, win: newWindow(cfg.Workers)}
}

// A Fanout is the chat handlers' Broadcaster, and their Poster for replies
// (with the same retries as a broadcast).
var (
	_ chat.Broadcaster = (*Fanout)(nil)
	_ chat.Poster      = (*Fanout)(nil)
)

// counters are the atomically updated parts of chat.FanoutStats.
type counters struct {
	members, delivered, gone, failed, skipped, throttled atomic.Int64
	samples                                              failureSample
}

// maxFailureSamples is how many failed deliveries one broadcast names in
// its line; the rest are counted (FanoutFailed). Every delivery that was
// not a plain success gets a line of its own at debug level.
const maxFailureSamples = 3

// failure is one failed delivery, as the broadcast's line names it.
type failure struct {
	ConnectionID string `json:"connectionId"`
	Error        string `json:"error"`
}

// failureSample keeps the first failed deliveries of a broadcast.
type failureSample struct {
	mu    sync.Mutex
	first []failure
}

func (f *failureSample) add(connID string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.first) < maxFailureSamples {
		f.first = append(f.first, failure{ConnectionID: connID, Error: err.Error()})
	}
}

func (f *failureSample) list() []failure {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.first
}

// Broadcast posts frame to every live member of channel, spending one unit
// of budget per post. Once the budget is spent, the rest of the page is
// skipped (and counted) and no further page is read. It returns the
// counts, also logged as one line and emitted as metrics. The error is
// non-nil only when the members could not be read; then some or all members
// were not reached, and the caller should report a failure.
func (f *Fanout) Broadcast(ctx context.Context, budget *chat.Budget, channel string, frame []byte) (chat.FanoutStats, error) {
	return f.BroadcastTo(ctx, budget, channel, chat.Audience{}, frame)
}

// SizedStore is a Store that can start reading recipients from a size
// read moments before (dynamo.Store), instead of reading it again.
type SizedStore interface {
	StartCursor(size chat.ChannelSize) string
}

// BroadcastTo is Broadcast to a.Audience: a.Except gets nothing, and a.Size
// (when set, and the store can use it) saves the broadcast its size read.
func (f *Fanout) BroadcastTo(ctx context.Context, budget *chat.Budget, channel string, a chat.Audience, frame []byte) (chat.FanoutStats, error) {
	first := ""
	if sized, ok := f.store.(SizedStore); ok && a.Size != nil {
		first = sized.StartCursor(*a.Size)
	}
	read := func(ctx context.Context, cursor string) ([]chat.Member, string, error) {
		if cursor == "" {
			cursor = first
		}
		return f.store.Recipients(ctx, channel, cursor, f.cfg.PageSize)
	}
	stats, err := f.deliverAll(ctx, budget, channel, a.Except, frame, read)
	if a.Size != nil {
		stats.Size = a.Size.Members
	}
	return stats, err
}

// pageReader reads one page of recipients from cursor ("" = the start).
type pageReader func(ctx context.Context, cursor string) ([]chat.Member, string, error)

// dispatcher returns the function that hands one member to the pool:
// Workers goroutines started lazily (a small channel needs few) reading
// jobs, or with Unbounded a goroutine per member.
func (f *Fanout) dispatcher(ctx context.Context, wg *sync.WaitGroup, jobs chan chat.Member, c *counters, channel string, frame []byte) func(chat.Member) {
	started := 0
	return func(m chat.Member) {
		switch {
		case f.cfg.Workers == Unbounded:
			wg.Go(func() { f.deliver(ctx, c, channel, m, frame) })
		case started < f.cfg.Workers:
			started++
			wg.Go(func() {
				f.deliver(ctx, c, channel, m, frame)
				for m := range jobs {
					f.deliver(ctx, c, channel, m, frame)
				}
			})
		default:
			select {
			case jobs <- m:
			case <-ctx.Done():
				c.failed.Add(1)
			}
		}
	}
}

// deliverAll posts frame to every member read, page by page, with the pool.
func (f *Fanout) deliverAll(ctx context.Context, budget *chat.Budget, channel, except string, frame []byte, read pageReader) (chat.FanoutStats, error) {
	start := time.Now()
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-f.cfg.Reserve))
		defer cancel()
	}

	var c counters
	var wg sync.WaitGroup
	jobs := make(chan chat.Member)
	dispatch := f.dispatcher(ctx, &wg, jobs, &c, channel, frame)

	var readErr error
	complete, budgetOut := false, false
	cursor := ""
	// seen makes a connection listed twice (a recent joiner read from the
	// recent joins and from its shard) receive the frame once.
	seen := map[string]struct{}{}
	for page := 0; page < maxPages && ctx.Err() == nil; page++ {
		members, next, err := read(ctx, cursor)
		if err != nil {
			readErr = fmt.Errorf("broadcast to %s: %w", channel, err)
			break
		}
		for _, m := range members {
			if _, dup := seen[m.ConnectionID]; dup {
				continue
			}
			seen[m.ConnectionID] = struct{}{}
			c.members.Add(1)
			if m.ConnectionID == except {
				continue // the sender: its ack carries the message
			}
			if !budget.Take() {
				c.skipped.Add(1)
				continue
			}
			dispatch(m)
		}
		if next == "" {
			complete = true
			break
		}
		if budget.Exhausted() {
			// Reading on would only count skipped members, at a read
			// capacity cost per member.
			complete, budgetOut = true, true
			break
		}
		cursor = next
	}
	close(jobs)
	wg.Wait()
	if readErr == nil && !complete {
		readErr = fmt.Errorf("broadcast to %s: members not all read: %w", channel, context.Cause(ctx))
	}

	stats := chat.FanoutStats{
		Members:   int(c.members.Load()),
		Delivered: int(c.delivered.Load()),
		Gone:      int(c.gone.Load()),
		Failed:    int(c.failed.Load()),
		Skipped:   int(c.skipped.Load()),
		Throttled: int(c.throttled.Load()),
		Duration:  time.Since(start),
	}
	f.record(ctx, channel, stats, budgetOut, readErr, c.samples.list())
	return stats, readErr
}

// record writes the broadcast's one line, which carries its metrics
// (EMF) and those the request recorded before it. Counters that are 0 are
// left out: the line's level says whether anything went wrong, and a
// metric without a value is a sum of 0 to CloudWatch (the alarms treat
// missing data as not breaching).
func (f *Fanout) record(ctx context.Context, channel string, s chat.FanoutStats, budgetOut bool, err error, failures []failure) {
	level := slog.LevelInfo
	if err != nil || s.Failed > 0 || s.Skipped > 0 {
		level = slog.LevelWarn
	}
	values := []metrics.Value{
		{Name: contract.MetricDeliveries, Unit: metrics.Count, Value: float64(s.Delivered)},
		{Name: contract.MetricFanoutDuration, Unit: metrics.Milliseconds, Value: float64(s.Duration.Microseconds()) / 1000},
	}
	for _, v := range []metrics.Value{
		{Name: contract.MetricGone, Unit: metrics.Count, Value: float64(s.Gone)},
		{Name: contract.MetricFanoutFailed, Unit: metrics.Count, Value: float64(s.Failed)},
		{Name: contract.MetricFanoutThrottled, Unit: metrics.Count, Value: float64(s.Throttled)},
	} {
		if v.Value != 0 {
			values = append(values, v)
		}
	}
	if !f.log.Enabled(ctx, level) {
		f.meter.Record(ctx, values...)
		return
	}
	attrs := []slog.Attr{slog.String("channel", channel), slog.Int("members", s.Members)}
	if s.Skipped > 0 {
		attrs = append(attrs, slog.Int("skipped", s.Skipped))
	}
	if budgetOut {
		attrs = append(attrs, slog.Bool("budgetExhausted", true))
	}
	if len(failures) > 0 {
		attrs = append(attrs, slog.Any("failures", failures))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	attrs = append(attrs, f.meter.Attrs(ctx, values...)...)
	f.log.LogAttrs(ctx, level, "fanout", attrs...)
}

// deliver posts to one member and classifies the outcome.
func (f *Fanout) deliver(ctx context.Context, c *counters, channel string, m chat.Member, frame []byte) {
	err := f.post(ctx, m.ConnectionID, frame, &c.throttled)
	if err != nil && f.log.Enabled(ctx, slog.LevelDebug) {
		f.log.LogAttrs(ctx, slog.LevelDebug, "delivery", slog.String("channel", channel), slog.String("memberConnectionId", m.ConnectionID), slog.String("error", err.Error()))
	}
	switch {
	case err == nil:
		c.delivered.Add(1)
	case errors.Is(err, chat.ErrGone):
		c.gone.Add(1)
		// The membership we just read may outlive its connection item (a
		// $disconnect that failed half way), hence alsoChannels.
		if _, err := f.store.RemoveConnection(ctx, m.ConnectionID, channel); err != nil && !errors.Is(err, chat.ErrNotFound) {
			f.log.LogAttrs(ctx, slog.LevelWarn, "remove gone connection",
				slog.String("channel", channel), slog.String("goneConnectionId", m.ConnectionID), slog.String("error", err.Error()))
		}
	default:
		c.failed.Add(1)
		c.samples.add(m.ConnectionID, err)
	}
}

// Post sends one frame to one connection with the per-call timeout and the
// retries on chat.ErrUnavailable, paced by the throttle window on
// chat.ErrThrottled. It spends no budget: handlers use it for replies to
// the sender.
func (f *Fanout) Post(ctx context.Context, connectionID string, frame []byte) error {
	var throttled atomic.Int64
	return f.post(ctx, connectionID, frame, &throttled)
}

// post is Post counting the attempts answered 429 in throttled. Server
// errors and throttling have their own attempt counts, so a post throttled
// many times still gets its server-error retries. A server error backs off
// with full jitter (a delay drawn uniformly below a doubling ceiling); a
// 429 is retried as soon as the window (see attempt) lets it.
func (f *Fanout) post(ctx context.Context, connectionID string, frame []byte, throttled *atomic.Int64) error {
	fails, throttles := 0, 0
	for {
		err := f.attempt(ctx, connectionID, frame)
		if err == nil || !errors.Is(err, chat.ErrUnavailable) || ctx.Err() != nil {
			return err
		}
		if errors.Is(err, chat.ErrThrottled) {
			throttled.Add(1)
			if throttles++; throttles > f.cfg.ThrottleRetries {
				return err
			}
			continue
		}
		if fails++; fails > f.cfg.Retries {
			return err
		}
		ceiling := min(f.cfg.Backoff<<min(fails-1, 16), f.cfg.MaxBackoff)
		if serr := f.sleep(ctx, rand.N(ceiling)+1); serr != nil {
			return err
		}
	}
}

// attempt makes one post inside the throttle window. A 429 cuts the window
// and is followed by a short jittered pause with the slot still held: the
// window thus bounds the retries too, and the slower the rate the window
// settles on, the fewer attempts it lets through to be refused.
func (f *Fanout) attempt(ctx context.Context, connectionID string, frame []byte) error {
	seq, err := f.win.acquire(ctx)
	if err != nil {
		return err
	}
	callCtx, cancel := context.WithTimeout(ctx, f.cfg.CallTimeout)
	err = f.poster.Post(callCtx, connectionID, frame)
	cancel()
	if errors.Is(err, chat.ErrThrottled) {
		f.win.throttled(seq)
		_ = f.sleep(ctx, rand.N(f.cfg.ThrottleBackoff)+1) // a deadline is seen by post
	}
	f.win.done(seq, err == nil)
	return err
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
