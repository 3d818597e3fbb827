package dynamo

// Private channels and direct messages.
//
// Item layout (pk / sk), beside the store's others:
//
//	CHAN#<channel>   / META          "private": true; a direct message also "dm": its two user ids
//	ACL#<channel>    / USER#<userId> the member list: userId, userName, role, addedAt
//	USER#<userId>    / CHAN#<channel> the user's own index of its private channels and direct
//	                                  messages (peerId, peerName for a DM): what a "channels"
//	                                  listing reads, one Query on the user's partition
//
// None of them expires: a member list is the backend's data. The list is
// the authority: AddMember reads it when the channel's item says private
// (a public channel pays nothing), and a membership of a private channel
// carries "private" so that send, history and members, which read the
// membership anyway, know the list decides rather than the token's
// patterns. A removal deletes the list entry first and the user's
// memberships second; a join reads the list before and after writing its
// membership, so one of the two always sees the other.

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wschat/wschat/internal/chat"
)

const (
	attrRole     = "role"
	attrAddedAt  = "addedAt"
	attrPeerID   = "peerId"
	attrPeerName = "peerName"
)

func aclPK(channel string) string { return "ACL#" + channel }

func aclKey(channel, userID string) map[string]types.AttributeValue {
	return key(aclPK(channel), "USER#"+userID)
}

// listedChannelKey is the user's index entry of a private channel or
// direct message it is listed on (CHAN#; the channel list of joined
// channels is CH#, userchannels.go).
func listedChannelKey(userID, channel string) map[string]types.AttributeValue {
	return key(userPK(userID), "CHAN#"+channel)
}

// checkListed returns userID's standing on channel's list (a strongly
// consistent read): chat.ErrForbidden unless the user is listed,
// chat.ErrBanned when banned.
func (s *Store) checkListed(ctx context.Context, channel, userID string) (chat.Standing, error) {
	item, err := s.getLive(ctx, "member list", aclKey(channel, userID))
	if err != nil && !errors.Is(err, chat.ErrNotFound) {
		return chat.Standing{}, err
	}
	st := decodeStanding(item)
	switch {
	case item == nil || !st.Listed:
		return st, fmt.Errorf("%s is not on the member list of %s: %w", userID, channel, chat.ErrForbidden)
	case st.Banned:
		return st, fmt.Errorf("%s in %s: %w", userID, channel, chat.ErrBanned)
	}
	return st, nil
}

// checkDirect returns chat.ErrForbidden unless channel is an opened direct
// message of userID: one read of the channel's item, which names its two
// users.
func (s *Store) checkDirect(ctx context.Context, channel, userID string) error {
	info, err := s.ChannelInfo(ctx, channel)
	if err != nil {
		return err
	}
	if !info.Private || !slices.Contains(info.Direct, userID) {
		return fmt.Errorf("%s is not a direct message of %s: %w", channel, userID, chat.ErrForbidden)
	}
	return nil
}

// CreatePrivate makes channel private and puts members on its list. A
// retry (the channel is private already) adds the members and reports
// created false. A channel that has members as a public channel, or is a
// direct message, is chat.ErrConflict: making it private would leave
// connections in it that the list does not name.
func (s *Store) CreatePrivate(ctx context.Context, channel string, members []chat.Listed) (created bool, err error) {
	if chat.IsDirect(channel) {
		return false, fmt.Errorf("create private %s: a direct message: %w", channel, chat.ErrConflict)
	}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        &s.table,
		Key:              metaKey(channel),
		UpdateExpression: aws.String("SET #p = :t, #ttl = :never"),
		ConditionExpression: aws.String("attribute_not_exists(#dm) AND " +
			"(#p = :t OR attribute_not_exists(#m) OR #m <= :zero)"),
		ExpressionAttributeNames: map[string]string{"#p": attrPrivate, "#m": attrMembers, "#dm": attrDirect, "#ttl": attrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": boolean(true), ":zero": num(0),
			":never": privateTTL},
		ReturnValues: types.ReturnValueAllOld,
	})
	if err = translate("create private "+channel, err); isConflict(err) {
		// An expired public channel's stale count does not stand in the way.
		out, err = s.claimExpired(ctx, channel, "SET #p = :t, #ttl = :never, #m = :zero REMOVE #s", nil)
	}
	if err != nil {
		return false, err
	}
	created = !boolAttr(out.Attributes, attrPrivate)
	for _, m := range members {
		m.Channel = channel
		if _, err := s.putListed(ctx, m); err != nil {
			return created, err
		}
	}
	return created, nil
}

