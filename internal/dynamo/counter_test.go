package dynamo_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/dynamo"
	"github.com/wschat/wschat/internal/dynamo/dynamotest"
	"github.com/wschat/wschat/internal/testkit"
)

// countingDB counts the calls a store makes.
type countingDB struct {
	dynamo.API
	updates atomic.Int64
}

func (c *countingDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	c.updates.Add(1)
	return c.API.UpdateItem(ctx, in, opts...)
}

// rawItem reads an item as stored, expired or not.
func rawItem(t *testing.T, db *dynamodb.Client, table, pk, sk string) map[string]types.AttributeValue {
	t.Helper()
	out, err := db.GetItem(t.Context(), &dynamodb.GetItemInput{TableName: &table, ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}, "sk": &types.AttributeValueMemberS{Value: sk}}})
	if err != nil {
		t.Fatal(err)
	}
	return out.Item
}

func numOf(item map[string]types.AttributeValue, name string) int64 {
	n, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return -1
	}
	v, _ := strconv.ParseInt(n.Value, 10, 64)
	return v
}

// TestTakeSeqKeepsTheChannelRate: each send costs its share of the
// channel's delivery rate; a channel more than its burst ahead is refused
// (issue #25, finding 5: nothing bounded one channel's sends), in the one
// UpdateItem that takes the seq.
func TestTakeSeqKeepsTheChannelRate(t *testing.T) {
	db, table := dynamotest.NewTable(t)
	counted := &countingDB{API: db}
	clk := testkit.NewClock()
	s := dynamo.New(counted, table, dynamo.Options{Now: clk.Now, SeqBase: dynamo.FromOne})
	ctx := t.Context()
	// A send to 200 members at 2,000 deliveries/s costs 100 ms; a second
	// of burst: 11 sends at one instant (the first finds the channel idle).
	cost, burst := 100*time.Millisecond, time.Second
	var taken []int64
	refused := 0
	for range 15 {
		seq, ok, err := s.TakeSeq(ctx, "big", cost, burst)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			taken = append(taken, seq)
		} else {
			refused++
		}
	}
	if len(taken) != 11 || refused != 4 || taken[0] != 1 || taken[10] != 11 {
		t.Errorf("15 sends at once: took %v, refused %d; want seqs 1..11 and 4 refused", taken, refused)
	}
	// Calls: 1 (idle) + 1 + 1 (busy fails over, then busy) + 9 busy + 4×2 refused.
	if got := counted.updates.Load(); got != 1+2+9+8 {
		t.Errorf("%d UpdateItems for 11 seqs and 4 refusals, want 20: the form that worked last goes first", got)
	}
	clk.Advance(500 * time.Millisecond)
	ok := 0
	for range 10 {
		if _, took, err := s.TakeSeq(ctx, "big", cost, burst); err != nil {
			t.Fatal(err)
		} else if took {
			ok++
		}
	}
	if ok != 5 {
		t.Errorf("after 500 ms: %d more sends, want 5 (the rate refilled)", ok)
	}
	// Another channel is not affected; an idle channel takes one call.
	before := counted.updates.Load()
	if _, took, err := s.TakeSeq(ctx, "small", dynamo.MinSeqInterval, burst); err != nil || !took {
		t.Fatalf("another channel: %v %v", took, err)
	}
	if got := counted.updates.Load() - before; got != 1 {
		t.Errorf("a send to an idle channel took %d UpdateItems, want 1", got)
	}
}

