package fanout

import (
	"context"
	"errors"
	"fmt"

	"github.com/wschat/wschat/internal/chat"
)

// Task is a bounded slice of one broadcast: every member of one shard of a
// channel, as the shard count stood when the message was sent. Above the
// queue threshold a send delivers to the recent joins itself and hands the
// shards on as tasks, so no invocation has more than one shard's posts to
// make and no member is skipped for want of budget.
type Task struct {
	Channel string `json:"channel"`
	Shard   int    `json:"shard"`
	Shards  int    `json:"shards"`
	Seq     int64  `json:"seq,omitempty"` // for logs
	// Except is a connection the task does not post to: the sender, whose
	// ack carries the message (chat.Audience).
	Except string `json:"except,omitempty"`
	Frame  []byte `json:"frame"`
}

// ShardReader reads one shard of a channel's members (dynamo.Store).
type ShardReader interface {
	ShardRecipients(ctx context.Context, channel string, shards, shard int, cursor string, limit int) ([]chat.Member, string, error)
}

// ErrIncomplete means a task reached some members but not all (posts that
// failed after their retries, or the deadline): the task must run again.
// Running it again posts to every member of the shard once more: delivery is
// at least once, and clients drop a seq they have seen.
var ErrIncomplete = errors.New("fan-out task incomplete")

// RunTask delivers t's frame to every member of its shard, reading with
// src. A connection found gone is removed, as in a broadcast. The error is
// non-nil when any live member may have missed the frame.
func (f *Fanout) RunTask(ctx context.Context, src ShardReader, t Task) (chat.FanoutStats, error) {
	if t.Channel == "" || len(t.Frame) == 0 {
		return chat.FanoutStats{}, fmt.Errorf("fan-out task %+v: no channel or frame: %w", t, chat.ErrBadCursor)
	}
	read := func(ctx context.Context, cursor string) ([]chat.Member, string, error) {
		return src.ShardRecipients(ctx, t.Channel, t.Shards, t.Shard, cursor, f.cfg.PageSize)
	}
	stats, err := f.deliverAll(ctx, nil, t.Channel, t.Except, t.Frame, read)
	if err == nil && stats.Failed > 0 {
		err = fmt.Errorf("fan-out task %s shard %d/%d: %d of %d posts failed: %w", t.Channel, t.Shard, t.Shards, stats.Failed, stats.Members, ErrIncomplete)
	}
	return stats, err
}

// Tasks splits a broadcast to a channel with shards shards into one task per
// shard.
func Tasks(channel string, shards int, seq int64, frame []byte) []Task {
	return tasksExcept(channel, shards, seq, "", frame)
}

func tasksExcept(channel string, shards int, seq int64, except string, frame []byte) []Task {
	tasks := make([]Task, 0, shards)
	for sh := range shards {
		tasks = append(tasks, Task{Channel: channel, Shard: sh, Shards: shards, Seq: seq, Except: except, Frame: frame})
	}
	return tasks
}