// claimExpired rewrites an expired public channel's item with update (it
// may use #p, #ttl, #m, #s, :t, :zero, :never and extra), on condition that
// it is still expired; chat.ErrConflict otherwise: the item is live, and
// public with members (or a direct message).
func (s *Store) claimExpired(ctx context.Context, channel, update string, extra map[string]types.AttributeValue) (*dynamodb.UpdateItemOutput, error) {
	values := map[string]types.AttributeValue{":t": boolean(true), ":zero": num(0), ":never": privateTTL, ":now": num(s.now().Unix())}
	for k, v := range extra {
		values[k] = v
	}
	names := map[string]string{"#p": attrPrivate, "#ttl": attrTTL, "#m": attrMembers, "#s": attrShards}
	if strings.Contains(update, "#dm") {
		names["#dm"] = attrDirect
	}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       metaKey(channel),
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String("#ttl <= :now"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueAllOld,
	})
	return out, translate("claim expired channel "+channel, err)
}

// AddListed puts a user on a private channel's list; added is false when
// the user was there already (the name is then updated if given).
// chat.ErrNotPrivate for a channel that is not private, chat.ErrConflict
// for a direct message, whose two users are fixed.
func (s *Store) AddListed(ctx context.Context, l chat.Listed) (added bool, err error) {
	info, err := s.ChannelInfo(ctx, l.Channel)
	switch {
	case err != nil:
		return false, err
	case len(info.Direct) > 0 || chat.IsDirect(l.Channel):
		return false, fmt.Errorf("add member to %s: a direct message: %w", l.Channel, chat.ErrConflict)
	case !info.Private:
		return false, fmt.Errorf("add member to %s: %w", l.Channel, chat.ErrNotPrivate)
	}
	return s.putListed(ctx, l)
}

// putListed writes the list entry, then the user's index entry: the list
// is the authority, and a retry after a failure in between completes the
// index.
func (s *Store) putListed(ctx context.Context, l chat.Listed) (bool, error) {
	added, err := s.putListEntry(ctx, l)
	if err != nil {
		return false, err
	}
	item := listedChannelKey(l.UserID, l.Channel)
	item[attrChannel] = str(l.Channel)
	item[attrAddedAt] = millis(l.AddedAt)
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item}); err != nil {
		return added, translate("put user channel", err)
	}
	return added, nil
}

// putListEntry writes (or completes) one entry of the list; added is false
// when the user was on it already.
func (s *Store) putListEntry(ctx context.Context, l chat.Listed) (bool, error) {
	// A role given sets it; none keeps the one there (member for a new
	// entry). The entry lists its user from now on, and keeps a standing
	// (a ban, a mute) it had as a public channel's or a removed member's.
	roleExpr := "#r = if_not_exists(#r, :r)"
	if l.Role == "" {
		l.Role = chat.RoleMember
	} else {
		roleExpr = "#r = :r"
	}
	names := map[string]string{"#u": attrUserID, "#r": attrRole, "#a": attrAddedAt, "#l": attrListed}
	values := map[string]types.AttributeValue{
		":u": str(l.UserID), ":r": str(l.Role), ":a": millis(l.AddedAt), ":t": boolean(true),
	}
	update := "SET #u = :u, #l = :t, " + roleExpr + ", #a = if_not_exists(#a, :a)"
	if l.UserName != "" {
		update += ", #n = :n"
		names["#n"], values[":n"] = attrUserName, str(l.UserName)
	}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: aclKey(l.Channel, l.UserID),
		UpdateExpression:          aws.String(update),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueUpdatedOld,
	})
	if err != nil {
		return false, translate("put member list entry", err)
	}
	return out.Attributes[attrUserID] == nil || !decodeStanding(out.Attributes).Listed, nil
}

// RemoveListed takes a user off a private channel's list (and out of the
// user's index); removed is false when the user was not listed. The caller
// then removes the user's memberships: a join that read the list before
// this reads it again after writing its membership (AddMember), so it
// either sees the removal or is seen by the caller's sweep.
func (s *Store) RemoveListed(ctx context.Context, channel, userID string) (removed bool, err error) {
	info, err := s.ChannelInfo(ctx, channel)
	switch {
	case err != nil:
		return false, err
	case len(info.Direct) > 0 || chat.IsDirect(channel):
		return false, fmt.Errorf("remove member from %s: a direct message: %w", channel, chat.ErrConflict)
	case !info.Private:
		return false, fmt.Errorf("remove member from %s: %w", channel, chat.ErrNotPrivate)
	}
	removed, err = s.unlist(ctx, channel, userID)
	if err != nil {
		return false, err
	}
	if _, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: listedChannelKey(userID, channel)}); err != nil {
		return removed, translate("remove user channel", err)
	}
	return removed, nil
}

