package handler

import (
	"context"
	"fmt"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/protocol"
)

// LeaveStore is what leave writes.
type LeaveStore interface {
	RemoveMember(ctx context.Context, channel, connID string) (existed bool, err error)
	RemoveUserChannel(ctx context.Context, userID, channel string) error
}

// leaveAction serves leave: membership removed, then "left" to the
// remaining members and to the leaver.
type leaveAction struct {
	store       LeaveStore
	broadcaster chat.Broadcaster
	replier     replier
	presence    presenceRule
}

func (h *leaveAction) serve(ctx context.Context, rq *request, in protocol.Request) error {
	r := in.(*protocol.Leave)
	existed, err := h.store.RemoveMember(ctx, r.Channel, rq.ConnectionID)
	if err != nil {
		return err
	}
	if !existed {
		return notMember(r.Channel)
	}
	// An explicit leave also takes the channel off the user's channel
	// list; a disconnect does not.
	if err := h.store.RemoveUserChannel(ctx, rq.UserID, r.Channel); err != nil {
		return err
	}
	left := protocol.Left{Channel: r.Channel, UserID: rq.UserID, UserName: rq.UserName, At: rq.Now}
	count, quiet, err := h.presence.quiet(ctx, r.Channel)
	if err != nil {
		return err
	}
	if quiet {
		left.Members = count
		return h.replier.reply(ctx, rq, left)
	}
	frame, err := encodeFrame(left)
	if err != nil {
		return err
	}
	if _, err := h.broadcaster.Broadcast(ctx, rq.Budget, r.Channel, frame); err != nil {
		return fmt.Errorf("announce leave: %w", err)
	}
	return h.replier.reply(ctx, rq, left)
}

func notMember(channel string) *protocol.Error {
	return protocol.Errorf(protocol.CodeNotMember, "", "not a member of %s; join it first", channel)
}
