package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wschat/wschat/internal/chat"
)

// Claim records the start of a logical send unless one is already recorded
// (an expired record counts as none). It returns the stored claim and whether
// this call created it; a retry gets the first attempt's claim, with its seq
// and delivery state, to complete what is missing. A claim made with its
// seq (c.Seq, taken just before) carries it from the start: no second
// write binds it (issue #23).
func (s *Store) Claim(ctx context.Context, c chat.Claim) (chat.Claim, bool, error) {
	item := claimKey(c.ClaimKey)
	item[attrChannel] = str(c.Channel)
	item[attrUserID] = str(c.UserID)
	item[attrClientID] = str(c.ClientID)
	item[attrTextHash] = str(c.TextHash)
	item[attrSentAt] = millis(c.SentAt)
	if c.Seq != 0 {
		item[attrSeq] = num(c.Seq)
	}
	item[attrTTL] = epoch(c.ExpiresAt)
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 &s.table,
		Item:                      item,
		ConditionExpression:       aws.String("attribute_not_exists(#pk) OR #ttl <= :now"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#ttl": attrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": num(s.now().Unix())},
	})
	err = translate("claim send", err)
	if err == nil {
		c.Delivered = false
		return c, true, nil
	}
	if !isConflict(err) {
		return chat.Claim{}, false, err
	}
	got, err := s.getLive(ctx, "claim send", claimKey(c.ClaimKey))
	if err != nil {
		return chat.Claim{}, false, err
	}
	return decodeClaim(c.ClaimKey, got), false, nil
}

func decodeClaim(k chat.ClaimKey, item map[string]types.AttributeValue) chat.Claim {
	seq, _ := numAttr(item, attrSeq)
	return chat.Claim{
		ClaimKey:  k,
		TextHash:  strAttr(item, attrTextHash),
		SentAt:    timeMillis(item, attrSentAt),
		Seq:       seq,
		Delivered: boolAttr(item, attrDelivered),
		ExpiresAt: timeEpoch(item, attrTTL),
	}
}

// SetClaimSeq binds seq to a claim unless it already has one, and returns
// the claim's seq: seq itself, or the one a concurrent attempt bound first.
func (s *Store) SetClaimSeq(ctx context.Context, k chat.ClaimKey, seq int64) (int64, error) {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       claimKey(k),
		UpdateExpression:          aws.String("SET #seq = :seq"),
		ConditionExpression:       aws.String("attribute_exists(#pk) AND attribute_not_exists(#seq)"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#seq": attrSeq},
		ExpressionAttributeValues: map[string]types.AttributeValue{":seq": num(seq)},
	})
	err = translate("set claim seq", err)
	if err == nil || !isConflict(err) {
		return seq, err
	}
	item, err := s.getLive(ctx, "set claim seq", claimKey(k))
	if err != nil {
		return 0, err
	}
	got, ok := numAttr(item, attrSeq)
	if !ok {
		return 0, fmt.Errorf("set claim seq: %w", chat.ErrConflict)
	}
	return got, nil
}

// MarkDelivered records that a claimed send was fanned out, so a retry only
// acknowledges it. The send path writes it only after a big broadcast,
// where repeating the fan-out for a retry costs more than the write.
func (s *Store) MarkDelivered(ctx context.Context, k chat.ClaimKey) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       claimKey(k),
		UpdateExpression:          aws.String("SET #d = :t"),
		ConditionExpression:       aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#d": attrDelivered},
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": boolean(true)},
	})
	return translate("mark delivered", err)
}

