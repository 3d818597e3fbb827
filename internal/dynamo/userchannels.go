package dynamo

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wschat/wschat/internal/chat"
)

// A user's channel list and read state live in the user's own partition,
// beside its connection index (userconn.go): USER#<userId> / CH#<channel>,
// one item per channel the user joined (on any device) and has not left,
// holding the last-read seq. So "my channels" is one Query on one
// partition, never a Scan, and read state is shared by every connection of
// the user. The items expire UserChannelTTL after the last join or read.

// UserChannelTTL is how long a channel stays in a user's list without a
// join or a read.
const UserChannelTTL = 90 * 24 * time.Hour

const (
	attrLastRead = "lastRead"
	attrReadAt   = "readAt"
)

func userChannelKey(userID, channel string) map[string]types.AttributeValue {
	return key(userPK(userID), "CH#"+channel)
}

// maxUserChannels bounds the channels a channel list reads.
const maxUserChannels = 200

// TouchUserChannel records that userID joined channel (adding it to the
// user's list if new, and keeping it alive) and returns the user's
// last-read seq of it (0 when never read).
func (s *Store) TouchUserChannel(ctx context.Context, userID, channel string) (int64, error) {
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &s.table,
		Key:                      userChannelKey(userID, channel),
		UpdateExpression:         aws.String("SET #ch = :ch, #j = if_not_exists(#j, :now), #ttl = :ttl"),
		ExpressionAttributeNames: map[string]string{"#ch": attrChannel, "#j": attrJoinedAt, "#ttl": attrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":ch": str(channel), ":now": millis(s.now()), ":ttl": epoch(s.now().Add(UserChannelTTL)),
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	if err != nil {
		return 0, translate("touch user channel", err)
	}
	last, _ := numAttr(out.Attributes, attrLastRead)
	return last, nil
}

// MarkRead raises userID's last-read seq of channel to seq, never lowers
// it. It returns the last-read seq after the call and whether this call
// raised it.
func (s *Store) MarkRead(ctx context.Context, userID, channel string, seq int64) (int64, bool, error) {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &s.table,
		Key:                      userChannelKey(userID, channel),
		UpdateExpression:         aws.String("SET #lr = :seq, #ra = :now, #ch = :ch, #j = if_not_exists(#j, :now), #ttl = :ttl"),
		ConditionExpression:      aws.String("attribute_not_exists(#lr) OR #lr < :seq"),
		ExpressionAttributeNames: map[string]string{"#lr": attrLastRead, "#ra": attrReadAt, "#ch": attrChannel, "#j": attrJoinedAt, "#ttl": attrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":seq": num(seq), ":now": millis(s.now()), ":ch": str(channel), ":ttl": epoch(s.now().Add(UserChannelTTL)),
		},
	})
	err = translate("mark read", err)
	if err == nil {
		return seq, true, nil
	}
	if !isConflict(err) {
		return 0, false, err
	}
	item, err := s.getLive(ctx, "mark read", userChannelKey(userID, channel))
	if err != nil {
		return 0, false, err
	}
	last, _ := numAttr(item, attrLastRead)
	return last, false, nil
}

// RemoveUserChannel takes channel off userID's list (an explicit leave).
func (s *Store) RemoveUserChannel(ctx context.Context, userID, channel string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: userChannelKey(userID, channel)})
	return translate("remove user channel", err)
}

// UserChannels returns userID's channel list (at most maxUserChannels),
// in channel name order.
func (s *Store) UserChannels(ctx context.Context, userID string) ([]chat.UserChannel, error) {
	var (
		out   []chat.UserChannel
		start map[string]types.AttributeValue
	)
	for len(out) < maxUserChannels {
		res, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 &s.table,
			KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :ch)"),
			ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#sk": attrSK},
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(userPK(userID)), ":ch": str("CH#")},
			ConsistentRead:            aws.Bool(true),
			Limit:                     aws.Int32(int32(maxUserChannels - len(out))),
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return nil, translate("user channels", err)
		}
		for _, item := range res.Items {
			if s.expired(item) {
				continue
			}
			last, _ := numAttr(item, attrLastRead)
			out = append(out, chat.UserChannel{Channel: strings.TrimPrefix(strAttr(item, attrSK), "CH#"), LastRead: last})
		}
		if start = res.LastEvaluatedKey; start == nil {
			break
		}
	}
	return out, nil
}

// unreadScan bounds the history items one channel summary reads to count
// unread messages: beyond it the count is reported as "at least".
const unreadScan = 100

// ChannelSummary returns what userID's channel list shows of channel:
// the last seq, the messages above lastRead that are not the user's own,
// not deleted (counted over at most unreadScan items), and the last live
// message, its text cut to previewRunes.
func (s *Store) ChannelSummary(ctx context.Context, channel, userID string, lastRead int64, previewRunes int) (chat.ChannelSummary, error) {
	var sum chat.ChannelSummary
	var err error
	if sum.LastSeq, err = s.LastSeq(ctx, channel); err != nil {
		return sum, err
	}
	if sum.LastSeq <= lastRead {
		return sum, s.preview(ctx, channel, &sum, previewRunes)
	}
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("#pk = :pk AND #sk > :after"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#sk": attrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(historyPK(channel)), ":after": str(historySK(lastRead))},
		ScanIndexForward:          aws.Bool(false),
		ConsistentRead:            aws.Bool(true),
		Limit:                     aws.Int32(unreadScan),
	})
	if err != nil {
		return sum, translate("channel summary", err)
	}
	for _, item := range out.Items {
		if s.expired(item) || !isMessageItem(item) || boolAttr(item, attrDeleted) {
			continue
		}
		m := decodeMessage(channel, item)
		if sum.Last == nil {
			sum.Last = previewOf(m, previewRunes)
		}
		if m.UserID != userID {
			sum.Unread++
		}
	}
	sum.UnreadMore = out.LastEvaluatedKey != nil
	if sum.Last == nil {
		return sum, s.preview(ctx, channel, &sum, previewRunes)
	}
	return sum, nil
}

// preview finds the channel's last live message (reading back a bounded
// number of items).
func (s *Store) preview(ctx context.Context, channel string, sum *chat.ChannelSummary, runes int) error {
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(historyPK(channel))},
		ScanIndexForward:          aws.Bool(false),
		ConsistentRead:            aws.Bool(true),
		Limit:                     aws.Int32(25),
	})
	if err != nil {
		return translate("channel preview", err)
	}
	for _, item := range out.Items {
		if !s.expired(item) && isMessageItem(item) && !boolAttr(item, attrDeleted) {
			sum.Last = previewOf(decodeMessage(channel, item), runes)
			return nil
		}
	}
	return nil
}

func previewOf(m chat.Message, runes int) *chat.Message {
	if utf8.RuneCountInString(m.Text) > runes {
		m.Text = string([]rune(m.Text)[:runes]) + "…"
	}
	m.Reactions = nil
	return &m
}
