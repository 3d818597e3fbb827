package dynamo

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wschat/wschat/internal/chat"
)

// The message lifecycle's items (see chat/lifecycle.go for the model).
//
//	HIST#<channel> / MSG#<seq>   a message: besides its text, its current
//	                             state (rev, pend, editedAt, deleted, rx,
//	                             replies); a reply also replyTo and st
//	HIST#<channel> / MSG#<seq>   a change (kind "chg"): op, target, who,
//	                             emoji, st, and an edit's new text (ntext)
//	                             only until it is applied
//	THR#<channel>#<parent> / <seq, 20 digits>  a reply's entry in its thread
//
// A change and a reply are items of the channel's stream like a message,
// so replay, ordering, settling and retention cover them unchanged.

// Attribute names of the lifecycle.
const (
	attrKind     = "kind"    // "chg" on a change item; absent on a message
	attrOp       = "op"      // a change's op
	attrTarget   = "target"  // a change's target seq
	attrEmoji    = "emoji"   // a reaction's emoji
	attrNewText  = "ntext"   // an edit's new text, until applied
	attrStatus   = "st"      // chat.Status of a change or a reply
	attrReplyTo  = "replyTo" // a reply's parent seq
	attrRev      = "rev"     // seq of the last change applied to a message
	attrPend     = "pend"    // the last change applied, maybe still pending
	attrEditedAt = "editedAt"
	attrDeleted  = "deleted"
	attrRx       = "rx" // reactions: a list of {e: emoji, u: reactor ids}
	attrReplies  = "replies"
)

const kindChange = "chg"

func threadPK(channel string, parent int64) string {
	return "THR#" + channel + "#" + strconv.FormatInt(parent, 10)
}

func threadSK(seq int64) string { return fmt.Sprintf("%020d", seq) }

func isChange(item map[string]types.AttributeValue) bool {
	return strAttr(item, attrKind) == kindChange
}

// decodeState reads a message's lifecycle attributes into m.
func decodeState(m *chat.Message, item map[string]types.AttributeValue) {
	m.ReplyTo, _ = numAttr(item, attrReplyTo)
	m.Rev, _ = numAttr(item, attrRev)
	m.Pend, _ = numAttr(item, attrPend)
	m.EditedAt = timeMillis(item, attrEditedAt)
	m.Deleted = boolAttr(item, attrDeleted)
	m.Replies, _ = numAttr(item, attrReplies)
	m.Status = chat.Status(strAttr(item, attrStatus))
	if l, ok := item[attrRx].(*types.AttributeValueMemberL); ok {
		for _, v := range l.Value {
			mv, ok := v.(*types.AttributeValueMemberM)
			if !ok {
				continue
			}
			m.Reactions = append(m.Reactions, chat.ReactionSet{Emoji: strAttr(mv.Value, "e"), Users: setAttr(mv.Value, "u")})
		}
	}
}

func encodeReactions(rs []chat.ReactionSet) types.AttributeValue {
	l := make([]types.AttributeValue, 0, len(rs))
	for _, r := range rs {
		users := append([]string(nil), r.Users...)
		sort.Strings(users) // a set: order carries nothing
		l = append(l, &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"e": str(r.Emoji), "u": &types.AttributeValueMemberSS{Value: users},
		}})
	}
	return &types.AttributeValueMemberL{Value: l}
}

func decodeChange(channel string, item map[string]types.AttributeValue) chat.Change {
	seq, _ := numAttr(item, attrSeq)
	target, _ := numAttr(item, attrTarget)
	return chat.Change{
		Channel:   channel,
		Seq:       seq,
		Op:        strAttr(item, attrOp),
		Target:    target,
		Identity:  chat.Identity{UserID: strAttr(item, attrUserID), UserName: strAttr(item, attrUserName)},
		ClientID:  strAttr(item, attrClientID),
		Emoji:     strAttr(item, attrEmoji),
		Text:      strAttr(item, attrNewText),
		At:        timeMillis(item, attrSentAt),
		ExpiresAt: timeEpoch(item, attrTTL),
		Status:    chat.Status(strAttr(item, attrStatus)),
	}
}

