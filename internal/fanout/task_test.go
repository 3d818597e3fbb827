package fanout_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/dynamo"
	"github.com/wschat/wschat/internal/dynamo/dynamotest"
	"github.com/wschat/wschat/internal/fanout"
)

// flakyGateway fails the posts to failing[id] (retryably) until healed,
// and counts deliveries per connection.
type flakyGateway struct {
	mu        sync.Mutex
	failing   map[string]bool
	healed    bool
	delivered map[string]int
	failures  int
}

func (g *flakyGateway) Post(_ context.Context, id string, _ []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.failing[id] && !g.healed {
		g.failures++
		return fmt.Errorf("post: %w", chat.ErrUnavailable)
	}
	g.delivered[id]++
	return nil
}

// TestRetriedTaskDeliversToEveryMember: a task that fails part way (one
// member's posts keep failing) reports ErrIncomplete; the retry, as the
// queue would make it, reaches every member of the shard, and together the
// shard tasks reach every member of the channel.
func TestRetriedTaskDeliversToEveryMember(t *testing.T) {
	ctx := t.Context()
	db, table := dynamotest.NewTable(t)
	store := dynamo.New(db, table, dynamo.Options{ShardSize: 50})
	now := time.Now()
	const n = 300
	var ids []string
	for i := range n {
		id := fmt.Sprintf("member-%04d", i)
		ids = append(ids, id)
		c := chat.Connection{ID: id, ConnectedAt: now, ExpiresAt: now.Add(chat.ConnectionTTL)}
		if err := store.PutConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, err := store.AddMember(ctx, chat.Member{Channel: "big", ConnectionID: id, JoinedAt: now}, 20); err != nil {
			t.Fatal(err)
		}
	}
	_, shards, err := store.ChannelSize(ctx, "big")
	if err != nil || shards != 8 {
		t.Fatalf("shards = %d, %v; want 8 (300 members, 50 per shard)", shards, err)
	}
	gw := &flakyGateway{failing: map[string]bool{"member-0042": true}, delivered: map[string]int{}}
	f := fanout.New(store, gw, fanout.Config{Workers: 8, PageSize: 16, Retries: 1, Backoff: time.Millisecond}, nil, nil)

	var retry []fanout.Task
	for _, task := range fanout.Tasks("big", shards, 7, []byte(`{"type":"message","seq":7}`)) {
		_, err := f.RunTask(ctx, store, task)
		switch {
		case errors.Is(err, fanout.ErrIncomplete):
			retry = append(retry, task)
		case err != nil:
			t.Fatalf("RunTask(shard %d): %v", task.Shard, err)
		}
	}
	if len(retry) != 1 || gw.failures == 0 {
		t.Fatalf("%d tasks incomplete after %d failed posts, want exactly the failing member's shard", len(retry), gw.failures)
	}
	gw.mu.Lock()
	gw.healed = true
	gw.mu.Unlock()
	stats, err := f.RunTask(ctx, store, retry[0])
	if err != nil || stats.Failed != 0 {
		t.Fatalf("retried task = %+v, %v; want complete", stats, err)
	}
	for _, id := range ids {
		if gw.delivered[id] < 1 {
			t.Errorf("%s never got the message", id)
		}
	}
	// At least once: the retried shard's members got it twice, the rest once.
	twice := 0
	for _, id := range ids {
		if gw.delivered[id] == 2 {
			twice++
		}
	}
	if gw.delivered["member-0042"] != 1 || twice != stats.Members-1 {
		t.Errorf("member-0042 got %d, %d members twice; want 1 and the shard's other %d", gw.delivered["member-0042"], twice, stats.Members-1)
	}
	t.Logf("%d members in %d shards; %d failed posts; retried shard %d (%d members)", n, shards, gw.failures, retry[0].Shard, stats.Members)
}

func TestRunTaskRejectsABadTask(t *testing.T) {
	db, table := dynamotest.NewTable(t)
	store := dynamo.New(db, table, dynamo.Options{})
	f := fanout.New(store, &flakyGateway{delivered: map[string]int{}}, fanout.Config{}, nil, nil)
	for _, task := range []fanout.Task{
		{Channel: "big", Shard: 3, Shards: 2, Frame: []byte("{}")},
		{Channel: "big", Shard: -1, Shards: 2, Frame: []byte("{}")},
		{Channel: "", Shard: 0, Shards: 1, Frame: []byte("{}")},
		{Channel: "big", Shard: 0, Shards: 1},
	} {
		if _, err := f.RunTask(t.Context(), store, task); !errors.Is(err, chat.ErrBadCursor) {
			t.Errorf("RunTask(%+v) = %v, want ErrBadCursor", task, err)
		}
	}
}
