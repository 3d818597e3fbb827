package dynamo

// What a broadcast reads.
//
// A broadcast needs only connection ids, so it reads the keys-only fan-out
// items (M#<channel>#<shard> / <connectionId>: about 31 bytes for a channel
// named "general"), not the roster items with names (about 130 bytes) that
// the members action pages. Measured on dynalite (TestRecipientsReadCost),
// a send to 10,000 members reads 10,000 + a few items for about 40 RCU
// instead of 341.
//
// Consistency: a member who just joined must receive the next broadcast.
// A channel of at most ConsistentUpTo members (every small channel) is read
// with strongly consistent Queries, as before: 100 keys-only items fit in
// one 4 KB read unit. A bigger channel is read with eventually consistent
// Queries (half the capacity) plus one strongly consistent Query of only
// what may be newer than that: the joins of the last RecentWindow, which
// every join also records under J#<channel> with a time-ordered sort key.
// Leaves are not covered the same way: a member who left a moment ago may
// still be read from a shard of a big channel and receive one more
// broadcast, which it ignores (it left).

import (
	"context"
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wschat/wschat/internal/chat"
)

// DefaultRecentWindow covers DynamoDB's eventual consistency (typically well
// under a second) with a wide margin.
const DefaultRecentWindow = 10 * time.Second

// DefaultConsistentUpTo is the channel size up to which broadcasts read
// members with strongly consistent reads only.
const DefaultConsistentUpTo = 100

// recentTTL lets DynamoDB delete recent-join items long after any reader
// looks at them (readers never read past the window, so the leftovers on
// dynalite, which never expires items, cost storage but no reads).
const recentTTL = time.Hour

func (s *Store) putRecent(ctx context.Context, m chat.Member, connExpires, until time.Time) error {
	joined := m.JoinedAt
	if joined.IsZero() {
		joined = s.now()
	}
	// Written at the store's clock, which is what readers compare against.
	at := max(joined.UnixMilli(), s.now().UnixMilli())
	item := key(recentPK(m.Channel), recentSK(at, m.ConnectionID))
	item[attrTTL] = epoch(minTime(connExpires, s.now().Add(recentTTL)))
	if !until.IsZero() {
		item[attrFanoutUntil] = epoch(until)
	}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item})
	return translate("add member: put recent join", err)
}

func minTime(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// recipientCursor is the position of a broadcast's read: the channel's shard
// count and read mode (decided once, at the start), the phase (recent joins,
// then shards), the shard, and the last sort key read.
type recipientCursor struct {
	shards   int
	eventual bool
	recent   bool
	shard    int
	after    string
}

func (c recipientCursor) String() string {
	phase := "s"
	switch {
	case c.recent:
		phase = "r"
	case c.eventual:
		phase = "e"
	}
	raw := fmt.Sprintf("%d|%s|%d|%s", c.shards, phase, c.shard, c.after)
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func parseRecipientCursor(s string) (recipientCursor, error) {
	bad := fmt.Errorf("recipients: %w", chat.ErrBadCursor)
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return recipientCursor{}, bad
	}
	parts := strings.SplitN(string(raw), "|", 4)
	if len(parts) != 4 || !strings.Contains("rse", parts[1]) || len(parts[1]) != 1 {
		return recipientCursor{}, bad
	}
	shards, err1 := strconv.Atoi(parts[0])
	shard, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || shards < 1 || shard < 0 || shard >= shards || len(parts[3]) > 512 {
		return recipientCursor{}, bad
	}
	return recipientCursor{shards: shards, eventual: parts[1] != "s", recent: parts[1] == "r", shard: shard, after: parts[3]}, nil
}

// Recipients returns up to limit members of channel to broadcast to, from
// position cur ("" = the beginning), and the cursor of the rest ("" when
// there is none). Only ConnectionID and Channel are set. A connection may be
// returned twice (a recent joiner is also in its shard): callers dedupe.
// Memberships whose connection expired without a $disconnect are returned
// too (the keys-only items carry no TTL); posting to them answers 410 and
// the fan-out removes them.
func (s *Store) Recipients(ctx context.Context, channel, cur string, limit int) ([]chat.Member, string, error) {
	var c recipientCursor
	if cur == "" {
		info, err := s.ChannelInfo(ctx, channel)
		if err != nil {
			return nil, "", fmt.Errorf("recipients: %w", err)
		}
		// A private channel is read strongly consistent whatever its size:
		// a member a backend removed must not get the next message from a
		// stale read.
		big := info.Members > int64(s.consistentUpTo) && !info.Private
		c = recipientCursor{shards: info.Shards, eventual: big, recent: big}
	} else {
		var err error
		if c, err = parseRecipientCursor(cur); err != nil {
			return nil, "", err
		}
	}
	if c.recent {
		return s.recentPage(ctx, channel, c, limit)
	}
	return s.shardPage(ctx, channel, c, limit)
}

func (s *Store) recentPage(ctx context.Context, channel string, c recipientCursor, limit int) ([]chat.Member, string, error) {
	ms, last, err := s.recentQuery(ctx, channel, c.after, limit)
	if err != nil {
		return nil, "", err
	}
	next := recipientCursor{shards: c.shards, eventual: true}
	if last != "" {
		next.recent, next.after = true, last
	}
	return ms, next.String(), nil
}

// recentQuery reads up to limit joins of the recent window after the sort
// key after ("" = the window's start), strongly consistent, and returns the
// last sort key read when there is more.
func (s *Store) recentQuery(ctx context.Context, channel, after string, limit int) ([]chat.Member, string, error) {
	from := after
	if from == "" {
		from = recentSK(s.now().Add(-s.recent).UnixMilli(), "")
	}
	in := &dynamodb.QueryInput{
		TableName:                &s.table,
		KeyConditionExpression:   aws.String("#pk = :pk AND #sk > :from"),
		ExpressionAttributeNames: map[string]string{"#pk": attrPK, "#sk": attrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(recentPK(channel)), ":from": str(from),
		},
		Limit:          aws.Int32(clampLimit(limit)),
		ConsistentRead: aws.Bool(true),
	}
	s.skipExpiredGrants(in)
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return nil, "", translate("recipients: recent joins", err)
	}
	ms := make([]chat.Member, 0, len(out.Items))
	for _, item := range out.Items {
		if _, id, ok := strings.Cut(strAttr(item, attrSK), "#"); ok {
			ms = append(ms, chat.Member{Channel: channel, ConnectionID: id})
		}
	}
	return ms, strAttr(out.LastEvaluatedKey, attrSK), nil
}

