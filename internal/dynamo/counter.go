package dynamo

// The channel's counter (CTR#<channel> / SEQ) and its two jobs besides
// giving out seqs: a per-channel send rate, and expiry.
//
// Rate. One channel must not take the account's @connections budget (about
// 10,000 posts a second shared by every channel): a user allowed 10 sends
// a second into a channel of 10,000 members asks for 100,000 posts a
// second. So each send is charged its cost, the time the channel's
// delivery rate needs for it (members ÷ deliveries per second, at least
// MinSeqInterval), in a GCRA kept on the counter item ("rlTat", unix
// microseconds): a send passes when the channel is less than its burst
// ahead of its rate. It is folded into the UpdateItem that takes the seq,
// so it adds no call and no write: one conditional UpdateItem either takes
// the seq (idle form: the channel was behind its rate; busy form: it is
// ahead, within the burst) or fails. The store remembers per channel which
// form last succeeded and tries that first, so a steady channel costs one
// call; a channel that changes between idle and busy costs a second,
// conditional one on the change, and a refused send two failed ones and a
// read of the state (see TakeSeq).
//
// Expiry. The counter carries the TTL attribute: it lives CounterLife
// (history retention + 1 day) after its last seq, so a channel nobody
// writes to leaves nothing behind once its history has expired. A channel
// that comes back must not reuse a seq some client still holds (its SDK
// drops seqs at or below the last one it saw), so a new counter does not
// start at 1 but at its base: the milliseconds since 2025-01-01 (seqEpoch).
// Every seq a counter gives out advances its rate state by at least
// MinSeqInterval (1 ms), and its rate state is never more than its burst
// plus one send's cost ahead of the clock, so a counter's seqs stay below
// the milliseconds since seqEpoch of its last use plus that slack; when it
// expires, a day or more after its last use, the next counter's base is
// above every one of them. Within a counter seqs grow by one as before;
// history treats the seqs up to the base as never used (they never were,
// in this counter), not as a gap or as expired. Counters made before this
// rule have no base and keep counting from where they are.

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wschat/wschat/internal/chat"
)

const (
	// MinSeqInterval is the least rate state one seq costs: at most 1,000
	// seqs a second per channel, sustained.
	MinSeqInterval = time.Millisecond
	// DefaultCounterLife is Options.CounterLife when unset: the longest
	// history retention of the stack's environments plus a day.
	DefaultCounterLife = 31 * 24 * time.Hour
	// ChannelGrace is what a channel's counter outlives its history by.
	ChannelGrace = 24 * time.Hour
	// metaLife is how long a channel's item (CHAN#<channel> / META) lives
	// after its last join: longer than any connection, so it outlives
	// every membership written under it.
	metaLife = chat.ConnectionTTL + 50*time.Minute
)

// attrBase is the counter's first seq minus one (its base; see above).
const attrBase = "base"

// seqEpoch is where a counter's base is counted from.
var seqEpoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// TimeBase is the base of a counter created at now: the milliseconds since
// 2025-01-01, above every seq of any counter of the channel that expired
// before.
func TimeBase(now time.Time) int64 { return max(now.Sub(seqEpoch).Milliseconds(), 0) }

// FromOne starts every counter at 1 (Options.SeqBase, for tests).
func FromOne(time.Time) int64 { return 0 }

// busyChannels remembers which form of the rate check last succeeded per
// channel, so a steady channel costs one call. Bounded: when full it is
// cleared, which costs each channel at most one extra call.
type busyChannels struct {
	mu sync.Mutex
	m  map[string]bool
}

const busyChannelsMax = 10_000

func (b *busyChannels) get(ch string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.m[ch]
}

func (b *busyChannels) set(ch string, busy bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil || len(b.m) >= busyChannelsMax {
		b.m = map[string]bool{}
	}
	b.m[ch] = busy
}

// TakeSeq takes the channel's next seq for a send that costs cost of the
// channel's delivery rate (at least MinSeqInterval), unless the channel is
// more than burst ahead of its rate: then ok is false and nothing changed.
//
// Both forms failing does not prove the channel over its rate: its rate
// state may have crossed the clock between the two attempts (busy when the
// idle form was tried, idle when the busy one was). So then it reads the
// state (a strongly consistent GetItem, half a read unit) and refuses only
// when the channel is more than burst ahead; otherwise it tries the form
// the state calls for, at most twice more.
func (s *Store) TakeSeq(ctx context.Context, channel string, cost, burst time.Duration) (seq int64, ok bool, err error) {
	cost = max(cost, MinSeqInterval)
	busy := s.busy.get(channel)
	for attempt := range 4 {
		seq, err = s.takeSeq(ctx, channel, cost, burst, busy)
		if err == nil {
			s.busy.set(channel, busy)
			return seq, true, nil
		}
		if !isConflict(err) {
			return 0, false, err
		}
		if attempt == 0 {
			busy = !busy
			continue
		}
		tat, found, err := s.rateState(ctx, channel)
		if err != nil {
			return 0, false, err
		}
		nowUS := s.now().UnixMicro()
		if found && tat > nowUS+burst.Microseconds() {
			return 0, false, nil
		}
		busy = found && tat >= nowUS
	}
	return 0, false, nil
}

