package dynamo

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wschat/wschat/internal/chat"
)

// PutConnection registers a connection (PutItem). A connection id is never
// reused, so the write is unconditional.
func (s *Store) PutConnection(ctx context.Context, c chat.Connection) error {
	item := connKey(c.ID)
	item[attrConnID] = str(c.ID)
	item[attrUserID] = str(c.UserID)
	item[attrUserName] = str(c.UserName)
	item[attrConnectedAt] = millis(c.ConnectedAt)
	item[attrTTL] = epoch(c.ExpiresAt)
	if len(c.Channels) > 0 {
		item[attrChannels] = &types.AttributeValueMemberSS{Value: c.Channels}
	}
	if c.Capabilities != "" {
		item[attrCaps] = str(c.Capabilities)
	}
	if !c.Until.IsZero() {
		item[attrUntil] = epoch(c.Until)
	}
	if !c.IssuedAt.IsZero() {
		item[attrIssuedAt] = epoch(c.IssuedAt)
	}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item})
	return translate("put connection", err)
}

// Connection reads a connection; chat.ErrNotFound when it is absent or expired.
func (s *Store) Connection(ctx context.Context, id string) (chat.Connection, error) {
	item, err := s.getLive(ctx, "get connection", connKey(id))
	if err != nil {
		return chat.Connection{}, err
	}
	return decodeConnection(id, item), nil
}

func decodeConnection(id string, item map[string]types.AttributeValue) chat.Connection {
	return chat.Connection{
		ID:          id,
		Identity:    chat.Identity{UserID: strAttr(item, attrUserID), UserName: strAttr(item, attrUserName)},
		ConnectedAt: timeMillis(item, attrConnectedAt),
		ExpiresAt:   timeEpoch(item, attrTTL),
		Channels:    setAttr(item, attrChannels),
		// Capabilities is what the token granted at $connect, or the
		// last reauth.
		Capabilities: strAttr(item, attrCaps),
		Until:        timeEpoch(item, attrUntil),
		IssuedAt:     timeEpoch(item, attrIssuedAt),
	}
}

// RemoveConnection deletes a connection and its memberships: those its item
// lists plus alsoChannels (a membership found while fanning out, whose
// connection item may already be gone). Memberships go first and the
// connection item last, so a retry after a failure still finds the list.
// It returns the removed connection, or chat.ErrNotFound (after deleting the
// alsoChannels memberships) when no item was there. Idempotent.
func (s *Store) RemoveConnection(ctx context.Context, id string, alsoChannels ...string) (chat.Connection, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.table, Key: connKey(id), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return chat.Connection{}, translate("remove connection: get", err)
	}
	var conn chat.Connection
	found := out.Item != nil
	if found {
		conn = decodeConnection(id, out.Item)
	}
	channels := slices.Clone(conn.Channels)
	for _, ch := range alsoChannels {
		if !slices.Contains(channels, ch) {
			channels = append(channels, ch)
		}
	}
	var errs []error
	for _, ch := range channels {
		if _, err := s.unplaceMember(ctx, ch, id); err != nil {
			errs = append(errs, fmt.Errorf("remove connection: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return conn, err // keep the connection item: it lists what is left to delete
	}
	if !found {
		return chat.Connection{ID: id}, fmt.Errorf("remove connection: %w", chat.ErrNotFound)
	}
	// The user index entry goes before the connection item, which names the
	// user: a retry after a failure here still knows which entry to delete.
	if err := s.RemoveUserConnection(ctx, conn.UserID, id); err != nil {
		return conn, fmt.Errorf("remove connection: %w", err)
	}
	if _, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: connKey(id)}); err != nil {
		return conn, translate("remove connection: delete", err)
	}
	return conn, nil
}

