// Package dynamo is the DynamoDB adapter of the chat runtime: a Store that
// keeps connections, memberships, per-channel counters, history and send
// claims in one table keyed by contract.TablePartitionKey/TableSortKey.
//
// Item layout (pk / sk):
//
//	CONN#<connectionId>           / META                connection: identity, channels set, rate-limit state, grant (caps, until, iat)
//	CHAN#<channel>                / META                the channel: shard count, member count (expires 3 h after its last join), private, a DM's users (a private one never expires)
//	CHAN#<channel>#<shard>        / CONN#<connectionId> membership roster entry: names, joinedAt (for members), private
//	M#<channel>#<shard>           / <connectionId>      keys-only fan-out entry (what a broadcast reads), the grant's end
//	ACL#<channel>                 / USER#<userId>       a private channel's member list (private.go; never expires)
//	USER#<userId>                 / CONN#<id>, RATE, CHAN#<channel>, REVOKED   the user's connections, rate, private channels, revocation
//	EXP#<minute>#<n>              / <until>#<id>        the expiry index (grant.go)
//	J#<channel>                   / <ms, 13 digits>#<id> a recent join, read consistently by broadcasts
//	CTR#<channel>                 / SEQ                 the channel's seq counter and send rate (counter.go; expires CounterLife after its last seq)
//	HIST#<channel>                / MSG#<seq, 20 digits> one message, sorted by seq
//	IDEM#<channel>#<clientId>#<userId> / CLAIM          progress of one logical send or change (idempotency)
//	THR#<channel>#<parent>        / <seq, 20 digits>    a reply's entry in its parent's thread
//	USER#<userId>                 / CH#<channel>        the user's channel: last-read seq (the channel list)
//
// A history item is a message (with its current state: edits, delete,
// reactions, reply count), a change to a message (an edit, a delete, a
// reaction: see lifecycle.go) or a tombstone.
//
// Channel names and clientIds cannot contain '#', so no key can be forged by
// a client. Every item except the keys-only fan-out entries (removed on
// leave, on $disconnect and when a post finds the connection gone) carries
// the TTL attribute; counters and channel items written before they had
// one get it on their next write. The items of private channels (their
// channel item, member lists and users' index entries), revocations and
// the expiry function's progress never expire: the channel item's TTL is
// not a number (privateTTL), the others have none. DynamoDB deletes expired
// items lazily (dynalite never does), so every read here ignores items
// whose TTL has passed.
//
// The store uses single-item reads and writes, Query on one partition at a
// time, conditional writes for ordering, and nothing else: no Scan, no
// transactions, no PartiQL, no index. Writes are ordered so a retry after a
// crash between two of them converges (see internal/handler's send action).
//
// Membership sharding is adaptive, per channel: see shards.go. What a
// broadcast reads and why it is cheap: see recipients.go.
package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/contract"
)

// API is the subset of the DynamoDB client the store calls. There is
// deliberately no Scan in it.
type API interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	// BatchGetItem reads the targets of a history page's changes and a
	// thread's replies in one call.
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
}

// Options tunes a Store. The zero value is usable.
type Options struct {
	// ShardSize is the members per shard above which a channel doubles its
	// shard count; 0 means DefaultShardSize.
	ShardSize int
	// MaxShards caps a channel's shard count; 0 means DefaultMaxShards.
	MaxShards int
	// RecentWindow is how far back a broadcast reads recent joins with a
	// strongly consistent read; 0 means DefaultRecentWindow.
	RecentWindow time.Duration
	// ConsistentUpTo is the channel size up to which a broadcast reads its
	// members with strongly consistent reads only; 0 means
	// DefaultConsistentUpTo, negative means never (tests).
	ConsistentUpTo int
	// CounterLife is how long a channel's counter lives after its last
	// seq (history retention + ChannelGrace); 0 means DefaultCounterLife.
	CounterLife time.Duration
	// SeqBase is the base of a counter created at a time (its first seq
	// is the base + 1); nil means TimeBase, which keeps seqs monotonic
	// across a counter's expiry (counter.go). FromOne starts every counter
	// at 1, as before bases: for tests that count seqs from 1.
	SeqBase func(now time.Time) int64
	// Now is the clock used to ignore expired items; nil means time.Now.
	Now func() time.Time
}

// Store implements the chat handlers' storage interfaces on DynamoDB. The
// compile-time checks that it does (handler.ChatStore, ConnectStore, …, and
// fanout.Store) are in internal/compose: importing internal/handler here
// would link aws-lambda-go's event types into the store.
type Store struct {
	db        API
	table     string
	shardSize int
	maxShards int
	recent    time.Duration
	// consistentUpTo: see Options.ConsistentUpTo.
	consistentUpTo int
	counterLife    time.Duration
	seqBase        func(time.Time) int64
	busy           busyChannels
	tokens         tokenForms
	now            func() time.Time
}

