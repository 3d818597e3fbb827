package integrations_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/dynamo"
	"github.com/wschat/wschat/internal/eventschema"
	"github.com/wschat/wschat/internal/integrations"
	"github.com/wschat/wschat/internal/metrics"
	"github.com/wschat/wschat/wire/events"
)

// fakeBus records what it was given and refuses what refuse says.
type fakeBus struct {
	mu     sync.Mutex
	calls  [][]chat.BusEvent
	put    []chat.BusEvent
	refuse func(ev chat.BusEvent, call int) bool
	fail   func(call int) error
}

func (b *fakeBus) Publish(_ context.Context, evs []chat.BusEvent) ([]int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, evs)
	n := len(b.calls)
	if b.fail != nil {
		if err := b.fail(n); err != nil {
			return nil, err
		}
	}
	var failed []int
	for i, ev := range evs {
		if b.refuse != nil && b.refuse(ev, n) {
			failed = append(failed, i)
			continue
		}
		b.put = append(b.put, ev)
	}
	return failed, nil
}

type meter struct {
	mu     sync.Mutex
	values map[string]float64
}

func (m *meter) Emit(values ...metrics.Value) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.values == nil {
		m.values = map[string]float64{}
	}
	for _, v := range values {
		m.values[v.Name] += v.Value
	}
}

// record builds a stream record as Lambda delivers it, from DynamoDB JSON.
func record(t *testing.T, seq int, name, keys, newImage, oldImage string) dynamo.StreamRecord {
	t.Helper()
	doc := fmt.Sprintf(`{"eventID":"ev%d","eventName":%q,"eventSource":"aws:dynamodb","dynamodb":{"ApproximateCreationDateTime":1700000000,"Keys":%s,"SequenceNumber":"%021d"`, seq, name, keys, seq)
	if newImage != "" {
		doc += `,"NewImage":` + newImage
	}
	if oldImage != "" {
		doc += `,"OldImage":` + oldImage
	}
	doc += `}}`
	var r dynamo.StreamRecord
	if err := json.Unmarshal([]byte(doc), &r); err != nil {
		t.Fatalf("%s: %v", doc, err)
	}
	return r
}

// chatRecords is one of every change, with the noise a send writes around
// them (a counter update and a claim).
func chatRecords(t *testing.T) []dynamo.StreamRecord {
	conn := `{"pk":{"S":"CONN#c1"},"sk":{"S":"META"},"userId":{"S":"u1"},"userName":{"S":"Ann"},"connectedAt":{"N":"1700000000123"},"ttl":{"N":"1700009999"}}`
	member := `{"pk":{"S":"CHAN#general#0"},"sk":{"S":"CONN#c1"},"channel":{"S":"general"},"connectionId":{"S":"c1"},"userId":{"S":"u1"},"userName":{"S":"Ann"},"joinedAt":{"N":"1700000000456"},"ttl":{"N":"1700009999"}}`
	msg := `{"pk":{"S":"HIST#general"},"sk":{"S":"MSG#00000000000000000007"},"channel":{"S":"general"},"seq":{"N":"7"},"userId":{"S":"u1"},"userName":{"S":"Ann"},"text":{"S":"héllo"},"clientId":{"S":"c-7"},"sentAt":{"N":"1700000000789"},"ttl":{"N":"1800000000"}}`
	note := `{"pk":{"S":"NOTE#u1"},"sk":{"S":"1700000000999#n1"},"userId":{"S":"u1"},"noticeId":{"S":"n1"},"fromName":{"S":"Orders"},"text":{"S":"shipped"},"connections":{"N":"2"},"deliveredTo":{"N":"2"},"at":{"N":"1700000000999"},"ttl":{"N":"1800000000"}}`
	meta := func(n string) string {
		return `{"pk":{"S":"CHAN#general"},"sk":{"S":"META"},"members":{"N":"` + n + `"}}`
	}
	return []dynamo.StreamRecord{
		record(t, 1, "INSERT", `{"pk":{"S":"CONN#c1"},"sk":{"S":"META"}}`, conn, ""),
		record(t, 2, "INSERT", `{"pk":{"S":"CHAN#general"},"sk":{"S":"META"}}`, meta("1"), ""),
		record(t, 3, "INSERT", `{"pk":{"S":"CHAN#general#0"},"sk":{"S":"CONN#c1"}}`, member, ""),
		record(t, 4, "MODIFY", `{"pk":{"S":"CTR#general"},"sk":{"S":"SEQ"}}`, `{"seq":{"N":"7"}}`, `{"seq":{"N":"6"}}`),
		record(t, 5, "INSERT", `{"pk":{"S":"HIST#general"},"sk":{"S":"MSG#00000000000000000007"}}`, msg, ""),
		record(t, 6, "REMOVE", `{"pk":{"S":"CHAN#general#0"},"sk":{"S":"CONN#c1"}}`, "", member),
		record(t, 7, "MODIFY", `{"pk":{"S":"CHAN#general"},"sk":{"S":"META"}}`, meta("0"), meta("1")),
		record(t, 8, "REMOVE", `{"pk":{"S":"CONN#c1"},"sk":{"S":"META"}}`, "", conn),
		record(t, 9, "INSERT", `{"pk":{"S":"NOTE#u1"},"sk":{"S":"1700000000999#n1"}}`, note, ""),
	}
}

