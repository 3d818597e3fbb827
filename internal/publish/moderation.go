package publish

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/handler"
	"github.com/wschat/wschat/internal/protocol"
	"github.com/wschat/wschat/wire"
)

// moderate serves POST /channels/{channel}/moderation: a backend mutes,
// unmutes, bans, unbans or sets the role of any user of any channel, public
// or private, shown as "server" with its configured name. It runs through
// the same handler.Moderator as the in-band moderate action: the standing,
// then the user's live memberships, and the event in the channel's stream
// (idempotent per id).
func (h *Handler) moderate(ctx context.Context, ev events.APIGatewayV2HTTPRequest, c caller) (any, error) {
	channel, err := h.channelParam(ev)
	if err != nil {
		return nil, err
	}
	b, err := decodeBody(ev, protocol.DecodeModerationBody)
	if err != nil {
		return nil, err
	}
	if b.Op == wire.ModRole && chat.IsDirect(channel) {
		return nil, protocol.Errorf(protocol.CodeConflict, "", "channel %s is a direct message: it has no roles", channel)
	}
	mo := &handler.Moderator{Store: h.store, Deliverer: h.deliver, Evict: h.evictor(), Log: h.log}
	seq, until, conns, err := mo.Apply(ctx, handler.ModerationPost{Channel: channel, Op: b.Op, Subject: b.UserID,
		Seconds: b.Seconds, Role: b.Role, Reason: b.Reason, Caller: c.principal,
		Identity: chat.Identity{UserID: chat.FromServer, UserName: h.displayName(c.principal)}, From: chat.FromServer,
		ClientID: b.ID, Now: h.now().UTC(), Budget: chat.NewBudget(h.cfg.SendBudget)})
	if err != nil {
		return nil, err
	}
	h.log.LogAttrs(ctx, slog.LevelInfo, "moderated", slog.String("channel", channel), slog.String("op", b.Op),
		slog.String("subject", b.UserID), slog.Int64("seq", seq), slog.Int("connections", conns))
	out := wire.Moderated{Channel: channel, Op: b.Op, UserID: b.UserID, Seq: seq, Connections: conns}
	if !until.IsZero() {
		u := until.UTC()
		out.Until = &u
	}
	return out, nil
}
