package publish

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/handler"
	"github.com/wschat/wschat/internal/logging"
	"github.com/wschat/wschat/internal/protocol"
	"github.com/wschat/wschat/wire"
)

// The access routes' answers are the wire contract's.
type (
	PrivateChannel = wire.PrivateChannel
	MemberAdded    = wire.MemberAdded
	MemberRemoved  = wire.MemberRemoved
	MemberList     = wire.MemberList
	Revoked        = wire.Revoked
)

// AccessStore is what the access routes read and write: private channels'
// member lists, the user's memberships to take away, revocations.
type AccessStore interface {
	handler.EvictStore
	handler.ChannelSizer
	CreatePrivate(ctx context.Context, channel string, members []chat.Listed) (bool, error)
	AddListed(ctx context.Context, l chat.Listed) (bool, error)
	RemoveListed(ctx context.Context, channel, userID string) (bool, error)
	ListedMembers(ctx context.Context, channel, cursor string, limit int) ([]chat.Listed, string, error)
	PutRevocation(ctx context.Context, userID string, before time.Time) error
	Connection(ctx context.Context, id string) (chat.Connection, error)
}

// listPageSize bounds one page of a member list.
const listPageSize = 100

func (h *Handler) channelParam(ev events.APIGatewayV2HTTPRequest) (string, error) {
	channel := ev.PathParameters["channel"]
	if !protocol.ValidChannel(channel) {
		return "", protocol.Errorf(protocol.CodeInvalidField, "", "channel must match ^[a-z0-9][a-z0-9_-]{0,63}$")
	}
	return channel, nil
}

func userParam(ev events.APIGatewayV2HTTPRequest) (string, error) {
	user := ev.PathParameters["userId"]
	if err := wire.CheckUserID(user); err != nil {
		return "", protocol.Errorf(protocol.CodeInvalidField, "", "%v (the user id rule: docs/auth.md)", err)
	}
	return user, nil
}

// decodeBody reads a route's body (base64 or not) and decodes it with
// decode: the prologue of every access and moderation route with a body.
func decodeBody[T any](ev events.APIGatewayV2HTTPRequest, decode func([]byte) (T, error)) (T, error) {
	data, err := body(ev)
	if err != nil {
		var zero T
		return zero, err
	}
	return decode(data)
}

// accessError turns the store's refusals into answers: a channel that is
// not private is 404, a contradiction (a public channel with members, a
// direct message's fixed pair) 409.
func accessError(channel string, err error) error {
	switch {
	case errors.Is(err, chat.ErrNotPrivate):
		return protocol.Errorf(protocol.CodeNotFound, "", "channel %s is not private; create it with PUT /channels/%s", channel, channel)
	case errors.Is(err, chat.ErrConflict) && chat.IsDirect(channel):
		return protocol.Errorf(protocol.CodeConflict, "", "channel %s is a direct message: its two users are fixed", channel)
	case errors.Is(err, chat.ErrConflict):
		return protocol.Errorf(protocol.CodeConflict, "", "channel %s is public and has members; a private channel needs a name no one is in", channel)
	case errors.Is(err, chat.ErrBadCursor):
		return protocol.Errorf(protocol.CodeInvalidField, "", "cursor is not one this API returned")
	}
	return err
}