// TestEveryChangeBecomesAValidEvent: each change of a chat becomes one event
// whose detail validates against its JSON Schema, in stream order; the
// counter write becomes none; text is in events only with the switch on.
func TestEveryChangeBecomesAValidEvent(t *testing.T) {
	for _, withText := range []bool{true, false} {
		bus, m := &fakeBus{}, &meter{}
		f := integrations.New(integrations.Config{IncludeText: withText}, bus, nil, m)
		resp, err := f.Handle(t.Context(), dynamo.StreamEvent{Records: chatRecords(t)})
		if err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("Handle: %+v, %v", resp, err)
		}
		var types []string
		for _, ev := range bus.put {
			types = append(types, ev.DetailType)
			if err := eventschema.Validate(ev.DetailType, ev.Detail); err != nil {
				t.Error(err)
			}
			if ev.Time.IsZero() {
				t.Errorf("%s without a time", ev.DetailType)
			}
			hasText := strings.Contains(string(ev.Detail), `"text"`)
			if (ev.DetailType == events.TypeMessageCreated || ev.DetailType == events.TypeUserNotified) && hasText != withText {
				t.Errorf("text switch %v: %s", withText, ev.Detail)
			}
		}
		want := []string{events.TypeConnectionOpened, events.TypeChannelOccupied, events.TypeMemberJoined, events.TypeMessageCreated,
			events.TypeMemberLeft, events.TypeChannelVacated, events.TypeConnectionClosed, events.TypeUserNotified}
		if strings.Join(types, " ") != strings.Join(want, " ") {
			t.Errorf("events %v, want %v", types, want)
		}
		if m.values[contract.MetricEventsPublished] != 8 {
			t.Errorf("metrics %v", m.values)
		}
		var mc events.MessageCreated
		for _, ev := range bus.put {
			if ev.DetailType == events.TypeMessageCreated {
				_ = json.Unmarshal(ev.Detail, &mc)
			}
		}
		if mc.EventID != "ev5" || mc.Seq != 7 || mc.TextLength != 5 || mc.UserName != "Ann" || mc.ClientID != "c-7" ||
			!mc.SentAt.Equal(time.UnixMilli(1700000000789)) || (withText && *mc.Text != "héllo") {
			t.Errorf("message.created %+v", mc)
		}
	}
}

