package dynamo

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wschat/wschat/internal/chat"
)

// maxTombstones bounds the tombstones one history call writes, so a long
// run of burnt seqs costs several calls rather than one very long one.
const maxTombstones = 100

// SettledHistory answers a history query with the seqs it covers settled
// (see chat.HistoryPage). A missing seq below the counter is either a send
// still in progress or one that failed after taking its seq; once the next
// stored message (or, above every stored message, the counter's last use)
// is older than q.Grace, a tombstone is written in its slot with the same
// condition PutMessage uses. Whoever writes first wins: a late send finds
// the tombstone and is renumbered, so the seq is final either way.
func (s *Store) SettledHistory(ctx context.Context, q chat.HistoryQuery) (chat.HistoryPage, error) {
	ctr, usedAt, base, err := s.counter(ctx, q.Channel)
	if err != nil {
		return chat.HistoryPage{}, err
	}
	// The seqs up to the counter's base were never used by it (see
	// counter.go): settled at once, neither a gap nor past retention.
	q.After = max(q.After, base)
	oldest, oldestAt, err := s.oldest(ctx, q.Channel, ctr)
	if err != nil {
		return chat.HistoryPage{}, err
	}
	w := settler{s: s, q: q, page: chat.HistoryPage{Next: q.After, Oldest: oldest, Through: q.After}, settling: true}
	w.expect = q.After + 1
	if oldest > 0 && q.After < oldest-1 {
		if oldestAt.IsZero() {
			oldestAt = usedAt // nothing retained: the counter's last use is the evidence
		}
		if err := w.belowOldest(ctx, oldest, oldestAt); err != nil {
			return chat.HistoryPage{}, err
		}
	}
	if err := w.scan(ctx); err != nil {
		return chat.HistoryPage{}, err
	}
	if !w.page.More && w.settling && w.expect <= ctr {
		// Seqs above every stored message: only the counter knows when
		// they were taken.
		w.gap(ctx, ctr+1, usedAt)
	}
	if err := w.loadTargets(ctx); err != nil {
		return chat.HistoryPage{}, err
	}
	return w.page, nil
}

// belowOldest settles the seqs under the oldest retained one. An empty
// slot there is either a message past retention that DynamoDB deleted or a
// send that failed (or is still running) after taking its seq: the store
// cannot tell which. Within the grace period it waits; after it, the range
// is reported truncated (erring towards a discontinuity, never a silent
// hole), and the topmost empty slots get ambiguous tombstones so that a
// late retry of a failed send is renumbered above, not stored below what
// clients already passed. Only recent sends can retry (their claim is
// alive), and their seqs sit just below the oldest, so maxTombstones slots
// from the top are enough.
func (w *settler) belowOldest(ctx context.Context, oldest int64, evidence time.Time) error {
	lo := max(w.q.After+1, oldest-maxTombstones)
	held, err := w.s.heldSeqs(ctx, w.q.Channel, lo, oldest-1)
	if err != nil {
		return err
	}
	if int64(len(held)) < oldest-lo && w.s.now().Sub(evidence) < w.q.Grace {
		// An empty slot may be a send still running: wait.
		w.settling = false
		return nil
	}
	for seq := oldest - 1; seq >= lo; seq-- {
		if held[seq] {
			continue // expired, or already tombstoned
		}
		if err := w.s.tombstone(ctx, w.q, seq, true); err != nil {
			// A late send got there first: it is the new oldest, which
			// the next call returns. Settle nothing now.
			w.settling = false
			return nil
		}
	}
	w.page.Truncated = true
	w.page.Through, w.expect = oldest-1, oldest
	return nil
}

