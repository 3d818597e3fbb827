package dynamo

// Roles and moderation.
//
// A user's standing in a channel (role, mute, ban) lives on the user's
// entry of the channel's member list, ACL#<channel> / USER#<userId>, for
// private and public channels alike: on a private channel it is the list
// entry itself; on a public channel an entry that lists nobody (listed
// false), written the first time a backend or moderator gives the user a
// role or moderates it. Attributes: role, mutedUntil (ms), banned.
// Reading a standing is one strongly consistent GetItem of a small item.
//
// A mute is also copied onto each of the user's memberships of the channel
// (the roster item's "mu"), because send, edit, react and typing read the
// membership anyway: checking a mute costs them nothing. A join reads the
// standing after writing its membership (a private channel's list read
// does it already), and the moderator writes the standing before it
// updates the memberships, so one of the two always sees the other.
//
// A moderation action is also an item of the channel's stream
// (HIST#<channel> / MSG#<seq>, kind "mod"), final when written, so replay,
// settling and retention cover it like a message.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/wire"
)

const (
	attrListed     = "listed"     // false on a public channel's standing entry
	attrMutedUntil = "mutedUntil" // ms
	attrBanned     = "banned"
	attrMemberMute = "mu" // a roster item's copy of mutedUntil (ms)

	attrSubject     = "subj"     // a moderation item's subject user id
	attrSubjectName = "subjName" // and its name
	attrUntil2      = "untilMs"  // a moderation item's mute end (ms)
	attrReason      = "reason"

	kindModeration = "mod"
)

func isModeration(item map[string]types.AttributeValue) bool {
	return strAttr(item, attrKind) == kindModeration
}

// decodeStanding reads a standing from an ACL entry (nil: no entry). An
// entry written as a list entry (without "listed", as before moderation,
// or with listed true) lists its user.
func decodeStanding(item map[string]types.AttributeValue) chat.Standing {
	if item == nil {
		return chat.Standing{}
	}
	listed := true
	if v, ok := item[attrListed].(*types.AttributeValueMemberBOOL); ok {
		listed = v.Value
	}
	return chat.Standing{Listed: listed, Role: strAttr(item, attrRole),
		MutedUntil: timeMillis(item, attrMutedUntil), Banned: boolAttr(item, attrBanned)}
}

// Standing reads userID's standing in channel: its role and moderation
// state (the zero Standing, a member in good standing, when there is no
// entry). One strongly consistent GetItem.
func (s *Store) Standing(ctx context.Context, channel, userID string) (chat.Standing, error) {
	item, err := s.getLive(ctx, "standing", aclKey(channel, userID))
	if errors.Is(err, chat.ErrNotFound) {
		return chat.Standing{}, nil
	}
	if err != nil {
		return chat.Standing{}, err
	}
	return decodeStanding(item), nil
}

// Moderate applies op (wire.ModMute, ModUnmute, ModBan, ModUnban, ModRole)
// to userID's standing in channel, with until (a mute's end) and role (the
// role set), and returns the standing after it. It updates the entry if
// there is one, and otherwise creates one that lists nobody. A ban keeps a
// private channel's list entry (an unban lets the user back) and makes a
// moderator a member.
func (s *Store) Moderate(ctx context.Context, channel, userID, op string, until time.Time, role string) (chat.Standing, error) {
	names := map[string]string{"#pk": attrPK}
	values := map[string]types.AttributeValue{}
	var update string
	switch op {
	case wire.ModMute:
		update = "SET #mu = :mu"
		names["#mu"], values[":mu"] = attrMutedUntil, millis(until)
	case wire.ModUnmute:
		update = "REMOVE #mu"
		names["#mu"] = attrMutedUntil
	case wire.ModBan:
		update = "SET #b = :t, #r = :member"
		names["#b"], names["#r"] = attrBanned, attrRole
		values[":t"], values[":member"] = boolean(true), str(chat.RoleMember)
	case wire.ModUnban:
		update = "REMOVE #b"
		names["#b"] = attrBanned
	case wire.ModRole:
		update = "SET #r = :r"
		names["#r"], values[":r"] = attrRole, str(role)
	default:
		return chat.Standing{}, fmt.Errorf("moderate: unknown op %q", op)
	}
	for range 3 {
		out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: &s.table, Key: aclKey(channel, userID),
			UpdateExpression:          aws.String(update),
			ConditionExpression:       aws.String("attribute_exists(#pk)"),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: nilIfEmpty(values),
			ReturnValues:              types.ReturnValueAllNew,
		})
		if err = translate("moderate", err); err == nil {
			return decodeStanding(out.Attributes), nil
		} else if !isConflict(err) {
			return chat.Standing{}, err
		}
		// No entry yet: create one that lists nobody, then apply op to it.
		item := aclKey(channel, userID)
		item[attrUserID] = str(userID)
		item[attrListed] = boolean(false)
		item[attrAddedAt] = millis(s.now())
		_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
			TableName: &s.table, Item: item,
			ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
			ExpressionAttributeNames: map[string]string{"#pk": attrPK},
		})
		if err = translate("moderate: create standing", err); err != nil && !isConflict(err) {
			return chat.Standing{}, err
		}
	}
	return chat.Standing{}, fmt.Errorf("moderate %s in %s: %w", userID, channel, chat.ErrUnavailable)
}