// AddMember makes m.ConnectionID a member of m.Channel. It first adds the
// channel to the connection's set, on condition that the connection is live
// and below maxChannels (chat.ErrNotFound, chat.ErrLimit otherwise), then
// writes the membership with the connection's expiry. already reports that
// the connection's set held the channel before (a repeated join).
//
// A private channel admits only users on its member list, and a direct
// message only its two users (chat.ErrForbidden otherwise, with nothing
// left written). A public channel pays no read for this: the channel's
// item, which the member count update returns anyway, says whether it is
// private. A direct message is checked before any write (its name says
// what it is). A private channel's list is read again after the membership
// is written, so a join racing with the user's removal cannot outlive it
// (see RemoveListed).
func (s *Store) AddMember(ctx context.Context, m chat.Member, maxChannels int) (already bool, err error) {
	if chat.IsDirect(m.Channel) {
		if err := s.checkDirect(ctx, m.Channel, m.UserID); err != nil {
			return false, fmt.Errorf("add member: %w", err)
		}
	}
	now := s.now().Unix()
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        &s.table,
		Key:              connKey(m.ConnectionID),
		UpdateExpression: aws.String("ADD #ch :chset"),
		ConditionExpression: aws.String("attribute_exists(#pk) AND #ttl > :now AND " +
			"(attribute_not_exists(#ch) OR contains(#ch, :ch) OR size(#ch) < :max)"),
		ExpressionAttributeNames: map[string]string{"#pk": attrPK, "#ttl": attrTTL, "#ch": attrChannels},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":chset": &types.AttributeValueMemberSS{Value: []string{m.Channel}},
			":ch":    str(m.Channel),
			":now":   num(now),
			":max":   num(int64(maxChannels)),
		},
		ReturnValues: types.ReturnValueAllOld,
	})
	if err != nil {
		err = translate("add member", err)
		if !isConflict(err) {
			return false, err
		}
		// Tell a missing connection from a full one.
		if _, gerr := s.getLive(ctx, "add member", connKey(m.ConnectionID)); gerr != nil {
			return false, gerr
		}
		return false, fmt.Errorf("add member: %d channels: %w", maxChannels, chat.ErrLimit)
	}
	already = slices.Contains(setAttr(out.Attributes, attrChannels), m.Channel)
	expires := timeEpoch(out.Attributes, attrTTL)
	until := timeEpoch(out.Attributes, attrUntil)

	shard, info, err := s.placeMember(ctx, m.Channel, m.ConnectionID, already)
	if err != nil {
		return already, fmt.Errorf("add member: %w", err)
	}
	listedFirst := info.Private && !chat.IsDirect(m.Channel)
	if listedFirst {
		st, err := s.checkListed(ctx, m.Channel, m.UserID)
		if err != nil {
			return already, s.undoJoin(ctx, m, already, err)
		}
		m.MutedUntil = st.MutedUntil
	}
	m.Private = info.Private
	// The fan-out item first: a join that fails after it is retried (the
	// repeated join finds this shard), and a broadcast that reaches a member
	// one write early does no harm.
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.table, Item: fanoutItem(m.Channel, shard, m.ConnectionID, until),
	}); err != nil {
		return already, translate("add member: put fan-out key", err)
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: rosterItem(m, shard, expires)}); err != nil {
		return already, translate("add member: put membership", err)
	}
	if err := s.putRecent(ctx, m, expires, until); err != nil {
		return already, err
	}
	return already, s.recheckStanding(ctx, m, listedFirst, shard)
}

