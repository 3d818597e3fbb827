// Package integrations is the events function: it reads the table's stream
// (records of item writes, each written atomically with its item) and puts
// one EventBridge event per stored change on the bus, in the shapes of
// wire/events. Because the stream, not the handler that wrote, is the
// source, delivery is at least once for every stored change and only for
// stored changes, and it adds nothing to the send path: a handler that
// crashes after its write still has its change emitted, and a refused
// request writes nothing to emit.
//
// Records are read in stream order. A change whose event the bus refuses
// (after a few tries within the invocation) is reported in the partial
// batch response with its record's sequence number, so the event source
// mapping retries from it (bisecting, up to its retry limit, then to its
// on-failure queue). A record that cannot be read is logged and skipped:
// no retry can fix it.
package integrations

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/wschat/wschat/internal/chat"
	"github.com/wschat/wschat/internal/contract"
	"github.com/wschat/wschat/internal/dynamo"
	"github.com/wschat/wschat/internal/logging"
	"github.com/wschat/wschat/internal/metrics"
	"github.com/wschat/wschat/wire/events"
)

// Bus puts events on the event bus: it returns the indexes of the events
// it could not put (the rest are on the bus), or an error when the call
// failed as a whole.
type Bus interface {
	Publish(ctx context.Context, evs []chat.BusEvent) (failed []int, err error)
}

// Resolver names a change the stream record alone cannot (the lifecycle's
// chat.ChangeApplied: a message's state written by the change or reply at
// its Pend); *dynamo.Store implements it with one consistent read. false:
// nothing to emit.
type Resolver interface {
	ResolveApplied(ctx context.Context, c chat.StoredChange) (chat.StoredChange, bool, error)
}

// Meter records metrics.
type Meter interface{ Emit(values ...metrics.Value) }

// Config is the events function's settings.
type Config struct {
	// IncludeText puts message and notice text in events; off, they carry
	// the text's length only.
	IncludeText bool
	// Attempts bounds the tries of one event within an invocation before
	// the record is left to the mapping's retry; 0 means 3.
	Attempts int
	// Backoff is the first pause between tries, doubling; 0 means 50 ms.
	Backoff time.Duration
}

// ConfigFromEnv reads WSCHAT_EVENTS_TEXT ("true" or "false", default false).
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	var c Config
	if v := getenv(contract.EnvEventsText); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return c, fmt.Errorf("%s=%q: want true or false", contract.EnvEventsText, v)
		}
		c.IncludeText = b
	}
	return c, nil
}

// Forwarder is the events function's handler.
type Forwarder struct {
	cfg     Config
	bus     Bus
	resolve Resolver
	log     *slog.Logger
	meter   Meter
	now     func() time.Time
}