// PutMessage stores a message under its seq, unless the seq's slot is
// taken. Writing the same message again (a retry) succeeds and leaves one
// item. A slot holding a tombstone (history declared the seq never used)
// or another message answers chat.ErrConflict: the caller takes a new seq
// (RebindClaimSeq) and stores the message there, so it is renumbered, never
// lost, and a settled seq stays settled.
func (s *Store) PutMessage(ctx context.Context, m chat.Message) error {
	item := key(historyPK(m.Channel), historySK(m.Seq))
	item[attrChannel] = str(m.Channel)
	item[attrSeq] = num(m.Seq)
	item[attrUserID] = str(m.UserID)
	item[attrUserName] = str(m.UserName)
	item[attrText] = str(m.Text)
	item[attrClientID] = str(m.ClientID)
	if m.From != "" {
		item[attrFrom] = str(m.From)
	}
	if m.ReplyTo != 0 {
		// A reply changes its parent (the reply count): it is pending until
		// that is applied (see chat/lifecycle.go).
		item[attrReplyTo] = num(m.ReplyTo)
		item[attrStatus] = str(string(chat.StatusPending))
	}
	item[attrSentAt] = millis(m.SentAt)
	item[attrStoredAt] = millis(s.now())
	item[attrTTL] = epoch(m.ExpiresAt)
	return s.putSlot(ctx, "put message", m.Channel, m.Seq, item, func(got map[string]types.AttributeValue) bool {
		return !boolAttr(got, attrTombstone) && !isChange(got) && !isModeration(got) &&
			strAttr(got, attrClientID) == m.ClientID && strAttr(got, attrUserID) == m.UserID &&
			chat.Status(strAttr(got, attrStatus)) != chat.StatusVoid
	})
}

// putSlot writes item, the history item of (channel, seq), if that slot is
// free: the one write of PutMessage, PutChange and PutModeration. A taken
// slot is this write's own when mine says so of the item in it (an
// earlier attempt of the same request stored it), and the put succeeds;
// any other item, or one past its expiry that DynamoDB has not deleted
// yet, makes it chat.ErrConflict: the seq is spent all the same.
func (s *Store) putSlot(ctx context.Context, op, channel string, seq int64, item map[string]types.AttributeValue,
	mine func(got map[string]types.AttributeValue) bool) error {
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                &s.table,
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": attrPK},
	})
	err = translate(op, err)
	if !isConflict(err) {
		return err
	}
	got, err := s.getLive(ctx, op, key(historyPK(channel), historySK(seq)))
	if errors.Is(err, chat.ErrNotFound) || err == nil && !mine(got) {
		return fmt.Errorf("%s seq %d: %w", op, seq, chat.ErrConflict)
	}
	return err
}

// RebindClaimSeq moves a claim from seq from (found tombstoned) to seq to,
// unless a concurrent attempt already moved it: it returns the claim's seq
// after the call, to or the one that attempt bound.
func (s *Store) RebindClaimSeq(ctx context.Context, k chat.ClaimKey, from, to int64) (int64, error) {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       claimKey(k),
		UpdateExpression:          aws.String("SET #seq = :to"),
		ConditionExpression:       aws.String("#seq = :from"),
		ExpressionAttributeNames:  map[string]string{"#seq": attrSeq},
		ExpressionAttributeValues: map[string]types.AttributeValue{":from": num(from), ":to": num(to)},
	})
	err = translate("rebind claim seq", err)
	if err == nil || !isConflict(err) {
		return to, err
	}
	item, err := s.getLive(ctx, "rebind claim seq", claimKey(k))
	if err != nil {
		return 0, err
	}
	got, ok := numAttr(item, attrSeq)
	if !ok {
		return 0, fmt.Errorf("rebind claim seq: %w", chat.ErrConflict)
	}
	return got, nil
}

// LastSeq returns the channel's counter: the highest seq taken, 0 for a
// channel that never had a message.
func (s *Store) LastSeq(ctx context.Context, channel string) (int64, error) {
	seq, _, _, err := s.counter(ctx, channel)
	return seq, err
}

