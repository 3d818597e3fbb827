package chat

import (
	"errors"
	"time"

	"github.com/wschat/wschat/wire"
)

// Errors of the authorization that keeps up (docs/auth.md).
var (
	// ErrForbidden: the user is not on the private channel's member list,
	// or the channel is a direct message that is not the user's.
	ErrForbidden = errors.New("not on the channel's member list")
	// ErrExpired: the connection's grant ended (its token's exp plus the
	// grace).
	ErrExpired = errors.New("grant expired")
	// ErrRevoked: the token was issued before the user's revocation.
	ErrRevoked = errors.New("token revoked")
	// ErrNotPrivate: a member-list change on a channel that is not private.
	ErrNotPrivate = errors.New("not a private channel")
)

// Roles of a user in a channel (moderation.go): on a private channel's
// member list, and on a public channel's standing entries.
const (
	RoleMember    = wire.RoleMember
	RoleModerator = wire.RoleModerator
	RoleOwner     = wire.RoleOwner
)

// ChannelInfo is what a channel's own item says about it.
type ChannelInfo struct {
	Members int64 // joins minus leaves (connections)
	Shards  int
	// Private: only users on the channel's member list may join it.
	Private bool
	// Direct holds a direct message's two user ids (sorted), nil otherwise.
	Direct []string
}

// Listed is one user on a private channel's member list.
type Listed struct {
	Channel  string
	UserID   string
	UserName string
	Role     string
	AddedAt  time.Time
	// Standing is the user's moderation state in the channel.
	Standing
}

// ListedChannel is one private channel or direct message whose member list
// names a user, as the user's own index lists it: what a "channels"
// listing shows of it. Peer is the other user of a direct message.
type ListedChannel struct {
	Channel string
	Direct  bool
	Peer    Identity
	AddedAt time.Time
}

// Grant is what a connection's token allows, and until when: set on
// $connect, replaced by a reauth.
type Grant struct {
	Capabilities string // canonical; "" for none (the default applies)
	Until        time.Time
	IssuedAt     time.Time
}

// Expiry is one entry of the expiry index: a connection whose grant ends
// at Until (or ended; it may have been renewed since). Ref is the store's
// reference of the entry.
type Expiry struct {
	ConnectionID string
	Until        time.Time
	Ref          string
}

// IsDirect reports whether channel names a direct-message channel.
func IsDirect(channel string) bool { return wire.IsDirect(channel) }

// DirectChannel names the direct-message channel of two users.
func DirectChannel(a, b string) string { return wire.DirectChannel(a, b) }