// heldSeqs returns the seqs in [lo, hi] that have an item (expired or not).
func (s *Store) heldSeqs(ctx context.Context, channel string, lo, hi int64) (map[int64]bool, error) {
	held := map[int64]bool{}
	start := map[string]types.AttributeValue(nil)
	for range historyMaxPages {
		out, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                &s.table,
			KeyConditionExpression:   aws.String("#pk = :pk AND #sk BETWEEN :lo AND :hi"),
			ExpressionAttributeNames: map[string]string{"#pk": attrPK, "#sk": attrSK},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk": str(historyPK(channel)), ":lo": str(historySK(lo)), ":hi": str(historySK(hi)),
			},
			ProjectionExpression: aws.String("#sk"),
			ConsistentRead:       aws.Bool(true),
			ExclusiveStartKey:    start,
		})
		if err != nil {
			return nil, translate("history slots", err)
		}
		for _, item := range out.Items {
			held[decodeMessage(channel, item).Seq] = true
		}
		if out.LastEvaluatedKey == nil {
			break
		}
		start = out.LastEvaluatedKey
	}
	return held, nil
}

// settler walks one channel's history items in seq order, collecting live
// messages and advancing Through while every seq so far is settled.
type settler struct {
	s        *Store
	q        chat.HistoryQuery
	page     chat.HistoryPage
	expect   int64 // the lowest seq not yet accounted for
	settling bool  // false once a seq could not be settled: Through stops there
	written  int   // tombstones written by this call
	items    int   // messages and updates in the page
	// targets caches the targets read to resolve pending changes; needed
	// lists the targets of the page's updates and replies.
	targets map[int64]*chat.Message
	needed  []int64
}

func (w *settler) scan(ctx context.Context) error {
	start := map[string]types.AttributeValue(nil)
	for range historyMaxPages {
		out, err := w.s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 &w.s.table,
			KeyConditionExpression:    aws.String("#pk = :pk AND #sk > :after"),
			ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#sk": attrSK},
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(historyPK(w.q.Channel)), ":after": str(historySK(w.q.After))},
			ScanIndexForward:          aws.Bool(true),
			ConsistentRead:            aws.Bool(true),
			Limit:                     aws.Int32(int32(w.q.Limit - w.items + 1)),
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return translate("history", err)
		}
		for _, item := range out.Items {
			if w.items == w.q.Limit {
				w.page.More = true
				return nil
			}
			w.item(ctx, item)
		}
		if out.LastEvaluatedKey == nil {
			return nil
		}
		start = out.LastEvaluatedKey
	}
	w.page.More = true
	return nil
}

// item accounts for one stored item: the gap before it, then the item.
func (w *settler) item(ctx context.Context, item map[string]types.AttributeValue) {
	m := decodeMessage(w.q.Channel, item)
	w.page.Next = m.Seq
	if m.Seq < w.expect {
		return // below the oldest retained seq: already settled
	}
	if m.Seq > w.expect && w.settling {
		w.gap(ctx, m.Seq, timeMillis(item, attrStoredAt))
	}
	w.expect = m.Seq + 1
	switch {
	case boolAttr(item, attrAmbiguous):
		w.page.Truncated = true // may have been a message past retention
	case boolAttr(item, attrTombstone):
	case w.s.expired(item):
		// Expired above the oldest live seq (a retry kept its first
		// attempt's sentAt): gone all the same, and said so.
		w.page.Truncated = true
	case isModeration(item):
		w.page.Moderation = append(w.page.Moderation, decodeModeration(w.q.Channel, item))
		w.items++
	case isChange(item):
		c := decodeChange(w.q.Channel, item)
		include, settled := w.resolve(ctx, c.Seq, c.Target, c.Status, timeMillis(item, attrStoredAt))
		if include {
			c.Text = "" // never served: the target's state carries the text
			w.page.Updates = append(w.page.Updates, c)
			w.need(c.Target)
			w.items++
		}
		if !settled {
			w.settling = false
		}
	case m.ReplyTo != 0 && m.Status != chat.StatusFinal:
		include, settled := w.resolve(ctx, m.Seq, m.ReplyTo, m.Status, timeMillis(item, attrStoredAt))
		if include {
			w.page.Messages = append(w.page.Messages, m)
			w.need(m.ReplyTo)
			w.items++
		}
		if !settled {
			w.settling = false
		}
	default:
		w.page.Messages = append(w.page.Messages, m)
		w.items++
	}
	if w.settling {
		w.page.Through = m.Seq
	}
}

