package publisher

import (
	"context"
	"encoding/json"
	"net/url"
	"time"

	"github.com/wschat/wschat/wire"
)

// Who may use what (docs/publish.md, docs/auth.md): private channels'
// member lists and revocation. The stack grants these routes with
// Chat.GrantManageAccess (wschatcdk), apart from the message routes.

// ListedMember is one user on a private channel's member list.
type ListedMember = wire.ListedMember

// PrivateChannel answers CreatePrivate.
type PrivateChannel = wire.PrivateChannel

// MemberAdded answers AddMember.
type MemberAdded = wire.MemberAdded

// MemberRemoved answers RemoveMember.
type MemberRemoved = wire.MemberRemoved

// MemberList is one page of a private channel's member list.
type MemberList = wire.MemberList

// Revoked answers Revoke.
type Revoked = wire.Revoked

// CreatePrivate makes channel private, with members as its first members
// (UserID required, UserName and Role optional). Only listed users may then join,
// read, send or list its members, whatever their tokens' patterns say. A
// retry adds the same members and answers Created false. A channel that
// is public and has members, or is a direct message, is an ErrConflict.
func (c *Client) CreatePrivate(ctx context.Context, channel string, members ...ListedMember) (PrivateChannel, error) {
	var out PrivateChannel
	list := make([]map[string]string, 0, len(members))
	for _, m := range members {
		e := map[string]string{"userId": m.UserID}
		if m.UserName != "" {
			e["userName"] = m.UserName
		}
		if m.Role != "" {
			e["role"] = m.Role
		}
		list = append(list, e)
	}
	body, _ := json.Marshal(map[string]any{"members": list})
	method, path := route(wire.PublishRoutePrivateChannel, channel)
	err := c.do(ctx, method, path, nil, body, &out)
	return out, err
}

// AddMember puts userID on private channel's list (userName optional);
// Added is false when the user was on it. A channel that is not private is
// ErrNotFound; a direct message, ErrConflict.
func (c *Client) AddMember(ctx context.Context, channel, userID, userName string) (MemberAdded, error) {
	var out MemberAdded
	var body []byte
	if userName != "" {
		body, _ = json.Marshal(wire.MemberBody{UserName: userName})
	}
	method, path := route(wire.PublishRouteAddMember, channel, userID)
	err := c.do(ctx, method, path, nil, body, &out)
	return out, err
}

// RemoveMember takes userID off private channel's list and every live
// connection of the user out of the channel at once: they get a "removed"
// event and nothing more of the channel. Retrying is safe.
func (c *Client) RemoveMember(ctx context.Context, channel, userID string) (MemberRemoved, error) {
	var out MemberRemoved
	method, path := route(wire.PublishRouteRemoveMember, channel, userID)
	err := c.do(ctx, method, path, nil, nil, &out)
	return out, err
}

// Members reads one page of private channel's member list; pass the Next
// of a page as cursor for the following one ("" for the first).
func (c *Client) Members(ctx context.Context, channel, cursor string) (MemberList, error) {
	var out MemberList
	var q url.Values
	if cursor != "" {
		q = url.Values{"cursor": {cursor}}
	}
	method, path := route(wire.PublishRouteListMembers, channel)
	err := c.do(ctx, method, path, q, nil, &out)
	return out, err
}

// Revoke refuses every token of userID issued before until (zero: now),
// on connect and on renewal, and closes the user's live connections that
// such tokens opened. until may be up to a year ahead: the user is locked
// out until then. A later call replaces the time.
func (c *Client) Revoke(ctx context.Context, userID string, until time.Time) (Revoked, error) {
	var out Revoked
	var body []byte
	if !until.IsZero() {
		body, _ = json.Marshal(wire.RevokeBody{Until: &until})
	}
	method, path := route(wire.PublishRouteRevoke, userID)
	err := c.do(ctx, method, path, nil, body, &out)
	return out, err
}