// unlist deletes a list entry, or, when it carries a ban or a running
// mute, keeps it unlisted (and a member's role): being removed must not
// lift a ban. removed reports that the user was listed.
func (s *Store) unlist(ctx context.Context, channel, userID string) (bool, error) {
	out, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: &s.table, Key: aclKey(channel, userID), ReturnValues: types.ReturnValueAllOld,
		ConditionExpression:       aws.String("attribute_not_exists(#b) AND (attribute_not_exists(#mu) OR #mu <= :now)"),
		ExpressionAttributeNames:  map[string]string{"#b": attrBanned, "#mu": attrMutedUntil},
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": millis(s.now())},
	})
	err = translate("remove member list entry", err)
	if err == nil {
		return out.Attributes != nil && decodeStanding(out.Attributes).Listed, nil
	}
	if !isConflict(err) {
		return false, err
	}
	upd, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: aclKey(channel, userID),
		UpdateExpression:          aws.String("SET #l = :f, #r = :member"),
		ExpressionAttributeNames:  map[string]string{"#l": attrListed, "#r": attrRole},
		ExpressionAttributeValues: map[string]types.AttributeValue{":f": boolean(false), ":member": str(chat.RoleMember)},
		ReturnValues:              types.ReturnValueUpdatedOld,
	})
	if err != nil {
		return false, translate("unlist member", err)
	}
	return decodeStanding(upd.Attributes).Listed, nil
}

// Listed reads one entry of a channel's list; chat.ErrNotFound when the
// user is not on it.
func (s *Store) Listed(ctx context.Context, channel, userID string) (chat.Listed, error) {
	item, err := s.getLive(ctx, "member list", aclKey(channel, userID))
	if err != nil {
		return chat.Listed{}, err
	}
	if !decodeStanding(item).Listed {
		return chat.Listed{}, fmt.Errorf("member list: %s: %w", userID, chat.ErrNotFound)
	}
	return decodeListed(channel, item), nil
}

func decodeListed(channel string, item map[string]types.AttributeValue) chat.Listed {
	st := decodeStanding(item)
	return chat.Listed{Channel: channel, UserID: strAttr(item, attrUserID), UserName: strAttr(item, attrUserName),
		Role: st.Role, AddedAt: timeMillis(item, attrAddedAt), Standing: st}
}

// ListedMembers pages a private channel's list in user id order: up to
// limit entries after cursor ("" = the start) and the cursor of the rest
// ("" at the end), by Query on the list's partition. A cursor that is not
// one this returned is chat.ErrBadCursor; a channel that is not private,
// chat.ErrNotPrivate.
func (s *Store) ListedMembers(ctx context.Context, channel, cursor string, limit int) ([]chat.Listed, string, error) {
	info, err := s.ChannelInfo(ctx, channel)
	if err != nil {
		return nil, "", err
	}
	if !info.Private {
		return nil, "", fmt.Errorf("list members of %s: %w", channel, chat.ErrNotPrivate)
	}
	in := &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(aclPK(channel))},
		Limit:                     aws.Int32(int32(max(1, min(limit, math.MaxInt32)))),
		ConsistentRead:            aws.Bool(true),
		// Standing entries that list nobody (a removed member's ban) are
		// not members.
		FilterExpression: aws.String("attribute_not_exists(#l) OR #l = :t"),
	}
	in.ExpressionAttributeNames["#l"] = attrListed
	in.ExpressionAttributeValues[":t"] = boolean(true)
	if cursor != "" {
		after, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || len(after) == 0 || len(after) > 512 {
			return nil, "", fmt.Errorf("list members: %w", chat.ErrBadCursor)
		}
		in.ExclusiveStartKey = aclKey(channel, string(after))
	}
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return nil, "", translate("list members", err)
	}
	list := make([]chat.Listed, 0, len(out.Items))
	for _, item := range out.Items {
		list = append(list, decodeListed(channel, item))
	}
	next := ""
	if out.LastEvaluatedKey != nil {
		last := strings.TrimPrefix(strAttr(out.LastEvaluatedKey, attrSK), "USER#")
		next = base64.RawURLEncoding.EncodeToString([]byte(last))
	}
	return list, next, nil
}