// rateState reads the counter's rate state (unix microseconds).
func (s *Store) rateState(ctx context.Context, channel string) (tat int64, found bool, err error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &s.table, Key: counterKey(channel), ConsistentRead: aws.Bool(true),
		ProjectionExpression: aws.String("#tat"), ExpressionAttributeNames: map[string]string{"#tat": attrRateTAT},
	})
	if err != nil {
		return 0, false, translate("take seq: read rate", err)
	}
	tat, found = numAttr(out.Item, attrRateTAT)
	return tat, found, nil
}

// takeSeq is one attempt, in the idle or the busy form.
func (s *Store) takeSeq(ctx context.Context, channel string, cost, burst time.Duration, busy bool) (int64, error) {
	now := s.now()
	nowUS := now.UnixMicro()
	names := map[string]string{"#seq": attrSeq, "#at": attrUpdatedAt, "#ttl": attrTTL, "#tat": attrRateTAT}
	values := map[string]types.AttributeValue{
		":one": num(1), ":now": millis(now), ":exp": epoch(now.Add(s.counterLife)), ":nowus": num(nowUS),
	}
	in := &dynamodb.UpdateItemInput{
		TableName: &s.table, Key: counterKey(channel), ReturnValues: types.ReturnValueUpdatedNew,
		ExpressionAttributeNames: names, ExpressionAttributeValues: values,
	}
	if busy {
		in.UpdateExpression = aws.String("SET #seq = #seq + :one, #tat = #tat + :cost, #at = :now, #ttl = :exp")
		in.ConditionExpression = aws.String("#tat >= :nowus AND #tat <= :limit")
		values[":cost"] = num(cost.Microseconds())
		values[":limit"] = num(nowUS + burst.Microseconds())
	} else {
		names["#base"] = attrBase
		in.UpdateExpression = aws.String("SET #seq = if_not_exists(#seq, :floor) + :one, #base = if_not_exists(#base, :floor), " +
			"#tat = :next, #at = :now, #ttl = :exp")
		in.ConditionExpression = aws.String("attribute_not_exists(#tat) OR #tat < :nowus")
		values[":floor"] = num(s.seqBase(now))
		values[":next"] = num(nowUS + cost.Microseconds())
	}
	out, err := s.db.UpdateItem(ctx, in)
	if err != nil {
		return 0, translate("take seq", err)
	}
	seq, ok := numAttr(out.Attributes, attrSeq)
	if !ok {
		return 0, fmt.Errorf("take seq: counter of %q has no number", channel)
	}
	return seq, nil
}

// NextSeq atomically takes the channel's next seq, whatever its rate (a
// send renumbered past a settled slot: its rate was paid). Seqs only grow;
// a seq taken by an attempt that then failed is never reused, so history
// may have gaps. The counter also records when it was last used: history
// waits that long (its grace) before it declares a missing seq above every
// stored message never used. Like TakeSeq it starts a new counter at its
// base, advances the rate state by MinSeqInterval and renews the TTL.
func (s *Store) NextSeq(ctx context.Context, channel string) (int64, error) {
	now := s.now()
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table,
		Key:       counterKey(channel),
		UpdateExpression: aws.String("SET #seq = if_not_exists(#seq, :floor) + :one, #base = if_not_exists(#base, :floor), " +
			"#tat = if_not_exists(#tat, :nowus) + :min, #at = :now, #ttl = :exp"),
		ExpressionAttributeNames: map[string]string{"#seq": attrSeq, "#base": attrBase, "#tat": attrRateTAT, "#at": attrUpdatedAt, "#ttl": attrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":one": num(1), ":floor": num(s.seqBase(now)), ":nowus": num(now.UnixMicro()), ":min": num(MinSeqInterval.Microseconds()),
			":now": millis(now), ":exp": epoch(now.Add(s.counterLife)),
		},
		ReturnValues: types.ReturnValueUpdatedNew,
	})
	if err != nil {
		return 0, translate("next seq", err)
	}
	seq, ok := numAttr(out.Attributes, attrSeq)
	if !ok {
		return 0, fmt.Errorf("next seq: counter of %q has no number", channel)
	}
	return seq, nil
}

// counter reads the channel's counter: the last seq taken, when, and its
// base (0 for a counter made before bases, whose if_not_exists gave it a
// base above its seqs: a base counts only below the seq).
func (s *Store) counter(ctx context.Context, channel string) (seq int64, usedAt time.Time, base int64, err error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      &s.table,
		Key:            counterKey(channel),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return 0, time.Time{}, 0, translate("read counter", err)
	}
	seq, _ = numAttr(out.Item, attrSeq)
	base, _ = numAttr(out.Item, attrBase)
	if base >= seq {
		base = 0
	}
	return seq, timeMillis(out.Item, attrUpdatedAt), base, nil
}