// New returns a Store on table.
func New(db API, table string, opts Options) *Store {
	s := &Store{db: db, table: table, shardSize: opts.ShardSize, maxShards: opts.MaxShards, recent: opts.RecentWindow, now: opts.Now}
	if s.shardSize <= 0 {
		s.shardSize = DefaultShardSize
	}
	if s.maxShards <= 0 {
		s.maxShards = DefaultMaxShards
	}
	s.consistentUpTo = opts.ConsistentUpTo
	if s.consistentUpTo == 0 {
		s.consistentUpTo = DefaultConsistentUpTo
	}
	if s.recent <= 0 {
		s.recent = DefaultRecentWindow
	}
	s.counterLife = opts.CounterLife
	if s.counterLife <= 0 {
		s.counterLife = DefaultCounterLife
	}
	s.seqBase = opts.SeqBase
	if s.seqBase == nil {
		s.seqBase = TimeBase
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Attribute names. Every expression refers to them through #placeholders
// (names such as "ttl" are DynamoDB reserved words).
const (
	attrPK          = contract.TablePartitionKey
	attrSK          = contract.TableSortKey
	attrTTL         = contract.TableTTLAttribute
	attrUserID      = "userId"
	attrUserName    = "userName"
	attrConnectedAt = "connectedAt"
	attrChannels    = "channels"
	attrCaps        = "caps"  // the token's channel capabilities, canonical form
	attrRateTAT     = "rlTat" // GCRA theoretical arrival time, unix microseconds
	attrConnID      = "connectionId"
	attrChannel     = "channel"
	attrJoinedAt    = "joinedAt"
	attrSeq         = "seq"
	attrText        = "text"
	attrClientID    = "clientId"
	attrSentAt      = "sentAt"
	attrTextHash    = "textHash"
	attrDelivered   = "delivered"
	attrStoredAt    = "storedAt"  // when a history item was written, unix milliseconds
	attrTombstone   = "tombstone" // a history item marking a seq that will never hold a message
	attrAmbiguous   = "ambiguous" // a tombstone in a slot that may have held a message past retention
	attrUpdatedAt   = "updatedAt" // when the counter last gave out a seq, unix milliseconds
	attrFrom        = "from"      // "server" on a message a backend published
	attrUntil       = "until"     // when the connection's grant ends (token exp + grace), epoch seconds
	attrIssuedAt    = "iat"       // the connection's token's iat, epoch seconds
	attrPrivate     = "private"   // on a channel's item and its memberships: the member list decides
)

func connKey(id string) map[string]types.AttributeValue {
	return key("CONN#"+id, "META")
}

func memberPK(channel string, shard int) string {
	return "CHAN#" + channel + "#" + strconv.Itoa(shard)
}

func counterKey(channel string) map[string]types.AttributeValue {
	return key("CTR#"+channel, "SEQ")
}

func historyPK(channel string) string { return "HIST#" + channel }

func historySK(seq int64) string { return fmt.Sprintf("MSG#%020d", seq) }

func claimKey(k chat.ClaimKey) map[string]types.AttributeValue {
	return key("IDEM#"+k.Channel+"#"+k.ClientID+"#"+k.UserID, "CLAIM")
}

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: str(pk), attrSK: str(sk)}
}

// translate maps SDK errors to domain errors, keeping the original in the
// chain for logs.
func translate(op string, err error) error {
	if err == nil {
		return nil
	}
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("%s: %w", op, chat.ErrConflict)
	}
	var (
		pte *types.ProvisionedThroughputExceededException
		rle *types.RequestLimitExceeded
		ise *types.InternalServerError
		api smithy.APIError
	)
	if errors.As(err, &pte) || errors.As(err, &rle) || errors.As(err, &ise) ||
		errors.As(err, &api) && (api.ErrorCode() == "ThrottlingException" || api.ErrorFault() == smithy.FaultServer) {
		return fmt.Errorf("%s: %w: %w", op, chat.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func isConflict(err error) bool { return errors.Is(err, chat.ErrConflict) }

// expired reports whether an item's TTL attribute has passed.
func (s *Store) expired(item map[string]types.AttributeValue) bool {
	ttl, ok := numAttr(item, attrTTL)
	return ok && ttl <= s.now().Unix()
}

func (s *Store) getLive(ctx context.Context, op string, k map[string]types.AttributeValue) (map[string]types.AttributeValue, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      &s.table,
		Key:            k,
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, translate(op, err)
	}
	if out.Item == nil || s.expired(out.Item) {
		return nil, fmt.Errorf("%s: %w", op, chat.ErrNotFound)
	}
	return out.Item, nil
}
