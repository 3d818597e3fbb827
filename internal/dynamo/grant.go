package dynamo

// A connection's grant: what its token allows and until when.
//
// Item layout (pk / sk), beside the store's others:
//
//	CONN#<connectionId>      / META          "caps", "until" (token exp + grace), "iat"
//	M#<channel>#<shard>      / <connectionId> "u": the same until, so broadcasts skip the connection after it
//	USER#<userId>            / REVOKED       "before": tokens issued before it are refused (never expires)
//	EXP#<minute>#<n>         / <until>#<id>  the expiry index: connections whose grant ends in that minute
//	SWEEP                    / STATE         the last minute the expiry function finished
//
// Checking the grant costs a request nothing: the connection's rate-limit
// update (Admit), which every request but ping makes anyway, carries the
// condition "until has not passed" and returns the item, so the handler
// learns the current capabilities (a reauth replaces them) from the same
// call.

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wschat/wschat/internal/chat"
)

const attrBefore = "before"

// grantOf reads the grant kept on a connection item.
func grantOf(item map[string]types.AttributeValue) chat.Grant {
	return chat.Grant{Capabilities: strAttr(item, attrCaps), Until: timeEpoch(item, attrUntil), IssuedAt: timeEpoch(item, attrIssuedAt)}
}

// TakeToken spends one token of the connection's rate limit (see Admit).
func (s *Store) TakeToken(ctx context.Context, connID string, perSecond float64, burst int) (bool, error) {
	_, ok, err := s.Admit(ctx, connID, perSecond, burst)
	return ok, err
}

// Admit spends one token of the connection's rate limit and checks its
// grant in the same conditional update, and returns the grant as stored.
// The rate limit is a token bucket of burst tokens refilled at perSecond,
// kept as a GCRA "theoretical arrival time" on the connection item. Two
// conditional updates and no read make it exact across concurrent Lambda
// instances: the first resets an idle bucket, the second advances a busy
// one unless that would exceed the burst. ok is false when the connection
// is over its rate; the error is chat.ErrExpired when its grant has ended,
// chat.ErrNotFound when the connection item is absent. With perSecond 0
// (no rate limit) it reads the item instead.
func (s *Store) Admit(ctx context.Context, connID string, perSecond float64, burst int) (chat.Grant, bool, error) {
	if perSecond <= 0 || burst <= 0 {
		item, err := s.getLive(ctx, "admit", connKey(connID))
		if err != nil {
			return chat.Grant{}, false, err
		}
		return s.checkGrant(item)
	}
	interval := int64(math.Ceil(1e6 / perSecond)) // microseconds per token
	now := s.now()
	names := map[string]string{"#pk": attrPK, "#tat": attrRateTAT, "#until": attrUntil}
	live := "attribute_exists(#pk) AND (attribute_not_exists(#until) OR #until > :nowsec)"

	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &s.table,
		Key:                      connKey(connID),
		UpdateExpression:         aws.String("SET #tat = :next"),
		ConditionExpression:      aws.String(live + " AND (attribute_not_exists(#tat) OR #tat < :now)"),
		ExpressionAttributeNames: names,
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now":    num(now.UnixMicro()),
			":next":   num(now.UnixMicro() + interval),
			":nowsec": num(now.Unix()),
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	if err = translate("take token", err); !isConflict(err) {
		return grantFrom(out, err)
	}
	out, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &s.table,
		Key:                      connKey(connID),
		UpdateExpression:         aws.String("SET #tat = #tat + :i"),
		ConditionExpression:      aws.String(live + " AND #tat >= :now AND #tat <= :limit"),
		ExpressionAttributeNames: names,
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now":    num(now.UnixMicro()),
			":i":      num(interval),
			":limit":  num(now.UnixMicro() + int64(burst-1)*interval),
			":nowsec": num(now.Unix()),
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	if err = translate("take token", err); !isConflict(err) {
		return grantFrom(out, err)
	}
	// Over the rate, expired, or no connection at all: only the rare
	// refused request pays for this read.
	got, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: connKey(connID), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return chat.Grant{}, false, translate("take token", err)
	}
	if got.Item == nil {
		return chat.Grant{}, false, fmt.Errorf("take token: %w", chat.ErrNotFound)
	}
	g, _, err := s.checkGrant(got.Item)
	return g, false, err
}

func grantFrom(out *dynamodb.UpdateItemOutput, err error) (chat.Grant, bool, error) {
	if err != nil {
		return chat.Grant{}, false, err
	}
	return grantOf(out.Attributes), true, nil
}