func nilIfEmpty(m map[string]types.AttributeValue) map[string]types.AttributeValue {
	if len(m) == 0 {
		return nil
	}
	return m
}

// SetMemberMute copies a mute's end onto connID's membership of channel
// (zero until: not muted). chat.ErrNotFound when there is no membership.
func (s *Store) SetMemberMute(ctx context.Context, channel, connID string, until time.Time) error {
	_, shards, err := s.ChannelSize(ctx, channel)
	if err != nil {
		return err
	}
	for _, sh := range candidateShards(connID, shards) {
		in := &dynamodb.UpdateItemInput{
			TableName: &s.table, Key: key(memberPK(channel, sh), "CONN#"+connID),
			ConditionExpression:      aws.String("attribute_exists(#pk)"),
			ExpressionAttributeNames: map[string]string{"#pk": attrPK, "#mu": attrMemberMute},
		}
		if until.IsZero() {
			in.UpdateExpression = aws.String("REMOVE #mu")
		} else {
			in.UpdateExpression = aws.String("SET #mu = :mu")
			in.ExpressionAttributeValues = map[string]types.AttributeValue{":mu": millis(until)}
		}
		_, err := s.db.UpdateItem(ctx, in)
		if err = translate("set member mute", err); err == nil {
			return nil
		} else if !isConflict(err) {
			return err
		}
	}
	return fmt.Errorf("set member mute: %w", chat.ErrNotFound)
}

// PutModeration stores a moderation action in the channel's stream under
// its seq, unless the slot is taken: the same action again (a retry: same
// user and clientId) succeeds; any other occupant is chat.ErrConflict, and
// the caller takes a new seq, as for a message.
func (s *Store) PutModeration(ctx context.Context, m chat.Moderation) error {
	item := key(historyPK(m.Channel), historySK(m.Seq))
	item[attrKind] = str(kindModeration)
	item[attrChannel] = str(m.Channel)
	item[attrSeq] = num(m.Seq)
	item[attrOp] = str(m.Op)
	item[attrSubject] = str(m.Subject.UserID)
	item[attrUserID] = str(m.UserID)
	item[attrUserName] = str(m.UserName)
	item[attrClientID] = str(m.ClientID)
	item[attrSentAt] = millis(m.At)
	item[attrStoredAt] = millis(s.now())
	item[attrTTL] = epoch(m.ExpiresAt)
	for attr, v := range map[string]string{attrSubjectName: m.Subject.UserName, attrFrom: m.From, attrRole: m.Role, attrReason: m.Reason} {
		if v != "" {
			item[attr] = str(v)
		}
	}
	if !m.Until.IsZero() {
		item[attrUntil2] = millis(m.Until)
	}
	return s.putSlot(ctx, "put moderation", m.Channel, m.Seq, item, func(got map[string]types.AttributeValue) bool {
		return isModeration(got) && strAttr(got, attrClientID) == m.ClientID && strAttr(got, attrUserID) == m.UserID
	})
}

func decodeModeration(channel string, item map[string]types.AttributeValue) chat.Moderation {
	seq, _ := numAttr(item, attrSeq)
	return chat.Moderation{
		Channel:   channel,
		Seq:       seq,
		Op:        strAttr(item, attrOp),
		Subject:   chat.Identity{UserID: strAttr(item, attrSubject), UserName: strAttr(item, attrSubjectName)},
		Identity:  chat.Identity{UserID: strAttr(item, attrUserID), UserName: strAttr(item, attrUserName)},
		From:      strAttr(item, attrFrom),
		Until:     timeMillis(item, attrUntil2),
		Role:      strAttr(item, attrRole),
		Reason:    strAttr(item, attrReason),
		ClientID:  strAttr(item, attrClientID),
		At:        timeMillis(item, attrSentAt),
		ExpiresAt: timeEpoch(item, attrTTL),
	}
}