// New returns the handler.
func New(cfg Config, bus Bus, log *slog.Logger, meter Meter) *Forwarder {
	if cfg.Attempts <= 0 {
		cfg.Attempts = 3
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 50 * time.Millisecond
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Forwarder{cfg: cfg, bus: bus, log: log, meter: meter, now: time.Now}
}

// WithResolver makes f resolve the lifecycle's changes (edits, deletes,
// reactions, replies) with r; without one they are dropped.
func (f *Forwarder) WithResolver(r Resolver) *Forwarder {
	f.resolve = r
	return f
}

// BatchResponse is the partial batch response of a stream event source
// mapping with ReportBatchItemFailures: the sequence number of the first
// record to retry from.
type BatchResponse struct {
	BatchItemFailures []BatchItemFailure `json:"batchItemFailures"`
}

// BatchItemFailure names a record by its sequence number.
type BatchItemFailure struct {
	ItemIdentifier string `json:"itemIdentifier"`
}

// pending is one event and the record it came from.
type pending struct {
	record int
	ev     chat.BusEvent
}

// Handle turns the batch's changes into events and puts them on the bus.
// It fails nothing it could put: the response names only the first record
// whose event did not reach the bus.
func (f *Forwarder) Handle(ctx context.Context, ev dynamo.StreamEvent) (BatchResponse, error) {
	resp := BatchResponse{BatchItemFailures: []BatchItemFailure{}}
	var todo []pending
	var lag time.Duration
	stopAt := -1 // the first record not read to the end
	for i, rec := range ev.Records {
		c, ok, err := dynamo.DecodeChange(rec)
		if err != nil {
			f.log.LogAttrs(ctx, slog.LevelError, "stream record unreadable, skipped",
				slog.String("eventId", rec.EventID), slog.String("sequenceNumber", rec.Change.SequenceNumber), logging.Err(err))
			f.emit(metrics.Value{Name: contract.MetricEventsUnreadable, Unit: metrics.Count, Value: 1})
			continue
		}
		if ok && c.Kind == chat.ChangeApplied {
			if f.resolve == nil {
				continue
			}
			if c, ok, err = f.resolve.ResolveApplied(ctx, c); err != nil {
				// Retried from this record; the events before it go now.
				f.log.LogAttrs(ctx, slog.LevelWarn, "change not resolved; the batch is retried from it",
					slog.String("eventId", rec.EventID), slog.String("sequenceNumber", rec.Change.SequenceNumber), logging.Err(err))
				stopAt = i
				break
			}
		}
		if !ok {
			continue
		}
		be, err := f.busEvent(c)
		if err != nil {
			return resp, err // a bug: fail the batch, the mapping retries and alarms
		}
		todo = append(todo, pending{record: i, ev: be})
		if !c.At.IsZero() {
			lag = max(lag, f.now().Sub(c.At))
		}
	}
	put, firstFailed := 0, -1
	if len(todo) > 0 {
		put, firstFailed = f.publish(ctx, todo)
	}
	if stopAt >= 0 && (firstFailed < 0 || stopAt < firstFailed) {
		firstFailed = stopAt
	}
	if len(todo) == 0 && firstFailed < 0 {
		return resp, nil
	}
	values := []metrics.Value{
		{Name: contract.MetricEventsPublished, Unit: metrics.Count, Value: float64(put)},
		{Name: contract.MetricEventLag, Unit: metrics.Milliseconds, Value: float64(lag.Milliseconds())},
	}
	if firstFailed >= 0 {
		rec := ev.Records[firstFailed]
		resp.BatchItemFailures = append(resp.BatchItemFailures, BatchItemFailure{ItemIdentifier: rec.Change.SequenceNumber})
		values = append(values, metrics.Value{Name: contract.MetricEventsFailed, Unit: metrics.Count, Value: 1})
		f.log.LogAttrs(ctx, slog.LevelWarn, "events not put on the bus; the batch is retried from the first",
			slog.String("sequenceNumber", rec.Change.SequenceNumber), slog.Int("put", put), slog.Int("events", len(todo)))
	}
	f.emit(values...)
	return resp, nil
}

func (f *Forwarder) emit(values ...metrics.Value) {
	if f.meter != nil {
		f.meter.Emit(values...)
	}
}

// maxEntries and maxBytes are PutEvents' limits per call (10 entries,
// 256 KB); a chunk stays under them.
const (
	maxEntries = 10
	maxBytes   = 240 * 1024
)

// publish puts the events in order, chunk by chunk, retrying refused ones.
// It returns how many were put and the record of the first that was not
// (-1 when all were): the mapping retries from there, so a later event
// already put may be delivered again (at least once).
func (f *Forwarder) publish(ctx context.Context, todo []pending) (int, int) {
	put := 0
	for start := 0; start < len(todo); {
		end, size := start, 0
		for end < len(todo) && end-start < maxEntries && (end == start || size+entrySize(todo[end].ev) <= maxBytes) {
			size += entrySize(todo[end].ev)
			end++
		}
		failed := f.putChunk(ctx, todo[start:end])
		if len(failed) > 0 {
			first := failed[0]
			for _, i := range failed {
				first = min(first, i)
			}
			return put + first, todo[start+first].record
		}
		put += end - start
		start = end
	}
	return put, -1
}

// putChunk tries a chunk up to Attempts times, retrying only the refused
// events; it returns the indexes (in chunk) still refused.
func (f *Forwarder) putChunk(ctx context.Context, chunk []pending) []int {
	left := make([]int, len(chunk))
	for i := range left {
		left[i] = i
	}
	delay := f.cfg.Backoff
	for attempt := 1; ; attempt++ {
		evs := make([]chat.BusEvent, len(left))
		for i, j := range left {
			evs[i] = chunk[j].ev
		}
		failed, err := f.bus.Publish(ctx, evs)
		if err != nil {
			failed = make([]int, len(left))
			for i := range failed {
				failed[i] = i
			}
			f.log.LogAttrs(ctx, slog.LevelWarn, "put events failed", slog.Int("attempt", attempt), slog.Int("events", len(left)), logging.Err(err))
		}
		var still []int
		for _, i := range failed {
			if i >= 0 && i < len(left) {
				still = append(still, left[i])
			}
		}
		if len(still) == 0 || attempt >= f.cfg.Attempts || ctx.Err() != nil {
			return still
		}
		left = still
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return left
		}
		delay *= 2
	}
}

func entrySize(ev chat.BusEvent) int { return len(ev.DetailType) + len(ev.Detail) + 64 }

// busEvent is the event of change c.
func (f *Forwarder) busEvent(c chat.StoredChange) (chat.BusEvent, error) {
	d, err := Detail(c, f.cfg.IncludeText)
	if err != nil {
		return chat.BusEvent{}, err
	}
	b, err := json.Marshal(d)
	if err != nil {
		return chat.BusEvent{}, fmt.Errorf("encode %s: %w", d.DetailType(), err)
	}
	at := c.At
	if at.IsZero() {
		at = f.now()
	}
	return chat.BusEvent{DetailType: d.DetailType(), Detail: b, Time: at}, nil
}