// checkGrant returns the item's grant, or chat.ErrExpired once it ended.
func (s *Store) checkGrant(item map[string]types.AttributeValue) (chat.Grant, bool, error) {
	g := grantOf(item)
	if !g.Until.IsZero() && !g.Until.After(s.now()) {
		return g, false, fmt.Errorf("connection grant ended %s: %w", g.Until.Format(time.RFC3339), chat.ErrExpired)
	}
	return g, true, nil
}

// RenewGrant replaces a live connection's grant (a reauth): capabilities,
// until and iat on the connection item, until on the fan-out item of each
// channel it is in (so broadcasts keep reaching it), and an expiry index
// entry at the new until. A connection of another user than userID is
// chat.ErrForbidden, a missing one chat.ErrNotFound. It returns the
// connection as it now is.
func (s *Store) RenewGrant(ctx context.Context, connID, userID string, g chat.Grant) (chat.Connection, error) {
	set := []string{"#until = :until", "#iat = :iat"}
	var remove []string
	names := map[string]string{"#pk": attrPK, "#u": attrUserID, "#ttl": attrTTL, "#until": attrUntil, "#iat": attrIssuedAt, "#caps": attrCaps}
	values := map[string]types.AttributeValue{":uid": str(userID), ":now": num(s.now().Unix()),
		":until": epoch(g.Until), ":iat": epoch(g.IssuedAt)}
	if g.Capabilities != "" {
		set = append(set, "#caps = :caps")
		values[":caps"] = str(g.Capabilities)
	} else {
		remove = append(remove, "#caps")
	}
	if g.Until.IsZero() {
		set, remove = set[1:], append(remove, "#until")
		delete(values, ":until")
	}
	expr := "SET " + strings.Join(set, ", ")
	if len(remove) > 0 {
		expr += " REMOVE " + strings.Join(remove, ", ")
	}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       connKey(connID),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String("attribute_exists(#pk) AND #ttl > :now AND #u = :uid"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueAllNew,
	})
	if err = translate("renew grant", err); isConflict(err) {
		c, gerr := s.Connection(ctx, connID)
		if gerr != nil {
			return chat.Connection{}, gerr
		}
		return c, fmt.Errorf("renew grant: the connection is %s's: %w", c.UserID, chat.ErrForbidden)
	}
	if err != nil {
		return chat.Connection{}, err
	}
	conn := decodeConnection(connID, out.Attributes)
	var errs []error
	for _, ch := range conn.Channels {
		if err := s.setFanoutUntil(ctx, ch, connID, g.Until); err != nil {
			errs = append(errs, err)
		}
	}
	if !g.Until.IsZero() && g.Until.Before(conn.ExpiresAt) {
		errs = append(errs, s.PutExpiry(ctx, connID, g.Until))
	}
	return conn, errors.Join(errs...)
}

// setFanoutUntil writes until on the connection's fan-out item in channel,
// wherever a candidate shard holds it (nothing when none does: the
// connection left).
func (s *Store) setFanoutUntil(ctx context.Context, channel, connID string, until time.Time) error {
	info, err := s.ChannelInfo(ctx, channel)
	if err != nil {
		return err
	}
	in := &dynamodb.UpdateItemInput{
		TableName:                &s.table,
		ConditionExpression:      aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": attrPK, "#u": attrFanoutUntil},
	}
	if until.IsZero() {
		in.UpdateExpression = aws.String("REMOVE #u")
	} else {
		in.UpdateExpression = aws.String("SET #u = :u")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":u": epoch(until)}
	}
	for _, sh := range candidateShards(connID, info.Shards) {
		in.Key = fanoutKey(channel, sh, connID)
		_, err := s.db.UpdateItem(ctx, in)
		if err = translate("renew fan-out item", err); !isConflict(err) {
			return err
		}
	}
	return nil
}

// Revocation.

func revokedKey(userID string) map[string]types.AttributeValue {
	return key(userPK(userID), "REVOKED")
}

// PutRevocation refuses, from now on, every token of userID issued before
// before (whole seconds: a token issued in the same second is refused too).
// A later call replaces it. The item never expires: a token issued before
// the time stays refused however long it lives.
func (s *Store) PutRevocation(ctx context.Context, userID string, before time.Time) error {
	item := revokedKey(userID)
	item[attrUserID] = str(userID)
	item[attrBefore] = epoch(before)
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item})
	return translate("put revocation", err)
}

// Revoked reports the user's revocation time (zero when there is none),
// strongly consistent: a revocation counts from the moment it is stored.
func (s *Store) Revoked(ctx context.Context, userID string) (time.Time, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: revokedKey(userID), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return time.Time{}, translate("get revocation", err)
	}
	return timeEpoch(out.Item, attrBefore), nil
}

