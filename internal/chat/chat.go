// Package chat is the domain of wschat: the types the handlers and the
// adapters share (Identity, Connection, Member, Message, Claim, FanoutStats),
// the sentinel errors the adapters translate SDK errors into, the send
// Budget, and the small Poster and Broadcaster interfaces that the
// @connections adapter and the fan-out implement.
//
// It sits at the centre: internal/handler (the Lambda handlers) builds on it,
// and internal/dynamo, internal/connections and internal/fanout implement its
// interfaces. It therefore imports neither aws-lambda-go nor any
// aws-sdk-go-v2/service/* package, nor the project's logging set-up, so an
// adapter that needs a domain type links no Lambda event types.
package chat

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/wschat/wschat/wire"
)

// Domain errors returned (wrapped) by the adapters.
var (
	// ErrNotFound: the item does not exist or has expired.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a conditional write lost to a concurrent one.
	ErrConflict = errors.New("conflict")
	// ErrLimit: a per-connection limit (channels joined) is reached.
	ErrLimit = errors.New("limit reached")
	// ErrBadCursor: a client-supplied page cursor is malformed.
	ErrBadCursor = errors.New("bad cursor")
	// ErrGone: the WebSocket connection no longer exists (HTTP 410).
	ErrGone = errors.New("connection gone")
	// ErrUnavailable: throttled or a server-side failure; worth retrying.
	ErrUnavailable = errors.New("temporarily unavailable")
	// ErrThrottled: the account's API Gateway rate was exceeded (HTTP 429).
	// It is an ErrUnavailable (errors.Is holds) that calls for slowing down
	// rather than retrying alone: the limit is shared by every caller.
	ErrThrottled = fmt.Errorf("throttled: %w", ErrUnavailable)
)

// ConnectionTTL is how long a connection's items live. API Gateway closes a
// connection after 2 hours; the margin covers a $disconnect that never ran.
const ConnectionTTL = 2*time.Hour + 10*time.Minute

// Identity is who is behind a connection, from the $connect authorizer.
type Identity struct {
	UserID   string
	UserName string
}

// Connection is one open WebSocket connection.
type Connection struct {
	ID string
	Identity
	ConnectedAt time.Time
	ExpiresAt   time.Time
	// Channels the connection has joined (a superset of its memberships: join
	// records the channel here before writing the membership, leave removes
	// it after), so a disconnect can find every membership without a scan.
	Channels []string
	// Capabilities is the canonical channels claim of the connection's
	// token (see Capabilities), "" when it had none. It is the grant the
	// handlers apply: a reauth replaces it.
	Capabilities string
	// Until is when the connection's grant ends: its token's exp plus the
	// environment's grace; zero for a connection without a token expiry.
	// Past it requests are refused and broadcasts skip the connection.
	Until time.Time
	// IssuedAt is its token's iat (zero without one), compared with the
	// user's revocation.
	IssuedAt time.Time
}

// Member is a connection's membership of a channel.
type Member struct {
	Channel      string
	ConnectionID string
	Identity
	JoinedAt  time.Time
	ExpiresAt time.Time // the connection's expiry
	// Private: the channel is private (or a direct message), so its member
	// list, not the token's capabilities, decides what the member may do.
	Private bool
	// MutedUntil is when the user's mute in the channel ends (zero: not
	// muted), kept on the membership so that the reads send, edit, react
	// and typing make anyway carry it.
	MutedUntil time.Time
}

// FromServer marks a message a backend published through the HTTP API
// (Message.From), so clients can tell it from a user's message.
const FromServer = wire.FromServer

// Message is one stored chat message.
type Message struct {
	Channel string
	Seq     int64
	Identity
	// From is FromServer for a backend's message, "" for a user's.
	From      string
	Text      string
	ClientID  string
	SentAt    time.Time
	ExpiresAt time.Time

	// The lifecycle (lifecycle.go). ReplyTo names a reply's parent. The
	// current state: Rev is the seq of the last change applied (0: none),
	// EditedAt the last edit's (or the delete's) time, Deleted, Reactions
	// and the thread's Replies. Pend is the last change applied whose
	// stream item may still be pending; Status is this item's own, when it
	// is a reply (which changes its parent).
	ReplyTo   int64
	Rev       int64
	EditedAt  time.Time
	Deleted   bool
	Reactions []ReactionSet
	Replies   int64
	Pend      int64
	Status    Status
}

// ClaimKey identifies one logical send: the same user retrying with the same
// clientId in the same channel is the same send, from any connection.
type ClaimKey struct {
	Channel  string
	UserID   string
	ClientID string
}

// Claim records the progress of one logical send so a retry completes what a
// failed attempt left undone and repeats nothing that was done.
type Claim struct {
	ClaimKey
	TextHash  string    // the text's digest: a retry must carry the same text
	SentAt    time.Time // fixed by the first attempt, so retries are identical
	Seq       int64     // 0 until a seq is taken
	Delivered bool      // true once the message was fanned out
	ExpiresAt time.Time
}

