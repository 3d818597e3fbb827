package wire

import (
	"crypto/sha256"
	"encoding/base32"
	"strconv"
	"strings"
	"time"
)

// Authorization that keeps up with a live connection (docs/auth.md): private
// channels whose member list backends manage, direct messages, in-band token
// renewal, expiry and revocation.

// Actions of this part of the protocol.
const (
	// ActionReauth hands the connection a fresh token (Reauth).
	ActionReauth = "reauth"
	// ActionDirect opens the direct-message channel with another user
	// (OpenDirect).
	ActionDirect = "direct"
)

// Reauth replaces the connection's grant with the one of Token, a fresh
// token of the same user, verified as on $connect. The answer is Reauthed.
type Reauth struct {
	Token string `json:"token"`
}

// OpenDirect asks for the direct-message channel of the caller and UserID
// (created on first use). The answer is a Direct event; the caller then
// joins Direct.Channel like any channel.
type OpenDirect struct {
	UserID string `json:"userId"`
}

func (*Reauth) Action() string     { return ActionReauth }
func (*OpenDirect) Action() string { return ActionDirect }

func (r *Reauth) MarshalJSON() ([]byte, error) {
	type plain Reauth
	return withKey("action", r.Action(), (*plain)(r))
}

func (r *OpenDirect) MarshalJSON() ([]byte, error) {
	type plain OpenDirect
	return withKey("action", r.Action(), (*plain)(r))
}

// MaxTokenBytes bounds a reauth token, as the authorizer bounds one on
// $connect.
const MaxTokenBytes = 8 << 10

// Event types of this part of the protocol.
const (
	// TypeReauthed answers a reauth: the new grant is in force.
	TypeReauthed = "reauthed"
	// TypeDirect answers a direct request, and tells the other user's live
	// connections that a direct-message channel was opened with them.
	TypeDirect = "direct"
	// TypeRemoved tells a connection that it is no longer a member of a
	// channel it had joined (RemovedReason says why). It is not rejoined.
	TypeRemoved = "removed"
)

// Reauthed answers a reauth. ExpiresAt is the new token's expiry: the
// connection is refused (token_expired) and closed once it has passed by
// more than the environment's grace, unless it is renewed again.
type Reauthed struct {
	ExpiresAt time.Time `json:"expiresAt"`
}

// Direct names the direct-message channel of two users. To the user who
// asked, UserID and UserName are the other user's (UserName is the user id
// until that user has connected and opened or joined the channel); to the
// other user's connections (when Created), they are the opener's.
type Direct struct {
	Channel  string    `json:"channel"`
	UserID   string    `json:"userId"`
	UserName string    `json:"userName"`
	Created  bool      `json:"created,omitempty"`
	At       time.Time `json:"at"`
}

// Removed tells a connection it was taken out of Channel.
type Removed struct {
	Channel string    `json:"channel"`
	Reason  string    `json:"reason"`
	At      time.Time `json:"at"`
}

// Reasons of a Removed event (and of the "left" the other members see).
const (
	// RemovedByBackend: a backend took the user off the private channel's
	// member list.
	RemovedByBackend = "removed"
	// RemovedByGrant: a renewed token no longer grants the (public)
	// channel.
	RemovedByGrant = "grant"
)

func (Reauthed) EventType() string { return TypeReauthed }
func (Direct) EventType() string   { return TypeDirect }
func (Removed) EventType() string  { return TypeRemoved }

func (e Reauthed) MarshalJSON() ([]byte, error) {
	type plain Reauthed
	return withType(e.EventType(), plain(e))
}

func (e Direct) MarshalJSON() ([]byte, error) {
	type plain Direct
	return withType(e.EventType(), plain(e))
}

func (e Removed) MarshalJSON() ([]byte, error) {
	type plain Removed
	return withType(e.EventType(), plain(e))
}

// Error codes of this part of the protocol.
const (
	// CodeTokenExpired: the connection's token expired more than the
	// environment's grace ago (and was not renewed with reauth). The server
	// closes the connection; reconnect with a fresh token.
	CodeTokenExpired Code = "token_expired"
	// CodeTokenRevoked: the user's tokens issued before a time were revoked
	// (the publish API). The connection is closed; a connection or renewal
	// needs a token issued after that time.
	CodeTokenRevoked Code = "token_revoked"
	// CodeConflict (publish API): the request contradicts what exists: a
	// private channel over a public channel that has members, a change to a
	// direct-message channel's members.
	CodeConflict Code = "conflict"
)

// DirectPrefix starts the name of every direct-message channel. Names with
// this prefix are reserved: such a channel is never public.
const DirectPrefix = "dm-"

// IsDirect reports whether channel is a direct-message channel's name.
func IsDirect(channel string) bool { return strings.HasPrefix(channel, DirectPrefix) }