// The expiry index: the expiry function closes connections whose grant has
// ended even when they make no request (an idle connection kept open by
// pings answered at the gateway never invokes a handler). An entry per
// connection and grant, keyed by the minute the grant ends, spread over
// expiryShards partitions so a burst of connects does not load one; the
// function reads the minutes that have passed, shard by shard (Query, never
// Scan). A renewed grant leaves its old entry behind: the function checks
// the connection's current until before closing it.

// expiryShards spreads one minute's entries; the function reads them all.
const expiryShards = 8

// expiryTTL keeps an entry past its minute for a late run.
const expiryTTL = 24 * time.Hour

func expiryPK(minute int64, shard int) string {
	return "EXP#" + strconv.FormatInt(minute, 10) + "#" + strconv.Itoa(shard)
}

func expiryShard(connID string) int {
	h := fnv.New32a()
	h.Write([]byte(connID))
	return int(h.Sum32() % expiryShards)
}

// PutExpiry indexes a connection under the minute its grant ends.
func (s *Store) PutExpiry(ctx context.Context, connID string, until time.Time) error {
	minute := until.Unix() / 60
	item := key(expiryPK(minute, expiryShard(connID)), fmt.Sprintf("%010d#%s", until.Unix(), connID))
	item[attrConnID] = str(connID)
	item[attrTTL] = epoch(until.Add(expiryTTL))
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item})
	return translate("put expiry", err)
}

// DueExpiries reads the index entries of minute whose until is not after
// now, every shard (a Query each, strongly consistent).
func (s *Store) DueExpiries(ctx context.Context, minute int64, now time.Time) ([]chat.Expiry, error) {
	var due []chat.Expiry
	upTo := fmt.Sprintf("%010d$", now.Unix()) // '$' sorts after '#': every id of that second
	for shard := range expiryShards {
		var start map[string]types.AttributeValue
		for page := 0; ; page++ {
			if page >= maxUserConnPages*10 {
				return due, fmt.Errorf("due expiries: minute %d shard %d: too many pages: %w", minute, shard, chat.ErrLimit)
			}
			out, err := s.db.Query(ctx, &dynamodb.QueryInput{
				TableName:                &s.table,
				KeyConditionExpression:   aws.String("#pk = :pk AND #sk < :upto"),
				ExpressionAttributeNames: map[string]string{"#pk": attrPK, "#sk": attrSK},
				ExpressionAttributeValues: map[string]types.AttributeValue{
					":pk": str(expiryPK(minute, shard)), ":upto": str(upTo),
				},
				ExclusiveStartKey: start,
				ConsistentRead:    aws.Bool(true),
			})
			if err != nil {
				return due, translate("due expiries", err)
			}
			for _, item := range out.Items {
				sk := strAttr(item, attrSK)
				sec, _, _ := strings.Cut(sk, "#")
				n, _ := strconv.ParseInt(sec, 10, 64)
				due = append(due, chat.Expiry{ConnectionID: strAttr(item, attrConnID), Until: time.Unix(n, 0).UTC(),
					Ref: expiryPK(minute, shard) + "|" + sk})
			}
			if start = out.LastEvaluatedKey; start == nil {
				break
			}
		}
	}
	return due, nil
}

// DeleteExpiry removes a handled index entry.
func (s *Store) DeleteExpiry(ctx context.Context, e chat.Expiry) error {
	pk, sk, ok := strings.Cut(e.Ref, "|")
	if !ok || !strings.HasPrefix(pk, "EXP#") {
		return fmt.Errorf("delete expiry: reference %q: %w", e.Ref, chat.ErrBadCursor)
	}
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: key(pk, sk)})
	return translate("delete expiry", err)
}

func sweepKey() map[string]types.AttributeValue { return key("SWEEP", "STATE") }

const attrMinute = "minute"

// SweptThrough returns the last minute whose entries were all handled, and
// false when no run has finished yet.
func (s *Store) SweptThrough(ctx context.Context) (int64, bool, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: sweepKey(), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return 0, false, translate("get sweep state", err)
	}
	m, ok := numAttr(out.Item, attrMinute)
	return m, ok, nil
}

// SetSweptThrough records minute as handled; it never moves back, so two
// overlapping runs cannot undo each other's progress.
func (s *Store) SetSweptThrough(ctx context.Context, minute int64) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       sweepKey(),
		UpdateExpression:          aws.String("SET #m = :m"),
		ConditionExpression:       aws.String("attribute_not_exists(#m) OR #m < :m"),
		ExpressionAttributeNames:  map[string]string{"#m": attrMinute},
		ExpressionAttributeValues: map[string]types.AttributeValue{":m": num(minute)},
	})
	if err = translate("set sweep state", err); isConflict(err) {
		return nil
	}
	return err
}