// gap settles the missing seqs [expect, below) with tombstones if the
// evidence that they were taken (written, the time of a later write) is
// older than the grace period; otherwise Through stops before them.
func (w *settler) gap(ctx context.Context, below int64, written time.Time) {
	if w.s.now().Sub(written) < w.q.Grace {
		w.settling = false
		return
	}
	for seq := w.expect; seq < below; seq++ {
		if w.written == maxTombstones || w.s.tombstone(ctx, w.q, seq, false) != nil {
			// Lost to a late send (its message is now there: the next
			// call returns it) or a failure: stop settling here.
			w.settling = false
			return
		}
		w.written++
		w.page.Through = seq
	}
}

// Discard marks seq of channel as never used, unless its slot is taken,
// for ttl: what history would write once the grace period has passed, by
// the one that knows the seq will never hold a message (a retry whose
// claim already had one, after taking its own seq). Settling it at once
// spares every member's stream the wait for the grace period.
func (s *Store) Discard(ctx context.Context, channel string, seq int64, ttl time.Duration) error {
	err := s.tombstone(ctx, chat.HistoryQuery{Channel: channel, TombstoneTTL: ttl}, seq, false)
	if isConflict(err) {
		return nil // taken: by a renumbered send, or already settled
	}
	return err
}

// tombstone marks seq as never used, unless its slot is already taken.
// An ambiguous one marks a slot that may also have held a message past
// retention: it blocks late writes all the same, but passing it reports a
// truncation and it never counts as the oldest retained seq.
func (s *Store) tombstone(ctx context.Context, q chat.HistoryQuery, seq int64, ambiguous bool) error {
	item := key(historyPK(q.Channel), historySK(seq))
	item[attrChannel] = str(q.Channel)
	item[attrSeq] = num(seq)
	item[attrTombstone] = boolean(true)
	if ambiguous {
		item[attrAmbiguous] = boolean(true)
	}
	item[attrStoredAt] = millis(s.now())
	item[attrTTL] = epoch(s.now().Add(q.TombstoneTTL))
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                &s.table,
		Item:                     item,
		ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": attrPK},
	})
	return translate("tombstone", err)
}

// oldest returns the lowest retained seq of channel (a message or a plain
// tombstone) and when its item was written; ctr+1 and the zero time when
// nothing is retained but seqs were used; 0 for a channel that never had
// a message. Expired items that DynamoDB has not deleted yet, and
// ambiguous tombstones, are read past, a bounded number of pages; past
// that bound the answer is the seq after the last one read, so only what
// was read is declared gone and the next call reads on.
func (s *Store) oldest(ctx context.Context, channel string, ctr int64) (int64, time.Time, error) {
	start := map[string]types.AttributeValue(nil)
	last := int64(0)
	for range historyMaxPages {
		out, err := s.db.Query(ctx, &dynamodb.QueryInput{
			TableName:                 &s.table,
			KeyConditionExpression:    aws.String("#pk = :pk"),
			ExpressionAttributeNames:  map[string]string{"#pk": attrPK},
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(historyPK(channel))},
			ScanIndexForward:          aws.Bool(true),
			ConsistentRead:            aws.Bool(true),
			Limit:                     aws.Int32(25),
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return 0, time.Time{}, translate("oldest", err)
		}
		for _, item := range out.Items {
			seq := decodeMessage(channel, item).Seq
			if !s.expired(item) && !boolAttr(item, attrAmbiguous) {
				return seq, timeMillis(item, attrStoredAt), nil
			}
			last = seq
		}
		if out.LastEvaluatedKey == nil {
			if ctr == 0 && last == 0 {
				return 0, time.Time{}, nil
			}
			return max(ctr, last) + 1, time.Time{}, nil
		}
		start = out.LastEvaluatedKey
	}
	// Everything read was an item, so nothing below is a send in progress.
	return last + 1, time.UnixMilli(0), nil
}