// GetMessage reads message seq of channel with its current state (a
// strongly consistent GetItem). chat.ErrNotFound: the seq holds no live
// message (nothing, a tombstone, a change, a voided reply, or a message
// past retention).
func (s *Store) GetMessage(ctx context.Context, channel string, seq int64) (chat.Message, error) {
	item, err := s.getLive(ctx, "get message", key(historyPK(channel), historySK(seq)))
	if err != nil {
		return chat.Message{}, err
	}
	if !isMessageItem(item) {
		return chat.Message{}, fmt.Errorf("get message %d: %w", seq, chat.ErrNotFound)
	}
	return decodeMessage(channel, item), nil
}

// isMessageItem reports whether a history item is a message (a reply that
// was voided is not).
func isMessageItem(item map[string]types.AttributeValue) bool {
	return !isChange(item) && !isModeration(item) && !boolAttr(item, attrTombstone) && chat.Status(strAttr(item, attrStatus)) != chat.StatusVoid
}

// ItemStatus returns the status of the stream item at seq: a change's or
// a reply's (chat.StatusFinal for a plain message). chat.ErrNotFound when
// the slot is empty, a tombstone or expired.
func (s *Store) ItemStatus(ctx context.Context, channel string, seq int64) (chat.Status, error) {
	item, err := s.getLive(ctx, "item status", key(historyPK(channel), historySK(seq)))
	if err != nil {
		return "", err
	}
	if boolAttr(item, attrTombstone) {
		return "", fmt.Errorf("item status %d: %w", seq, chat.ErrNotFound)
	}
	return chat.Status(strAttr(item, attrStatus)), nil
}

// PutChange stores a change under its seq, pending, unless the slot is
// taken. Writing the same change again (a retry: same user and clientId)
// succeeds, unless it was voided meanwhile; any other occupant (a
// tombstone, another item) answers chat.ErrConflict, and the caller takes
// a new seq, as PutMessage's callers do.
func (s *Store) PutChange(ctx context.Context, c chat.Change) error {
	item := key(historyPK(c.Channel), historySK(c.Seq))
	item[attrKind] = str(kindChange)
	item[attrChannel] = str(c.Channel)
	item[attrSeq] = num(c.Seq)
	item[attrOp] = str(c.Op)
	item[attrTarget] = num(c.Target)
	item[attrUserID] = str(c.UserID)
	item[attrUserName] = str(c.UserName)
	item[attrClientID] = str(c.ClientID)
	if c.Emoji != "" {
		item[attrEmoji] = str(c.Emoji)
	}
	if c.Text != "" {
		item[attrNewText] = str(c.Text)
	}
	item[attrStatus] = str(string(chat.StatusPending))
	item[attrSentAt] = millis(c.At)
	item[attrStoredAt] = millis(s.now())
	item[attrTTL] = epoch(c.ExpiresAt)
	return s.putSlot(ctx, "put change", c.Channel, c.Seq, item, func(got map[string]types.AttributeValue) bool {
		return isChange(got) && strAttr(got, attrClientID) == c.ClientID && strAttr(got, attrUserID) == c.UserID &&
			chat.Status(strAttr(got, attrStatus)) != chat.StatusVoid
	})
}

