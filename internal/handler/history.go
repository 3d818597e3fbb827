package handler

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/protocol"
)

// HistoryStore is what history reads (and settles: see chat.HistoryQuery).
type HistoryStore interface {
	MemberChecker
	SettledHistory(ctx context.Context, q chat.HistoryQuery) (chat.HistoryPage, error)
}

// historyFrameBudget is the room for messages in one history event: the
// frame limit minus generous room for the envelope.
const historyFrameBudget = protocol.MaxFrameBytes - 1024

// DefaultSettleGrace is how old the evidence that a missing seq was taken
// must be before history declares it never used: longer than a send
// normally takes between taking its seq and storing its message, so a
// slow send is waited for, not renumbered (which would still be safe).
const DefaultSettleGrace = 5 * time.Second

// historyAction serves history: messages after a seq, in seq order, cut
// to fit one frame, with the range they cover settled (through, oldest,
// truncated).
type historyAction struct {
	store     HistoryStore
	replier   replier
	grace     time.Duration
	retention time.Duration
}

func (h *historyAction) serve(ctx context.Context, rq *request, in protocol.Request) error {
	r := in.(*protocol.History)
	if err := requireAccess(ctx, h.store, rq, r.Channel, chat.RightRead); err != nil {
		return err
	}
	got, err := h.store.SettledHistory(ctx, chat.HistoryQuery{
		Channel: r.Channel, After: r.After, Limit: r.Limit, Grace: h.grace, TombstoneTTL: h.retention,
	})
	if err != nil {
		return err
	}
	page := protocol.HistoryPage{Channel: r.Channel, More: got.More, Next: got.Next,
		After: r.After, Oldest: got.Oldest, Truncated: got.Truncated, Through: got.Through}
	size := 0
	for i, m := range got.Messages {
		e := entryOf(m)
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode history entry: %w", err)
		}
		if i > 0 && size+len(b)+1 > historyFrameBudget {
			// 100 messages of 4,000 escaped characters do not fit in one
			// frame: stop here and let the client ask for the rest. Only
			// the seqs up to the last message sent are settled for it.
			page.More, page.Next = true, got.Messages[i-1].Seq
			page.Through = min(page.Through, page.Next)
			break
		}
		size += len(b) + 1
		page.Messages = append(page.Messages, e)
	}
	return h.replier.reply(ctx, rq, page)
}
