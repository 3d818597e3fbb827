package handler

import (
	"context"
	"encoding/json"
	"fmt"

	"wschat/internal/chat"
	"wschat/internal/protocol"
)

// HistoryStore is what history reads.
type HistoryStore interface {
	MemberChecker
	History(ctx context.Context, channel string, after int64, limit int) (msgs []chat.Message, more bool, next int64, err error)
}

// historyFrameBudget is the room for messages in one history event: the
// frame limit minus generous room for the envelope.
const historyFrameBudget = protocol.MaxFrameBytes - 1024

// historyAction serves history: messages after a seq, in seq order, cut
// to fit one frame.
type historyAction struct {
	store   HistoryStore
	replier replier
}

func (h *historyAction) serve(ctx context.Context, rq *request, in protocol.Request) error {
	r := in.(*protocol.History)
	if err := requireRight(rq, r.Channel, chat.RightRead); err != nil {
		return err
	}
	if err := requireMember(ctx, h.store, rq, r.Channel); err != nil {
		return err
	}
	msgs, more, next, err := h.store.History(ctx, r.Channel, r.After, r.Limit)
	if err != nil {
		return err
	}
	page := protocol.HistoryPage{Channel: r.Channel, More: more, Next: next}
	size := 0
	for i, m := range msgs {
		e := entryOf(m)
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode history entry: %w", err)
		}
		if i > 0 && size+len(b)+1 > historyFrameBudget {
			// 100 messages of 4,000 escaped characters do not fit in one
			// frame: stop here and let the client ask for the rest.
			page.More, page.Next = true, msgs[i-1].Seq
			break
		}
		size += len(b) + 1
		page.Messages = append(page.Messages, e)
	}
	return h.replier.reply(ctx, rq, page)
}