// WriteState writes next as the current state of message obs.Seq, as the
// effect of the change stored at seq, if the message is still exactly as
// obs was read (its rev and pend unchanged): optimistic concurrency, so
// the writes of one message are totally ordered and each is based on the
// state before it. It returns the state written (chat.ErrConflict when
// the message changed since obs was read).
func (s *Store) WriteState(ctx context.Context, channel string, obs, next chat.Message, seq int64) (chat.Message, error) {
	names := map[string]string{"#pk": attrPK, "#rev": attrRev, "#pend": attrPend, "#kind": attrKind, "#tomb": attrTombstone}
	values := map[string]types.AttributeValue{":seq": num(seq)}
	set := []string{"#rev = :seq", "#pend = :seq"}
	var remove []string
	field := func(attr string, v types.AttributeValue) {
		n := "#" + attr
		names[n] = attr
		if v == nil {
			remove = append(remove, n)
			return
		}
		values[":"+attr] = v
		set = append(set, n+" = :"+attr)
	}
	if next.Text != obs.Text {
		if next.Text == "" {
			field(attrText, nil) // erased, not hidden
		} else {
			field(attrText, str(next.Text))
		}
	}
	if !next.EditedAt.Equal(obs.EditedAt) && !next.EditedAt.IsZero() {
		field(attrEditedAt, millis(next.EditedAt))
	}
	if next.Deleted && !obs.Deleted {
		field(attrDeleted, boolean(true))
	}
	if len(next.Reactions) > 0 {
		field(attrRx, encodeReactions(next.Reactions))
	} else if len(obs.Reactions) > 0 {
		field(attrRx, nil)
	}
	if next.Replies != obs.Replies {
		field(attrReplies, num(next.Replies))
	}
	cond := "attribute_exists(#pk) AND attribute_not_exists(#kind) AND attribute_not_exists(#tomb) AND " +
		s.unchanged(obs, values)
	update := "SET " + strings.Join(set, ", ")
	if len(remove) > 0 {
		update += " REMOVE " + strings.Join(remove, ", ")
	}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       key(historyPK(channel), historySK(obs.Seq)),
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
		ReturnValues:              types.ReturnValueAllNew,
	})
	if err != nil {
		return chat.Message{}, translate("write message state", err)
	}
	return decodeMessage(channel, out.Attributes), nil
}

// unchanged is the condition that a message's rev and pend are still
// obs's, adding its values to values.
func (s *Store) unchanged(obs chat.Message, values map[string]types.AttributeValue) string {
	var parts []string
	if obs.Rev == 0 {
		parts = append(parts, "attribute_not_exists(#rev)")
	} else {
		values[":obsRev"] = num(obs.Rev)
		parts = append(parts, "#rev = :obsRev")
	}
	if obs.Pend == 0 {
		parts = append(parts, "attribute_not_exists(#pend)")
	} else {
		values[":obsPend"] = num(obs.Pend)
		parts = append(parts, "#pend = :obsPend")
	}
	return strings.Join(parts, " AND ")
}

// Fence moves message obs.Seq's rev to seq without changing it, if it is
// still as obs was read: no change with a seq at or below seq can be
// applied to it after this. History fences before it voids a change that
// was never applied, so a late attempt of that change finds it void.
func (s *Store) Fence(ctx context.Context, channel string, obs chat.Message, seq int64) error {
	names := map[string]string{"#pk": attrPK, "#rev": attrRev, "#pend": attrPend}
	values := map[string]types.AttributeValue{":seq": num(seq)}
	cond := "attribute_exists(#pk) AND " + s.unchanged(obs, values)
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       key(historyPK(channel), historySK(obs.Seq)),
		UpdateExpression:          aws.String("SET #rev = :seq"),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	return translate("fence message", err)
}

// MarkApplied records that the stream item at seq (a change or a reply)
// was applied to its target, and erases a change's new text, which its
// target now holds. Idempotent: an item no longer pending is left alone.
func (s *Store) MarkApplied(ctx context.Context, channel string, seq int64) error {
	return s.settleItem(ctx, "mark applied", channel, seq, chat.StatusApplied, attrNewText)
}

// Void records that the stream item at seq (a change or a reply) was
// never applied and never will be, and erases its text. Idempotent.
func (s *Store) Void(ctx context.Context, channel string, seq int64) error {
	return s.settleItem(ctx, "void", channel, seq, chat.StatusVoid, attrNewText, attrText)
}

func (s *Store) settleItem(ctx context.Context, op, channel string, seq int64, to chat.Status, erase ...string) error {
	names := map[string]string{"#st": attrStatus}
	var rm []string
	for i, a := range erase {
		n := fmt.Sprintf("#e%d", i)
		names[n] = a
		rm = append(rm, n)
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       key(historyPK(channel), historySK(seq)),
		UpdateExpression:          aws.String("SET #st = :to REMOVE " + strings.Join(rm, ", ")),
		ConditionExpression:       aws.String("#st = :pending"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: map[string]types.AttributeValue{":to": str(string(to)), ":pending": str(string(chat.StatusPending))},
	})
	err = translate(op, err)
	if isConflict(err) {
		return nil // not pending (any more): already settled
	}
	return err
}