// TestRefusedEventIsRetriedFromItsRecord: the bus refuses the message event
// for good; the events before it are put once, and the response names the
// message's record, so the mapping retries from there.
func TestRefusedEventIsRetriedFromItsRecord(t *testing.T) {
	bus, m := &fakeBus{refuse: func(ev chat.BusEvent, _ int) bool { return ev.DetailType == events.TypeMessageCreated }}, &meter{}
	f := integrations.New(integrations.Config{Attempts: 3, Backoff: time.Millisecond}, bus, nil, m)
	recs := chatRecords(t)
	resp, err := f.Handle(t.Context(), dynamo.StreamEvent{Records: recs})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != recs[4].Change.SequenceNumber {
		t.Fatalf("response %+v, want the message's record %s", resp, recs[4].Change.SequenceNumber)
	}
	// One chunk of 8: attempt 1 puts the other 7, attempts 2 and 3 retry only the message.
	if len(bus.calls) != 3 || len(bus.calls[1]) != 1 || len(bus.calls[2]) != 1 {
		t.Errorf("calls %d (%v), want 3: all, then the refused one twice", len(bus.calls), bus.calls)
	}
	if m.values[contract.MetricEventsFailed] != 1 || m.values[contract.MetricEventsPublished] != 3 {
		t.Errorf("metrics %v, want 1 failed and the 3 before it counted as put", m.values)
	}
}

// TestFailedCallsAndChunks: 25 messages go in chunks of at most 10; a call
// that fails as a whole is retried, and after the attempts the response
// names the first record of that chunk.
func TestFailedCallsAndChunks(t *testing.T) {
	var recs []dynamo.StreamRecord
	for i := 1; i <= 25; i++ {
		item := fmt.Sprintf(`{"pk":{"S":"HIST#c"},"sk":{"S":"MSG#%020d"},"seq":{"N":"%d"},"userId":{"S":"u"},"userName":{"S":"U"},"text":{"S":"t"},"clientId":{"S":"x%d"},"sentAt":{"N":"1700000000000"}}`, i, i, i)
		recs = append(recs, record(t, i, "INSERT", fmt.Sprintf(`{"pk":{"S":"HIST#c"},"sk":{"S":"MSG#%020d"}}`, i), item, ""))
	}
	bus := &fakeBus{fail: func(call int) error {
		if call >= 3 { // the third chunk never gets through
			return errors.New("throttled")
		}
		return nil
	}}
	f := integrations.New(integrations.Config{Attempts: 2, Backoff: time.Millisecond}, bus, nil, nil)
	resp, err := f.Handle(t.Context(), dynamo.StreamEvent{Records: recs})
	if err != nil {
		t.Fatal(err)
	}
	if len(bus.calls) != 4 || len(bus.calls[0]) != 10 || len(bus.calls[1]) != 10 || len(bus.calls[2]) != 5 {
		t.Errorf("calls of %d entries", len(bus.calls))
	}
	if len(bus.put) != 20 || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != recs[20].Change.SequenceNumber {
		t.Errorf("put %d, response %+v; want 20 and record 21", len(bus.put), resp)
	}
}

// TestUnreadableRecordIsSkipped: a record without the table's keys cannot
// be read by any retry; it is logged and counted, and the batch goes on.
func TestUnreadableRecordIsSkipped(t *testing.T) {
	bus, m := &fakeBus{}, &meter{}
	f := integrations.New(integrations.Config{}, bus, nil, m)
	recs := append([]dynamo.StreamRecord{record(t, 1, "INSERT", `{"id":{"S":"x"}}`, `{"id":{"S":"x"}}`, "")}, chatRecords(t)[:1]...)
	resp, err := f.Handle(t.Context(), dynamo.StreamEvent{Records: recs})
	if err != nil || len(resp.BatchItemFailures) != 0 || len(bus.put) != 1 || m.values[contract.MetricEventsUnreadable] != 1 {
		t.Errorf("response %+v, %v; put %d; metrics %v", resp, err, len(bus.put), m.values)
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == contract.EnvEventsText {
				return v
			}
			return ""
		}
	}
	if c, err := integrations.ConfigFromEnv(env("true")); err != nil || !c.IncludeText {
		t.Errorf("true: %+v, %v", c, err)
	}
	if c, err := integrations.ConfigFromEnv(env("")); err != nil || c.IncludeText {
		t.Errorf("unset: %+v, %v", c, err)
	}
	if _, err := integrations.ConfigFromEnv(env("yes please")); err == nil {
		t.Error("a bad value was accepted")
	}
}

// fakeResolver names the lifecycle's changes as the store would, by the
// message's Pend; fail makes one seq's read fail.
type fakeResolver struct {
	changes map[int64]chat.StoredChange // by Pend: Kind, Change and (for a reply) Message
	fail    int64
}

