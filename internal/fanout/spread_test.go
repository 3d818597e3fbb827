package fanout_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/dynamo"
	"github.com/wschat/wschat/internal/dynamo/dynamotest"
	"github.com/wschat/wschat/internal/fanout"
)

// memQueue is a Queue that keeps the bodies, or fails with err.
type memQueue struct {
	mu     sync.Mutex
	bodies [][]byte
	err    error
}

func (q *memQueue) Enqueue(_ context.Context, bodies [][]byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return q.err
	}
	q.bodies = append(q.bodies, bodies...)
	return nil
}

// spreadFixture is a channel "big" of old members joined a minute before
// now, and recent members joined now, on dynalite.
type spreadFixture struct {
	store   *dynamo.Store
	gw      *flakyGateway
	f       *fanout.Fanout
	members []string
}

func newSpreadFixture(t *testing.T, old, recent int) *spreadFixture {
	t.Helper()
	ctx := t.Context()
	db, table := dynamotest.NewTable(t)
	var mu sync.Mutex
	clock := time.Now().Add(-time.Minute)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	store := dynamo.New(db, table, dynamo.Options{ShardSize: 50, Now: now})
	fx := &spreadFixture{store: store, gw: &flakyGateway{delivered: map[string]int{}}}
	for i := range old + recent {
		if i == old {
			mu.Lock()
			clock = clock.Add(time.Minute)
			mu.Unlock()
		}
		id := fmt.Sprintf("m-%04d", i)
		fx.members = append(fx.members, id)
		at := now()
		c := chat.Connection{ID: id, ConnectedAt: at, ExpiresAt: at.Add(chat.ConnectionTTL)}
		if err := store.PutConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, err := store.AddMember(ctx, chat.Member{Channel: "big", ConnectionID: id, JoinedAt: at}, 20); err != nil {
			t.Fatal(err)
		}
	}
	fx.f = fanout.New(store, fx.gw, fanout.Config{Workers: 8, PageSize: 64}, nil, nil)
	return fx
}

// runAll runs the queued tasks as the fan-out function would.
func (fx *spreadFixture) runAll(t *testing.T, q *memQueue) []fanout.Task {
	t.Helper()
	var tasks []fanout.Task
	for _, b := range q.bodies {
		var task fanout.Task
		if err := json.Unmarshal(b, &task); err != nil {
			t.Fatalf("task %s: %v", b, err)
		}
		if _, err := fx.f.RunTask(t.Context(), fx.store, task); err != nil {
			t.Fatalf("RunTask(%+v): %v", task, err)
		}
		tasks = append(tasks, task)
	}
	return tasks
}

// Above the threshold the sender posts only to the recent joins and hands
// one task per shard to the queue; the tasks reach every member. Below it
// nothing is queued.
func TestSpreaderHandsBigChannelsToTheQueue(t *testing.T) {
	fx := newSpreadFixture(t, 300, 5)
	q := &memQueue{}
	s := fanout.NewSpreader(fx.f, fx.store, q, 100)
	stats, err := s.Broadcast(t.Context(), chat.NewBudget(2000), "big", []byte(`{"seq":1}`))
	if err != nil {
		t.Fatalf("Broadcast: %v", err)
	}
	if stats.Delivered != 5 || stats.Tasks != 8 || stats.Skipped != 0 {
		t.Errorf("sender stats = %+v, want 5 recent joins delivered and 8 tasks (305 members, 50 per shard)", stats)
	}
	tasks := fx.runAll(t, q)
	for i, id := range fx.members {
		want := 1
		if i >= 300 {
			want = 2 // the sender's post and its shard's task: at least once
		}
		if got := fx.gw.delivered[id]; got != want {
			t.Errorf("%s got %d posts, want %d", id, got, want)
		}
	}
	t.Logf("305 members: 5 posted by the sender, %d tasks of one shard each", len(tasks))

	small := newSpreadFixture(t, 40, 0)
	q2 := &memQueue{}
	stats, err = fanout.NewSpreader(small.f, small.store, q2, 100).Broadcast(t.Context(), nil, "big", []byte(`{}`))
	if err != nil || stats.Delivered != 40 || stats.Tasks != 0 || len(q2.bodies) != 0 {
		t.Errorf("40 members under a threshold of 100: %+v, %v, %d queued; want all delivered by the sender, none queued", stats, err, len(q2.bodies))
	}
}

// The send budget no longer skips anyone: a channel that outgrew it since
// its size was read is handed on whole.
func TestSpreaderHandsOnWhatTheBudgetCannotReach(t *testing.T) {
	fx := newSpreadFixture(t, 120, 0)
	q := &memQueue{}
	s := fanout.NewSpreader(fx.f, fx.store, q, 200) // "small": sent directly
	stats, err := s.Broadcast(t.Context(), chat.NewBudget(50), "big", []byte(`{}`))
	if err != nil {
		t.Fatalf("Broadcast: %v", err)
	}
	if stats.Skipped != 0 || stats.Tasks == 0 || stats.Delivered != 50 {
		t.Errorf("stats = %+v, want 50 delivered by the sender, the rest handed on, 0 skipped", stats)
	}
	fx.runAll(t, q)
	for _, id := range fx.members {
		if fx.gw.delivered[id] < 1 {
			t.Errorf("%s never got the message", id)
		}
	}
}

// An enqueue that fails is the broadcast's error: the handler does not ack,
// the client retries, and the retry broadcasts again.
func TestSpreaderReportsAFailedEnqueue(t *testing.T) {
	fx := newSpreadFixture(t, 150, 0)
	q := &memQueue{err: errors.New("sqs down")}
	_, err := fanout.NewSpreader(fx.f, fx.store, q, 100).Broadcast(t.Context(), nil, "big", []byte(`{}`))
	if err == nil || !strings.Contains(err.Error(), "sqs down") {
		t.Errorf("Broadcast = %v, want the enqueue error", err)
	}
}

func TestSpreadConfigFromEnv(t *testing.T) {
	tests := []struct {
		env     map[string]string
		budget  int
		want    fanout.SpreadConfig
		wantErr string
	}{
		{env: nil, want: fanout.SpreadConfig{}},
		{env: map[string]string{"WSCHAT_FANOUT_QUEUE_URL": "https://q", "WSCHAT_FANOUT_THRESHOLD": "500"}, budget: 2000, want: fanout.SpreadConfig{QueueURL: "https://q", Threshold: 500}},
		{env: map[string]string{"WSCHAT_FANOUT_QUEUE_URL": "https://q"}, wantErr: "want a positive number"},
		{env: map[string]string{"WSCHAT_FANOUT_QUEUE_URL": "https://q", "WSCHAT_FANOUT_THRESHOLD": "0"}, wantErr: "want a positive number"},
		{env: map[string]string{"WSCHAT_FANOUT_THRESHOLD": "5"}, wantErr: "set both or neither"},
		{env: map[string]string{"WSCHAT_FANOUT_QUEUE_URL": "https://q", "WSCHAT_FANOUT_THRESHOLD": "3000"}, budget: 2000, wantErr: "above the send budget"},
	}
	for _, tt := range tests {
		got, err := fanout.SpreadConfigFromEnv(func(k string) string { return tt.env[k] }, tt.budget)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%v: err = %v, want %q", tt.env, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%v = %+v, %v; want %+v", tt.env, got, err, tt.want)
		}
	}
}
