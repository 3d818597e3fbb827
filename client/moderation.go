package client

import (
	"context"
	"fmt"
	"time"

	"github.com/wschat/wschat/wire"
)

// Moderation (docs/protocol.md, "Moderation"): an owner or moderator of a
// channel mutes, bans and (an owner) sets roles of its users. Each call
// returns the seq of the moderation event in the channel's stream once
// acknowledged; like Send it is retried with one clientId until then. A
// member's attempt is refused with a *ServerError "forbidden"; a request
// on a channel this client has not joined, "not_member".

// Moderation is a moderation action in a channel's stream (EventModeration):
// Op (wire.ModMute, ModUnmute, ModBan, ModUnban, ModRole) applied to
// UserID by ByID; Until is a mute's end, Role the role set.
type Moderation = wire.Moderation

// Roles and ops of moderation, as the wire contract names them.
const (
	RoleMember    = wire.RoleMember
	RoleModerator = wire.RoleModerator
	RoleOwner     = wire.RoleOwner
)

// Mute lets userID read channel but not send, edit, react or type for d
// (whole seconds, 1 s to 30 days); reason, optional, is shown to members.
// A muted user's own requests fail with a *ServerError "muted".
func (c *Client) Mute(ctx context.Context, channel, userID string, d time.Duration, reason string) (int64, error) {
	if d < time.Second || d > wire.MaxMute {
		return 0, fmt.Errorf("%w: a mute of %s; 1s to %s", ErrInvalid, d, wire.MaxMute)
	}
	return c.moderate(ctx, &wire.Moderate{Channel: channel, Op: wire.ModMute, UserID: userID, Seconds: int64(d / time.Second), Reason: reason})
}

// Unmute ends userID's mute in channel.
func (c *Client) Unmute(ctx context.Context, channel, userID string) (int64, error) {
	return c.moderate(ctx, &wire.Moderate{Channel: channel, Op: wire.ModUnmute, UserID: userID})
}

// Ban takes userID's connections out of channel at once and keeps the user
// out until Unban (their joins fail with a *ServerError "banned").
func (c *Client) Ban(ctx context.Context, channel, userID, reason string) (int64, error) {
	return c.moderate(ctx, &wire.Moderate{Channel: channel, Op: wire.ModBan, UserID: userID, Reason: reason})
}

// Unban lets userID join channel again.
func (c *Client) Unban(ctx context.Context, channel, userID string) (int64, error) {
	return c.moderate(ctx, &wire.Moderate{Channel: channel, Op: wire.ModUnban, UserID: userID})
}

// SetRole makes userID a member or moderator of channel (owners only;
// owners are named by a backend).
func (c *Client) SetRole(ctx context.Context, channel, userID, role string) (int64, error) {
	return c.moderate(ctx, &wire.Moderate{Channel: channel, Op: wire.ModRole, UserID: userID, Role: role})
}

func (c *Client) moderate(ctx context.Context, r *wire.Moderate) (int64, error) {
	if err := validChannel(r.Channel); err != nil {
		return 0, err
	}
	if err := wire.CheckUserID(r.UserID); err != nil {
		return 0, fmt.Errorf("%w: userId: %v", ErrInvalid, err)
	}
	if !wire.CheckReason(r.Reason) {
		return 0, fmt.Errorf("%w: reason of more than %d characters or with control characters", ErrInvalid, wire.MaxReasonRunes)
	}
	r.ClientID = c.newClientID()
	return c.enqueue(ctx, &entry{channel: r.Channel, clientID: r.ClientID, req: r})
}