// TestCounterExpiresAndAComebackStaysAbove: the counter carries a TTL
// (CounterLife after its last seq); a counter starts at its time base, so
// after it expired, the channel's new counter starts above every seq the
// old one gave out (issue #25: the rule that keeps seqs monotonic).
func TestCounterExpiresAndAComebackStaysAbove(t *testing.T) {
	db, table := dynamotest.NewTable(t)
	clk := testkit.NewClock()
	life := 25 * time.Hour
	s := dynamo.New(db, table, dynamo.Options{Now: clk.Now, CounterLife: life})
	ctx := t.Context()
	base := dynamo.TimeBase(clk.Now())
	// As many seqs as the rate allows in a burst, and more: 1,000 at once
	// through NextSeq (renumbering) which the rate cannot refuse.
	var last int64
	for range 1000 {
		seq, err := s.NextSeq(ctx, "room")
		if err != nil {
			t.Fatal(err)
		}
		if seq <= last {
			t.Fatalf("seq %d after %d", seq, last)
		}
		last = seq
	}
	if last != base+1000 {
		t.Errorf("the 1,000th seq is %d, want base %d + 1000", last, base)
	}
	item := rawItem(t, db, table, "CTR#room", "SEQ")
	if ttl := numOf(item, "ttl"); ttl != clk.Now().Add(life).Unix() {
		t.Errorf("counter ttl %d, want %d (CounterLife after the last seq)", ttl, clk.Now().Add(life).Unix())
	}
	// History settles the seqs up to the base at once: no tombstones, no
	// truncation, for a channel whose first message is base+1.
	msg := chat.Message{Channel: "room", Seq: base + 1, Identity: chat.Identity{UserID: "u1", UserName: "U"},
		Text: "first", ClientID: "c1", SentAt: clk.Now(), ExpiresAt: clk.Now().Add(time.Hour)}
	if err := s.PutMessage(ctx, msg); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	page, err := s.SettledHistory(ctx, chat.HistoryQuery{Channel: "room", Limit: 5, Grace: 5 * time.Second, TombstoneTTL: time.Hour})
	if err != nil || len(page.Messages) != 1 || page.Messages[0].Seq != base+1 || page.Truncated || page.Oldest != base+1 {
		t.Errorf("history after 0 = %+v, %v; want the first message, not truncated, oldest base+1", page, err)
	}
	// The counter expires (DynamoDB deletes it); the channel comes back.
	clk.Advance(life)
	if _, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &table,
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "CTR#room"}, "sk": &types.AttributeValueMemberS{Value: "SEQ"}}}); err != nil {
		t.Fatal(err)
	}
	again, ok, err := s.TakeSeq(ctx, "room", dynamo.MinSeqInterval, time.Second)
	if err != nil || !ok || again <= last {
		t.Errorf("after the counter expired: seq %d (%v, %v), want above %d, the old counter's last", again, ok, err, last)
	}
}

// TestChannelItemExpiresAfterItsLastJoin: a join renews the channel item's
// TTL past every connection; an expired item reads as an empty channel,
// and the next join starts it afresh (issue #25: joining new names no
// longer leaves permanent items).
func TestChannelItemExpiresAfterItsLastJoin(t *testing.T) {
	db, table := dynamotest.NewTable(t)
	clk := testkit.NewClock()
	s := dynamo.New(db, table, dynamo.Options{Now: clk.Now, ShardSize: 2})
	ctx := t.Context()
	for i := range 5 {
		join(t, s, clk, connect(t, s, clk, "c"+strconv.Itoa(i)), "fresh")
	}
	meta := rawItem(t, db, table, "CHAN#fresh", "META")
	ttl := numOf(meta, "ttl")
	if ttl < clk.Now().Add(chat.ConnectionTTL).Unix() || ttl > clk.Now().Add(4*time.Hour).Unix() {
		t.Errorf("channel item ttl %d, want after every connection (%d) and within 4 h", ttl, clk.Now().Add(chat.ConnectionTTL).Unix())
	}
	if n, shards, err := s.ChannelSize(ctx, "fresh"); err != nil || n != 5 || shards < 2 {
		t.Fatalf("ChannelSize = %d, %d, %v; want 5 members over several shards", n, shards, err)
	}
	// Nobody leaves (their connections vanish): the item expires with them.
	clk.Advance(4 * time.Hour)
	if n, shards, err := s.ChannelSize(ctx, "fresh"); err != nil || n != 0 || shards != 1 {
		t.Errorf("an expired channel item reads as %d members, %d shards (%v); want 0, 1", n, shards, err)
	}
	join(t, s, clk, connect(t, s, clk, "late"), "fresh")
	if n, shards, err := s.ChannelSize(ctx, "fresh"); err != nil || n != 1 || shards != 1 {
		t.Errorf("after a join revived it: %d members, %d shards (%v); want 1, 1", n, shards, err)
	}
	if m, err := s.Member(ctx, "fresh", "late"); err != nil || m.ConnectionID != "late" {
		t.Errorf("the reviving member: %+v, %v", m, err)
	}
}

