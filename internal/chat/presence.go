package chat

import (
	"context"
	"errors"
	"fmt"

	"wschat/internal/protocol"
)

// JoinStore is what join writes.
type JoinStore interface {
	AddMember(ctx context.Context, m Member, maxChannels int) (already bool, err error)
}

// joinHandler serves join: membership stored, then "joined" to every member
// (the joiner included). A repeated join only answers the joiner.
type joinHandler struct {
	store       JoinStore
	broadcaster Broadcaster
	replier     replier
	maxChannels int
}

func (h *joinHandler) serve(ctx context.Context, inv *invocation, req protocol.Request) error {
	r := req.(*protocol.Join)
	m := Member{Channel: r.Channel, ConnectionID: inv.ConnectionID, Identity: inv.Identity, JoinedAt: inv.Now}
	already, err := h.store.AddMember(ctx, m, h.maxChannels)
	switch {
	case errors.Is(err, ErrNotFound):
		return errNotRegistered()
	case errors.Is(err, ErrLimit):
		return protocol.Errorf(protocol.CodeTooLarge, "", "a connection may join at most %d channels; leave one first", h.maxChannels)
	case err != nil:
		return err
	}
	joined := protocol.Joined{Channel: r.Channel, UserID: inv.UserID, UserName: inv.UserName, At: inv.Now}
	if already {
		return h.replier.reply(ctx, inv, joined)
	}
	frame, err := encodeFrame(joined)
	if err != nil {
		return err
	}
	if _, err := h.broadcaster.Broadcast(ctx, inv.Budget, r.Channel, frame); err != nil {
		return fmt.Errorf("announce join: %w", err)
	}
	return nil
}

// LeaveStore is what leave writes.
type LeaveStore interface {
	RemoveMember(ctx context.Context, channel, connID string) (existed bool, err error)
}

// leaveHandler serves leave: membership removed, then "left" to the
// remaining members and to the leaver.
type leaveHandler struct {
	store       LeaveStore
	broadcaster Broadcaster
	replier     replier
}

func (h *leaveHandler) serve(ctx context.Context, inv *invocation, req protocol.Request) error {
	r := req.(*protocol.Leave)
	existed, err := h.store.RemoveMember(ctx, r.Channel, inv.ConnectionID)
	if err != nil {
		return err
	}
	if !existed {
		return notMember(r.Channel)
	}
	left := protocol.Left{Channel: r.Channel, UserID: inv.UserID, UserName: inv.UserName, At: inv.Now}
	frame, err := encodeFrame(left)
	if err != nil {
		return err
	}
	if _, err := h.broadcaster.Broadcast(ctx, inv.Budget, r.Channel, frame); err != nil {
		return fmt.Errorf("announce leave: %w", err)
	}
	return h.replier.reply(ctx, inv, left)
}

func notMember(channel string) *protocol.Error {
	return protocol.Errorf(protocol.CodeNotMember, "", "not a member of %s; join it first", channel)
}

// MemberChecker reads one membership (chat.ErrNotFound when absent).
type MemberChecker interface {
	Member(ctx context.Context, channel, connID string) (Member, error)
}

// requireMember returns a not_member error unless the requester is a live
// member of channel.
func requireMember(ctx context.Context, store MemberChecker, inv *invocation, channel string) error {
	_, err := store.Member(ctx, channel, inv.ConnectionID)
	if errors.Is(err, ErrNotFound) {
		return notMember(channel)
	}
	return err
}

// MembersStore is what members reads.
type MembersStore interface {
	MemberChecker
	Members(ctx context.Context, channel, cursor string, limit int) ([]Member, string, error)
}

// membersPageSize and membersMaxReads bound one members answer: 100 entries
// of at most ~450 bytes stay far below the frame limit.
const (
	membersPageSize = 100
	membersMaxReads = 10
)

// membersHandler serves members: one page of the channel's members.
type membersHandler struct {
	store   MembersStore
	replier replier
}

func (h *membersHandler) serve(ctx context.Context, inv *invocation, req protocol.Request) error {
	r := req.(*protocol.Members)
	if err := requireMember(ctx, h.store, inv, r.Channel); err != nil {
		return err
	}
	page := protocol.MembersPage{Channel: r.Channel}
	cursor := r.Cursor
	// Expired memberships are filtered out of a page, so one can come back
	// short or empty with more to read: read on, a bounded number of times.
	for i := 0; i < membersMaxReads; i++ {
		ms, next, err := h.store.Members(ctx, r.Channel, cursor, membersPageSize-len(page.Members))
		if errors.Is(err, ErrBadCursor) {
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
	return h.replier.reply(ctx, inv, page)
}

// pingHandler answers pong; it touches no storage.
type pingHandler struct{ replier replier }

func (h *pingHandler) serve(ctx context.Context, inv *invocation, _ protocol.Request) error {
	return h.replier.reply(ctx, inv, protocol.Pong{At: inv.Now})
}