// createPrivate serves PUT /channels/{channel}: the channel becomes private
// (only its list may join, read, send or list members) with the members
// given. Idempotent: a retry adds the same members and answers created
// false.
func (h *Handler) createPrivate(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (any, error) {
	channel, err := h.channelParam(ev)
	if err != nil {
		return nil, err
	}
	b, err := decodeBody(ev, protocol.DecodePrivateChannel)
	if err != nil {
		return nil, err
	}
	now := h.now().UTC()
	listed := make([]chat.Listed, 0, len(b.Members))
	for _, m := range b.Members {
		listed = append(listed, chat.Listed{UserID: m.UserID, UserName: m.UserName, Role: m.Role, AddedAt: now})
	}
	created, err := h.access.CreatePrivate(ctx, channel, listed)
	if err != nil {
		return nil, accessError(channel, err)
	}
	h.log.LogAttrs(ctx, slog.LevelInfo, "private channel", slog.String("channel", channel), slog.Bool("created", created), slog.Int("members", len(listed)))
	return PrivateChannel{Channel: channel, Created: created, Members: len(listed)}, nil
}

// addMember serves PUT /channels/{channel}/members/{userId}.
func (h *Handler) addMember(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (any, error) {
	channel, err := h.channelParam(ev)
	if err != nil {
		return nil, err
	}
	user, err := userParam(ev)
	if err != nil {
		return nil, err
	}
	b, err := decodeBody(ev, protocol.DecodeMemberBody)
	if err != nil {
		return nil, err
	}
	added, err := h.access.AddListed(ctx, chat.Listed{Channel: channel, UserID: user, UserName: b.UserName, Role: b.Role, AddedAt: h.now().UTC()})
	if err != nil {
		return nil, accessError(channel, err)
	}
	h.log.LogAttrs(ctx, slog.LevelInfo, "member listed", slog.String("channel", channel), slog.String("userId", user), slog.Bool("added", added))
	return MemberAdded{Channel: channel, UserID: user, Added: added}, nil
}

// removeMember serves DELETE /channels/{channel}/members/{userId}: the user
// comes off the list, then every live connection of the user is taken out
// of the channel at once (a "removed" event to it, "left" to the others),
// so nothing more reaches it. A retry repeats the second step, which a
// failed first attempt may have left half done.
func (h *Handler) removeMember(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (any, error) {
	channel, err := h.channelParam(ev)
	if err != nil {
		return nil, err
	}
	user, err := userParam(ev)
	if err != nil {
		return nil, err
	}
	if len(ev.Body) > 0 {
		return nil, protocol.Errorf(protocol.CodeInvalidField, "", "a removal takes no body")
	}
	removed, err := h.access.RemoveListed(ctx, channel, user)
	if err != nil {
		return nil, accessError(channel, err)
	}
	conns, err := h.store.ConnectionsOfUser(ctx, user)
	if err != nil {
		return nil, err
	}
	n, err := h.evictor().Evict(ctx, channel, conns, wire.RemovedByBackend, h.now().UTC(), chat.NewBudget(h.cfg.SendBudget))
	h.log.LogAttrs(ctx, slog.LevelInfo, "member removed", slog.String("channel", channel), slog.String("userId", user),
		slog.Bool("removed", removed), slog.Int("connections", n))
	return MemberRemoved{Channel: channel, UserID: user, Removed: removed, Connections: n}, err
}

func (h *Handler) evictor() *handler.Evictor {
	gate := handler.PresenceGate{Broadcaster: h.deliver.Broadcaster, Sizer: h.access, Max: h.cfg.PresenceMaxMembers}
	return &handler.Evictor{Store: h.access, Poster: h.conns, Broadcaster: gate, Log: h.log}
}

// listMembers serves GET /channels/{channel}/members[?cursor=...].
func (h *Handler) listMembers(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (any, error) {
	channel, err := h.channelParam(ev)
	if err != nil {
		return nil, err
	}
	cursor := ev.QueryStringParameters["cursor"]
	if len(cursor) > protocol.MaxCursorLen {
		return nil, protocol.Errorf(protocol.CodeInvalidField, "", "cursor is not one this API returned")
	}
	list, next, err := h.access.ListedMembers(ctx, channel, cursor, listPageSize)
	if err != nil {
		return nil, accessError(channel, err)
	}
	out := MemberList{Channel: channel, Members: make([]wire.ListedMember, 0, len(list)), Next: next}
	for _, l := range list {
		lm := wire.ListedMember{UserID: l.UserID, UserName: l.UserName, Role: l.Role, AddedAt: l.AddedAt.UTC(), Banned: l.Banned}
		if l.MutedAt(h.now()) {
			u := l.MutedUntil.UTC()
			lm.MutedUntil = &u
		}
		out.Members = append(out.Members, lm)
	}
	return out, nil
}

// revoke serves PUT /users/{userId}/revocation: tokens of the user issued
// before until are refused from now on, on $connect and on reauth, and the
// user's live connections that such a token opened or last renewed are
// told (token_revoked) and closed. The time is stored before the
// connections are read: a connect that races with it either sees it (and is
// refused) or is seen here (and closed).
func (h *Handler) revoke(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (any, error) {
	user, err := userParam(ev)
	if err != nil {
		return nil, err
	}
	until, err := decodeBody(ev, func(data []byte) (time.Time, error) { return protocol.DecodeRevoke(data, h.now().UTC()) })
	if err != nil {
		return nil, err
	}
	// Whole seconds, rounded up, as iat is: a token issued in the same
	// second as the revocation is refused too.
	if t := until.Truncate(time.Second); t.Before(until) {
		until = t.Add(time.Second)
	}
	until = until.UTC()
	if err := h.access.PutRevocation(ctx, user, until); err != nil {
		return nil, err
	}
	conns, err := h.store.ConnectionsOfUser(ctx, user)
	if err != nil {
		return nil, err
	}
	frame, err := handler.EncodeEvent(protocol.ErrorEvent{Code: protocol.CodeTokenRevoked,
		Message: "tokens issued before " + until.Format(time.RFC3339) + " were revoked; sign in again"})
	if err != nil {
		return nil, err
	}
	closeRevoked := func(ctx context.Context, id string) error {
		c, err := h.access.Connection(ctx, id)
		if errors.Is(err, chat.ErrNotFound) {
			return chat.ErrGone
		}
		if err != nil {
			return err
		}
		if !c.IssuedAt.IsZero() && !c.IssuedAt.Before(until) {
			return errKept
		}
		if err := h.conns.Post(ctx, id, frame); err != nil && !errors.Is(err, chat.ErrGone) {
			h.log.LogAttrs(ctx, slog.LevelWarn, "token_revoked not delivered", slog.String("connectionId", id), logging.Err(err))
		}
		return h.conns.Delete(ctx, id)
	}
	var kept atomic.Int64
	closed, err := h.each(ctx, conns, func(ctx context.Context, id string) error {
		err := closeRevoked(ctx, id)
		if errors.Is(err, errKept) {
			kept.Add(1)
			return nil
		}
		return err
	})
	closed -= int(kept.Load())
	h.log.LogAttrs(ctx, slog.LevelInfo, "user revoked", slog.Time("until", until), slog.Int("closed", closed), slog.Int64("kept", kept.Load()))
	return Revoked{UserID: user, Until: until, Closed: closed, Gone: len(conns) - closed - int(kept.Load())}, err
}

// errKept marks a connection a revocation leaves open: its token was
// issued after the revocation time.
var errKept = errors.New("token issued after the revocation")
