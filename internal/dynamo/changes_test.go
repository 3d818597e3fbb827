package dynamo_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/dynalite"
	"github.com/wschat/wschat/internal/dynamo"
	"github.com/wschat/wschat/internal/dynamo/dynamotest"
	"github.com/wschat/wschat/internal/eventpattern"
	"github.com/wschat/wschat/internal/testkit"
	"github.com/wschat/wschat/local/ddbstream"
)

// TestStoreWritesYieldTheirChanges runs a scripted chat through the real
// store on dynalite behind the emulator's stream capture, and reads every
// stream record with DecodeChange: the changes are exactly the ones
// integrations are promised, in order, and nothing else (rate-limit
// updates, counters, claims, fan-out keys, repeated joins and refused
// writes yield none). It also checks StreamFilters against the same
// records: every record that is a change passes a filter, so the stack's
// event source mapping drops none of them.
func TestStoreWritesYieldTheirChanges(t *testing.T) {
	ctx := t.Context()
	clk := testkit.NewClock()
	s, stream := capturedStore(t, dynamo.Options{Now: clk.Now})

	ann, bob := connect(t, s, clk, "c-ann"), connect(t, s, clk, "c-bob")
	if _, err := s.TakeToken(ctx, ann.ID, 5, 10); err != nil {
		t.Fatal(err)
	}
	join(t, s, clk, ann, "general")
	join(t, s, clk, bob, "general")
	join(t, s, clk, ann, "general") // a repeated join
	msg := chat.Message{Channel: "general", Identity: ann.Identity, Text: "hi", ClientID: "m1", SentAt: clk.Now().Truncate(time.Millisecond), ExpiresAt: clk.Now().Add(time.Hour)}
	key := chat.ClaimKey{Channel: "general", UserID: ann.UserID, ClientID: "m1"}
	if _, _, err := s.Claim(ctx, chat.Claim{ClaimKey: key, TextHash: chat.TextHash("hi"), SentAt: msg.SentAt, ExpiresAt: msg.ExpiresAt}); err != nil {
		t.Fatal(err)
	}
	seq, err := s.NextSeq(ctx, "general")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetClaimSeq(ctx, key, seq); err != nil {
		t.Fatal(err)
	}
	msg.Seq = seq
	if err := s.PutMessage(ctx, msg); err != nil {
		t.Fatal(err)
	}
	if err := s.PutMessage(ctx, msg); err != nil { // a retry's rewrite: no second change
		t.Fatal(err)
	}
	if err := s.MarkDelivered(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RemoveMember(ctx, "general", ann.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RemoveMember(ctx, "general", ann.ID); err != nil { // not a member any more
		t.Fatal(err)
	}
	if _, err := s.RemoveConnection(ctx, bob.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RemoveConnection(ctx, ann.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.PutNotice(ctx, chat.NoticeSent{UserID: "user-c-ann", ID: "n1", FromName: "Orders", Text: "shipped", Connections: 2, Delivered: 1,
		At: clk.Now().Truncate(time.Millisecond), ExpiresAt: clk.Now().Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}

	want := []string{
		"connection.opened c-ann", "connection.opened c-bob",
		"channel.occupied general", "member.joined general c-ann", // the count is written before the roster item
		"member.joined general c-bob",
		"message.created general m1 hi",
		"member.left general c-ann",
		"member.left general c-bob", "channel.vacated general", "connection.closed c-bob",
		"connection.closed c-ann",
		"user.notified user-c-ann n1 2/1 shipped",
	}
	filters := make([]*eventpattern.Pattern, len(dynamo.StreamFilters))
	for i, f := range dynamo.StreamFilters {
		filters[i] = eventpattern.MustParse(f)
	}
	var got []string
	records := stream.Records()
	passed := 0
	for _, rec := range records {
		raw, _ := json.Marshal(rec)
		var r dynamo.StreamRecord
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		c, ok, err := dynamo.DecodeChange(r)
		if err != nil {
			t.Fatalf("record %s: %v", raw, err)
		}
		matched := false
		for _, f := range filters {
			if m, _ := f.Match(raw); m {
				matched = true
			}
		}
		if matched {
			passed++
		}
		if !ok {
			continue
		}
		if !matched {
			t.Errorf("the change %s (%s) passes none of StreamFilters", c.Kind, raw)
		}
		if c.ID != rec.EventID || c.At.IsZero() {
			t.Errorf("change %+v: id or time missing", c)
		}
		got = append(got, describe(c))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("changes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if passed >= len(records) || passed < len(want) {
		t.Errorf("StreamFilters let %d of %d records through, want the %d changes and a few channel-count writes, not every write", passed, len(records), len(want))
	}
	t.Logf("%d stream records, %d through the filters, %d changes", len(records), passed, len(got))
}

// capturedStore is a store on a dynalite of its own with the stream
// capture where the emulator puts it (behind the guard, in front of
// dynalite), and the table's stream.
func capturedStore(t *testing.T, opts dynamo.Options) (*dynamo.Store, *ddbstream.Stream) {
	t.Helper()
	ctx := t.Context()
	table := fmt.Sprintf("changes-%d", time.Now().UnixNano())
	capture, err := ddbstream.NewCapture([]ddbstream.Table{{Name: table, HashKey: contract.TablePartitionKey, RangeKey: contract.TableSortKey,
		ViewType: ddbstream.ViewNewAndOldImages, StreamARN: "arn:aws:dynamodb:us-east-1:000000000000:table/" + table + "/stream/x", Region: "us-east-1"}},
		ddbstream.CaptureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A dynalite of its own with the capture where the emulator puts it:
	// behind the guard, in front of dynalite.
	db, err := dynalite.Start(ctx, dynalite.Options{Wrap: capture.Wrap})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	client := dynamotest.Client(db.Endpoint())
	if err := dynamo.CreateTable(ctx, client, table); err != nil {
		t.Fatal(err)
	}
	return dynamo.New(client, table, opts), capture.Stream(table)
}

func describe(c chat.StoredChange) string {
	switch c.Kind {
	case chat.ChangeMessageCreated:
		m := c.Message
		if m.UserID != "user-c-ann" || m.UserName != "Name c-ann" || m.SentAt.IsZero() {
			return fmt.Sprintf("message with identity %+v", m)
		}
		if m.Seq <= 0 {
			return fmt.Sprintf("message without a seq %+v", m)
		}
		return fmt.Sprintf("%s %s %s %s", c.Kind, m.Channel, m.ClientID, m.Text)
	case chat.ChangeMemberJoined, chat.ChangeMemberLeft:
		if c.Member.UserName == "" || c.Member.JoinedAt.IsZero() {
			return fmt.Sprintf("member without identity %+v", c.Member)
		}
		return fmt.Sprintf("%s %s %s", c.Kind, c.Member.Channel, c.Member.ConnectionID)
	case chat.ChangeChannelOccupied, chat.ChangeChannelVacated:
		return fmt.Sprintf("%s %s", c.Kind, c.Channel)
	case chat.ChangeConnectionOpened, chat.ChangeConnectionClosed:
		if c.Connection.UserID == "" || c.Connection.ConnectedAt.IsZero() {
			return fmt.Sprintf("connection without identity %+v", c.Connection)
		}
		return fmt.Sprintf("%s %s", c.Kind, c.Connection.ID)
	case chat.ChangeUserNotified:
		n := c.Notice
		return fmt.Sprintf("%s %s %s %d/%d %s", c.Kind, n.UserID, n.ID, n.Connections, n.Delivered, n.Text)
	}
	return string(c.Kind)
}
