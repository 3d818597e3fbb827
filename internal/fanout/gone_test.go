package fanout_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/dynamo"
	"github.com/wschat/wschat/internal/dynamo/dynamotest"
	"github.com/wschat/wschat/internal/fanout"
)

func TestMain(m *testing.M) { os.Exit(dynamotest.Main(m)) }

// goneGateway is a fake @connections client: ids in gone answer ErrGone,
// every other post is recorded as delivered.
type goneGateway struct {
	gone map[string]bool

	mu        sync.Mutex
	delivered map[string]int
}

func (g *goneGateway) Post(_ context.Context, id string, _ []byte) error {
	if g.gone[id] {
		return fmt.Errorf("post: %w", chat.ErrGone)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.delivered[id]++
	return nil
}

func TestThreeGoneAmongFiftyMembers(t *testing.T) {
	ctx := t.Context()
	db, table := dynamotest.NewTable(t)
	store := dynamo.New(db, table, dynamo.Options{})
	now := time.Now()
	var ids []string
	for i := range 50 {
		id := fmt.Sprintf("conn-%02d", i)
		ids = append(ids, id)
		c := chat.Connection{ID: id, Identity: chat.Identity{UserID: "u" + id}, ConnectedAt: now, ExpiresAt: now.Add(chat.ConnectionTTL)}
		if err := store.PutConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
		for _, ch := range []string{"room", "lobby"} {
			if _, err := store.AddMember(ctx, chat.Member{Channel: ch, ConnectionID: id, Identity: c.Identity, JoinedAt: now}, 20); err != nil {
				t.Fatal(err)
			}
		}
	}
	goneIDs := []string{"conn-07", "conn-23", "conn-41"}
	gw := &goneGateway{gone: map[string]bool{}, delivered: map[string]int{}}
	for _, id := range goneIDs {
		gw.gone[id] = true
	}

	f := fanout.New(store, gw, fanout.Config{Workers: 8, PageSize: 16}, nil, nil)
	stats, err := f.Broadcast(ctx, chat.NewBudget(1000), "room", []byte(`{"type":"message"}`))
	if err != nil {
		t.Fatalf("Broadcast: %v", err)
	}
	if stats.Members != 50 || stats.Delivered != 47 || stats.Gone != 3 || stats.Failed != 0 || stats.Skipped != 0 {
		t.Errorf("stats = %+v, want 50 members, 47 delivered, 3 gone", stats)
	}
	for _, id := range ids {
		want := 1
		if gw.gone[id] {
			want = 0
		}
		if got := gw.delivered[id]; got != want {
			t.Errorf("deliveries to %s = %d, want %d", id, got, want)
		}
	}

	// Exactly the gone connections are removed, with their memberships in
	// every channel, not only the one broadcast to.
	for _, id := range ids {
		_, connErr := store.Connection(ctx, id)
		_, roomErr := store.Member(ctx, "room", id)
		_, lobbyErr := store.Member(ctx, "lobby", id)
		removed := errors.Is(connErr, chat.ErrNotFound) && errors.Is(roomErr, chat.ErrNotFound) && errors.Is(lobbyErr, chat.ErrNotFound)
		kept := connErr == nil && roomErr == nil && lobbyErr == nil
		if gw.gone[id] && !removed {
			t.Errorf("gone %s not fully removed: connection %v, room %v, lobby %v", id, connErr, roomErr, lobbyErr)
		}
		if !gw.gone[id] && !kept {
			t.Errorf("live %s touched: connection %v, room %v, lobby %v", id, connErr, roomErr, lobbyErr)
		}
	}
	var left []string
	for cur, i := "", 0; i < 10; i++ {
		ms, next, err := store.Members(ctx, "room", cur, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			left = append(left, m.ConnectionID)
		}
		if next == "" {
			break
		}
		cur = next
	}
	for _, id := range goneIDs {
		if slices.Contains(left, id) {
			t.Errorf("members of room still list gone %s", id)
		}
	}
	if len(left) != 47 {
		t.Errorf("room has %d members after the broadcast, want 47", len(left))
	}
}
