package dynamo_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/dynamo"
)

func TestUserIndex(t *testing.T) {
	s, clk := newStore(t, dynamo.Options{})
	ctx := t.Context()
	put := func(id, user string, ttl time.Duration) {
		c := chat.Connection{ID: id, Identity: chat.Identity{UserID: user}, ConnectedAt: clk.Now(), ExpiresAt: clk.Now().Add(ttl)}
		if err := s.PutConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
		if err := s.PutUserConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	put("a1", "ann", time.Hour)
	put("a2", "ann", time.Hour)
	put("a3", "ann", time.Minute) // expires first
	put("b1", "bob", time.Hour)
	put("x1", "ann#x", time.Hour) // a '#' in a user id is another partition

	check := func(user string, want []string) {
		t.Helper()
		conns, err := s.ConnectionsOfUser(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range conns {
			got = append(got, c.ID)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("ConnectionsOfUser(%s) = %v, want %v", user, got, want)
		}
	}
	check("ann", []string{"a1", "a2", "a3"})
	check("bob", []string{"b1"})
	check("nobody", nil)
	clk.Advance(2 * time.Minute)
	check("ann", []string{"a1", "a2"})
	if err := s.RemoveUserConnection(ctx, "ann", "a1"); err != nil {
		t.Fatal(err)
	}
	check("ann", []string{"a2"})
	// RemoveConnection (the $disconnect and 410 clean-up) removes the index
	// entry too.
	if _, err := s.RemoveConnection(ctx, "a2"); err != nil {
		t.Fatal(err)
	}
	check("ann", nil)
}

func TestCursorStore(t *testing.T) {
	s, clk := newStore(t, dynamo.Options{})
	ctx := t.Context()
	if err := s.PutCursor(ctx, "ref1", "general", "MDpjMQ", clk.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	ch, raw, err := s.Cursor(ctx, "ref1")
	if err != nil || ch != "general" || raw != "MDpjMQ" {
		t.Errorf("Cursor(ref1) = %q, %q, %v; want general, MDpjMQ", ch, raw, err)
	}
	if _, _, err := s.Cursor(ctx, "nope"); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("unknown ref: %v, want ErrNotFound", err)
	}
	clk.Advance(2 * time.Minute)
	if _, _, err := s.Cursor(ctx, "ref1"); !errors.Is(err, chat.ErrNotFound) {
		t.Errorf("expired ref: %v, want ErrNotFound", err)
	}
}