// recheckStanding reads the joiner's standing after its membership is
// written (a private channel's list entry, or a public channel's standing
// entry: one GetItem either way) and undoes the join of a user removed
// from the list or banned meanwhile (chat.ErrForbidden, chat.ErrBanned),
// or copies a mute that came meanwhile onto the membership. A moderator
// writes the standing before it updates memberships, so a ban or mute
// racing with this join is seen by one of the two.
func (s *Store) recheckStanding(ctx context.Context, m chat.Member, listed bool, shard int) error {
	var st chat.Standing
	var err error
	if listed {
		st, err = s.checkListed(ctx, m.Channel, m.UserID)
	} else if !chat.IsDirect(m.Channel) {
		st, err = s.Standing(ctx, m.Channel, m.UserID)
		if err == nil && st.Banned {
			err = fmt.Errorf("%s in %s: %w", m.UserID, m.Channel, chat.ErrBanned)
		}
	}
	if err != nil {
		if !errors.Is(err, chat.ErrForbidden) && !errors.Is(err, chat.ErrBanned) {
			return err
		}
		if _, rerr := s.RemoveMember(ctx, m.Channel, m.ConnectionID); rerr != nil {
			return fmt.Errorf("add member: undo after removal: %w", rerr)
		}
		return fmt.Errorf("add member: %w", err)
	}
	if !st.MutedUntil.Equal(m.MutedUntil) && st.MutedUntil.After(s.now()) {
		if _, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &s.table, Key: key(memberPK(m.Channel, shard), "CONN#"+m.ConnectionID),
			UpdateExpression:          aws.String("SET #mu = :mu"),
			ExpressionAttributeNames:  map[string]string{"#mu": attrMemberMute},
			ExpressionAttributeValues: map[string]types.AttributeValue{":mu": millis(st.MutedUntil)},
		}); err != nil {
			return translate("add member: copy mute", err)
		}
	}
	return nil
}

// undoJoin takes back what a refused join wrote (the channel in the
// connection's set, and the member count of a first join) and returns
// cause.
func (s *Store) undoJoin(ctx context.Context, m chat.Member, already bool, cause error) error {
	if already {
		// The set held the channel before: a membership may exist too.
		if _, err := s.RemoveMember(ctx, m.Channel, m.ConnectionID); err != nil {
			return fmt.Errorf("add member: %w (undo: %w)", cause, err)
		}
		return fmt.Errorf("add member: %w", cause)
	}
	var errs []error
	if _, _, err := s.countMember(ctx, m.Channel, -1); err != nil {
		errs = append(errs, err)
	}
	if err := s.dropChannel(ctx, m.ConnectionID, m.Channel); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("add member: %w (undo: %w)", cause, err)
	}
	return fmt.Errorf("add member: %w", cause)
}

// rosterItem is a member's entry in the channel's roster (what the members
// action lists), in shard shard.
func rosterItem(m chat.Member, shard int, expires time.Time) map[string]types.AttributeValue {
	item := key(memberPK(m.Channel, shard), "CONN#"+m.ConnectionID)
	item[attrChannel] = str(m.Channel)
	item[attrConnID] = str(m.ConnectionID)
	item[attrUserID] = str(m.UserID)
	item[attrUserName] = str(m.UserName)
	item[attrJoinedAt] = millis(m.JoinedAt)
	item[attrTTL] = epoch(expires)
	if m.Private {
		// Where send, history and members already read: the member list,
		// not the token's patterns, decides on a private channel.
		item[attrPrivate] = boolean(true)
	}
	if !m.MutedUntil.IsZero() {
		item[attrMemberMute] = millis(m.MutedUntil) // the same read carries a mute
	}
	return item
}

// RemoveMember ends a membership: the membership item first, then the
// channel in the connection's set (so the set stays a superset). existed
// reports whether a live membership was there.
func (s *Store) RemoveMember(ctx context.Context, channel, connID string) (existed bool, err error) {
	old, err := s.unplaceMember(ctx, channel, connID)
	if err != nil {
		return false, fmt.Errorf("remove member: %w", err)
	}
	existed = old != nil && !s.expired(old)
	return existed, s.dropChannel(ctx, connID, channel)
}

// dropChannel removes channel from the connection's set (nothing when the
// connection is gone).
func (s *Store) dropChannel(ctx context.Context, connID, channel string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       connKey(connID),
		UpdateExpression:          aws.String("DELETE #ch :chset"),
		ConditionExpression:       aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#ch": attrChannels},
		ExpressionAttributeValues: map[string]types.AttributeValue{":chset": &types.AttributeValueMemberSS{Value: []string{channel}}},
	})
	if err = translate("remove member: update connection", err); err != nil && !isConflict(err) {
		return err
	}
	return nil
}