func (r fakeResolver) ResolveApplied(_ context.Context, c chat.StoredChange) (chat.StoredChange, bool, error) {
	if c.Message.Pend == r.fail {
		return c, false, errors.New("read failed")
	}
	got, ok := r.changes[c.Message.Pend]
	if !ok {
		return c, false, nil
	}
	c.Kind, c.Change = got.Kind, got.Change
	if got.Kind == chat.ChangeMessageCreated {
		c.Message = got.Message
	}
	return c, true, nil
}

// TestLifecycleChangesBecomeValidEvents: a message's state written by an
// edit, a reaction, a reply and a delete becomes the resolved event, valid
// against its schema; a state write that resolves to nothing emits none;
// a failed read retries the batch from its record after putting the
// events before it.
func TestLifecycleChangesBecomeValidEvents(t *testing.T) {
	state := func(pend int, extra string) string {
		return `{"pk":{"S":"HIST#general"},"sk":{"S":"MSG#00000000000000000007"},"channel":{"S":"general"},"seq":{"N":"7"},"userId":{"S":"u1"},"userName":{"S":"Ann"},` +
			`"clientId":{"S":"c-7"},"sentAt":{"N":"1700000000789"},"ttl":{"N":"1800000000"},"rev":{"N":"` + fmt.Sprint(pend) + `"},"pend":{"N":"` + fmt.Sprint(pend) + `"}` + extra + `}`
	}
	keys := `{"pk":{"S":"HIST#general"},"sk":{"S":"MSG#00000000000000000007"}}`
	rx := `,"text":{"S":"fixed"},"editedAt":{"N":"1700000001000"},"rx":{"L":[{"M":{"e":{"S":"👍"},"u":{"SS":["h1","h2"]}}}]}`
	recs := []dynamo.StreamRecord{
		record(t, 1, "MODIFY", keys, state(8, `,"text":{"S":"fixed"},"editedAt":{"N":"1700000001000"}`), state(0, `,"text":{"S":"typo"}`)),
		record(t, 2, "MODIFY", keys, state(9, rx), state(8, `,"text":{"S":"fixed"},"editedAt":{"N":"1700000001000"}`)),
		record(t, 3, "MODIFY", keys, state(9, rx), state(9, rx)), // settling: pend unchanged
		record(t, 4, "MODIFY", keys, state(10, rx+`,"replies":{"N":"1"}`), state(9, rx)),
		record(t, 5, "MODIFY", keys, state(11, `,"deleted":{"BOOL":true}`), state(10, rx+`,"replies":{"N":"1"}`)),
		record(t, 6, "MODIFY", keys, state(12, `,"deleted":{"BOOL":true}`), state(11, `,"deleted":{"BOOL":true}`)),
	}
	at := time.UnixMilli(1700000001000)
	who := chat.Identity{UserID: "u2", UserName: "Bob"}
	r := fakeResolver{changes: map[int64]chat.StoredChange{
		8:  {Kind: chat.ChangeMessageEdited, Change: chat.Change{Seq: 8, Op: chat.OpEdit, Target: 7, Identity: chat.Identity{UserID: "u1", UserName: "Ann"}, At: at}},
		9:  {Kind: chat.ChangeReactionAdded, Change: chat.Change{Seq: 9, Op: chat.OpReact, Target: 7, Identity: who, Emoji: "👍", At: at}},
		10: {Kind: chat.ChangeMessageCreated, Message: chat.Message{Channel: "general", Seq: 10, Identity: who, Text: "a reply", ClientID: "c-10", SentAt: at, ReplyTo: 7}},
		11: {Kind: chat.ChangeMessageDeleted, Change: chat.Change{Seq: 11, Op: chat.OpDelete, Target: 7, Identity: chat.Identity{UserID: "u1", UserName: "Ann"}, At: at}},
	}}
	bus := &fakeBus{}
	f := integrations.New(integrations.Config{IncludeText: true}, bus, nil, nil).WithResolver(r)
	resp, err := f.Handle(t.Context(), dynamo.StreamEvent{Records: recs})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle: %+v, %v", resp, err)
	}
	var got []string
	for _, ev := range bus.put {
		if err := eventschema.Validate(ev.DetailType, ev.Detail); err != nil {
			t.Error(err)
		}
		got = append(got, ev.DetailType+" "+string(ev.Detail))
	}
	want := []string{
		`message.edited.v1 {"eventId":"ev1","channel":"general","seq":7,"changeSeq":8,"userId":"u1","userName":"Ann","text":"fixed","textLength":5,"editedAt":"2023-11-14T22:13:21Z"}`,
		`reaction.added.v1 {"eventId":"ev2","channel":"general","seq":7,"changeSeq":9,"userId":"u2","userName":"Bob","emoji":"👍","count":2,"at":"2023-11-14T22:13:21Z"}`,
		`message.created.v1 {"eventId":"ev4","channel":"general","seq":10,"clientId":"c-10","userId":"u2","userName":"Bob","text":"a reply","textLength":7,"sentAt":"2023-11-14T22:13:21Z","replyTo":7}`,
		`message.deleted.v1 {"eventId":"ev5","channel":"general","seq":7,"changeSeq":11,"userId":"u1","userName":"Ann","deletedAt":"2023-11-14T22:13:21Z"}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// The reaction's read fails: the edit goes, the batch retries from it.
	bus = &fakeBus{}
	r.fail = 9
	f = integrations.New(integrations.Config{}, bus, nil, nil).WithResolver(r)
	resp, err = f.Handle(t.Context(), dynamo.StreamEvent{Records: recs})
	if err != nil || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != recs[1].Change.SequenceNumber {
		t.Fatalf("Handle with a failed read: %+v, %v; want a retry from record 2", resp, err)
	}
	if len(bus.put) != 1 || bus.put[0].DetailType != events.TypeMessageEdited {
		t.Errorf("put %v, want the edit only", bus.put)
	}
}

// TestModerationBecomesAValidEvent: a moderation action's history item
// (kind "mod") becomes one moderation.v1 event, valid against its schema,
// with the subject, who acted, the mute's end and the reason; never a
// message.created.
func TestModerationBecomesAValidEvent(t *testing.T) {
	mod := `{"pk":{"S":"HIST#general"},"sk":{"S":"MSG#00000000000000000008"},"kind":{"S":"mod"},"channel":{"S":"general"},"seq":{"N":"8"},` +
		`"op":{"S":"mute"},"subj":{"S":"u2"},"subjName":{"S":"Bob"},"userId":{"S":"u1"},"userName":{"S":"Ann"},"clientId":{"S":"m-8"},` +
		`"sentAt":{"N":"1700000001000"},"storedAt":{"N":"1700000001001"},"untilMs":{"N":"1700000601000"},"reason":{"S":"spam"},"ttl":{"N":"1800000000"}}`
	bus, m := &fakeBus{}, &meter{}
	f := integrations.New(integrations.Config{IncludeText: true}, bus, nil, m)
	resp, err := f.Handle(t.Context(), dynamo.StreamEvent{Records: []dynamo.StreamRecord{
		record(t, 1, "INSERT", `{"pk":{"S":"HIST#general"},"sk":{"S":"MSG#00000000000000000008"}}`, mod, ""),
	}})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("Handle: %+v, %v", resp, err)
	}
	if len(bus.put) != 1 || bus.put[0].DetailType != events.TypeModeration {
		t.Fatalf("events %+v, want one %s", bus.put, events.TypeModeration)
	}
	ev := bus.put[0]
	if err := eventschema.Validate(ev.DetailType, ev.Detail); err != nil {
		t.Error(err)
	}
	var d events.Moderation
	if err := json.Unmarshal(ev.Detail, &d); err != nil {
		t.Fatal(err)
	}
	if d.EventID != "ev1" || d.Channel != "general" || d.Seq != 8 || d.Op != "mute" || d.Subject != (events.User{UserID: "u2", UserName: "Bob"}) ||
		d.UserID != "u1" || d.UserName != "Ann" || d.Until == nil || !d.Until.Equal(time.UnixMilli(1700000601000)) ||
		d.Reason != "spam" || !d.At.Equal(time.UnixMilli(1700000001000)) {
		t.Errorf("moderation detail %s", ev.Detail)
	}
}
