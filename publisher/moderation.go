package publisher

import (
	"context"
	"encoding/json"
	"time"

	"github.com/wschat/wschat/wire"
)

// Moderation (docs/publish.md, docs/auth.md): a backend mutes, bans and
// sets roles of any user of any channel, public or private, as "server".
// Each call is an event in the channel's stream; id makes it idempotent
// (a retry with the same id is recorded once). The stack grants the route
// with Chat.GrantManageAccess (wschatcdk).

// ModerationBody is a moderation request (Moderate).
type ModerationBody = wire.ModerationBody

// Moderated answers a moderation.
type Moderated = wire.Moderated

// Moderate applies b to channel; the helpers below fill b for each op.
func (c *Client) Moderate(ctx context.Context, channel string, b ModerationBody) (Moderated, error) {
	var out Moderated
	body, _ := json.Marshal(b)
	method, path := route(wire.PublishRouteModerate, channel)
	err := c.do(ctx, method, path, nil, body, &out)
	return out, err
}

// Mute lets userID read channel but not send, edit, react or type for d
// (whole seconds, 1 s to wire.MaxMute).
func (c *Client) Mute(ctx context.Context, channel, userID string, d time.Duration, reason, id string) (Moderated, error) {
	return c.Moderate(ctx, channel, ModerationBody{Op: wire.ModMute, UserID: userID, Seconds: int64(d / time.Second), Reason: reason, ID: id})
}

// Unmute ends userID's mute in channel.
func (c *Client) Unmute(ctx context.Context, channel, userID, id string) (Moderated, error) {
	return c.Moderate(ctx, channel, ModerationBody{Op: wire.ModUnmute, UserID: userID, ID: id})
}

// Ban takes userID's connections out of channel at once and keeps the user
// out until Unban.
func (c *Client) Ban(ctx context.Context, channel, userID, reason, id string) (Moderated, error) {
	return c.Moderate(ctx, channel, ModerationBody{Op: wire.ModBan, UserID: userID, Reason: reason, ID: id})
}

// Unban lets userID join channel again.
func (c *Client) Unban(ctx context.Context, channel, userID, id string) (Moderated, error) {
	return c.Moderate(ctx, channel, ModerationBody{Op: wire.ModUnban, UserID: userID, ID: id})
}

// SetRole makes userID a member, moderator or owner of channel
// (wire.RoleMember, RoleModerator, RoleOwner).
func (c *Client) SetRole(ctx context.Context, channel, userID, role, id string) (Moderated, error) {
	return c.Moderate(ctx, channel, ModerationBody{Op: wire.ModRole, UserID: userID, Role: role, ID: id})
}
