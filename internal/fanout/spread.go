package fanout

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/metrics"
)

// Queue hands fan-out tasks on to other invocations (the SQS adapter,
// internal/queue): each body is one JSON Task. Enqueue returns nil only
// when every body was accepted.
type Queue interface {
	Enqueue(ctx context.Context, bodies [][]byte) error
}

// SpreadStore is what a spread broadcast reads (dynamo.Store).
type SpreadStore interface {
	ChannelSize(ctx context.Context, channel string) (members int64, shards int, err error)
	RecentRecipients(ctx context.Context, channel, cursor string, limit int) ([]chat.Member, string, error)
}

// Spreader is the Broadcaster of the functions that send (chat, publish)
// when a task queue is configured. A channel of at most Threshold members
// is broadcast by the sending invocation, exactly as Fanout.Broadcast does.
// A bigger one is spread: the sender posts to the joins of the recent window
// itself (read strongly consistent, so a member who just joined receives
// the message however late the tasks' eventually consistent reads catch
// up), then enqueues one Task per shard, and returns once the queue has
// them all. The ack to the sender thus means stored and handed to the
// queue; the fan-out function delivers (at least once: a retried task posts
// again to the members it reached before, never skips one).
//
// A channel that outgrows the send budget between the size read and the
// broadcast is handed on too, instead of skipping members: the members
// already reached get the message twice, and clients drop a seq they have.
type Spreader struct {
	f         *Fanout
	store     SpreadStore
	queue     Queue
	threshold int
}

var _ chat.Broadcaster = (*Spreader)(nil)

// NewSpreader returns a Spreader broadcasting with f below threshold members
// and through q above.
func NewSpreader(f *Fanout, store SpreadStore, q Queue, threshold int) *Spreader {
	return &Spreader{f: f, store: store, queue: q, threshold: threshold}
}

// Broadcast delivers frame to channel's members, directly or spread (see
// Spreader). The error is non-nil when some member may not get the frame:
// the members could not be read or the tasks not all enqueued.
func (s *Spreader) Broadcast(ctx context.Context, budget *chat.Budget, channel string, frame []byte) (chat.FanoutStats, error) {
	return s.BroadcastTo(ctx, budget, channel, chat.Audience{}, frame)
}

// BroadcastTo is Broadcast to an audience (chat.Audience): its Except gets
// nothing, in the sender's posts and in the tasks; its Size, when set, is
// used instead of reading the channel's size.
func (s *Spreader) BroadcastTo(ctx context.Context, budget *chat.Budget, channel string, a chat.Audience, frame []byte) (chat.FanoutStats, error) {
	if a.Size == nil {
		members, shards, err := s.store.ChannelSize(ctx, channel)
		if err != nil {
			return chat.FanoutStats{}, fmt.Errorf("broadcast to %s: %w", channel, err)
		}
		a.Size = &chat.ChannelSize{Members: members, Shards: shards}
	}
	members, shards := a.Size.Members, a.Size.Shards
	if members <= int64(s.threshold) {
		// The size read above is handed down: the members' read does not
		// read it again (it did, once per broadcast, until issue #23).
		stats, err := s.f.BroadcastTo(ctx, budget, channel, a, frame)
		stats.Size = members
		if err != nil || stats.Skipped == 0 {
			return stats, err
		}
		// Outgrown since the size was read: hand every shard on.
		if _, shards, err = s.store.ChannelSize(ctx, channel); err != nil {
			return stats, fmt.Errorf("broadcast to %s: %d members skipped, and the size to hand them on: %w", channel, stats.Skipped, err)
		}
		return s.handOn(ctx, channel, shards, a.Except, frame, stats)
	}
	recent := func(ctx context.Context, cursor string) ([]chat.Member, string, error) {
		return s.store.RecentRecipients(ctx, channel, cursor, s.f.cfg.PageSize)
	}
	stats, err := s.f.deliverAll(ctx, budget, channel, a.Except, frame, recent)
	stats.Size = members
	if err != nil {
		return stats, err
	}
	return s.handOn(ctx, channel, shards, a.Except, frame, stats)
}

// handOn enqueues one task per shard. Members skipped for want of budget
// are in those shards: none is left out.
func (s *Spreader) handOn(ctx context.Context, channel string, shards int, except string, frame []byte, stats chat.FanoutStats) (chat.FanoutStats, error) {
	tasks := tasksExcept(channel, shards, 0, except, frame)
	bodies := make([][]byte, len(tasks))
	for i, t := range tasks {
		b, err := json.Marshal(t)
		if err != nil {
			return stats, fmt.Errorf("broadcast to %s: encode task: %w", channel, err)
		}
		bodies[i] = b
	}
	err := s.queue.Enqueue(ctx, bodies)
	level := slog.LevelInfo
	if err != nil {
		level = slog.LevelError
		err = fmt.Errorf("broadcast to %s: enqueue %d tasks: %w", channel, len(tasks), err)
	} else {
		stats.Skipped, stats.Tasks = 0, len(tasks)
	}
	tasksMetric := metrics.Value{Name: contract.MetricFanoutTasks, Unit: metrics.Count, Value: float64(stats.Tasks)}
	if !s.f.log.Enabled(ctx, level) {
		s.f.meter.Record(ctx, tasksMetric)
		return stats, err
	}
	attrs := []slog.Attr{slog.String("channel", channel), slog.Int("shards", shards), slog.Int("recentDelivered", stats.Delivered)}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	attrs = append(attrs, s.f.meter.Attrs(ctx, tasksMetric)...)
	s.f.log.LogAttrs(ctx, level, "fanout spread", attrs...)
	return stats, err
}

// SpreadConfig is where and above which size broadcasts are spread.
type SpreadConfig struct {
	QueueURL  string // "" = never spread
	Threshold int
}

// SpreadConfigFromEnv reads WSCHAT_FANOUT_QUEUE_URL and
// WSCHAT_FANOUT_THRESHOLD (required with the URL, 1 … sendBudget when the
// budget is limited: a channel the sender broadcasts alone must fit in it).
func SpreadConfigFromEnv(getenv func(string) string, sendBudget int) (SpreadConfig, error) {
	c := SpreadConfig{QueueURL: getenv(contract.EnvFanoutQueueURL)}
	v := getenv(contract.EnvFanoutThreshold)
	if c.QueueURL == "" {
		if v != "" {
			return SpreadConfig{}, fmt.Errorf("%s is set but %s is not: set both or neither", contract.EnvFanoutThreshold, contract.EnvFanoutQueueURL)
		}
		return c, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return SpreadConfig{}, fmt.Errorf("%s=%q: want a positive number of members (required with %s)", contract.EnvFanoutThreshold, v, contract.EnvFanoutQueueURL)
	}
	if sendBudget > 0 && n > sendBudget {
		return SpreadConfig{}, fmt.Errorf("%s=%d is above the send budget (%d): a channel below the threshold must fit in one invocation's budget", contract.EnvFanoutThreshold, n, sendBudget)
	}
	c.Threshold = n
	return c, nil
}
