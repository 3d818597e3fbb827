package dynamo_test

import (
	"testing"
	"time"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/dynamo"
)

func TestHistoryKeepsWhereAMessageCameFrom(t *testing.T) {
	ctx := t.Context()
	s, clk := newStore(t, dynamo.Options{})
	at := clk.Now().Truncate(time.Millisecond)
	for i, from := range []string{"", chat.FromServer} {
		m := chat.Message{Channel: "general", Seq: int64(i + 1), Identity: chat.Identity{UserID: "u", UserName: "U"},
			From: from, Text: "t", ClientID: "c", SentAt: at, ExpiresAt: at.Add(time.Hour)}
		if err := s.PutMessage(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	msgs, _, _, err := s.History(ctx, "general", 0, 10)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("History = %d messages, %v; want 2", len(msgs), err)
	}
	for i, want := range []string{"", chat.FromServer} {
		if msgs[i].From != want {
			t.Errorf("message %d From = %q, want %q", msgs[i].Seq, msgs[i].From, want)
		}
	}
}