// Member reads one membership; chat.ErrNotFound when absent or expired.
func (s *Store) Member(ctx context.Context, channel, connID string) (chat.Member, error) {
	// Shard 0 first: every member of a one-shard channel (nearly all
	// channels) is there, and this costs one read as before sharding.
	item, err := s.getLive(ctx, "get member", key(memberPK(channel, 0), "CONN#"+connID))
	if !errors.Is(err, chat.ErrNotFound) {
		return decodeMember(channel, item), err
	}
	_, shards, err := s.ChannelSize(ctx, channel)
	if err != nil {
		return chat.Member{}, fmt.Errorf("get member: %w", err)
	}
	for _, sh := range candidateShards(connID, shards) {
		if sh == 0 {
			continue
		}
		item, err := s.getLive(ctx, "get member", key(memberPK(channel, sh), "CONN#"+connID))
		if !errors.Is(err, chat.ErrNotFound) {
			return decodeMember(channel, item), err
		}
	}
	return chat.Member{}, fmt.Errorf("get member: %w", chat.ErrNotFound)
}

func decodeMember(channel string, item map[string]types.AttributeValue) chat.Member {
	return chat.Member{
		Channel:      channel,
		ConnectionID: strAttr(item, attrConnID),
		Identity:     chat.Identity{UserID: strAttr(item, attrUserID), UserName: strAttr(item, attrUserName)},
		JoinedAt:     timeMillis(item, attrJoinedAt),
		ExpiresAt:    timeEpoch(item, attrTTL),
		Private:      boolAttr(item, attrPrivate),
		MutedUntil:   timeMillis(item, attrMemberMute),
	}
}

// cursor is the position in a channel's membership partitions: the shard
// and the last connection id read in it ("" = start of the shard). Clients
// see it base64url-encoded and opaque.
type cursor struct {
	shard int
	after string
}

func (c cursor) String() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(c.shard) + ":" + c.after))
}

func parseCursor(s string, shards int) (cursor, error) {
	if s == "" {
		return cursor{}, nil
	}
	bad := fmt.Errorf("members: %w", chat.ErrBadCursor)
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, bad
	}
	shardStr, after, ok := strings.Cut(string(raw), ":")
	shard, err := strconv.Atoi(shardStr)
	if !ok || err != nil || shard < 0 || shard >= shards || len(after) > 256 {
		return cursor{}, bad
	}
	return cursor{shard: shard, after: after}, nil
}

// Members returns up to limit live members of channel from position cur (""
// = the beginning) by Query on the channel's partitions, one at a time, never
// a Scan, and the cursor of the rest ("" when there is none). A page may hold
// fewer than limit members, even none, while the cursor is non-empty. The
// cursor is opaque; a malformed one yields chat.ErrBadCursor.
func (s *Store) Members(ctx context.Context, channel, cur string, limit int) ([]chat.Member, string, error) {
	_, shards, err := s.ChannelSize(ctx, channel)
	if err != nil {
		return nil, "", fmt.Errorf("members: %w", err)
	}
	c, err := parseCursor(cur, shards)
	if err != nil {
		return nil, "", err
	}
	in := &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(memberPK(channel, c.shard))},
		Limit:                     aws.Int32(int32(max(1, min(limit, math.MaxInt32)))),
		// Strongly consistent: a member who joined a moment ago must get the
		// next broadcast (the joiner its own "joined", and a leaver not its
		// own "left"). Membership items are small, so this costs little.
		ConsistentRead: aws.Bool(true),
	}
	if c.after != "" {
		in.ExclusiveStartKey = key(memberPK(channel, c.shard), "CONN#"+c.after)
	}
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return nil, "", translate("members", err)
	}
	members := make([]chat.Member, 0, len(out.Items))
	for _, item := range out.Items {
		if !s.expired(item) {
			members = append(members, decodeMember(channel, item))
		}
	}
	next := ""
	switch {
	case out.LastEvaluatedKey != nil:
		sk := strAttr(out.LastEvaluatedKey, attrSK)
		next = cursor{shard: c.shard, after: strings.TrimPrefix(sk, "CONN#")}.String()
	case c.shard+1 < shards:
		next = cursor{shard: c.shard + 1}.String()
	}
	return members, next, nil
}