// directEncoding is lower-case base32 without padding: channel-name
// characters only.
var directEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// DirectChannel is the name of the direct-message channel of users a and b,
// the same whichever is named first: "dm-" and the first 160 bits of
// SHA-256 of "wschat.dm.v1|<n>:<lo>|<m>:<hi>", lo and hi being the two user
// ids in byte order of their UTF-8 and n, m their lengths in bytes (so no
// two pairs share an input), in lower-case base32 (32 characters). The name
// can be computed by anyone who knows both ids; what keeps others out is
// that only those two users are on the channel's member list.
func DirectChannel(a, b string) string {
	lo, hi := a, b
	if hi < lo {
		lo, hi = hi, lo
	}
	in := "wschat.dm.v1|" + strconv.Itoa(len(lo)) + ":" + lo + "|" + strconv.Itoa(len(hi)) + ":" + hi
	sum := sha256.Sum256([]byte(in))
	return DirectPrefix + directEncoding.EncodeToString(sum[:20])
}

// The publish API's routes for private channels and revocation
// (docs/publish.md): request bodies and answers.

// The publish API's routes that manage who may use what: private
// channels' member lists and revocation (docs/publish.md). A backend needs
// a grant of its own for them (GrantManageAccess), apart from PublishRoutes.
const (
	PublishRoutePrivateChannel = "PUT /channels/{channel}"
	PublishRouteAddMember      = "PUT /channels/{channel}/members/{userId}"
	PublishRouteRemoveMember   = "DELETE /channels/{channel}/members/{userId}"
	PublishRouteListMembers    = "GET /channels/{channel}/members"
	PublishRouteRevoke         = "PUT /users/{userId}/revocation"
)

// AccessRoutes lists the publish API's access-management routes.
var AccessRoutes = []string{PublishRoutePrivateChannel, PublishRouteAddMember, PublishRouteRemoveMember,
	PublishRouteListMembers, PublishRouteRevoke, PublishRouteModerate}

// ListedMember is one user on a private channel's member list.
type ListedMember struct {
	UserID string `json:"userId"`
	// UserName, optional, is shown where the list is (the user's own
	// token's name is what the channel's events carry).
	UserName string `json:"userName,omitempty"`
	// Role is "member", "moderator" or "owner" (RoleMember, ...;
	// moderation.go); absent means member.
	Role string `json:"role,omitempty"`
	// MutedUntil and Banned are the user's moderation state in the
	// channel, in a listing.
	MutedUntil *time.Time `json:"mutedUntil,omitempty"`
	Banned     bool       `json:"banned,omitempty"`
	AddedAt    time.Time  `json:"addedAt,omitzero"`
}

// PrivateChannelBody is the body of PUT /channels/{channel}: the channel's
// first members (more can be added later).
type PrivateChannelBody struct {
	Members []ListedMember `json:"members"`
}

// MaxListedPerRequest bounds the members of one create request.
const MaxListedPerRequest = 100

// PrivateChannel answers a create: Created is false when the channel was
// already private (the listed members were added, as a retry would).
type PrivateChannel struct {
	Channel string `json:"channel"`
	Created bool   `json:"created"`
	Members int    `json:"members"`
}

// MemberBody is the optional body of PUT /channels/{channel}/members/{userId}.
type MemberBody struct {
	UserName string `json:"userName,omitempty"`
	// Role, optional, sets the user's role (member, moderator, owner).
	Role string `json:"role,omitempty"`
}

// MemberAdded answers an add: Added is false when the user was listed already.
type MemberAdded struct {
	Channel string `json:"channel"`
	UserID  string `json:"userId"`
	Added   bool   `json:"added"`
}

// MemberRemoved answers a removal: Removed is false when the user was not
// listed; Connections counts the user's connections taken out of the
// channel, each of which got a "removed" event.
type MemberRemoved struct {
	Channel     string `json:"channel"`
	UserID      string `json:"userId"`
	Removed     bool   `json:"removed"`
	Connections int    `json:"connections"`
}

// MemberList answers GET /channels/{channel}/members: one page; a
// non-empty Next is the cursor query parameter of the next page.
type MemberList struct {
	Channel string         `json:"channel"`
	Members []ListedMember `json:"members"`
	Next    string         `json:"next,omitempty"`
}

// RevokeBody is the body of PUT /users/{userId}/revocation. Tokens of the
// user issued before Until are refused from then on (on $connect and on
// reauth); Until defaults to now and may be in the future (at most a year),
// which locks the user out until then.
type RevokeBody struct {
	Until *time.Time `json:"until,omitempty"`
}

// Revoked answers a revocation: Until as stored (whole seconds, rounded
// up), Closed live connections closed, Gone already gone.
type Revoked struct {
	UserID string    `json:"userId"`
	Until  time.Time `json:"until"`
	Closed int       `json:"closed"`
	Gone   int       `json:"gone"`
}
