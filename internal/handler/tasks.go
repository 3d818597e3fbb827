package handler

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/fanout"
	"github.com/wschat/wschat/internal/logging"
)

// TaskRunner runs one fan-out task (a *fanout.Fanout).
type TaskRunner interface {
	RunTask(ctx context.Context, src fanout.ShardReader, t fanout.Task) (chat.FanoutStats, error)
}

// Tasks is the fan-out function's handler: each SQS message of the batch is
// one fanout.Task. A task that did not reach every live member of its shard
// is reported in batchItemFailures, so SQS makes it visible again after the
// visibility timeout and, after the queue's maximum receives, moves it to
// the dead-letter queue. Successful tasks of the same batch are deleted:
// one slow shard does not make the others post again.
type Tasks struct {
	runner TaskRunner
	shards fanout.ShardReader
	log    *slog.Logger
}

// NewTasks returns the fan-out function's handler.
func NewTasks(runner TaskRunner, shards fanout.ShardReader, log *slog.Logger) *Tasks {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Tasks{runner: runner, shards: shards, log: log}
}

// BatchResponse is the partial batch response of an SQS event source
// mapping with FunctionResponseTypes [ReportBatchItemFailures].
type BatchResponse struct {
	BatchItemFailures []BatchItemFailure `json:"batchItemFailures"`
}

// BatchItemFailure names one message to retry.
type BatchItemFailure struct {
	ItemIdentifier string `json:"itemIdentifier"`
}

// Handle runs the batch's tasks one after another (each already posts with
// the fan-out's worker pool). It never returns an error: a failed task is
// reported by its message id, and a message that is not a task at all is
// reported too, so it reaches the dead-letter queue instead of vanishing.
func (h *Tasks) Handle(ctx context.Context, ev events.SQSEvent) (BatchResponse, error) {
	resp := BatchResponse{BatchItemFailures: []BatchItemFailure{}}
	for _, rec := range ev.Records {
		if err := h.run(ctx, rec); err != nil {
			resp.BatchItemFailures = append(resp.BatchItemFailures, BatchItemFailure{ItemIdentifier: rec.MessageId})
		}
	}
	return resp, nil
}

func (h *Tasks) run(ctx context.Context, rec events.SQSMessage) error {
	var t fanout.Task
	if err := json.Unmarshal([]byte(rec.Body), &t); err != nil || t.Channel == "" || len(t.Frame) == 0 {
		if err == nil {
			err = errors.New("no channel or frame")
		}
		h.log.LogAttrs(ctx, slog.LevelError, "fanout task unreadable",
			slog.String("messageId", rec.MessageId), slog.String("receiveCount", rec.Attributes["ApproximateReceiveCount"]), logging.Err(err))
		return err
	}
	stats, err := h.runner.RunTask(ctx, h.shards, t)
	if err != nil {
		h.log.LogAttrs(ctx, slog.LevelWarn, "fanout task failed",
			slog.String("messageId", rec.MessageId), slog.String("receiveCount", rec.Attributes["ApproximateReceiveCount"]),
			slog.String("channel", t.Channel), slog.Int("shard", t.Shard), slog.Int("shards", t.Shards), slog.Int64("seq", t.Seq),
			slog.Int("delivered", stats.Delivered), slog.Int("failed", stats.Failed), logging.Err(err))
	}
	return err
}
