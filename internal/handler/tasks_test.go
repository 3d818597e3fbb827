package handler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/fanout"
	"github.com/wschat/wschat/internal/handler"
)

type fakeRunner struct{ fail map[int]bool }

func (r *fakeRunner) RunTask(_ context.Context, _ fanout.ShardReader, t fanout.Task) (chat.FanoutStats, error) {
	if r.fail[t.Shard] {
		return chat.FanoutStats{Failed: 1}, fmt.Errorf("shard %d: %w", t.Shard, fanout.ErrIncomplete)
	}
	return chat.FanoutStats{Delivered: 1}, nil
}

// Only the messages whose task did not complete, or that are no task at
// all, are reported for retry; the rest of the batch is done.
func TestTasksReportsOnlyFailedMessages(t *testing.T) {
	rec := func(id string, task any) events.SQSMessage {
		b, _ := json.Marshal(task)
		return events.SQSMessage{MessageId: id, Body: string(b)}
	}
	ev := events.SQSEvent{Records: []events.SQSMessage{
		rec("ok-0", fanout.Task{Channel: "big", Shard: 0, Shards: 3, Frame: []byte("{}")}),
		rec("fails-1", fanout.Task{Channel: "big", Shard: 1, Shards: 3, Frame: []byte("{}")}),
		{MessageId: "poison", Body: "not json"},
		rec("no-frame", fanout.Task{Channel: "big", Shard: 2, Shards: 3}),
		rec("ok-2", fanout.Task{Channel: "big", Shard: 2, Shards: 3, Frame: []byte("{}")}),
	}}
	h := handler.NewTasks(&fakeRunner{fail: map[int]bool{1: true}}, nil, nil)
	resp, err := h.Handle(t.Context(), ev)
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	var ids []string
	for _, f := range resp.BatchItemFailures {
		ids = append(ids, f.ItemIdentifier)
	}
	if want := []string{"fails-1", "poison", "no-frame"}; !slices.Equal(ids, want) {
		t.Errorf("batchItemFailures = %v, want %v", ids, want)
	}
	b, _ := json.Marshal(resp)
	if string(b) != `{"batchItemFailures":[{"itemIdentifier":"fails-1"},{"itemIdentifier":"poison"},{"itemIdentifier":"no-frame"}]}` {
		t.Errorf("response JSON = %s, not the shape Lambda's event source mapping reads", b)
	}
	resp, _ = h.Handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{ev.Records[0]}})
	if b, _ := json.Marshal(resp); string(b) != `{"batchItemFailures":[]}` {
		t.Errorf("all done: %s, want an empty list", b)
	}
}