// StartSeq is LastSeq for a join: a channel without a counter gets one,
// at its base, so the joiner's lastSeq is exactly one below the channel's
// first seq. (Reporting 0 there left a gap from 0 to the base that every
// subscriber of a new channel could settle only by asking history after
// its gap timeout, holding the channel's first messages back meanwhile.)
// It writes once per counter life: joins of a channel that has one only
// read it.
func (s *Store) StartSeq(ctx context.Context, channel string) (int64, error) {
	seq, _, _, err := s.counter(ctx, channel)
	if err != nil || seq != 0 {
		return seq, err
	}
	now := s.now()
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &s.table,
		Key:                      counterKey(channel),
		UpdateExpression:         aws.String("SET #seq = if_not_exists(#seq, :floor), #base = if_not_exists(#base, :floor), #ttl = :exp"),
		ConditionExpression:      aws.String("attribute_not_exists(#seq) OR #seq = :zero"),
		ExpressionAttributeNames: map[string]string{"#seq": attrSeq, "#base": attrBase, "#ttl": attrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":floor": num(s.seqBase(now)), ":zero": num(0), ":exp": epoch(now.Add(s.counterLife)),
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	if err != nil {
		if err = translate("start seq", err); isConflict(err) {
			// A send (or another join) made the counter meanwhile: it is
			// as good as ours.
			return s.LastSeq(ctx, channel)
		}
		return 0, err
	}
	seq, _ = numAttr(out.Attributes, attrSeq)
	return seq, nil
}

// historyMaxPages bounds the Query calls of one History call; expired items
// not yet deleted by DynamoDB are skipped but still read.
const historyMaxPages = 8

// History returns up to limit live messages of channel with seq > after, in
// seq order, in their current state (changes and voided replies are left
// out; pending replies are returned). more reports that messages may follow; ask again with
// after = next (next is the last seq examined, so expired items are not read
// twice).
func (s *Store) History(ctx context.Context, channel string, after int64, limit int) (msgs []chat.Message, more bool, next int64, err error) {
	next = after
	start := map[string]types.AttributeValue(nil)
	for page := 0; page < historyMaxPages; page++ {
		in := &dynamodb.QueryInput{
			TableName:              &s.table,
			KeyConditionExpression: aws.String("#pk = :pk AND #sk > :after"),
			ExpressionAttributeNames: map[string]string{
				"#pk": attrPK, "#sk": attrSK,
			},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk":    str(historyPK(channel)),
				":after": str(historySK(after)),
			},
			ScanIndexForward:  aws.Bool(true),
			ConsistentRead:    aws.Bool(true),
			Limit:             aws.Int32(int32(limit - len(msgs) + 1)), // +1 tells whether more follow
			ExclusiveStartKey: start,
		}
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, false, after, translate("history", err)
		}
		for _, item := range out.Items {
			if len(msgs) == limit {
				return msgs, true, next, nil
			}
			m := decodeMessage(channel, item)
			next = m.Seq
			if !s.expired(item) && isMessageItem(item) {
				msgs = append(msgs, m)
			}
		}
		if out.LastEvaluatedKey == nil {
			return msgs, false, next, nil
		}
		start = out.LastEvaluatedKey
	}
	return msgs, true, next, nil
}

func decodeMessage(channel string, item map[string]types.AttributeValue) chat.Message {
	seq, ok := numAttr(item, attrSeq)
	if !ok { // fall back to the sort key, MSG#<seq>
		seq, _ = strconv.ParseInt(strings.TrimPrefix(strAttr(item, attrSK), "MSG#"), 10, 64)
	}
	m := chat.Message{
		Channel:   channel,
		Seq:       seq,
		Identity:  chat.Identity{UserID: strAttr(item, attrUserID), UserName: strAttr(item, attrUserName)},
		Text:      strAttr(item, attrText),
		ClientID:  strAttr(item, attrClientID),
		From:      strAttr(item, attrFrom),
		SentAt:    timeMillis(item, attrSentAt),
		ExpiresAt: timeEpoch(item, attrTTL),
	}
	decodeState(&m, item)
	return m
}

// FindClaim returns the live claim of k (chat.ErrNotFound when there is
// none): whether a request is a retry, without writing.
func (s *Store) FindClaim(ctx context.Context, k chat.ClaimKey) (chat.Claim, error) {
	item, err := s.getLive(ctx, "find claim", claimKey(k))
	if err != nil {
		return chat.Claim{}, err
	}
	return decodeClaim(k, item), nil
}
