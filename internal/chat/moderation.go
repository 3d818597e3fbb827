package chat

import (
	"errors"
	"time"

	"github.com/wschat/wschat/wire"
)

// Moderation (docs/auth.md, "Roles and moderation"): a user's standing in a
// channel is a role and a moderation state. On a private channel it is the
// user's entry of the member list; on a public channel an entry of the
// same table key that lists nobody (Standing.Listed false).

// ErrBanned: the user is banned from the channel (a join is refused).
var ErrBanned = errors.New("banned from the channel")

// Standing is a user's role and moderation state in one channel.
type Standing struct {
	// Listed: the user is on the private channel's member list (false for
	// an entry that only carries a public channel's role or moderation).
	Listed bool
	// Role is RoleMember, RoleModerator or RoleOwner ("" reads as member).
	Role       string
	MutedUntil time.Time
	Banned     bool
}

// Rank is the standing's role's rank (wire.RoleRank).
func (s Standing) Rank() int { return wire.RoleRank(s.Role) }

// Moderates reports whether the standing lets its user moderate: an owner
// or a moderator who is not banned.
func (s Standing) Moderates() bool { return !s.Banned && s.Rank() >= wire.RoleRank(RoleModerator) }

// MutedAt reports whether the user is muted at now.
func (s Standing) MutedAt(now time.Time) bool { return s.MutedUntil.After(now) }

// Moderation is one moderation action: Op (wire.ModMute, ...) applied to
// Subject in Channel by Identity (a backend's is FromServer), stored in
// the channel's stream as Seq.
type Moderation struct {
	Channel   string
	Seq       int64
	Op        string
	Subject   Identity
	Identity            // who moderated
	From      string    // FromServer for a backend
	Until     time.Time // a mute's end
	Role      string    // the role set
	Reason    string
	ClientID  string
	At        time.Time
	ExpiresAt time.Time
}
