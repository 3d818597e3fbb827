package dynamo_test

import (
	"errors"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/dynamo"
)

// PutMessage is conditional: a rewrite of the same message succeeds, any
// other writer of the slot (another message, a tombstone) gets ErrConflict.
func TestPutMessageIsConditionalAndTombstonesWin(t *testing.T) {
	ctx := t.Context()
	s, clk := newStore(t, dynamo.Options{})
	msg := func(seq int64, clientID string) chat.Message {
		return chat.Message{Channel: "general", Seq: seq, Identity: chat.Identity{UserID: "u1", UserName: "U"},
			Text: "t", ClientID: clientID, SentAt: clk.Now(), ExpiresAt: clk.Now().Add(time.Hour)}
	}
	for range 3 { // seqs 1..3 taken
		if _, err := s.NextSeq(ctx, "general"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutMessage(ctx, msg(1, "a")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutMessage(ctx, msg(3, "c")); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	// Settling tombstones seq 2, which was taken and never stored.
	q := chat.HistoryQuery{Channel: "general", Limit: 10, Grace: 5 * time.Second, TombstoneTTL: time.Hour}
	page, err := s.SettledHistory(ctx, q)
	if err != nil || page.Through != 3 || len(page.Messages) != 2 || page.Truncated || page.Oldest != 1 {
		t.Fatalf("SettledHistory = %+v, %v; want seqs 1 and 3, through 3, oldest 1", page, err)
	}
	tests := []struct {
		name     string
		m        chat.Message
		conflict bool
	}{
		{"same message again", msg(1, "a"), false},
		{"another message in a used slot", msg(1, "b"), true},
		{"a message in a tombstoned slot", msg(2, "b"), true},
		{"a new slot", msg(4, "d"), false},
	}
	for _, tt := range tests {
		err := s.PutMessage(ctx, tt.m)
		if got := errors.Is(err, chat.ErrConflict); got != tt.conflict || (!tt.conflict && err != nil) {
			t.Errorf("%s: PutMessage = %v, want conflict %v", tt.name, err, tt.conflict)
		}
	}
	if last, err := s.LastSeq(ctx, "general"); err != nil || last != 3 {
		t.Errorf("LastSeq = %d, %v; want 3", last, err)
	}
	if last, err := s.LastSeq(ctx, "never"); err != nil || last != 0 {
		t.Errorf("LastSeq(new channel) = %d, %v; want 0", last, err)
	}
}

// RebindClaimSeq moves a claim once; a second mover learns the first's seq.
func TestRebindClaimSeqMovesOnce(t *testing.T) {
	ctx := t.Context()
	s, clk := newStore(t, dynamo.Options{})
	k := chat.ClaimKey{Channel: "general", UserID: "u1", ClientID: "c1"}
	if _, _, err := s.Claim(ctx, chat.Claim{ClaimKey: k, TextHash: "h", SentAt: clk.Now(), ExpiresAt: clk.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetClaimSeq(ctx, k, 5); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		from, to, want int64
	}{
		{5, 9, 9},  // the first attempt to find 5 tombstoned moves the claim
		{5, 10, 9}, // a concurrent attempt that also found 5 follows it
		{9, 11, 11},
	}
	for _, tt := range tests {
		if got, err := s.RebindClaimSeq(ctx, k, tt.from, tt.to); err != nil || got != tt.want {
			t.Errorf("RebindClaimSeq(%d→%d) = %d, %v; want %d", tt.from, tt.to, got, err, tt.want)
		}
	}
}
