package handler

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/protocol"
)

// JoinStore is what join writes.
type JoinStore interface {
	ChannelInfoReader
	AddMember(ctx context.Context, m chat.Member, maxChannels int) (already bool, err error)
	// StartSeq is the channel's last seq, its counter made at its base
	// if it has none (the first message is then exactly lastSeq+1).
	StartSeq(ctx context.Context, channel string) (int64, error)
	TouchUserChannel(ctx context.Context, userID, channel string) (lastRead int64, err error)
}

// joinAction serves join: membership stored, then "joined" to every member
// (the joiner included). A repeated join only answers the joiner.
type joinAction struct {
	store       JoinStore
	broadcaster chat.Broadcaster
	replier     replier
	maxChannels int
	presence    presenceRule
	cfg         Config
}

func (h *joinAction) serve(ctx context.Context, rq *request, in protocol.Request) error {
	r := in.(*protocol.Join)
	if err := admitJoin(ctx, h.store, h.cfg, rq, r.Channel); err != nil {
		return err
	}
	m := chat.Member{Channel: r.Channel, ConnectionID: rq.ConnectionID, Identity: rq.Identity, JoinedAt: rq.Now}
	already, err := h.store.AddMember(ctx, m, h.maxChannels)
	switch {
	case errors.Is(err, chat.ErrBanned):
		return errBanned(r.Channel)
	case errors.Is(err, chat.ErrForbidden):
		return errNotListed(r.Channel)
	case errors.Is(err, chat.ErrNotFound):
		return errNotRegistered()
	case errors.Is(err, chat.ErrLimit):
		return protocol.Errorf(protocol.CodeTooLarge, "", "a connection may join at most %d channels; leave one first", h.maxChannels)
	case err != nil:
		return err
	}
	// Read after the membership is stored: a seq taken later is fanned out
	// to the joiner, so its subscription starts exactly after lastSeq.
	// Every member gets the same frame (one broadcast); the value is true
	// for all of them.
	last, err := h.store.StartSeq(ctx, r.Channel)
	if err != nil {
		return err
	}
	joined := protocol.Joined{Channel: r.Channel, UserID: rq.UserID, UserName: rq.UserName, At: rq.Now, LastSeq: &last, Ref: r.Ref}
	if !strings.HasPrefix(rq.UserID, AnonymousPrefix) {
		// The channel joins the user's channel list (every device sees it
		// in channels), and the joiner learns its last-read seq.
		read, err := h.store.TouchUserChannel(ctx, rq.UserID, r.Channel)
		if err != nil {
			return err
		}
		joined.LastRead = &read
	}
	if already {
		return h.replier.reply(ctx, rq, joined)
	}
	count, quiet, err := h.presence.quiet(ctx, r.Channel)
	if err != nil {
		return err
	}
	if quiet {
		joined.Members = count
		return h.replier.reply(ctx, rq, joined)
	}
	frame, err := encodeFrame(joined)
	if err != nil {
		return err
	}
	if _, err := h.broadcaster.Broadcast(ctx, rq.Budget, r.Channel, frame); err != nil {
		return fmt.Errorf("announce join: %w", err)
	}
	return nil
}