// resolve decides a stream item at seq that changes message target (a
// change, or a reply counting on its parent): whether the page includes
// it, and whether it is settled (Through may pass it). An applied item is
// included; a void one is settled and skipped. A pending one is decided on
// its target (see chat/lifecycle.go): the target's Pend names it, so it is
// applied; the target moved past seq, so it never will be (void it); or
// not applied yet, which history waits for during the grace period, then
// fences the target at seq and voids the item, so that a late attempt of
// the change finds it void and is renumbered, never applied below what
// clients have already passed.
func (w *settler) resolve(ctx context.Context, seq, target int64, st chat.Status, stored time.Time) (include, settled bool) {
	switch st {
	case chat.StatusApplied:
		return true, true
	case chat.StatusVoid:
		return false, true
	}
	t, err := w.target(ctx, target)
	switch {
	case errors.Is(err, chat.ErrNotFound):
		// Nothing to apply it to, ever.
		return w.void(ctx, seq)
	case err != nil:
		return false, false
	case t.Pend == seq:
		return true, true
	case t.Rev >= seq:
		// Either a later change won the race for the target (void it), or
		// seq was applied and then marked applied after the scan read it
		// pending (a later change marks it before writing the target):
		// w.void tells them apart.
		return w.void(ctx, seq)
	case w.s.now().Sub(stored) < w.q.Grace:
		return false, false // an attempt may still be applying it: wait
	}
	if t.Pend != 0 {
		if err := w.s.MarkApplied(ctx, w.q.Channel, t.Pend); err != nil {
			return false, false
		}
	}
	if err := w.s.Fence(ctx, w.q.Channel, *t, seq); err != nil {
		delete(w.targets, target) // it changed: read it again next time
		return false, false
	}
	t.Rev = seq
	return w.void(ctx, seq)
}

// void voids the pending item at seq, or finds it settled otherwise since
// the scan read it: the status it has now decides. An item applied
// meanwhile is served (skipping it and settling past it was a silent hole:
// the client never received an acknowledged change, and nothing said so).
func (w *settler) void(ctx context.Context, seq int64) (include, settled bool) {
	if err := w.s.Void(ctx, w.q.Channel, seq); err != nil {
		return false, false
	}
	st, err := w.s.ItemStatus(ctx, w.q.Channel, seq)
	switch {
	case errors.Is(err, chat.ErrNotFound):
		return false, true // expired meanwhile: nothing to serve
	case err != nil:
		return false, false
	case st == chat.StatusApplied:
		return true, true
	case st == chat.StatusVoid:
		return false, true
	}
	return false, false
}

// target reads (once per call) the message a pending item targets.
func (w *settler) target(ctx context.Context, seq int64) (*chat.Message, error) {
	if t, ok := w.targets[seq]; ok {
		return t, nil
	}
	m, err := w.s.GetMessage(ctx, w.q.Channel, seq)
	if err != nil {
		return nil, err
	}
	if w.targets == nil {
		w.targets = map[int64]*chat.Message{}
	}
	w.targets[seq] = &m
	return &m, nil
}

func (w *settler) need(seq int64) { w.needed = append(w.needed, seq) }

// loadTargets reads the current state of every message the page's updates
// and replies target, after every item of the page was read: a change
// seen applied is then always in its target's state (states only move
// forward), which the cached reads made during the scan need not be.
func (w *settler) loadTargets(ctx context.Context) error {
	if len(w.needed) == 0 {
		return nil
	}
	got, err := w.s.GetMessages(ctx, w.q.Channel, w.needed)
	if err != nil {
		return err
	}
	w.page.Targets = got
	return nil
}