// OpenDirect opens (idempotently) the direct-message channel of opener and
// peerID: the channel's item says private and names the two users, both
// are on its list, and each user's index names the other. created reports
// the first opening. It returns the opener's index entry (the peer and the
// peer's name as known). The opener's current name is written where the
// peer sees it; the peer's name stays what it was (its id until the peer
// opens the channel itself).
func (s *Store) OpenDirect(ctx context.Context, opener chat.Identity, peerID string, at time.Time) (chat.ListedChannel, bool, error) {
	channel := chat.DirectChannel(opener.UserID, peerID)
	pair := []string{opener.UserID, peerID}
	slices.Sort(pair)
	created := false
	pairSet := &types.AttributeValueMemberSS{Value: pair}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        &s.table,
		Key:              metaKey(channel),
		UpdateExpression: aws.String("SET #p = :t, #dm = :pair, #ttl = :never"),
		// No one can be a member of a direct message that was never
		// opened (AddMember), so a count above 0 means a foreign item.
		ConditionExpression: aws.String("attribute_not_exists(#dm) AND (attribute_not_exists(#m) OR #m <= :zero)"),
		ExpressionAttributeNames: map[string]string{"#p": attrPrivate, "#dm": attrDirect, "#m": attrMembers,
			"#ttl": attrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": boolean(true), ":pair": pairSet,
			":zero": num(0), ":never": privateTTL},
	})
	err = translate("open direct", err)
	if isConflict(err) {
		if _, cerr := s.claimExpired(ctx, channel, "SET #p = :t, #dm = :pair, #ttl = :never, #m = :zero REMOVE #s",
			map[string]types.AttributeValue{":pair": pairSet}); cerr == nil || !isConflict(cerr) {
			err = cerr
		}
	}
	switch {
	case err == nil:
		created = true
	case isConflict(err):
		info, ierr := s.ChannelInfo(ctx, channel)
		if ierr != nil {
			return chat.ListedChannel{}, false, ierr
		}
		got := slices.Clone(info.Direct)
		slices.Sort(got)
		if !slices.Equal(got, pair) {
			return chat.ListedChannel{}, false, fmt.Errorf("open direct %s: %w", channel, chat.ErrConflict)
		}
	default:
		return chat.ListedChannel{}, false, err
	}
	// The peer's side first: the opener's answer is read from its own.
	if _, err := s.putListEntry(ctx, chat.Listed{Channel: channel, UserID: peerID, AddedAt: at}); err != nil {
		return chat.ListedChannel{}, created, err
	}
	if _, err := s.putDirectIndex(ctx, channel, peerID, opener, true, at); err != nil {
		return chat.ListedChannel{}, created, err
	}
	if _, err := s.putListEntry(ctx, chat.Listed{Channel: channel, UserID: opener.UserID, UserName: opener.UserName, AddedAt: at}); err != nil {
		return chat.ListedChannel{}, created, err
	}
	mine, err := s.putDirectIndex(ctx, channel, opener.UserID, chat.Identity{UserID: peerID, UserName: peerID}, false, at)
	return mine, created, err
}

// putDirectIndex completes the user's index entry of a direct message with
// the other user's id and, when setName or not yet known, name, and
// returns the entry.
func (s *Store) putDirectIndex(ctx context.Context, channel, userID string, peer chat.Identity, setName bool, at time.Time) (chat.ListedChannel, error) {
	nameExpr := "#pn = if_not_exists(#pn, :pn)"
	if setName {
		nameExpr = "#pn = :pn"
	}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &s.table,
		Key:                      listedChannelKey(userID, channel),
		UpdateExpression:         aws.String("SET #c = :c, #dm = :t, #pi = :pi, #a = if_not_exists(#a, :a), " + nameExpr),
		ExpressionAttributeNames: map[string]string{"#c": attrChannel, "#dm": attrDirect, "#pi": attrPeerID, "#pn": attrPeerName, "#a": attrAddedAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":c": str(channel), ":t": boolean(true), ":pi": str(peer.UserID), ":pn": str(peer.UserName), ":a": millis(at),
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	if err != nil {
		return chat.ListedChannel{}, translate("put direct index", err)
	}
	return decodeListedChannel(out.Attributes), nil
}

func decodeListedChannel(item map[string]types.AttributeValue) chat.ListedChannel {
	c := chat.ListedChannel{Channel: strAttr(item, attrChannel), Direct: boolAttr(item, attrDirect), AddedAt: timeMillis(item, attrAddedAt)}
	if c.Direct {
		c.Peer = chat.Identity{UserID: strAttr(item, attrPeerID), UserName: strAttr(item, attrPeerName)}
	}
	return c
}

// ListedChannels lists the private channels and direct messages userID is
// on (one Query of the user's partition, every page), for a "channels"
// listing: a direct message with the other user's id and name.
func (s *Store) ListedChannels(ctx context.Context, userID string) ([]chat.ListedChannel, error) {
	var (
		out   []chat.ListedChannel
		start map[string]types.AttributeValue
	)
	for page := 0; page < maxUserConnPages; page++ {
		res, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 &s.table,
			KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :chan)"),
			ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#sk": attrSK},
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(userPK(userID)), ":chan": str("CHAN#")},
			ExclusiveStartKey:         start,
			ConsistentRead:            aws.Bool(true),
		})
		if err != nil {
			return nil, translate("channels of user", err)
		}
		for _, item := range res.Items {
			out = append(out, decodeListedChannel(item))
		}
		if start = res.LastEvaluatedKey; start == nil {
			return out, nil
		}
	}
	return out, fmt.Errorf("channels of user: more than %d pages: %w", maxUserConnPages, chat.ErrLimit)
}