// Detail is the wire detail of change c; text only when includeText.
func Detail(c chat.StoredChange, includeText bool) (events.Detail, error) {
	text := func(s string) *string {
		if !includeText || s == "" { // "": a reply deleted before its event
			return nil
		}
		return &s
	}
	count := func(m chat.Message, emoji string) int {
		for _, r := range m.Reactions {
			if r.Emoji == emoji {
				return len(r.Users)
			}
		}
		return 0
	}
	utc := func(t time.Time) time.Time { return t.UTC() }
	switch c.Kind {
	case chat.ChangeMessageCreated:
		m := c.Message
		return events.MessageCreated{EventID: c.ID, Channel: m.Channel, Seq: m.Seq, ClientID: m.ClientID,
			User: events.User{UserID: m.UserID, UserName: m.UserName}, From: m.From,
			Text: text(m.Text), TextLength: utf8.RuneCountInString(m.Text), SentAt: utc(m.SentAt), ReplyTo: m.ReplyTo}, nil
	case chat.ChangeMessageEdited:
		m, ch := c.Message, c.Change
		edited := m.EditedAt
		if edited.IsZero() {
			edited = ch.At
		}
		return events.MessageEdited{EventID: c.ID, Channel: m.Channel, Seq: m.Seq, ChangeSeq: ch.Seq,
			User: events.User{UserID: ch.UserID, UserName: ch.UserName},
			Text: text(m.Text), TextLength: utf8.RuneCountInString(m.Text), EditedAt: utc(edited)}, nil
	case chat.ChangeMessageDeleted:
		m, ch := c.Message, c.Change
		return events.MessageDeleted{EventID: c.ID, Channel: m.Channel, Seq: m.Seq, ChangeSeq: ch.Seq,
			User: events.User{UserID: ch.UserID, UserName: ch.UserName}, DeletedAt: utc(ch.At)}, nil
	case chat.ChangeReactionAdded:
		m, ch := c.Message, c.Change
		return events.ReactionAdded{EventID: c.ID, Channel: m.Channel, Seq: m.Seq, ChangeSeq: ch.Seq,
			User: events.User{UserID: ch.UserID, UserName: ch.UserName}, Emoji: ch.Emoji, Count: count(m, ch.Emoji), At: utc(ch.At)}, nil
	case chat.ChangeReactionRemoved:
		m, ch := c.Message, c.Change
		return events.ReactionRemoved{EventID: c.ID, Channel: m.Channel, Seq: m.Seq, ChangeSeq: ch.Seq,
			User: events.User{UserID: ch.UserID, UserName: ch.UserName}, Emoji: ch.Emoji, Count: count(m, ch.Emoji), At: utc(ch.At)}, nil
	case chat.ChangeMemberJoined:
		m := c.Member
		return events.MemberJoined{EventID: c.ID, Channel: m.Channel, ConnectionID: m.ConnectionID,
			User: events.User{UserID: m.UserID, UserName: m.UserName}, JoinedAt: utc(m.JoinedAt)}, nil
	case chat.ChangeMemberLeft:
		m := c.Member
		return events.MemberLeft{EventID: c.ID, Channel: m.Channel, ConnectionID: m.ConnectionID,
			User: events.User{UserID: m.UserID, UserName: m.UserName}, JoinedAt: utc(m.JoinedAt), At: utc(c.At), Expired: c.Expired}, nil
	case chat.ChangeChannelOccupied:
		return events.ChannelOccupied{EventID: c.ID, Channel: c.Channel, At: utc(c.At)}, nil
	case chat.ChangeChannelVacated:
		return events.ChannelVacated{EventID: c.ID, Channel: c.Channel, At: utc(c.At)}, nil
	case chat.ChangeConnectionOpened:
		cn := c.Connection
		return events.ConnectionOpened{EventID: c.ID, ConnectionID: cn.ID,
			User: events.User{UserID: cn.UserID, UserName: cn.UserName}, ConnectedAt: utc(cn.ConnectedAt)}, nil
	case chat.ChangeConnectionClosed:
		cn := c.Connection
		return events.ConnectionClosed{EventID: c.ID, ConnectionID: cn.ID,
			User: events.User{UserID: cn.UserID, UserName: cn.UserName}, ConnectedAt: utc(cn.ConnectedAt), At: utc(c.At), Expired: c.Expired}, nil
	case chat.ChangeModeration:
		m := c.Moderation
		var until *time.Time
		if !m.Until.IsZero() {
			u := utc(m.Until)
			until = &u
		}
		return events.Moderation{EventID: c.ID, Channel: m.Channel, Seq: m.Seq, Op: m.Op,
			Subject: events.User{UserID: m.Subject.UserID, UserName: m.Subject.UserName},
			User:    events.User{UserID: m.UserID, UserName: m.UserName}, From: m.From,
			Until: until, Role: m.Role, Reason: m.Reason, At: utc(m.At)}, nil
	case chat.ChangeUserNotified:
		n := c.Notice
		return events.UserNotified{EventID: c.ID, UserID: n.UserID, ID: n.ID, FromName: n.FromName,
			Connections: n.Connections, Delivered: n.Delivered, Text: text(n.Text), TextLength: utf8.RuneCountInString(n.Text), At: utc(n.At)}, nil
	}
	return nil, errors.New("integrations: no event for change kind " + string(c.Kind))
}