// RecentRecipients pages the connections that joined channel within the
// recent window (strongly consistent), from cursor ("" = the start): what
// a spread broadcast delivers to itself before handing the shards, read
// eventually consistent by the tasks, to the queue. A connection that left
// since is listed too; posting to it is harmless.
func (s *Store) RecentRecipients(ctx context.Context, channel, cursor string, limit int) ([]chat.Member, string, error) {
	if len(cursor) > 512 || (cursor != "" && !strings.Contains(cursor, "#")) {
		return nil, "", fmt.Errorf("recent recipients: %w", chat.ErrBadCursor)
	}
	return s.recentQuery(ctx, channel, cursor, limit)
}

// shardPage reads one page of one shard's fan-out items.
func (s *Store) shardPage(ctx context.Context, channel string, c recipientCursor, limit int) ([]chat.Member, string, error) {
	// Consistent only where no recent-join read covers the newest.
	ms, last, err := s.shardQuery(ctx, channel, c.shard, !c.eventual, c.after, limit)
	if err != nil {
		return nil, "", err
	}
	next := ""
	switch {
	case last != "":
		next = recipientCursor{shards: c.shards, eventual: c.eventual, shard: c.shard, after: last}.String()
	case c.shard+1 < c.shards:
		next = recipientCursor{shards: c.shards, eventual: c.eventual, shard: c.shard + 1}.String()
	}
	return ms, next, nil
}

// shardQuery reads up to limit fan-out items of one shard after the
// connection id after, and returns the last id read when there is more.
func (s *Store) shardQuery(ctx context.Context, channel string, shard int, consistent bool, after string, limit int) ([]chat.Member, string, error) {
	in := &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(fanoutPK(channel, shard))},
		Limit:                     aws.Int32(clampLimit(limit)),
		ConsistentRead:            aws.Bool(consistent),
	}
	if after != "" {
		in.ExclusiveStartKey = fanoutKey(channel, shard, after)
	}
	s.skipExpiredGrants(in)
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return nil, "", translate("recipients", err)
	}
	ms := make([]chat.Member, 0, len(out.Items))
	for _, item := range out.Items {
		ms = append(ms, chat.Member{Channel: channel, ConnectionID: strAttr(item, attrSK)})
	}
	return ms, strAttr(out.LastEvaluatedKey, attrSK), nil
}

// ShardRecipients reads one page of one shard of channel for a fan-out task
// (a bounded slice of a broadcast): the members of shard after the
// connection id cursor ("" = the start), and the cursor of the rest of the
// shard ("" at its end). The read is eventually consistent: the sending
// invocation itself delivers to the recent joins. shards is the count the
// sender read; a bad shard number is chat.ErrBadCursor.
func (s *Store) ShardRecipients(ctx context.Context, channel string, shards, shard int, cursor string, limit int) ([]chat.Member, string, error) {
	if shards < 1 || shard < 0 || shard >= shards || len(cursor) > 512 {
		return nil, "", fmt.Errorf("shard recipients: shard %d of %d: %w", shard, shards, chat.ErrBadCursor)
	}
	return s.shardQuery(ctx, channel, shard, false, cursor, limit)
}

// skipExpiredGrants filters out of a fan-out read the connections whose
// grant has ended (token exp plus grace, unless renewed): DynamoDB drops
// them before answering, so a broadcast never posts to them, at no extra
// call (the read capacity is the same: filtering happens after the read).
// A page may come back short; the cursor carries on as for expired items.
func (s *Store) skipExpiredGrants(in *dynamodb.QueryInput) {
	in.FilterExpression = aws.String("attribute_not_exists(#u) OR #u > :nowsec")
	in.ExpressionAttributeNames["#u"] = attrFanoutUntil
	in.ExpressionAttributeValues[":nowsec"] = num(s.now().Unix())
}

func clampLimit(limit int) int32 {
	return int32(max(1, min(limit, math.MaxInt32)))
}
