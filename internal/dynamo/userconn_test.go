package dynamo_test

import (
	"slices"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/dynamo"
)

func connIDs(cs []chat.Connection) []string {
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	return ids
}

func TestUserConnectionsIndex(t *testing.T) {
	ctx := t.Context()
	s, clk := newStore(t, dynamo.Options{})
	put := func(id, user string, ttl time.Duration) chat.Connection {
		c := chat.Connection{ID: id, Identity: chat.Identity{UserID: user, UserName: "N " + user},
			ConnectedAt: clk.Now().Truncate(time.Millisecond), ExpiresAt: clk.Now().Add(ttl)}
		if err := s.PutConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := s.PutUserConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	put("a1", "ann", time.Hour)
	a2 := put("a2", "ann", time.Hour)
	put("a3", "ann", time.Minute) // expires first
	put("b1", "bob", time.Hour)
	join(t, s, clk, a2, "general")

	tests := []struct {
		name  string
		after func()
		user  string
		want  []string
		count int
	}{
		{"all live connections of ann", func() {}, "ann", []string{"a1", "a2", "a3"}, 3},
		{"no one else's", func() {}, "bob", []string{"b1"}, 1},
		{"unknown user", func() {}, "carol", nil, 0},
		{"an expired entry is skipped", func() { clk.Advance(2 * time.Minute) }, "ann", []string{"a1", "a2"}, 2},
		{"RemoveConnection deletes the entry", func() {
			if _, err := s.RemoveConnection(ctx, "a2"); err != nil {
				t.Fatal(err)
			}
		}, "ann", []string{"a1"}, 1},
		{"RemoveUserConnection is idempotent", func() {
			for range 2 {
				if err := s.RemoveUserConnection(ctx, "ann", "a1"); err != nil {
					t.Fatal(err)
				}
			}
		}, "ann", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.after()
			got, err := s.ConnectionsOfUser(ctx, tt.user)
			if err != nil {
				t.Fatal(err)
			}
			if ids := connIDs(got); !slices.Equal(ids, tt.want) {
				t.Errorf("ConnectionsOfUser(%s) = %v, want %v", tt.user, ids, tt.want)
			}
			n, err := s.CountConnectionsOfUser(ctx, tt.user)
			if err != nil || n != tt.count {
				t.Errorf("CountConnectionsOfUser(%s) = %d, %v; want %d", tt.user, n, err, tt.count)
			}
		})
	}
}

func TestConnectionsOfUserPages(t *testing.T) {
	ctx := t.Context()
	s, clk := newStore(t, dynamo.Options{})
	const n = 130 // more than one Query page
	for i := range n {
		c := chat.Connection{ID: "c" + string(rune('A'+i/26)) + string(rune('a'+i%26)), Identity: chat.Identity{UserID: "many"},
			ConnectedAt: clk.Now(), ExpiresAt: clk.Now().Add(time.Hour)}
		if err := s.PutUserConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ConnectionsOfUser(ctx, "many")
	if err != nil || len(got) != n {
		t.Fatalf("ConnectionsOfUser = %d connections, %v; want %d", len(got), err, n)
	}
	if c, err := s.CountConnectionsOfUser(ctx, "many"); err != nil || c != n {
		t.Errorf("CountConnectionsOfUser = %d, %v; want %d", c, err, n)
	}
}

// The user's partition also holds its rate bucket: it is not a connection,
// neither listed (a post to an empty id) nor counted against the cap.
func TestUserIndexSkipsTheRateBucket(t *testing.T) {
	ctx := t.Context()
	s, clk := newStore(t, dynamo.Options{})
	c := chat.Connection{ID: "only", Identity: chat.Identity{UserID: "ann"}, ConnectedAt: clk.Now(), ExpiresAt: clk.Now().Add(time.Hour)}
	if err := s.PutUserConnection(ctx, c); err != nil {
		t.Fatal(err)
	}
	if r, err := s.TakeTokens(ctx, "ann", "only", chat.Rate{PerSecond: 10, Burst: 20}, chat.Rate{PerSecond: 5, Burst: 10}); err != nil || r != chat.Allowed {
		t.Fatalf("TakeTokens = %v, %v; want a token", r, err)
	}
	got, err := s.ConnectionsOfUser(ctx, "ann")
	if err != nil || len(got) != 1 || got[0].ID != "only" {
		t.Errorf("ConnectionsOfUser = %+v, %v; want only the connection", got, err)
	}
	if n, err := s.CountConnectionsOfUser(ctx, "ann"); err != nil || n != 1 {
		t.Errorf("CountConnectionsOfUser = %d, %v; want 1", n, err)
	}
}
