package handler

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"time"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/protocol"
)

// HistoryStore is what history reads (and settles: see chat.HistoryQuery).
type HistoryStore interface {
	MemberChecker
	SettledHistory(ctx context.Context, q chat.HistoryQuery) (chat.HistoryPage, error)
	GetMessage(ctx context.Context, channel string, seq int64) (chat.Message, error)
	ThreadHistory(ctx context.Context, channel string, parent chat.Message, after int64, limit int) ([]chat.Message, bool, int64, error)
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
	if _, err := requireAccess(ctx, h.store, rq, r.Channel, chat.RightRead); err != nil {
		return err
	}
	if r.Thread != 0 {
		return h.thread(ctx, rq, r)
	}
	got, err := h.store.SettledHistory(ctx, chat.HistoryQuery{
		Channel: r.Channel, After: r.After, Limit: r.Limit, Grace: h.grace, TombstoneTTL: h.retention,
	})
	if err != nil {
		return err
	}
	page := protocol.HistoryPage{Channel: r.Channel, More: got.More, Next: got.Next,
		After: r.After, Oldest: got.Oldest, Truncated: got.Truncated, Through: got.Through}
	return h.replier.reply(ctx, rq, fitPage(page, pageItems(got, rq.UserID), got.Targets, rq.UserID))
}

// historyItem is one item of a history page: a message or an update, and
// the message it targets (a reply's parent, an update's target), if any.
type historyItem struct {
	seq     int64
	message *protocol.Entry
	update  *protocol.UpdateEntry
	mod     *protocol.ModerationEntry
	target  int64
}

// pageItems merges a page's messages and updates in seq order, each
// message in its current state as the user sees it (targets are read after
// the page, so they are the fresher copy).
func pageItems(got chat.HistoryPage, userID string) []historyItem {
	items := make([]historyItem, 0, len(got.Messages)+len(got.Updates))
	for _, m := range got.Messages {
		if t, ok := got.Targets[m.Seq]; ok {
			m = t
		}
		e := entryFor(m, userID)
		items = append(items, historyItem{seq: m.Seq, message: &e, target: m.ReplyTo})
	}
	for _, c := range got.Updates {
		u := protocol.UpdateEntry{Seq: c.Seq, Action: c.Op, Target: c.Target, UserID: c.UserID, UserName: c.UserName,
			Emoji: c.Emoji, ClientID: c.ClientID, At: c.At.UTC()}
		items = append(items, historyItem{seq: c.Seq, update: &u, target: c.Target})
	}
	for _, m := range got.Moderation {
		e := moderationEntry(m)
		items = append(items, historyItem{seq: m.Seq, mod: &e})
	}
	sort.Slice(items, func(i, j int) bool { return items[i].seq < items[j].seq })
	return items
}

// fitPage fills page with items, in seq order, and with the current state
// of each message they target that is not itself in the page, up to one
// frame: 100 messages of 4,000 escaped characters do not fit. Where it
// cuts, only the seqs up to the last item sent are settled for the client.
func fitPage(page protocol.HistoryPage, items []historyItem, targets map[int64]chat.Message, userID string) protocol.HistoryPage {
	inPage := map[int64]bool{}
	for _, it := range items {
		if it.message != nil {
			inPage[it.seq] = true
		}
	}
	stated := map[int64]bool{}
	size := 0
	for i, it := range items {
		var add []protocol.Entry
		if t, ok := targets[it.target]; ok && it.target != 0 && !inPage[it.target] && !stated[it.target] {
			add = append(add, entryFor(t, userID))
		}
		n := 1
		for _, v := range append([]any{it.message, it.update, it.mod}, anys(add)...) {
			if b, err := json.Marshal(v); err == nil {
				n += len(b) + 1
			}
		}
		if i > 0 && size+n > historyFrameBudget {
			page.More, page.Next = true, items[i-1].seq
			page.Through = min(page.Through, page.Next)
			break
		}
		size += n
		switch {
		case it.message != nil:
			page.Messages = append(page.Messages, *it.message)
		case it.mod != nil:
			page.Moderation = append(page.Moderation, *it.mod)
		default:
			page.Updates = append(page.Updates, *it.update)
		}
		for _, e := range add {
			stated[e.Seq] = true
			page.States = append(page.States, e)
		}
	}
	return page
}

func anys(es []protocol.Entry) []any {
	out := make([]any, len(es))
	for i := range es {
		out[i] = es[i]
	}
	return out
}

// thread answers the replies to one message, each in its current state,
// with the parent's state in States: a view for a thread panel, not the
// channel's stream (the replies are in the stream too), so it carries no
// settling fields.
func (h *historyAction) thread(ctx context.Context, rq *request, r *protocol.History) error {
	parent, err := h.store.GetMessage(ctx, r.Channel, r.Thread)
	if errors.Is(err, chat.ErrNotFound) {
		return errNotMessage(r.Channel, r.Thread)
	}
	if err != nil {
		return err
	}
	msgs, more, next, err := h.store.ThreadHistory(ctx, r.Channel, parent, r.After, r.Limit)
	if err != nil {
		return err
	}
	page := protocol.HistoryPage{Channel: r.Channel, Thread: r.Thread, More: more, Next: next, After: r.After,
		States: []protocol.Entry{entryFor(parent, rq.UserID)}}
	items := make([]historyItem, 0, len(msgs))
	for _, m := range msgs {
		e := entryFor(m, rq.UserID)
		items = append(items, historyItem{seq: m.Seq, message: &e})
	}
	return h.replier.reply(ctx, rq, fitPage(page, items, nil, rq.UserID))
}