// TextHash is the digest a claim keeps of a message text, so a retry can be
// checked against the original without storing the text twice.
func TextHash(text string) string {
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:16])
}

// Poster posts one frame to one connection: the @connections adapter, with
// retries (fanout.Fanout.Post).
type Poster interface {
	Post(ctx context.Context, connectionID string, frame []byte) error
}

// Broadcaster posts one frame to every member of a channel, spending budget
// (fanout.Fanout.Broadcast). An error means members could not be read.
type Broadcaster interface {
	Broadcast(ctx context.Context, budget *Budget, channel string, frame []byte) (FanoutStats, error)
}

// FanoutStats counts the outcome of one broadcast.
type FanoutStats struct {
	Members   int // memberships read (expired ones excluded)
	Delivered int
	Gone      int // connections found gone and removed
	Failed    int // posts that failed after retries, or never ran before the deadline
	Skipped   int // members not posted to because the send budget ran out
	Throttled int // post attempts answered 429 (each retried)
	Tasks     int // fan-out tasks handed to the queue (a spread broadcast)
	// Size is the channel's member count as read before the broadcast (0
	// when the broadcaster did not read it; Members then says as much).
	Size     int64
	Duration time.Duration
}

// Budget bounds the @connections posts of one invocation, so one huge channel
// cannot use up the account-wide API Gateway rate shared by everyone. A nil
// *Budget is unlimited. It is safe for concurrent use.
type Budget struct {
	remaining atomic.Int64
	limited   bool
}

// NewBudget returns a budget of n posts; n <= 0 means unlimited.
func NewBudget(n int) *Budget {
	b := &Budget{limited: n > 0}
	b.remaining.Store(int64(n))
	return b
}

// Exhausted reports whether no post is left.
func (b *Budget) Exhausted() bool {
	return b != nil && b.limited && b.remaining.Load() <= 0
}

// Take spends one post; false means the budget is exhausted.
func (b *Budget) Take() bool {
	if b == nil || !b.limited {
		return true
	}
	return b.remaining.Add(-1) >= 0
}

// HistoryQuery asks for the messages of Channel after seq After, and for
// the seqs in that range to be settled: a seq taken but never stored is
// marked as never usable (a tombstone expiring after TombstoneTTL) once the
// next stored message, or the counter's last use, is older than Grace, so
// a send that is merely slow is not overtaken.
type HistoryQuery struct {
	Channel      string
	After        int64
	Limit        int
	Grace        time.Duration
	TombstoneTTL time.Duration
}

// HistoryPage is one answer to a HistoryQuery. Messages are live, in seq
// order. More and Next page as before (ask again with After = Next). Every
// seq in (After, Through] is settled: its message is in Messages (or an
// earlier page) or the seq will never hold one. Oldest is the lowest seq
// still retained (the counter + 1 when nothing is, 0 for a channel that
// never had a message); Truncated reports that some seq above After may
// have held a message now past retention.
//
// Updates are the changes stored in the range (applied ones; pending ones
// are resolved first, void ones skipped), and Targets the current state of
// every message an update or a reply in the page targets, by seq, those in
// Messages included.
type HistoryPage struct {
	Messages  []Message
	More      bool
	Next      int64
	Oldest    int64
	Truncated bool
	Through   int64
	Updates   []Change
	Targets   map[int64]Message
	// Moderation: the moderation actions stored in the range.
	Moderation []Moderation
}

// ChannelSize is a channel's member count and membership shard count, as
// one read of the channel's item found them.
type ChannelSize struct {
	Members int64
	Shards  int
}

// Audience narrows a broadcast. Except is a connection not to post to (a
// sender that gets an ack carrying the message instead); Size, when set, is
// the channel's size as the caller read it moments before, which the
// broadcast then does not read again.
type Audience struct {
	Except string
	Size   *ChannelSize
}

// AudienceBroadcaster is a Broadcaster that can leave a connection out and
// reuse a size already read (fanout.Fanout, fanout.Spreader).
type AudienceBroadcaster interface {
	BroadcastTo(ctx context.Context, budget *Budget, channel string, a Audience, frame []byte) (FanoutStats, error)
}

// Rate shapes one token bucket: PerSecond tokens a second, Burst at once.
// A zero PerSecond (or Burst) is no limit.
type Rate struct {
	PerSecond float64
	Burst     int
}

// Refused names the bucket that refused a request, if any.
type Refused int

// The answers of a rate limiter that spends a user's and a connection's
// token at once.
const (
	Allowed Refused = iota
	UserRefused
	ConnectionRefused
)

// SendCheck is what a send reads before it writes, in one call: whether
// the connection is registered and its grant (which a reauth replaces),
// its membership of the channel (nil: none) and the channel's size.
type SendCheck struct {
	Registered bool
	Grant      Grant
	Member     *Member
	Size       ChannelSize
}
