package dynamo

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"wschat/internal/chat"
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
	ctr, usedAt, err := s.counter(ctx, q.Channel)
	if err != nil {
		return chat.HistoryPage{}, err
	}
	oldest, err := s.oldest(ctx, q.Channel, ctr)
	if err != nil {
		return chat.HistoryPage{}, err
	}
	w := settler{s: s, q: q, page: chat.HistoryPage{Next: q.After, Oldest: oldest, Through: q.After}, settling: true}
	w.expect = q.After + 1
	if oldest > 0 && q.After < oldest-1 {
		// Below the oldest retained seq nothing can be had: settled, as a
		// discontinuity the client reports.
		w.page.Truncated = true
		w.page.Through, w.expect = oldest-1, oldest
	}
	if err := w.scan(ctx); err != nil {
		return chat.HistoryPage{}, err
	}
	if !w.page.More && w.settling && w.expect <= ctr {
		// Seqs above every stored message: only the counter knows when
		// they were taken.
		w.gap(ctx, ctr+1, usedAt)
	}
	return w.page, nil
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
			Limit:                     aws.Int32(int32(w.q.Limit - len(w.page.Messages) + 1)),
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return translate("history", err)
		}
		for _, item := range out.Items {
			if len(w.page.Messages) == w.q.Limit {
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
	case boolAttr(item, attrTombstone):
	case w.s.expired(item):
		// Expired above the oldest live seq (a retry kept its first
		// attempt's sentAt): gone all the same, and said so.
		w.page.Truncated = true
	default:
		w.page.Messages = append(w.page.Messages, m)
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
		if w.written == maxTombstones || w.s.tombstone(ctx, w.q, seq) != nil {
			// Lost to a late send (its message is now there: the next
			// call returns it) or a failure: stop settling here.
			w.settling = false
			return
		}
		w.written++
		w.page.Through = seq
	}
}

// tombstone marks seq as never used, unless its slot is already taken.
func (s *Store) tombstone(ctx context.Context, q chat.HistoryQuery, seq int64) error {
	item := key(historyPK(q.Channel), historySK(seq))
	item[attrChannel] = str(q.Channel)
	item[attrSeq] = num(seq)
	item[attrTombstone] = boolean(true)
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

// oldest returns the lowest retained seq of channel (message or
// tombstone); ctr+1 when nothing is retained but seqs were used; 0 for a
// channel that never had a message. Expired items that DynamoDB has not
// deleted yet are read past, a bounded number of pages; past that bound
// the answer is the seq after the last one read, so only what was read is
// declared gone and the next call reads on.
func (s *Store) oldest(ctx context.Context, channel string, ctr int64) (int64, error) {
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
			return 0, translate("oldest", err)
		}
		for _, item := range out.Items {
			seq := decodeMessage(channel, item).Seq
			if !s.expired(item) {
				return seq, nil
			}
			last = seq
		}
		if out.LastEvaluatedKey == nil {
			if ctr == 0 && last == 0 {
				return 0, nil
			}
			return max(ctr, last) + 1, nil
		}
		start = out.LastEvaluatedKey
	}
	// Past the bound: only what was read is known to be gone.
	return last + 1, nil
}