// PutThreadEntry indexes reply seq in its parent's thread. Unconditional:
// the entry of a reply is always the same.
func (s *Store) PutThreadEntry(ctx context.Context, channel string, parent, seq int64, expires time.Time) error {
	item := key(threadPK(channel, parent), threadSK(seq))
	item[attrSeq] = num(seq)
	item[attrTTL] = epoch(expires)
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item})
	return translate("put thread entry", err)
}

// ThreadHistory returns up to limit replies to parent (as read before this
// call) with seq > after, in seq order, each in its current state; more
// and next page as History's. A reply is included once it is counted on
// the parent (its status says applied, or it is the parent's Pend); one
// still in progress is left out for now, a voided one skipped.
func (s *Store) ThreadHistory(ctx context.Context, channel string, parent chat.Message, after int64, limit int) (msgs []chat.Message, more bool, next int64, err error) {
	next = after
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName:                &s.table,
		KeyConditionExpression:   aws.String("#pk = :pk AND #sk > :after"),
		ExpressionAttributeNames: map[string]string{"#pk": attrPK, "#sk": attrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(threadPK(channel, parent.Seq)), ":after": str(threadSK(after)),
		},
		ConsistentRead: aws.Bool(true),
		Limit:          aws.Int32(int32(limit)),
	})
	if err != nil {
		return nil, false, after, translate("thread", err)
	}
	seqs := make([]int64, 0, len(out.Items))
	for _, item := range out.Items {
		seq, _ := numAttr(item, attrSeq)
		seqs = append(seqs, seq)
	}
	got, err := s.GetMessages(ctx, channel, seqs)
	if err != nil {
		return nil, false, after, err
	}
	for _, seq := range seqs {
		next = seq
		if m, ok := got[seq]; ok && m.ReplyTo == parent.Seq && (m.Status != chat.StatusPending || parent.Pend == seq) {
			msgs = append(msgs, m)
		}
	}
	return msgs, out.LastEvaluatedKey != nil, next, nil
}

// batchGetMax is BatchGetItem's limit of keys per call.
const batchGetMax = 100

// GetMessages reads the live messages among seqs of channel (strongly
// consistent BatchGetItem, retrying unprocessed keys a few times), by seq;
// seqs that hold no live message are absent from the answer.
func (s *Store) GetMessages(ctx context.Context, channel string, seqs []int64) (map[int64]chat.Message, error) {
	out := map[int64]chat.Message{}
	for start := 0; start < len(seqs); start += batchGetMax {
		var keys []map[string]types.AttributeValue
		seen := map[int64]bool{}
		for _, seq := range seqs[start:min(len(seqs), start+batchGetMax)] {
			if !seen[seq] {
				seen[seq] = true
				keys = append(keys, key(historyPK(channel), historySK(seq)))
			}
		}
		if err := s.batchGet(ctx, keys, func(item map[string]types.AttributeValue) {
			if !s.expired(item) && isMessageItem(item) {
				m := decodeMessage(channel, item)
				out[m.Seq] = m
			}
		}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Store) batchGet(ctx context.Context, keys []map[string]types.AttributeValue, each func(map[string]types.AttributeValue)) error {
	req := map[string]types.KeysAndAttributes{s.table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
	for try := 0; len(keys) > 0 && try < 8; try++ {
		res, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
		if err != nil {
			return translate("batch get", err)
		}
		for _, item := range res.Responses[s.table] {
			each(item)
		}
		left, ok := res.UnprocessedKeys[s.table]
		if !ok || len(left.Keys) == 0 {
			return nil
		}
		req = map[string]types.KeysAndAttributes{s.table: left}
		if err := sleepCtx(ctx, time.Duration(10<<try)*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("batch get: keys left unprocessed: %w", chat.ErrUnavailable)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