// tickingDB advances the clock after each UpdateItem: the rate state
// crosses the clock between two attempts, as on a loaded machine.
type tickingDB struct {
	countingDB
	clk  *testkit.Clock
	tick time.Duration
	gets atomic.Int64
}

func (d *tickingDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	out, err := d.countingDB.UpdateItem(ctx, in, opts...)
	d.clk.Advance(d.tick)
	return out, err
}

func (d *tickingDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	d.gets.Add(1)
	return d.countingDB.API.GetItem(ctx, in, opts...)
}

// TestTakeSeqSurvivesTheStateCrossingTheClock: both forms can fail without
// the channel being over its rate (the idle form sees it busy, then the
// busy form sees it idle); the store reads the state and takes the seq
// rather than refuse a send within the rate (a load test met this).
func TestTakeSeqSurvivesTheStateCrossingTheClock(t *testing.T) {
	db, table := dynamotest.NewTable(t)
	clk := testkit.NewClock()
	ticking := &tickingDB{countingDB: countingDB{API: db}, clk: clk}
	s := dynamo.New(ticking, table, dynamo.Options{Now: clk.Now, SeqBase: dynamo.FromOne})
	ctx := t.Context()
	// Busy by 2 ms; the store's first guess is the idle form.
	if _, ok, err := s.TakeSeq(ctx, "edge", 2*time.Millisecond, time.Second); err != nil || !ok {
		t.Fatal(ok, err)
	}
	other := dynamo.New(ticking, table, dynamo.Options{Now: clk.Now, SeqBase: dynamo.FromOne}) // another instance: guesses idle
	ticking.tick = 3 * time.Millisecond                                                        // each failed attempt lets the clock pass the state
	before := ticking.updates.Load()
	seq, ok, err := other.TakeSeq(ctx, "edge", 2*time.Millisecond, time.Second)
	if err != nil || !ok || seq != 2 {
		t.Errorf("TakeSeq = %d, %v, %v; want seq 2 taken: the channel is within its rate", seq, ok, err)
	}
	// Idle form (fails: busy), busy form (fails: idle by then), a read of
	// the state (idle), idle form again.
	if u, g := ticking.updates.Load()-before, ticking.gets.Load(); u != 3 || g != 1 {
		t.Errorf("took %d UpdateItems and %d GetItems, want 3 and 1", u, g)
	}
}

// TestStartSeqGivesAJoinerTheFirstSeqMinusOne: a join of a channel that
// has no counter makes it at its base, so the joiner's lastSeq is exactly
// one below the first message (without it, lastSeq 0 left a gap up to the
// base that held every subscriber's first messages until its gap timeout);
// a later join only reads, and a channel with messages is left alone.
func TestStartSeqGivesAJoinerTheFirstSeqMinusOne(t *testing.T) {
	db, table := dynamotest.NewTable(t)
	clk := testkit.NewClock()
	s := dynamo.New(db, table, dynamo.Options{Now: clk.Now, CounterLife: 25 * time.Hour})
	ctx := t.Context()
	base := dynamo.TimeBase(clk.Now())
	if last, err := s.LastSeq(ctx, "fresh"); err != nil || last != 0 {
		t.Fatalf("LastSeq of a new channel = %d, %v; want 0 (it must not make a counter)", last, err)
	}
	start, err := s.StartSeq(ctx, "fresh")
	if err != nil || start != base {
		t.Fatalf("StartSeq = %d, %v; want the base %d", start, err, base)
	}
	clk.Advance(time.Second)
	if again, err := s.StartSeq(ctx, "fresh"); err != nil || again != base {
		t.Errorf("a second StartSeq = %d, %v; want %d", again, err, base)
	}
	seq, ok, err := s.TakeSeq(ctx, "fresh", dynamo.MinSeqInterval, time.Second)
	if err != nil || !ok || seq != start+1 {
		t.Errorf("the first send's seq = %d (%v, %v), want the joiner's lastSeq %d + 1", seq, ok, err, start)
	}
	if last, err := s.StartSeq(ctx, "fresh"); err != nil || last != seq {
		t.Errorf("StartSeq after a send = %d, %v; want %d", last, err, seq)
	}
	item := rawItem(t, db, table, "CTR#fresh", "SEQ")
	if ttl := numOf(item, "ttl"); ttl == 0 {
		t.Error("the counter a join made has no ttl")
	}
}
