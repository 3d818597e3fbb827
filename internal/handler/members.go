package handler

import (
	"context"
	"errors"

	"wschat/internal/chat"
	"wschat/internal/protocol"
)

// MemberChecker reads one membership (chat.ErrNotFound when absent).
type MemberChecker interface {
	Member(ctx context.Context, channel, connID string) (chat.Member, error)
}

// requireMember returns a not_member error unless the requester is a live
// member of channel.
func requireMember(ctx context.Context, store MemberChecker, rq *request, channel string) error {
	_, err := store.Member(ctx, channel, rq.ConnectionID)
	if errors.Is(err, chat.ErrNotFound) {
		return notMember(channel)
	}
	return err
}

// MembersStore is what members reads.
type MembersStore interface {
	MemberChecker
	Members(ctx context.Context, channel, cursor string, limit int) ([]chat.Member, string, error)
}

// membersPageSize and membersMaxReads bound one members answer: 100 entries
// of at most ~450 bytes stay far below the frame limit.
const (
	membersPageSize = 100
	membersMaxReads = 10
)

// membersAction serves members: one page of the channel's members.
type membersAction struct {
	store   MembersStore
	replier replier
}

func (h *membersAction) serve(ctx context.Context, rq *request, in protocol.Request) error {
	r := in.(*protocol.Members)
	if err := requireRight(rq, r.Channel, chat.RightPresence); err != nil {
		return err
	}
	if err := requireMember(ctx, h.store, rq, r.Channel); err != nil {
		return err
	}
	page := protocol.MembersPage{Channel: r.Channel}
	cursor := r.Cursor
	// Expired memberships are filtered out of a page, so one can come back
	// short or empty with more to read: read on, a bounded number of times.
	for i := 0; i < membersMaxReads; i++ {
		ms, next, err := h.store.Members(ctx, r.Channel, cursor, membersPageSize-len(page.Members))
		if errors.Is(err, chat.ErrBadCursor) {
			return protocol.Errorf(protocol.CodeInvalidField, "", "cursor is not one this server returned")
		}
		if err != nil {
			return err
		}
		for _, m := range ms {
			page.Members = append(page.Members, protocol.Member{UserID: m.UserID, UserName: m.UserName, JoinedAt: m.JoinedAt})
		}
		page.Next, cursor = next, next
		if next == "" || len(page.Members) >= membersPageSize {
			break
		}
	}
	return h.replier.reply(ctx, rq, page)
}
